"""Drill 9's figures and checks (tests/drills/scale.sh), for analyze.py.

Besides the load generator's records, DIR holds params.env (the scaler's
derived numbers, also in events.env as param_*), scaler-events.txt and
scaler-datapoints.txt (rehearsal/scaler.py) and lb-samples.txt (the
balancer's servers UP, twice a second).
"""
import os


def _events(d):
    out = []
    with open(os.path.join(d.dir, "scaler-events.txt")) as f:
        for line in f:
            p = line.split()
            if len(p) >= 2:
                out.append((int(p[0]), p[1], dict(x.split("=", 1) for x in p[2:] if "=" in x)))
    return out


def _datapoints(d):
    out = []
    with open(os.path.join(d.dir, "scaler-datapoints.txt")) as f:
        for line in f:
            p = line.split()
            if len(p) == 6:
                out.append((int(p[0]), int(p[1]), int(p[3]), None if p[4] == "-" else float(p[4])))
    return out


def _lb(d):
    out = []
    try:
        with open(os.path.join(d.dir, "lb-samples.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    out.append((int(p[0]), int(p[1])))
    except OSError:
        pass
    return out


def _p99(reqs):
    lat = sorted((r[1] - r[0]) / 1000.0 for r in reqs)
    return lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1)))] if lat else 0.0


def drill_scale(d):
    fails = d.common()
    ev, dps, lb = _events(d), _datapoints(d), _lb(d)
    period = float(d.ev["param_period_s"])
    target = float(d.ev["param_requests_target_per_min"])
    lo, hi = int(d.ev["param_min"]), int(d.ev["param_max"])
    out_n, in_n = int(d.ev["param_out_datapoints"]), int(d.ev["param_in_datapoints"])
    steps = [s.split(":") for s in d.ev["schedule"].split(",")]
    # The ramp's step above target starts after the first two steps.
    high_us = int(d.summary["start_us"]) + int((float(steps[0][1]) + float(steps[1][1])) * 1e6)
    down_us = d.e("down_us")
    d.figure("time factor (STACK_TIME_FACTOR): one metric period", "x%s: %.1f s for AWS's %d s" % (
        d.ev["param_time_factor"], period, round(period * float(d.ev["param_time_factor"]))))
    d.figure("requests-per-target target (per minute)", "%.1f in the rehearsal = AWS's %s x %s "
             "(an instance's entitlement, %s cores, over the AWS instance's vCPUs) / %s (the rate factor)" % (
                 target, d.ev["param_aws_requests_target_per_min"], d.ev["param_fraction_of_aws_instance"],
                 d.ev["param_entitled_cores"], d.ev["param_rate_factor"]))
    d.figure("CPU target", "%s %% of the entitlement" % d.ev["param_cpu_target_pct"])
    d.figure("alarms: scale-out / scale-in", "%d datapoints above / %d below %.0f %% of target" % (
        out_n, in_n, 100 * float(d.ev["param_in_fraction"])))
    d.figure("warm-up (compressed); min / max", "%s s; %d / %d" % (d.ev["param_warmup_s"], lo, hi))
    d.figure("load schedule (req/s : s, long steps cut when the scaling happened)", d.ev["schedule"])

    outs = [e for e in ev if e[1] == "scale-out-start"]
    ins = [e for e in ev if e[1] == "scale-in-start"]
    launched = [e for e in ev if e[1] == "launched"]
    removed = [e for e in ev if e[1] == "removed"]
    desired = [int(e[2]["desired"]) for e in outs + ins]
    # Instances over time: each change of the balancer's count of servers UP.
    changes, last = [], None
    for t, n in lb:
        if n != last:
            changes.append("%d at %+.0fs" % (n, (t - high_us) / 1e6))
            last = n
    d.figure("instances in service over time (vs the step above target)", ", ".join(changes))
    d.figure("scaling activities", "; ".join("%s to %s (%s %s vs %s) at %+.1fs" % (
        e[1][:-6], e[2].get("desired"), e[2].get("policy"), e[2].get("value"), e[2].get("target"),
        (e[0] - high_us) / 1e6) for e in outs + ins) or "none")
    first_above = next((t for t, _, _, v in dps if t >= high_us and v is not None and v > target), None)
    ok_out = bool(outs and launched)
    if ok_out:
        l0 = launched[0][2]
        in_service = int(l0["in_service_us"])
        d.figure("load crosses the target -> first datapoint above it (s)", "%.1f" % (
            ((first_above or high_us) - high_us) / 1e6))
        d.figure("-> alarm, scale-out decided (s)", "%.1f" % ((outs[0][0] - high_us) / 1e6))
        d.figure("-> instance ready, -> in service at the balancer (s)", "%.1f, %.1f" % (
            (int(l0["ready_us"]) - high_us) / 1e6, (in_service - high_us) / 1e6))
        d.figure("time from crossing the target to a new instance in service (s)", "%.1f" % (
            (in_service - high_us) / 1e6))
    ramp = [r for r in d.reqs if high_us <= r[0] < down_us]
    d.figure("p99 during the ramp above target (ms)", "%.1f (%d requests)" % (_p99(ramp), len(ramp)))
    t_in0 = ins[0][0] if ins else None
    t_in1 = max((int(e[2]["terminated_us"]) for e in removed), default=None)
    if t_in0:
        during_in = [r for r in d.reqs if r[1] >= t_in0 and r[0] <= (t_in1 or t_in0)]
        bad_in = [r for r in during_in if not 200 <= r[3] < 300]
        d.figure("scale-in: alarm after the load dropped (s); deregistration -> terminated (s)", "%.1f; %.1f" % (
            (t_in0 - down_us) / 1e6, ((t_in1 or t_in0) - t_in0) / 1e6))
        d.figure("during scale-in: requests, non-2xx, connection errors", "%d, %d, %d" % (
            len(during_in), sum(1 for r in bad_in if r[3]), sum(1 for r in bad_in if not r[3])))
        d.check(during_in and not bad_in, "during scale-in: 0 non-2xx and 0 connection errors",
                "%d of %d failed" % (len(bad_in), len(during_in)))
    d.check(not fails, "0 non-2xx and 0 connection errors over the whole drill", "%d failed" % len(fails))

    # The scaler's behaviour against the policy.
    d.check(ok_out, "a scale-out after the load crossed the target, with an instance launched and in service")
    d.check(not [e for e in outs if e[0] < high_us], "no scale-out before the load crossed the target")
    # Bound: the alarm's datapoints (one more period for a datapoint that
    # straddles the step), then a launch: readiness within 60 s (the
    # stack's own bound) and the healthy threshold of checks (interval x
    # (rise + 1) + timeout, as drill 8 bounds its replacements).
    rise_s = float(d.ev.get("rise_window_ms", "35000")) / 1000.0
    bound = (out_n + 1) * period + 60 + rise_s
    if ok_out:
        d.check((int(launched[0][2]["in_service_us"]) - high_us) / 1e6 <= bound,
                "crossing -> new instance in service within (%d + 1) periods + a launch (%.0f s)" % (out_n, bound))
    d.check(all(lo <= x <= hi for x in desired) and all(lo <= n for _, n in lb if n) and all(n <= hi for _, n in lb),
            "capacity always within min %d and max %d" % (lo, hi))
    d.check(not [e for e in ins if high_us <= e[0] < down_us], "no scale-in while the load is above target")
    d.check(bool(ins), "a scale-in after the load dropped")
    if ins:
        # Scale-in is the slow side: it needs scale_in_datapoints below the
        # threshold, all taken after the drop (minus one period for the
        # datapoint in progress at the drop).
        d.check(ins[0][0] - down_us >= (in_n - 1) * period * 1e6,
                "scale-in no sooner than %d periods after the load dropped" % (in_n - 1),
                "%.1f s" % ((ins[0][0] - down_us) / 1e6))
    d.check(d.ev.get("instances_end") == str(lo), "back at the minimum (%d) at the end" % lo,
            "%s instances" % d.ev.get("instances_end"))
    if fails:
        d.show_failures(fails, high_us, "failed (vs crossing)")
