# Benchmark: items-api against nginx and pgbench on this machine.
# Not a test (absolute numbers depend on the box), so not in TEST_TARGETS.
#
#   make bench          full run (10 s per run, 3 runs; ~6 min), table in build/bench/results.md
#   make bench-quick    the same, 3 s per run and 1 s warm-ups (~2 min), for a smoke check
#   make bench-idle     only the KiB-per-idle-connection figure, service and nginx (~30 s)
#   make bench-sweep    GET item ratio over WORKER_THREADS × DB_POOL_SIZE (build/bench/sweep.md)
#   make bench-profile  make bench plus perf record -g of the GET path (build/bench/profile-get.txt)
#   make bench-compare  make bench plus Express and Flask on the same box
#   make capacity       the capacity model's measurements (~8 min): POST vs pgbench INSERT
#                       by DB_POOL_SIZE, the drills' 70/30 mix on PostgreSQL and on one
#                       instance (build/bench/capacity.md), and what they derive
#   make capacity-update  the same, then writes infrastructure/capacity-model.json
#
# Knobs are environment variables read by tests/bench/run.sh (BENCH_DURATION,
# BENCH_RUNS, BENCH_WORKER_THREADS, BENCH_DB_POOL_SIZE, BENCH_COMPARE, ...).

BENCH_PROBE := build/bench/startup-probe
BENCH_LOADGEN := build/bench/loadgen

.PHONY: bench bench-quick bench-idle bench-sweep bench-profile bench-compare capacity capacity-update deps-bench

deps-bench:
	@tools/deps.sh bench

$(BENCH_PROBE): tests/bench/startup_probe.c
	@mkdir -p $(dir $@)
	@echo "  CC $@"
	$(Q)$(CC) -std=c17 -D_GNU_SOURCE -O2 $(WARNINGS) -o $@ $<

bench: build $(BENCH_PROBE) | deps-bench ## benchmark vs nginx and pgbench (build/bench/results.md)
	@BENCH_COMMAND="make bench" tests/bench/run.sh

bench-quick: build $(BENCH_PROBE) | deps-bench ## short benchmark (3 s runs)
	@BENCH_COMMAND="make bench-quick" BENCH_DURATION=$${BENCH_DURATION:-3} BENCH_WARMUP=$${BENCH_WARMUP:-1} \
	    tests/bench/run.sh

bench-idle: build | deps-bench ## KiB of RSS per idle keep-alive connection, service vs nginx
	@tests/bench/idle.sh

bench-sweep: build | deps-bench ## GET ratio over WORKER_THREADS x DB_POOL_SIZE
	@tests/bench/sweep.sh

bench-profile: build $(BENCH_PROBE) | deps-bench ## benchmark + perf profile of GET /v1/items/{id}
	@BENCH_COMMAND="make bench-profile" BENCH_PROFILE=1 tests/bench/run.sh

bench-compare: build $(BENCH_PROBE) | deps-bench ## benchmark + Express and Flask for comparison
	@BENCH_COMMAND="make bench-compare" BENCH_COMPARE=1 tests/bench/run.sh

# The drills' load generator (tests/drills/run.sh builds its own copy).
$(BENCH_LOADGEN): tests/drills/loadgen.c
	@mkdir -p $(dir $@)
	@echo "  CC $@"
	$(Q)$(CC) -std=c17 -O2 $(WARNINGS) -o $@ $<

capacity: build $(BENCH_LOADGEN) | deps-bench ## capacity model measurements (build/bench/capacity.md), derived defaults
	@tests/bench/capacity.sh

capacity-update: capacity ## make capacity, then write the derived defaults to infrastructure/capacity-model.json
	@python3 tools/capacity/derive.py --write build/bench/capacity.json
