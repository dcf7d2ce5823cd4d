#!/usr/bin/env python3
"""The scaler's decisions (rehearsal/scaler.py, Scaler.decide) against AWS's
target-tracking rules, from datapoints given here: no stack, no clock.
Run by tests/stack/run.sh; prints "ok"/"FAIL" lines, exits 1 on a failure.

The model is infrastructure/capacity-model.json with the numbers each case
needs written over it (a copy), so the rules, not today's values, are tested.
"""
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "rehearsal"))
import scaler  # noqa: E402

failed = 0


def check(cond, what):
    global failed
    print("  %-6s  scaler: %s" % ("ok" if cond else "FAIL", what))
    failed += not cond


def make(tmp, count, cpu_target=50, requests=600, lo=2, hi=6):
    model = json.load(open(os.path.join(ROOT, "infrastructure", "capacity-model.json")))
    model["defaults"].update(cpu_target_utilization=cpu_target, requests_per_target=requests,
                             asg_min_size=lo, asg_max_size=hi)
    path = os.path.join(tmp, "model.json")
    json.dump(model, open(path, "w"))
    os.makedirs(os.path.join(tmp, "instances"), exist_ok=True)
    with open(os.path.join(tmp, "instances", "count"), "w") as f:
        f.write("%d\n" % count)
    return scaler.Scaler(tmp, path, 10.0)


def feed(s, rpt, cpu, n):
    for _ in range(n):
        s.requests.add(rpt)
        s.cpu.add(cpu)


with tempfile.TemporaryDirectory() as tmp:
    s = make(tmp, 3)
    t = s.requests.target
    tt = json.load(open(os.path.join(ROOT, "infrastructure", "capacity-model.json")))["target_tracking"]
    check(s.out_n == tt["scale_out_datapoints"] and s.in_n == tt["scale_in_datapoints"] and
          s.in_frac == tt["scale_in_threshold_fraction"], "alarm periods and threshold come from capacity-model.json")
    check(abs(s.period - tt["metric_period_seconds"] / 10.0) < 1e-9, "one period is metric_period_seconds / time factor")

    feed(s, 1.3 * t, 1.0, s.out_n - 1)
    check(s.decide([1, 2, 3], [], 3) is None, "%d datapoints above target: no scale-out yet" % (s.out_n - 1))
    feed(s, 1.3 * t, 1.0, 1)
    d = s.decide([1, 2, 3], [], 3)
    check(d is not None and d[0] == "out" and d[1] == 4 and d[2].name == "requests",
          "%d above at 1.3 x target with 3 targets: out to ceil(3.9) = 4" % s.out_n)

    # The same breach seen again while the launch is pending (the group's
    # desired capacity is already 4): no second instance for it.
    with open(os.path.join(tmp, "instances", "count"), "w") as f:
        f.write("4\n")
    check(s.decide([1, 2, 3], [], 3) is None, "a breach already answered (capacity 4 pending) launches nothing more")

    s = make(tmp, 4)
    feed(s, 5.0 * t, 1.0, s.out_n)
    d = s.decide([1, 2, 3, 4], [], 4)
    check(d and d[0] == "out" and d[1] == 6, "never above the maximum: out to 6, not ceil(4 x 5) = 20")

    s = make(tmp, 3)
    feed(s, 0.2 * t, 90.0, s.out_n)
    d = s.decide([1, 2, 3], [], 3)
    check(d and d[0] == "out" and d[2].name == "cpu" and d[1] == 6,
          "either policy scales out: CPU at 90 % of a 50 % target, out to ceil(3 x 1.8) = 6")

    s = make(tmp, 4)
    feed(s, 0.2 * t, 5.0, s.in_n - 1)
    check(s.decide([1, 2, 3, 4], [], 4) is None, "%d datapoints below: no scale-in yet" % (s.in_n - 1))
    feed(s, 0.2 * t, 5.0, 1)
    d = s.decide([1, 2, 3, 4], [], 4)
    check(d and d[0] == "in" and d[1] == 2, "%d below on every policy: in, never below the minimum (2)" % s.in_n)
    check(s.decide([1, 2, 3, 4], [4], 3) is None, "no scale-in while an instance warms up")

    s = make(tmp, 4)
    feed(s, 0.2 * t, 48.0, s.in_n)
    check(s.decide([1, 2, 3, 4], [], 4) is None,
          "scale-in only when every policy agrees: CPU at 48 % (not below 90 % of 50) keeps 4")

    s = make(tmp, 4)
    feed(s, 0.95 * t, 5.0, s.in_n)
    check(s.decide([1, 2, 3, 4], [], 4) is None, "requests at 95 % of target (not below 90 %) keep 4")

    s = make(tmp, 2)
    feed(s, 0.0, 0.0, s.in_n)
    check(s.decide([1, 2], [], 2) is None, "at the minimum nothing is removed")

    s = make(tmp, 3)
    feed(s, 1.3 * t, None, s.out_n)
    d = s.decide([1, 2, 3], [], 0)
    check(d and d[0] == "out", "a missing CPU datapoint (every instance warming) does not block a scale-out on requests")

sys.exit(1 if failed else 0)
