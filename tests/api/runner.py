"""Runs the API suite for one backend (ITEMS_API_BACKEND) and prints a
summary line that tests/api/run.sh collects:

    SUMMARY backend=sqlite tests=N passed=P failures=F errors=E skipped=S seconds=T

Usage: runner.py [-v] [-k PATTERN]...   (-k as in unittest: substring or glob)
Test files are t<NN>_<topic>.py, laid out by kind like h2o's t/:
  t0x  static checks of the repository's own artefacts (OpenAPI document)
  t1x  command line and configuration (the binary, no HTTP)
  t4x  HTTP/1.1 protocol: framing, limits, keep-alive, smuggling vectors
  t5x  the API end to end: items, validation, auth, idempotency, ...
  t6x  process lifecycle: drain on SIGTERM, database outages
  t8x  regressions, one test per bug found
  t9x  cross-checks over everything the run observed (runs last)
"""

import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import contract  # noqa: E402
import harness  # noqa: E402


class TimedResult(unittest.TextTestResult):
    """Records each test's duration (Python 3.11 has no --durations)."""

    durations = []

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        TimedResult.durations.append((time.monotonic() - self._t0, test.id()))
        super().stopTest(test)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", dest="patterns", action="append", default=[])
    ap.add_argument("-f", "--failfast", action="store_true")
    ap.add_argument("--durations", type=int, default=10, metavar="N",
                    help="print the N slowest tests (default 10, 0 = none)")
    args = ap.parse_args()

    loader = unittest.TestLoader()
    if args.patterns:
        os.environ["ITEMS_API_PARTIAL_RUN"] = "1"  # t90 then skips its completeness check
        loader.testNamePatterns = ["*%s*" % p if "*" not in p else p for p in args.patterns]
    suite = loader.discover(start_dir=HERE, pattern="t[0-9][0-9]_*.py", top_level_dir=HERE)
    print("items-api API suite: backend=%s binary=%s out=%s python=%s"
          % (harness.BACKEND, harness.BIN, harness.OUT, sys.executable), flush=True)
    if not os.access(harness.BIN, os.X_OK):
        print("error: %s is not an executable (build it first)" % harness.BIN, file=sys.stderr)
        return 2
    start = time.monotonic()
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2 if args.verbose else 1,
                                     failfast=args.failfast, resultclass=TimedResult)
    result = runner.run(suite)
    secs = time.monotonic() - start
    if args.durations:
        print("slowest tests:")
        for d, name in sorted(TimedResult.durations, reverse=True)[:args.durations]:
            print("  %6.2fs %s" % (d, name))
    n = result.testsRun

    def ids(pairs):
        # A failing subTest reports itself; count the test it belongs to once.
        return {getattr(t, "test_case", t).id() for t, _ in pairs}

    failed, errored = ids(result.failures), ids(result.errors) - ids(result.failures)
    skipped = ids(result.skipped)
    passed = n - len(failed | errored | skipped)
    print("SUMMARY backend=%s tests=%d passed=%d failed=%d errors=%d skipped=%d seconds=%.0f"
          % (harness.BACKEND, n, passed, len(failed), len(errored), len(skipped), secs),
          flush=True)
    if failed | errored:
        print("FAILED TESTS (backend=%s):" % harness.BACKEND)
        for name in sorted(failed | errored):
            print("  " + name)
    # Every response the harness received, checked against openapi.yaml
    # (contract.py). A violation fails the run even when the test that met
    # it swallowed the exception (a client thread, say).
    tally = contract.TALLY
    validator = contract.contract().validator_name if tally.validated else "none"
    print("CONTRACT backend=%s responses_validated=%d violations=%d excluded=%d validator=%s"
          % (harness.BACKEND, tally.validated, len(tally.violations),
             sum(tally.excluded.values()), validator.replace(" ", "_")), flush=True)
    for why, count in sorted(tally.excluded.items()):
        print("  excluded: %4d  %s" % (count, why))
    shown = set()
    for label, errs in tally.violations:
        if (label, errs[0][:60]) in shown or len(shown) >= 30:
            continue
        shown.add((label, errs[0][:60]))
        print("  VIOLATION %s\n    %s" % (label, "\n    ".join(e[:600] for e in errs)))
    return 0 if result.wasSuccessful() and not tally.violations else 1


if __name__ == "__main__":
    sys.exit(main())
