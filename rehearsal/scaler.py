#!/usr/bin/env python3
"""The rehearsal's Auto Scaling group: target tracking, as Terraform
configures it on AWS (infrastructure/modules/compute/main.tf: one policy on
ASGAverageCPUUtilization, one on ALBRequestCountPerTarget), from the same
numbers (infrastructure/capacity-model.json), in time compressed by
STACK_TIME_FACTOR.

Run by `rehearsal/stack.sh scaler start` (stopped by `scaler stop` and by
stack-down); reads STACK_DIR, STACK_TIME_FACTOR, CAPACITY_MODEL. `scaler.py --params`
prints the numbers it derives (KEY=VALUE) and exits.

Every metric period (metric_period_seconds / factor) it takes one datapoint
per policy:
  requests per target  the balancer's requests in the period (HAProxy's
                       backend session total; one per HTTP request) divided
                       by its targets in service, per minute of that rate
                       (the ALB's RequestCountPerTarget, Sum over a minute)
  CPU                  the instances' CPU time (/proc/PID/stat) in the
                       period over their entitlement of the machine's cores
                       (capacity-model.json "rehearsal"), averaged over the
                       instances in service that are past their warm-up
and acts as AWS's managed alarms do: scale-out when a policy's last
scale_out_datapoints are all above its target, to the capacity that brings
it back to the target (proportional, from the targets that produced the
metric); scale-in when every policy's last scale_in_datapoints are below
scale_in_threshold_fraction of its target and no instance is warming up;
always within min..max, one scaling activity at a time
(rehearsal/stack.sh scale-out / scale-in).

Writes STACK_DIR/scaler/datapoints.log ("<us> in_service warming desired
requests_per_target_per_min cpu_pct") and STACK_DIR/scaler/events.log
("<us> <event> key=value ..."), and a readable log on stdout.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hactl  # noqa: E402


def now_us():
    return time.time_ns() // 1000


class Policy:
    def __init__(self, name, target):
        self.name, self.target = name, float(target)
        self.points = []

    def add(self, v):
        self.points.append(v)
        del self.points[:-64]

    def last(self, n):
        p = self.points[-n:]
        return p if len(p) == n and all(v is not None for v in p) else None


class Scaler:
    def __init__(self, stack_dir, model_path, factor):
        self.dir = stack_dir
        m = json.load(open(model_path))
        d, tt, r = m["defaults"], m["target_tracking"], m["rehearsal"]
        self.factor = factor
        self.period = tt["metric_period_seconds"] / factor
        self.out_n, self.in_n = tt["scale_out_datapoints"], tt["scale_in_datapoints"]
        self.in_frac = tt["scale_in_threshold_fraction"]
        self.min, self.max = d["asg_min_size"], d["asg_max_size"]
        self.warmup = d["instance_warmup_seconds"] / factor
        cores = len(os.sched_getaffinity(0))
        # The rule of capacity-model.json "rehearsal": an instance's share of
        # the machine, and what fraction of an AWS instance that is.
        self.entitled_cores = cores / self.max
        self.fraction = self.entitled_cores / m["aws"]["instance_vcpus"]
        self.rate_factor = r["rate_factor"]
        self.aws_requests_target = d["requests_per_target"]
        self.requests = Policy("requests", d["requests_per_target"] * self.fraction / self.rate_factor)
        self.cpu = Policy("cpu", d["cpu_target_utilization"])
        self.sock = os.path.join(stack_dir, "run", "haproxy.sock")
        self.warm_until = {}  # slot -> monotonic time its warm-up ends
        self.prev_req = None
        self.prev_cpu = {}
        self.activity = None
        self.stopping = False

    def log(self, msg):
        print("%s scaler: %s" % (time.strftime("%H:%M:%S", time.gmtime()), msg), flush=True)

    def event(self, name, **kv):
        self.ev_f.write("%d %s %s\n" % (now_us(), name, " ".join("%s=%s" % i for i in kv.items())))

    def count(self):
        with open(os.path.join(self.dir, "instances", "count")) as f:
            return int(f.read())

    def sample(self):
        rows = hactl.stat_rows(self.sock)
        total = next(int(r["stot"]) for r in rows if r["pxname"] == "app" and r["svname"] == "BACKEND")
        up = [int(r["svname"][3:]) for r in rows
              if r["pxname"] == "app" and r["svname"].startswith("app") and r["status"] == "UP"]
        return time.monotonic(), total, up

    def cpu_ticks(self, slot):
        try:
            with open(os.path.join(self.dir, "run", "app%d.pid" % slot)) as f:
                pid = int(f.read())
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return pid, int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, ValueError, IndexError):
            return None, None

    def datapoint(self):
        t, total, up = self.sample()
        hz = os.sysconf("SC_CLK_TCK")
        warming = [s for s in up if self.warm_until.get(s, 0) > t]
        rpt = cpu = None
        if self.prev_req is not None and up:
            dt = t - self.prev_req[0]
            rpt = (total - self.prev_req[1]) / dt * 60.0 / len(up)
        # CPU of the instances in service past their warm-up.
        vals, now_cpu = [], {}
        for s in up:
            pid, ticks = self.cpu_ticks(s)
            if pid is None:
                continue
            now_cpu[s] = (t, pid, ticks)
            p = self.prev_cpu.get(s)
            if s not in warming and p and p[1] == pid and t > p[0]:
                vals.append(100.0 * (ticks - p[2]) / hz / (t - p[0]) / self.entitled_cores)
        if vals:
            cpu = sum(vals) / len(vals)
        self.prev_req, self.prev_cpu = (t, total), now_cpu
        self.requests.add(rpt)
        self.cpu.add(cpu)
        return up, warming, rpt, cpu, len(up) - len(warming)

    def decide(self, up, warming, serving_cpu):
        n = self.count()
        want = []
        for pol, serving in ((self.requests, len(up)), (self.cpu, serving_cpu)):
            pts = pol.last(self.out_n)
            if pts and all(v > pol.target for v in pts) and serving:
                want.append((pol, pts[-1], math.ceil(serving * pts[-1] / pol.target)))
        out = [w for w in want if w[2] > n]
        if out and n < self.max:
            pol, v, cap = max(out, key=lambda w: w[2])
            return "out", min(cap, self.max), pol, v
        if warming or n <= self.min:
            return None
        caps = []
        for pol, serving in ((self.requests, len(up)), (self.cpu, serving_cpu)):
            pts = pol.last(self.in_n)
            if not pts or not all(v < self.in_frac * pol.target for v in pts):
                return None
            caps.append((pol, pts[-1], math.ceil(serving * pts[-1] / pol.target)))
        cap = max(self.min, max(c[2] for c in caps))
        if cap < n:
            pol, v, _ = max(caps, key=lambda c: c[2])
            return "in", cap, pol, v
        return None

    def start_activity(self, kind, n, cap, pol, v):
        k = abs(cap - n)
        self.log("scale-%s %d -> %d: %s %.1f vs target %.1f" % (kind, n, cap, pol.name, v, pol.target))
        self.event("scale-%s-start" % kind, instances=n, desired=cap, policy=pol.name,
                   value="%.1f" % v, target="%.1f" % pol.target)
        cmd = [os.path.join(HERE, "stack.sh"), "scale-%s" % kind, str(k)]
        self.activity = (kind, n, cap, subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))

    def finish_activity(self):
        kind, n, cap, p = self.activity
        out = p.stdout.read()
        rc = p.wait()
        self.activity = None
        t = time.monotonic()
        for line in out.splitlines():
            kv = dict(x.split("=", 1) for x in line.split()[1:] if "=" in x)
            if line.startswith("launched "):
                self.warm_until[int(kv["instance"])] = t + self.warmup - (now_us() - int(kv["in_service_us"])) / 1e6
                self.event("launched", **kv)
            elif line.startswith("removed "):
                self.warm_until.pop(int(kv["instance"]), None)
                self.event("removed", **kv)
        self.event("scale-%s-%s" % (kind, "done" if rc == 0 else "failed"), instances=self.count(), rc=rc)
        self.log("scale-%s %d -> %d %s (now %d instances)" % (kind, n, cap, "done" if rc == 0 else "FAILED", self.count()))

    def run(self):
        os.makedirs(os.path.join(self.dir, "scaler"), exist_ok=True)
        self.ev_f = open(os.path.join(self.dir, "scaler", "events.log"), "a", buffering=1)
        self.dp_f = open(os.path.join(self.dir, "scaler", "datapoints.log"), "a", buffering=1)
        self.log("target tracking every %.1f s (a %d s metric period / time factor %g): requests per target %.0f/min "
                 "(AWS %s x %.3f / rate factor %g, an instance's entitlement of %.2f cores of %d), CPU %.0f %% of that entitlement; "
                 "scale-out after %d datapoints above, scale-in after %d below %.0f %%; warm-up %.1f s; min %d, max %d" % (
                     self.period, self.period * self.factor, self.factor, self.requests.target,
                     self.aws_requests_target, self.fraction, self.rate_factor, self.entitled_cores, len(os.sched_getaffinity(0)),
                     self.cpu.target, self.out_n, self.in_n, 100 * self.in_frac, self.warmup, self.min, self.max))
        self.event("start", time_factor=self.factor, period_s="%.3f" % self.period,
                   requests_target="%.1f" % self.requests.target, aws_requests_target=self.aws_requests_target,
                   cpu_target="%.1f" % self.cpu.target, entitled_cores="%.3f" % self.entitled_cores,
                   warmup_s="%.2f" % self.warmup, min=self.min, max=self.max, out_datapoints=self.out_n,
                   in_datapoints=self.in_n, in_fraction=self.in_frac)
        next_t = time.monotonic()
        try:
            self.datapoint()  # the first one only sets the counters
        except (OSError, StopIteration, ValueError, KeyError):
            pass
        while True:
            next_t += self.period
            while time.monotonic() < next_t:
                if self.activity and self.activity[3].poll() is not None:
                    self.finish_activity()
                if self.stopping and not self.activity:
                    self.event("stop", instances=self.count())
                    self.log("stopped")
                    return
                time.sleep(min(0.05, max(0.0, next_t - time.monotonic())))
            try:
                up, warming, rpt, cpu, serving_cpu = self.datapoint()
            except (OSError, StopIteration, ValueError, KeyError) as e:
                # The balancer did not answer (a busy machine): a missing
                # datapoint, as CloudWatch has them; no decision on it.
                self.log("no datapoint: %s: %s" % (type(e).__name__, e))
                self.requests.add(None)
                self.cpu.add(None)
                self.prev_req = None
                continue
            self.dp_f.write("%d %d %d %d %s %s\n" % (now_us(), len(up), len(warming), self.count(),
                                                    "-" if rpt is None else "%.1f" % rpt,
                                                    "-" if cpu is None else "%.1f" % cpu))
            if not self.activity and not self.stopping:
                d = self.decide(up, warming, serving_cpu)
                if d:
                    self.start_activity(d[0], self.count(), d[1], d[2], d[3])


    def params(self):
        """The derived numbers, for the drills (one computation, here)."""
        return {"time_factor": "%g" % self.factor, "period_s": "%.3f" % self.period,
                "requests_target_per_min": "%.1f" % self.requests.target,
                "aws_requests_target_per_min": self.aws_requests_target, "fraction_of_aws_instance": "%.4f" % self.fraction,
                "rate_factor": "%g" % self.rate_factor,
                "entitled_cores": "%.3f" % self.entitled_cores, "cpu_target_pct": "%.1f" % self.cpu.target,
                "warmup_s": "%.2f" % self.warmup, "min": self.min, "max": self.max,
                "out_datapoints": self.out_n, "in_datapoints": self.in_n, "in_fraction": self.in_frac}


def main():
    stack_dir = os.environ.get("STACK_DIR") or sys.exit("scaler: STACK_DIR is not set")
    root = os.path.dirname(HERE)
    model = os.environ.get("CAPACITY_MODEL", os.path.join(root, "infrastructure", "capacity-model.json"))
    factor = os.environ.get("STACK_TIME_FACTOR") or json.load(open(model))["rehearsal"]["time_factor"]
    s = Scaler(stack_dir, model, float(factor))
    if sys.argv[1:] == ["--params"]:
        for k, v in s.params().items():
            print("%s=%s" % (k, v))
        return

    def stop(*_):
        s.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    s.run()


if __name__ == "__main__":
    main()
