#!/usr/bin/env python3
"""A drill's timeline as a picture, from the drill's own samples.

  timeline.py DIR OUT.svg [TITLE]

DIR is a drill's output (tests/drills/run.sh): requests.csv (every request
of the load generator), lb-samples.txt ("<epoch us> <servers UP>" twice a
second, the balancer's view), db-events.txt ("<epoch us> <event> <zone>",
the database's role changes, rehearsal/db.sh), scale-events.txt (the same
shape: drill 9's scaling activities, rehearsal/scaler.py), release-events.txt
("<epoch us> <event> <instance>", a roll's steps, rehearsal/roll.sh) and
events.env. Three panels over the same time axis (seconds from the start of
the load): requests/s and non-2xx/s, p99 latency, instances in service; the
database's role changes (red), the scaling events and the roll's steps
(blue) are vertical lines across all three. Rendered by gnuplot (Debian
gnuplot-nox) to SVG (or PNG when OUT ends in .png).
"""
import csv
import os
import subprocess
import sys
import tempfile

BIN_S = 0.5


def load(d):
    reqs = []
    with open(os.path.join(d, "requests.csv")) as f:
        for r in csv.DictReader(f):
            reqs.append((int(r["start_us"]), int(r["end_us"]), int(r["status"])))
    lb = []
    try:
        with open(os.path.join(d, "lb-samples.txt")) as f:
            for line in f:
                p = line.split()
                if len(p) == 2:
                    lb.append((int(p[0]), int(p[1])))
    except OSError:
        pass
    events = []
    for name in ("db-events.txt", "scale-events.txt", "release-events.txt"):
        try:
            with open(os.path.join(d, name)) as f:
                for line in f:
                    p = line.split()
                    if len(p) == 3 and p[1] in LABELS:
                        events.append((int(p[0]), p[1], p[2]))
        except OSError:
            pass
    return reqs, lb, sorted(events)


LABELS = {
    "killed": "primary %s killed",
    "zone-lost": "zone %s lost",
    "promoted": "%s promoted",
    "dns": "name -> %s",
    "writable": "writes on %s",
    "standby": "standby %s in sync",
    "standby-lost": "standby %s lost",
    "primary": "primary %s",
    # The group's scaling activities (rehearsal/scaler.py, asg.sh).
    "scale-out-start": "scale-out to %s",
    "scale-in-start": "scale-in to %s",
    "terminated": "%s terminated",
    # A roll's steps (rehearsal/roll.sh); "in-service" is both's.
    "roll-start": "roll starts",
    "out": "%s out (drain)",
    "in-service": "%s in service",
    "guard-tripped": "guard trips on %s",
    "stopped": "roll stopped at %s",
    "rollback-out": "%s out (rollback)",
    "rolled-back": "%s back on the previous release",
    "roll-done": "roll done",
}
# The database's events in red, the group's and the roll's in blue.
BLUE_EVENTS = {"scale-out-start", "scale-in-start", "in-service", "terminated", "roll-start", "out",
               "guard-tripped", "stopped", "rollback-out", "rolled-back", "roll-done"}


def main():
    d, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else os.path.basename(d.rstrip("/"))
    reqs, lb, events = load(d)
    if not reqs:
        sys.exit("timeline: no requests in %s" % d)
    t0 = min(r[0] for r in reqs)
    t_end = max(r[1] for r in reqs)
    nb = int((t_end - t0) / 1e6 / BIN_S) + 1
    sent = [0] * nb
    bad = [0] * nb
    lat = [[] for _ in range(nb)]
    for s, e, st in reqs:
        b = min(nb - 1, int((e - t0) / 1e6 / BIN_S))
        sent[b] += 1
        if not 200 <= st < 300:
            bad[b] += 1
        lat[b].append((e - s) / 1000.0)
    tmp = tempfile.mkdtemp(prefix="timeline.")
    with open(os.path.join(tmp, "req.dat"), "w") as f:
        for b in range(nb):
            ls = sorted(lat[b])
            p99 = ls[min(len(ls) - 1, int(0.99 * (len(ls) - 1)))] if ls else 0
            f.write("%.2f %.1f %.1f %.2f\n" % (b * BIN_S, sent[b] / BIN_S, bad[b] / BIN_S, max(p99, 0.1)))
    with open(os.path.join(tmp, "lb.dat"), "w") as f:
        for t, n in lb:
            if t0 <= t <= t_end:
                f.write("%.2f %d\n" % ((t - t0) / 1e6, n))
        if not lb:
            f.write("0 0\n")
    arrows = []
    for i, (t, ev, z) in enumerate(e for e in events if t0 <= e[0] <= t_end):
        x = (t - t0) / 1e6
        label = LABELS[ev] % z if "%s" in LABELS[ev] else LABELS[ev]
        colour = "#3355bb" if ev in BLUE_EVENTS else "#aa3333"
        arrows.append("set arrow from %.2f, graph 0 to %.2f, graph 1 nohead lc rgb '%s' dt 2" % (x, x, colour))
        arrows.append("set label \"%s\" at %.2f, graph %.2f left offset 0.3,0 font ',8' tc rgb '%s'" % (
            label, x, 0.93 - 0.11 * (i % 4), colour))
    maxn = max([n for _, n in lb] + [1])
    script = """
{terminal}
set output '{out}'
set multiplot layout 3,1 title "{title}"
set grid
set xrange [0:{xmax:.1f}]
set key bottom left opaque box
set lmargin 10
{arrows}
set ylabel 'req/s'
plot '{tmp}/req.dat' using 1:2 with steps lw 1.5 lc rgb '#3366aa' title 'answered/s', \\
     '' using 1:3 with steps lw 1.5 lc rgb '#cc3333' title 'non-2xx or failed/s'
unset label
set ylabel 'p99 (ms)'
set logscale y
plot '{tmp}/req.dat' using 1:4 with steps lw 1.5 lc rgb '#338833' title 'p99 latency per {bin}s'
unset logscale y
set ylabel 'in service'
set xlabel 'seconds since the load started'
set yrange [0:{ymax}]
set ytics 1
plot '{tmp}/lb.dat' using 1:2 with steps lw 2 lc rgb '#886600' title 'instances UP at the balancer'
unset multiplot
""".format(terminal=("set terminal pngcairo size 960,720 font 'sans,10'" if out.endswith(".png") else
                     "set terminal svg size 960,720 dynamic font 'sans,10' background '#ffffff'"), out=out, title=title.replace('"', "'"), xmax=(t_end - t0) / 1e6, arrows="\n".join(arrows),
           tmp=tmp, bin=BIN_S, ymax=maxn + 1)
    with open(os.path.join(tmp, "plot.gp"), "w") as f:
        f.write(script)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    subprocess.run(["gnuplot", os.path.join(tmp, "plot.gp")], check=True)
    for name in ("req.dat", "lb.dat", "plot.gp"):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    print("timeline: %s" % out)


if __name__ == "__main__":
    main()
