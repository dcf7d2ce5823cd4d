#!/usr/bin/env python3
"""Fails when a default drifts from infrastructure/capacity-model.json.

    check.py [--root DIR]

The model file is the one source of the scaling and pool defaults (like
lb-settings.json for the balancer). This checks, without measuring:

  1. the model is consistent: its "derived" and "defaults" are what the
     rules (tools/capacity/derive.py) give from its "measured", "aws",
     "rules" and "target_tracking" sections;
  2. the Terraform variable defaults equal the model's defaults: the root
     module (infrastructure/variables.tf) and every module that gives one of
     them a default (infrastructure/modules/*/variables.tf);
  3. the service's own DB_POOL_SIZE default (app/src/config.c), the
     instance's fallback (items-api-run.sh), the README's configuration
     table and make bench's pool equal db_pool_size;
  4. the generated table in docs/capacity.md is the model's.

Prints one line per check; exit status 1 when any fails. --root points at
another checkout (infrastructure/tests/capacity_model.sh runs it on a
copy with one default changed, to prove that a drift is caught).
"""
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import derive  # noqa: E402

# Module variables that carry a model default under another name.
MODULE_NAMES = {"min_size": "asg_min_size", "max_size": "asg_max_size"}


def tf_defaults(path):
    """{variable: default} for the variables of one file with a literal number default."""
    with open(path) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r'(?ms)^variable "([a-z0-9_]+)" \{\n(.*?)^\}', text):
        d = re.search(r"(?m)^  default\s*=\s*([0-9.]+)\s*$", m.group(2))
        if d:
            v = float(d.group(1))
            out[m.group(1)] = int(v) if v.is_integer() else v
    return out


def grep_number(path, pattern):
    with open(path) as f:
        m = re.search(pattern, f.read())
    return int(m.group(1)) if m else None


class Checks:
    def __init__(self):
        self.failed = 0

    def equal(self, what, got, want):
        if got == want:
            print("  ok    %s: %s" % (what, want))
        else:
            self.failed += 1
            print("  FAIL  %s: %s, the model says %s" % (what, got, want))


def main(argv):
    root = derive.ROOT
    if argv[:1] == ["--root"] and len(argv) == 2:
        root = os.path.abspath(argv[1])
    elif argv:
        raise SystemExit(__doc__)
    rel = lambda *p: os.path.join(root, *p)  # noqa: E731
    with open(rel("infrastructure", "capacity-model.json")) as f:
        model = json.load(f)
    c = Checks()
    defaults = model["defaults"]

    derived, expect = derive.derive(model)
    for k, v in derived.items():
        c.equal("model: derived %s follows from measured" % k, model["derived"].get(k), v)
    for k, v in expect.items():
        c.equal("model: default %s follows from measured" % k, defaults.get(k), v)

    root_tf = tf_defaults(rel("infrastructure", "variables.tf"))
    for k, v in defaults.items():
        c.equal("infrastructure/variables.tf default of %s" % k, root_tf.get(k), v)
    for path in sorted(glob.glob(rel("infrastructure", "modules", "*", "variables.tf"))):
        for name, v in tf_defaults(path).items():
            key = MODULE_NAMES.get(name, name)
            if key in defaults:
                c.equal("%s default of %s" % (os.path.relpath(path, root), name), v, defaults[key])

    pool = defaults["db_pool_size"]
    c.equal("app/src/config.c DB_POOL_SIZE default",
            grep_number(rel("app", "src", "config.c"), r'\{"DB_POOL_SIZE", VAR_INT, "([0-9]+)"'), pool)
    c.equal("items-api-run.sh DB_POOL_SIZE fallback",
            grep_number(rel("infrastructure", "modules", "user_data", "templates", "items-api-run.sh"),
                        r"DB_POOL_SIZE:-([0-9]+)"), pool)
    c.equal("README.md configuration table, DB_POOL_SIZE",
            grep_number(rel("README.md"), r"\| `DB_POOL_SIZE` \| `([0-9]+)` \|"), pool)
    c.equal("tests/bench/run.sh BENCH_DB_POOL_SIZE default",
            grep_number(rel("tests", "bench", "run.sh"), r"BENCH_DB_POOL_SIZE=\$\{BENCH_DB_POOL_SIZE:-([0-9]+)\}"), pool)

    with open(rel("docs", "capacity.md")) as f:
        block = derive.doc_block(f.read())
    same = block == derive.render_table(model)
    c.equal("docs/capacity.md generated table is the model's (make capacity-update, or "
            "derive.py --write, regenerates it)", "same" if same else "differs", "same")

    if c.failed:
        print("capacity model: %d check(s) failed" % c.failed)
        return 1
    print("capacity model: defaults, Terraform, service and docs agree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
