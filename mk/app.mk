# The C service: build variants, unit tests, formatting.
#
#   build/items-api         release build (what the image ships)
#   build/test/items-api    release flags + test-only hooks (sandbox test)
#   build/asan/items-api    ASan + UBSan + test hooks
#   build/asan/unit/*       cmocka unit tests, sanitized

CC        ?= gcc
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
PG_INC    := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)

APP_SRC   := $(sort $(wildcard app/src/*.c))
LIB_SRC   := $(filter-out app/src/main.c,$(APP_SRC))
GEN_SRC   := build/gen/migrations_data.c
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))

WARNINGS  := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wformat=2 -Wvla -Wpointer-arith -Wundef -Wnull-dereference -Wdouble-promotion
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE $(WARNINGS) -Iapp/src -Ibuild/gen -I$(PG_INC) -MMD -MP
VERSION_CFLAGS := -DIA_VERSION='"$(VERSION)"' -DIA_REVISION='"$(REVISION)"'
Q ?= @
REL_CFLAGS  := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
REL_LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,--as-needed
SAN_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
             -fno-sanitize-recover=all -DIA_TEST_HOOKS
LIBS        := -lpq -lsqlite3 -lcrypto -lseccomp -lpthread -lm

obj = $(patsubst %.c,build/$(1)/obj/%.o,$(2))

# main.o carries the version: rebuild it whenever the version changes.
build/version.txt: FORCE
	@mkdir -p build
	@echo '$(VERSION) $(REVISION)' | cmp -s - $@ || echo '$(VERSION) $(REVISION)' > $@
build/release/obj/app/src/main.o build/test/obj/app/src/main.o build/asan/obj/app/src/main.o: build/version.txt
.PHONY: FORCE
FORCE:

.PHONY: build build-test build-asan deps-build test-unit format format-check
build: build/items-api ## build the service (build/items-api)
build-test: build/test/items-api
build-asan: build/asan/items-api

deps-build:
	@tools/deps.sh build

$(GEN_SRC): tools/embed-migrations.sh $(wildcard app/migrations/*/*.sql)
	@mkdir -p $(dir $@)
	tools/embed-migrations.sh $@

# The generated source must exist before any object that includes its header.
build/release/obj/%.o: %.c | $(GEN_SRC) deps-build
	@mkdir -p $(dir $@)
	@echo "  CC [release] $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) $(if $(filter app/src/main.c,$<),$(VERSION_CFLAGS)) -c $< -o $@

build/test/obj/%.o: %.c | $(GEN_SRC) deps-build
	@mkdir -p $(dir $@)
	@echo "  CC [test] $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -DIA_TEST_HOOKS $(if $(filter app/src/main.c,$<),$(VERSION_CFLAGS)) -c $< -o $@

build/asan/obj/%.o: %.c | $(GEN_SRC) deps-build
	@mkdir -p $(dir $@)
	@echo "  CC [asan] $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) $(if $(filter app/src/main.c,$<),$(VERSION_CFLAGS)) -c $< -o $@

build/items-api: $(call obj,release,$(APP_SRC) $(GEN_SRC)) | deps-build
	@echo "  LD $@"
	$(Q)$(CC) $(REL_LDFLAGS) -o $@ $^ $(LIBS)

build/test/items-api: $(call obj,test,$(APP_SRC) $(GEN_SRC))
	@echo "  LD $@"
	$(Q)$(CC) $(REL_LDFLAGS) -o $@ $^ $(LIBS)

build/asan/items-api: $(call obj,asan,$(APP_SRC) $(GEN_SRC))
	@echo "  LD $@"
	$(Q)$(CC) -fsanitize=address,undefined -o $@ $^ $(LIBS)

# Unit tests: each test file links against every module but main.c.
UNIT_BINS := $(patsubst tests/unit/%.c,build/asan/unit/%,$(UNIT_SRC))
build/asan/unit/%: tests/unit/%.c $(call obj,asan,$(LIB_SRC) $(GEN_SRC))
	@mkdir -p $(dir $@)
	@echo "  CC [unit] $<"
	$(Q)$(CC) $(BASE_CFLAGS) $(SAN_CFLAGS) -Itests/unit -o $@ $^ $(LIBS) -lcmocka

test-unit: ## cmocka unit tests under ASan/UBSan
	@tools/deps.sh build test
	@$(MAKE) --no-print-directory $(UNIT_BINS)
	@tests/unit/run.sh $(UNIT_BINS)

FORMAT_FILES = $(wildcard app/src/*.[ch] tests/unit/*.[ch] tests/fuzz/*.c)
format: ## apply clang-format
	clang-format -i $(FORMAT_FILES)
format-check:
	@tools/deps.sh lint
	clang-format --dry-run --Werror $(FORMAT_FILES)

-include $(shell find build -name '*.d' 2>/dev/null)

.PHONY: run
run: build ## build and serve on http://127.0.0.1:8080 (SQLite, fresh dev key)
	@tools/run-dev.sh

.PHONY: test-readme
test-readme: build ## the README's application commands, run as written; its AWS setup's names exist; docs/architecture.md's paths exist
	@tests/readme/run.sh
	@python3 tests/readme/setup.py
	@tests/readme/paths.sh

TEST_TARGETS += test-unit test-readme
