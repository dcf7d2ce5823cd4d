# libFuzzer harnesses (tests/fuzz/): HTTP parser, JSON + item rules, merge
# patch, cursors. clang-14 with ASan + UBSan; see tests/fuzz/README.md.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_HARNESSES="http json"] [FUZZ_JOBS=1]
#                      build, then fuzz each harness for FUZZ_SECONDS; fails on
#                      any crash, leak, timeout or broken invariant
#   make fuzz-regress  replay the seed corpora and tests/fuzz/regressions/ once
#                      (no fuzzing; part of `make test`)
#   make fuzz-ci       what .ci/run calls: every harness for 60 s, two at a time
#
# Working corpora grow under build/fuzz/corpus/<name> (seeded from the
# committed tests/fuzz/corpus/<name>); crashes land in build/fuzz/artifacts/.

FUZZ_CC        ?= clang-14
FUZZ_SECONDS   ?= 60
FUZZ_JOBS      ?= 1
FUZZ_HARNESSES ?= http json merge_patch cursor
FUZZ_DIR       := build/fuzz

FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS   := -std=c17 -D_GNU_SOURCE -Iapp/src -Itests/fuzz -g -O1 -fno-omit-frame-pointer \
                 $(FUZZ_SAN) -MMD -MP
FUZZ_WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
FUZZ_APP_SRC  := $(addprefix app/src/,arena.c buf.c common.c json.c merge_patch.c item.c \
                   http_parse.c http_framer.c cursor.c timeutil.c)
FUZZ_APP_OBJ  := $(patsubst app/src/%.c,$(FUZZ_DIR)/obj/app/%.o,$(FUZZ_APP_SRC))
FUZZ_COMMON_OBJ := $(FUZZ_DIR)/obj/fuzz_common.o
FUZZ_BINS     := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_HARNESSES))
# Objects are reused across harnesses: keep them (make would delete them as
# intermediates of the pattern rules).
.SECONDARY: $(FUZZ_APP_OBJ) $(FUZZ_COMMON_OBJ) $(patsubst %,$(FUZZ_DIR)/obj/fuzz_%.o,$(FUZZ_HARNESSES))

# The code under test gets coverage instrumentation (fuzzer-no-link); only
# the final link pulls in libFuzzer's main. No -Werror on app/src: a clang
# warning in someone else's file must not stop the fuzzers.
$(FUZZ_DIR)/obj/app/%.o: app/src/%.c | fuzz-deps
	@mkdir -p $(dir $@)
	@echo "  CC [fuzz] $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/obj/%.o: tests/fuzz/%.c | fuzz-deps
	@mkdir -p $(dir $@)
	@echo "  CC [fuzz] $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_WARN) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/fuzz_%.o $(FUZZ_COMMON_OBJ) $(FUZZ_APP_OBJ)
	@echo "  LD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -lcrypto -lm

.PHONY: fuzz fuzz-build fuzz-regress fuzz-ci fuzz-deps
fuzz-deps:
	@tools/deps.sh fuzz build

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build ## fuzz each harness for FUZZ_SECONDS (default 60); fails on any finding
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_DIR=$(FUZZ_DIR) \
	    FUZZ_TOLERATE=$(FUZZ_TOLERATE) \
	    tests/fuzz/run.sh fuzz $(FUZZ_HARNESSES)

fuzz-regress: fuzz-build ## replay fuzz seeds and regression inputs (no fuzzing)
	@FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh regress $(FUZZ_HARNESSES)

# Two at a time: each harness still gets its full 60 s of wall time, and the
# suite takes ~2 minutes of .ci/run's budget instead of ~4.
FUZZ_CI_JOBS ?= 2
fuzz-ci: ## CI: every harness for 60 s
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60 FUZZ_JOBS=$(FUZZ_CI_JOBS)

TEST_TARGETS += fuzz-regress
