# Database faults, hostile clients and the sandbox (issue 3): real binaries,
# a throwaway PostgreSQL, real HTTP over loopback. Needs root for the
# nftables test (skipped with a notice otherwise).
#
#   make test-faults                      every test (about 3 minutes)
#   tests/faults/run.sh db_drop vectors   some of them
#   tests/faults/run.sh held_bodies idle_conns patch_memory
#                                         memory under unwanted bodies, idle
#                                         keep-alive connections and PATCH
#                                         retries (issue 10, ~1 minute)

.PHONY: test-faults
TEST_TARGETS += test-faults

test-faults: ## DB restart/drop, pool exhaustion, slowloris, fd exhaustion, rate limit, HTTP vectors, sandbox, memory
	@tools/deps.sh build test stack
	@$(MAKE) --no-print-directory build/items-api build/test/items-api
	@tests/faults/run.sh
