# Static checks: formatting, shell scripts, C analyzers, the OpenAPI document.

TIDY_CHECKS := -*,clang-analyzer-*,bugprone-*,-bugprone-easily-swappable-parameters,\
-bugprone-reserved-identifier,-bugprone-narrowing-conversions,\
-bugprone-assignment-in-if-condition,-bugprone-implicit-widening-of-multiplication-result,\
-bugprone-sizeof-expression,-clang-analyzer-valist.Uninitialized,\
-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling
TIDY_FLAGS := -std=c17 -D_GNU_SOURCE -Iapp/src -Ibuild/gen -I$(PG_INC)

.PHONY: test-lint shellcheck cppcheck clang-tidy openapi-lint
test-lint: format-check shellcheck cppcheck clang-tidy openapi-lint ## formatting, shellcheck, cppcheck, clang-tidy, redocly lint

# redocly lint (@redocly/cli, pinned in tests/contract/package-lock.json,
# installed into build/contract): 0 errors and 0 warnings.
openapi-lint:
	@tools/deps.sh lint
	@tests/contract/lint.sh

shellcheck:
	@tools/deps.sh build lint
	@files=$$(git ls-files '*.sh' .ci/run); echo "  shellcheck: $$(echo $$files | wc -w) files"; \
	    shellcheck -x $$files

cppcheck: $(GEN_SRC)
	@tools/deps.sh build lint
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
	    --std=c11 -D_GNU_SOURCE -Iapp/src -Ibuild/gen --inline-suppr app/src

# Two processes: the machine has two cores.
clang-tidy: $(GEN_SRC)
	@tools/deps.sh build lint
	@printf '%s\n' app/src/*.c | xargs -P2 -n4 sh -c \
	    'out=$$(clang-tidy --quiet -checks="$(TIDY_CHECKS)" --warnings-as-errors="*" "$$@" -- $(TIDY_FLAGS) 2>&1) \
	     || { echo "$$out" | grep -v "warnings generated" ; exit 1; }' sh
	@echo "  clang-tidy: clean"

TEST_TARGETS += test-lint
