# Drill 1's "new build": build/items-api's objects relinked with main.c
# compiled for another version string, so the rolling update goes to a
# binary that is genuinely different and says so (`items-api version`,
# items_api_build_info in /metrics). Used by tests/drills/run.sh as
#
#   make -f Makefile -f tests/drills/variant.mk VARIANT_DIR=build/drills/variant \
#        VERSION=<v> REVISION=<r> drills-variant
#
# with the Makefile's own flags; nothing under build/release is rewritten
# (only rebuilt if stale, exactly as `make build` would).
VARIANT_DIR ?= build/drills/variant

.PHONY: drills-variant
drills-variant: $(VARIANT_DIR)/items-api

$(VARIANT_DIR)/main.o: app/src/main.c FORCE | $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC [drills variant $(VERSION)] $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) $(VERSION_CFLAGS) -c $< -o $@

$(VARIANT_DIR)/items-api: $(VARIANT_DIR)/main.o $(call obj,release,$(LIB_SRC) $(GEN_SRC))
	@echo "  LD $@"
	$(Q)$(CC) $(REL_LDFLAGS) -o $@ $^ $(LIBS)
