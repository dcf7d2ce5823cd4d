"""Figures: percentiles, units, Prometheus samples."""

import re


def metric_sum(text, name):
    """Sum of every sample of a Prometheus metric family (any labels)."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^%s(\{[^}]*\})?\s+([0-9.eE+-]+)" % re.escape(name), line)
        if m:
            total += float(m.group(2))
            found = True
    return total if found else None


def pct(values, p):
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


def mib(kib):
    return kib / 1024.0
