# Black-box API tests (tests/api): the real binary over loopback HTTP, on
# SQLite and on a throwaway PostgreSQL, then again under ASan + UBSan.
#
#   make test-api                          both backends, release build
#   make test-sanitize                     both backends, build/asan/items-api
#   tests/api/run.sh -k Idempotency sqlite one area, one backend
#   make test-api-external                 PostgreSQL only, on the server in
#                                          ITEMS_TEST_PG_URL (CI's service
#                                          container; not part of make test)
#
# Every response the suite receives is checked against openapi.yaml
# (tests/api/contract.py, openapi-schema-validator); t59_contract also runs a
# representative set through Stoplight Prism's proxy, which run.sh installs
# (pinned, lock file tests/contract/package-lock.json) into build/contract.

.PHONY: test-api test-sanitize test-api-external
TEST_TARGETS += test-api test-sanitize

test-api: ## API tests against build/items-api on SQLite and PostgreSQL
	@tools/deps.sh build test
	@$(MAKE) --no-print-directory build
	@ITEMS_API_BIN=build/items-api tests/api/run.sh sqlite postgres

# The seccomp filter forbids ptrace, which LeakSanitizer needs at exit: the
# sanitized server runs with SANDBOX=off. run.sh fails the suite when any
# server's stderr holds a sanitizer report.
test-sanitize: ## API tests against the ASan/UBSan build on SQLite and PostgreSQL
	@tools/deps.sh build test
	@$(MAKE) --no-print-directory build-asan
	@ITEMS_API_BIN=build/asan/items-api SANDBOX=off \
	    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    tests/api/run.sh sqlite postgres

test-api-external: ## API tests on the external PostgreSQL in ITEMS_TEST_PG_URL (CI service container)
	@test -n "$$ITEMS_TEST_PG_URL" || { echo "test-api-external: set ITEMS_TEST_PG_URL (postgres://user:pass@host:port/items)" >&2; exit 2; }
	@tools/deps.sh build test
	@$(MAKE) --no-print-directory build
	@ITEMS_API_BIN=build/items-api ITEMS_API_TEST_PG_URL="$$ITEMS_TEST_PG_URL" tests/api/run.sh postgres
