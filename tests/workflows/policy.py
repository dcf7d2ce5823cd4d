#!/usr/bin/env python3
"""Pipeline policy checks that actionlint does not make, over every workflow
and local composite action:

  - remote actions pinned to a full commit SHA, with the version in a comment
  - workflow-level `permissions: {}`; every job declares its own, and
    `id-token: write` only where AWS credentials are configured
  - no long-lived AWS keys anywhere (OIDC only); no pull_request_target
  - actions/checkout never persists the token
  - every job has a timeout
  - every job in a GitHub environment holds that environment's lock (the
    concurrency group deploy-<environment>, literally or with the same
    expression as its environment name) and is never cancelled; jobs that may
    run in production (its name, or an expression) run only on main (their
    `if:` requires github.ref == 'refs/heads/main'; the deploy role's trust
    pins the branch too)
  - promotion: a job that deploys to production in a workflow that also
    deploys to staging needs (transitively) the job that deploys to staging,
    deploys `--digest` taken from that job's `digest` output (set from a
    step's output) with `--require-verified staging`, and builds, loads,
    pushes or downloads no image (no tag, no --image, no docker); a job
    whose environment is an input deploys to production only with
    --require-verified staging or the explicit --allow-unverified; every
    deploy names its environment (`--environment`, the job's)
  - pull-request plans cover every environment the workflow deploys to (a
    matrix over them, each plan with --environment) and run in no GitHub
    environment (the plan roles trust pull_request subjects)
  - every job that deploys (runs release/deploy.sh without --plan-only) fits
    a rollback into its time limits: deploy.sh waits for instance refreshes
    at most 2 x REFRESH_TIMEOUT in all, and the rest takes at most
    DEPLOY_MARGIN, so 2 x REFRESH_TIMEOUT + DEPLOY_MARGIN <= the role's
    role-duration-seconds and <= timeout-minutes x 60
  - no `${{ github.event.* }}` or `${{ inputs.* }}` spliced into a run:
    script (script injection): such values go through env:
  - jobs that plan (release/plan.sh, or release/deploy.sh --plan-only) keep
    the full plan out of public view: every artifact they upload is opt-in
    (an `if:` on the repository variable PUBLISH_FULL_PLAN), and no run:
    script of theirs writes to the job summary (plan.sh writes only counts
    and addresses); and they release nothing: no release/deploy.sh without
    --plan-only, not in the production environment

Also writes every run: script to OUT_DIR (argv[1]) as a bash file, with each
${{ expression }} replaced by a shell variable, for shellcheck.

Usage: policy.py OUT_DIR FILE...   (prints one line per check; exit 1 on a failure)
"""
import os
import re
import sys

import yaml

SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
UNTRUSTED = re.compile(r"\b(github\.event\.|inputs\.|github\.head_ref)")
# Seconds a deploy needs besides waiting for refreshes: init, plans and
# applies, push, two smoke tests (ci-cd.yml's deploy job has the arithmetic).
DEPLOY_MARGIN = 1800
# release/deploy.sh's default REFRESH_TIMEOUT; configure-aws-credentials'
# default session.
DEFAULT_REFRESH_TIMEOUT = 2700
DEFAULT_ROLE_DURATION = 3600

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok    {what}")
    else:
        failed += 1
        print(f"  FAIL  {what}")


def seconds(value):
    """An integer from YAML (quoted or not); None for an expression or nothing."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def budget_check(name, job_id, doc, job):
    env = dict(doc.get("env") or {})
    env.update(job.get("env") or {})
    for step in job.get("steps", []) or []:
        if "release/deploy.sh" in str(step.get("run", "")):
            env.update(step.get("env") or {})
    refresh = seconds(env.get("REFRESH_TIMEOUT", DEFAULT_REFRESH_TIMEOUT))
    creds = [s for s in job.get("steps", []) or [] if "configure-aws-credentials" in str(s.get("uses", ""))]
    role = seconds((creds[0].get("with") or {}).get("role-duration-seconds", DEFAULT_ROLE_DURATION)) if creds else None
    timeout = seconds(job.get("timeout-minutes"))
    check(refresh is not None and role is not None and timeout is not None,
          f"{name}: job {job_id} (deploys) sets REFRESH_TIMEOUT, role-duration-seconds and timeout-minutes as numbers")
    if refresh is None or role is None or timeout is None:
        return
    need = 2 * refresh + DEPLOY_MARGIN
    check(need <= role,
          f"{name}: job {job_id}: 2 x REFRESH_TIMEOUT {refresh} + {DEPLOY_MARGIN} = {need} s <= role-duration-seconds {role}")
    check(need <= timeout * 60,
          f"{name}: job {job_id}: 2 x REFRESH_TIMEOUT {refresh} + {DEPLOY_MARGIN} = {need} s <= timeout-minutes {timeout} x 60")


def plan_privacy_check(name, job_id, job):
    steps = job.get("steps", []) or []
    uploads = [s for s in steps if "actions/upload-artifact" in str(s.get("uses", ""))]
    for s in uploads:
        guard = str(s.get("if", ""))
        check("vars.PUBLISH_FULL_PLAN" in guard,
              f"{name}: job {job_id} (plans): artifact {(s.get('with') or {}).get('name', '?')} is uploaded only with PUBLISH_FULL_PLAN ({guard or 'no if:'})")
    writers = [n for n, s in enumerate(steps, 1) if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    check(not writers,
          f"{name}: job {job_id} (plans): no run: script writes the job summary ({', '.join(f'step {n}' for n in writers) or 'none'})")


def environment_of(job):
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def deploy_runs(job):
    return [str(s.get("run", "")) for s in job.get("steps", []) or []
            if "release/deploy.sh" in str(s.get("run", "")) and "--plan-only" not in str(s.get("run", ""))]


def ancestors(jobs, job_id):
    """Every job that job_id needs, directly or through others."""
    seen, todo = set(), [job_id]
    while todo:
        needs = (jobs.get(todo.pop()) or {}).get("needs") or []
        for n in [needs] if isinstance(needs, str) else needs:
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def promotion_check(name, jobs):
    """Production gets the digest staging ran, after staging; PR plans cover every environment."""
    deployers = {j: environment_of(job) for j, job in jobs.items() if deploy_runs(job)}
    staging = [j for j, e in deployers.items() if e == "staging"]
    for job_id, env_name in deployers.items():
        job = jobs[job_id]
        text = yaml.safe_dump(job)
        run = "\n".join(deploy_runs(job))
        if env_name == "production" and staging:
            before = [j for j in staging if j in ancestors(jobs, job_id)]
            check(bool(before), f"{name}: job {job_id} (production) needs the staging deploy ({', '.join(staging)})")
            source = [j for j in before if f"needs.{j}.outputs.digest" in text]
            check(bool(source) and "--digest" in run,
                  f"{name}: job {job_id} (production) deploys --digest from needs.<staging job>.outputs.digest")
            for j in source:
                out = str((jobs[j].get("outputs") or {}).get("digest", ""))
                check(re.search(r"steps\.[\w-]+\.outputs\.digest", out) is not None,
                      f"{name}: job {j} (staging) outputs the digest it deployed ({out or 'no outputs.digest'})")
            check("--require-verified staging" in run,
                  f"{name}: job {job_id} (production) requires the verified-staging record (--require-verified staging)")
            steps = job.get("steps", []) or []
            images = [n for n, s in enumerate(steps, 1)
                      if re.search(r"\bdocker\b|image/build\.sh|--image\b|--tag\b", str(s.get("run", "")))
                      or "download-artifact" in str(s.get("uses", ""))]
            check(not images, f"{name}: job {job_id} (production) builds, loads, pushes or tags no image "
                              f"({', '.join(f'step {n}' for n in images) or 'none'})")
        elif (env_name or "").startswith("${{"):
            check("--require-verified staging" in run and "--allow-unverified" in run,
                  f"{name}: job {job_id} ({env_name}) deploys to production only with --require-verified staging "
                  f"or the explicit --allow-unverified")
    planned = set()
    for job_id, job in jobs.items():
        runs = [str(s.get("run", "")) for s in job.get("steps", []) or []]
        if any("release/plan.sh" in r for r in runs):
            matrix = ((job.get("strategy") or {}).get("matrix") or {}).get("environment") or []
            planned.update(matrix if isinstance(matrix, list) else [])
            check(all("--environment" in r for r in runs if "release/plan.sh" in r),
                  f"{name}: job {job_id} (plans) plans a named environment (--environment)")
    literal = {e for e in deployers.values() if e and not e.startswith("${{")}
    if planned or len(literal) > 1:
        check(literal <= planned, f"{name}: pull requests plan every environment deployed to "
                                  f"({', '.join(sorted(literal))}; planned: {', '.join(sorted(planned)) or 'none'})")


def steps_of(doc):
    """(job id or 'composite', job dict or None, step) for every step."""
    if "runs" in doc:
        for step in doc["runs"].get("steps", []):
            yield "composite", None, step
        return
    for job_id, job in (doc.get("jobs") or {}).items():
        for step in job.get("steps", []) or []:
            yield job_id, job, step


def main():
    out_dir, files = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    for path in files:
        text = open(path).read()
        doc = yaml.safe_load(text)
        name = os.path.relpath(path)
        is_workflow = "jobs" in doc
        # PyYAML reads the key `on` as True.
        triggers = doc.get("on", doc.get(True)) if is_workflow else None

        # Pins: look at the raw lines to see the version comment too.
        for line in text.splitlines():
            m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(\s+#\s*(\S+))?", line)
            if not m or m.group(1).startswith("./"):
                continue
            ref = m.group(1)
            check(SHA_PIN.match(ref) is not None and m.group(3) is not None,
                  f"{name}: {ref.split('@')[0]} pinned to a commit SHA ({m.group(3) or 'no version comment'})")

        check("AWS_ACCESS_KEY_ID" not in text and "aws-access-key-id" not in text,
              f"{name}: no long-lived AWS access keys")

        if is_workflow:
            check(doc.get("permissions") == {}, f"{name}: workflow-level permissions are {{}} (jobs opt in)")
            trig = triggers if isinstance(triggers, (dict, list)) else [triggers]
            check("pull_request_target" not in trig, f"{name}: no pull_request_target trigger")
            for job_id, job in doc["jobs"].items():
                perms = job.get("permissions")
                check(isinstance(perms, dict), f"{name}: job {job_id} declares its permissions")
                uses_aws = any("configure-aws-credentials" in str(s.get("uses", "")) for s in job.get("steps", []))
                has_id_token = isinstance(perms, dict) and perms.get("id-token") == "write"
                check(has_id_token == uses_aws,
                      f"{name}: job {job_id} has id-token: write {'(OIDC to AWS)' if uses_aws else 'not at all'}")
                if isinstance(perms, dict):
                    writes = sorted(k for k, v in perms.items() if v == "write" and k != "id-token")
                    check(not writes, f"{name}: job {job_id} writes nothing in the repository ({', '.join(writes) or 'read only'})")
                check("timeout-minutes" in job, f"{name}: job {job_id} has a timeout")
                env_name = environment_of(job)
                if env_name is not None:
                    conc = job.get("concurrency") or {}
                    check(conc.get("group") == f"deploy-{env_name}" and conc.get("cancel-in-progress") is False,
                          f"{name}: job {job_id} ({env_name}) locks deploy-{env_name} and is never cancelled "
                          f"({conc.get('group') or 'no group'})")
                if env_name == "production" or (env_name or "").startswith("${{"):
                    cond = re.sub(r"\s+", " ", str(job.get("if", "")))
                    check("github.ref == 'refs/heads/main'" in cond and " || " not in cond,
                          f"{name}: job {job_id} (production) runs only on main ({cond or 'no if:'})")
                runs = [str(s.get("run", "")) for s in job.get("steps", []) or []]
                deploys = any("release/deploy.sh" in r and "--plan-only" not in r for r in runs)
                if deploys:
                    budget_check(name, job_id, doc, job)
                    deploy_run = next(r for r in runs if "release/deploy.sh" in r and "--plan-only" not in r)
                    named = env_name is not None and (f"--environment {env_name}" in deploy_run if not env_name.startswith("${{")
                                                      else "--environment \"$" in deploy_run)
                    check(named, f"{name}: job {job_id} deploys to the environment it runs in (--environment; {env_name or 'no environment:'})")
                plans = any("release/plan.sh" in r or ("release/deploy.sh" in r and "--plan-only" in r) for r in runs)
                if plans:
                    plan_privacy_check(name, job_id, job)
                    check(not deploys and env_name is None,
                          f"{name}: job {job_id} (plans) releases nothing (no release/deploy.sh without --plan-only, "
                          f"in no GitHub environment: {env_name or 'none'})")
            promotion_check(name, doc["jobs"])

        for n, (job_id, job, step) in enumerate(steps_of(doc), 1):
            uses = str(step.get("uses", ""))
            if uses.startswith("actions/checkout@"):
                check((step.get("with") or {}).get("persist-credentials") is False,
                      f"{name}: {job_id}: actions/checkout does not persist the token")
            script = step.get("run")
            if script is None:
                continue
            exprs = EXPR.findall(script)
            bad = [e.strip() for e in exprs if UNTRUSTED.search(e)]
            check(not bad, f"{name}: {job_id} step {n}: no untrusted expression in run: ({', '.join(bad) or 'none'})")
            shell = step.get("shell") or ((doc.get("defaults") or {}).get("run") or {}).get("shell", "bash")
            if shell != "bash":
                continue
            body = EXPR.sub(lambda m: "${GITHUB_EXPRESSION}", script)
            base = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{os.path.basename(path)}-{job_id}-{n}")
            with open(os.path.join(out_dir, base + ".sh"), "w") as f:
                f.write("#!/usr/bin/env bash\n# GitHub runs: bash --noprofile --norc -eo pipefail {0}\n")
                f.write("set -eo pipefail\nGITHUB_EXPRESSION=${GITHUB_EXPRESSION:-}\n" + body + "\n")

    print(f"policy: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
