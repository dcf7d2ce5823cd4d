"""Results of a script-style test (tests/faults, tests/vectors): checks and
figures printed as they come; finish() exits 0 (pass), 1 (fail) or 77
(skipped, with the reason printed), the codes tests/faults/run.sh reads."""

import signal
import sys
import time

SKIP = 77


def now():
    return time.monotonic()


def log(msg):
    print(msg, flush=True)


class Checker:
    """Collects checks and figures; prints them as it goes."""

    def __init__(self, name):
        self.name = name
        self.failures = []
        self.figures = []
        self.t0 = now()
        log("--- %s" % name)
        # SIGTERM (run.sh's trap, make being interrupted) must still run the
        # finally blocks that remove services and firewall rules.
        signal.signal(signal.SIGTERM, _raise_exit)

    def figure(self, name, value):
        self.figures.append((name, value))
        log("  figure  %-44s %s" % (name, value))

    def check(self, cond, what, detail=""):
        if cond:
            log("  ok      %s" % what)
        else:
            msg = what + (": " + detail if detail else "")
            self.failures.append(msg)
            log("  FAIL    %s" % msg)
        return cond

    def info(self, msg):
        log("  info    %s" % msg)

    def skip(self, why):
        log("  SKIP    %s: %s" % (self.name, why))
        sys.stdout.flush()
        sys.exit(SKIP)

    def finish(self):
        dur = now() - self.t0
        if self.failures:
            log("--- %s: FAIL (%d failed checks, %.1fs)" % (self.name, len(self.failures), dur))
            for f in self.failures:
                log("    - " + f)
            sys.exit(1)
        log("--- %s: PASS (%.1fs)" % (self.name, dur))
        sys.exit(0)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)
