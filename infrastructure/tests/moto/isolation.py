#!/usr/bin/env python3
"""Isolation of the environments' CI roles (tests/moto/run.sh, phase 2).

    isolation.py [--offline] WORKDIR ENV ENV...

(--offline: re-run on the policies and repository saved by a previous run in
WORKDIR/isolation-readback.json, without moto.)

For each environment ENV, WORKDIR holds ENV-state.json (terraform state pull)
and ENV-outputs.json. The deploy and plan roles' policies are read back from
moto's IAM (what Terraform created, not what it meant to create), and for
every resource ARN in the OTHER environments' states (plus their state object
and lock keys) every Allow statement is evaluated:

  - Action and Resource with IAM wildcards (* and ?);
  - conditions on aws:ResourceTag/<key> and <service>:ResourceTag/<key> with
    the resource's tags from the state; iam:PermissionsBoundary with the
    role's boundary; every other condition key (aws:RequestTag, which the
    caller chooses, aws:RequestedRegion, iam:PassedToService, ...) is
    assumed satisfied: the checker errs towards finding a leak;
  - Deny statements the same way (a deny only counts where every one of its
    conditions is known to hold).

A write action (anything but Describe*/List*/Get*/BatchGet*/BatchCheck*/
ListTagsForResource) allowed and not denied on another environment's resource
fails the test. Read-only actions on "*" (AWS cannot scope most Describe
calls) are accepted and listed. Positive control: each deploy role must be
allowed writes on its own environment's key resources (launch template, Auto
Scaling group, database, security group, log group, target group, load
balancer, API keys secret, instance role, state object), and without the
isolation deny the other's launch template must show as writable (mutation
control), so the check cannot pass vacuously. The shared repository: only roles of environments with
ci_push_images may write to it (push and tag: never delete).

moto does not enforce IAM, so this is the evaluation AWS would make, for the
statement shapes the stack uses; see docs/infrastructure.md (Environments).
"""
import fnmatch
import json
import os
import re
import sys

import boto3
from botocore.config import Config

REGION = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
STACK_TAG = "Service"
READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "BatchCheck")


def client(service):
    return boto3.client(service, region_name=REGION, config=Config(retries={"max_attempts": 3, "mode": "standard"}))


def as_list(v):
    return v if isinstance(v, list) else [v]


def wildcard(pattern, value, case=True):
    """IAM wildcard match: * any run of characters, ? one character."""
    rx = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(rx, value, 0 if case else re.IGNORECASE) is not None


def is_write(action):
    name = action.split(":", 1)[1]
    return not name.startswith(READ_PREFIXES) or name == "*"


def role_policies(iam, role):
    """Every statement of the role's inline and attached policies, as read back from IAM."""
    stmts = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        stmts += as_list(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"])
    for att in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        pol = iam.get_policy(PolicyArn=att["PolicyArn"])["Policy"]
        doc = iam.get_policy_version(PolicyArn=att["PolicyArn"], VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]
        if isinstance(doc, str):
            doc = json.loads(doc)
        stmts += as_list(doc["Statement"])
    return stmts


def state_resources(state_path, bucket, key):
    """(arn, tags, boundary) of every resource instance with an ARN, plus the state object and lock."""
    state = json.load(open(state_path))
    out = {}
    for res in state.get("resources", []):
        if res.get("mode") != "managed":
            continue
        for inst in res.get("instances", []):
            attrs = inst.get("attributes", {})
            tags = attrs.get("tags_all") or attrs.get("tags") or {}
            boundary = attrs.get("permissions_boundary") or ""
            for field in ("arn", "dashboard_arn"):
                arn = attrs.get(field)
                if isinstance(arn, str) and arn.startswith("arn:"):
                    addr = f"{res.get('module', '')}.{res['type']}.{res['name']}".lstrip(".")
                    # several resources can share an ARN (a secret and its version): keep every address
                    entry = out.setdefault(arn, {"tags": tags if isinstance(tags, dict) else {}, "boundary": boundary, "address": addr, "addresses": []})
                    entry["addresses"].append(addr)
    for k in (key, key + ".tflock"):
        out[f"arn:aws:s3:::{bucket}/{k}"] = {"tags": {}, "boundary": "", "address": "state object", "addresses": ["state object"]}
    return out


def condition_holds(cond, res):
    """True unless a condition the checker can evaluate is false for this resource."""
    for op, pairs in (cond or {}).items():
        base = op.replace("IfExists", "")
        for ckey, want in pairs.items():
            wants = [str(w) for w in as_list(want)]
            m = re.match(r"^(?:aws|[a-z0-9-]+):ResourceTag/(.+)$", ckey)
            if m:
                have = res["tags"].get(m.group(1))
            elif ckey == "iam:PermissionsBoundary":
                have = res["boundary"] or None
            else:
                continue  # request-side key: assume the caller satisfies it
            if base == "Null":
                holds = (have is None) == (wants[0] == "true")
            elif have is None:
                holds = op.endswith("IfExists") or base.startswith("StringNot")
            elif base in ("StringEquals", "ForAllValues:StringEquals", "ForAnyValue:StringEquals"):
                holds = have in wants
            elif base in ("StringLike",):
                holds = any(wildcard(w, have) for w in wants)
            elif base == "StringNotEquals":
                holds = have not in wants
            elif base == "StringNotLike":
                holds = not any(wildcard(w, have) for w in wants)
            else:
                continue
            if not holds:
                return False
    return True


def deny_certain(cond, res):
    """A Deny counts only if every condition is evaluable and true (unknown keys: not certain)."""
    for op, pairs in (cond or {}).items():
        for ckey in pairs:
            if not (re.match(r"^(?:aws|[a-z0-9-]+):ResourceTag/", ckey) or ckey == "iam:PermissionsBoundary"):
                return False
    return condition_holds(cond, res)


def arn_service(arn):
    return arn.split(":")[2]


def evaluate(stmts, arn, res):
    """Write and read actions (patterns) the statements allow and do not deny on this resource."""
    svc = arn_service(arn)
    allowed, reads = set(), set()
    for s in stmts:
        if s.get("Effect") != "Allow" or "Action" not in s or "Resource" not in s:
            continue  # NotAction/NotResource allows: the stack uses none (asserted below)
        if not any(wildcard(p, arn) for p in as_list(s["Resource"])):
            continue
        if not condition_holds(s.get("Condition"), res):
            continue
        for a in as_list(s["Action"]):
            if a == "*" or a.split(":", 1)[0] == svc:
                (allowed if is_write(a) else reads).add((a, s.get("Sid", "?")))
    denied = set()
    for s in stmts:
        if s.get("Effect") != "Deny":
            continue
        if "Resource" in s and not any(wildcard(p, arn) for p in as_list(s["Resource"])):
            continue
        if not deny_certain(s.get("Condition"), res):
            continue
        for a, sid in allowed:
            if "Action" in s and any(wildcard(d, a, case=False) for d in as_list(s["Action"])):
                denied.add((a, sid))
            if "NotAction" in s and not any(wildcard(d, a, case=False) for d in as_list(s["NotAction"])):
                denied.add((a, sid))
    return allowed - denied, reads


# Own resources every deploy role must be able to write (positive control).
OWN_KEY_RESOURCES = [
    ("launch template", r"aws_launch_template\.this$"),
    ("Auto Scaling group", r"aws_autoscaling_group\.this$"),
    ("database", r"module\.database\.aws_db_instance\.this$"),
    ("app security group", r"aws_security_group\.app$"),
    ("app log group", r"module\.monitoring\.aws_cloudwatch_log_group\.app$"),
    ("target group", r"aws_lb_target_group\.this$"),
    ("load balancer", r"module\.alb\.aws_lb\.this$"),
    ("API keys secret", r"module\.secrets\.aws_secretsmanager_secret\.api_keys$"),
    ("instance role", r"module\.compute\.aws_iam_role\.this$"),
    ("state object", r"^state object$"),
]


def main(argv):
    offline = argv[:1] == ["--offline"]
    argv = argv[1:] if offline else argv
    if len(argv) < 3:
        sys.exit(__doc__)
    work, envs = argv[0], argv[1:]
    saved_path = os.path.join(work, "isolation-readback.json")
    saved = json.load(open(saved_path)) if offline else {"roles": {}, "repository": None}
    failures, passed = [], 0
    accepted_reads = set()
    info = {}
    for env in envs:
        outputs = {k: v["value"] for k, v in json.load(open(os.path.join(work, f"{env}-outputs.json"))).items()}
        state = json.load(open(os.path.join(work, f"{env}-state.json")))
        name = outputs["asg_name"][: -len("-app")]
        # the backend's bucket and key, as recorded in the deploy role's own variables
        roles = {"deploy": f"{name}-github-deploy", "plan": f"{name}-github-plan"}
        if not offline:
            saved["roles"].update({role: role_policies(client("iam"), role) for role in roles.values()})
        stmts = {kind: saved["roles"][role] for kind, role in roles.items()}
        ci = next(r for r in state["resources"] if r["type"] == "aws_iam_policy" and r["name"] == "release")
        rel = json.loads(ci["instances"][0]["attributes"]["policy"])
        state_arn = next(r for s in rel["Statement"] if s.get("Sid") == "WriteStateAndLock" for r in as_list(s["Resource"]) if not r.endswith(".tflock"))
        bucket, key = state_arn[len("arn:aws:s3:::"):].split("/", 1)
        info[env] = {"name": name, "outputs": outputs, "stmts": stmts, "roles": roles,
                     "resources": state_resources(os.path.join(work, f"{env}-state.json"), bucket, key)}
        for kind, ss in stmts.items():
            bad = [s.get("Sid") for s in ss if s.get("Effect") == "Allow" and ("NotAction" in s or "NotResource" in s)]
            if bad:
                failures.append(f"{roles[kind]}: Allow with NotAction/NotResource ({bad}) cannot be checked")

    names = [info[e]["name"] for e in envs]
    for e in envs:
        for other in names:
            if other != info[e]["name"] and (other.startswith(info[e]["name"] + "-") or info[e]["name"].startswith(other + "-")):
                print(f"  note: {info[e]['name']} and {other}: one name prefixes the other; only the isolation deny (Service tag) separates them")

    for env in envs:
        me = info[env]
        for kind, ss in me["stmts"].items():
            role = me["roles"][kind]
            # Every other environment's resources: no write.
            for other in envs:
                if other == env:
                    continue
                for arn, res in sorted(info[other]["resources"].items()):
                    writes, reads = evaluate(ss, arn, res)
                    if writes:
                        failures.append(f"{role} may write {other}'s {res['address']} ({arn}): " +
                                        ", ".join(sorted(f"{a} [{sid}]" for a, sid in writes)))
                    else:
                        passed += 1
                    accepted_reads |= {(role, a, sid) for a, sid in reads}
            # Positive control: its own key resources.
            if kind != "deploy":
                continue
            for label, rx in OWN_KEY_RESOURCES:
                hits = [(arn, res) for arn, res in me["resources"].items() if any(re.search(rx, a) for a in res["addresses"])]
                if not hits:
                    failures.append(f"{env}: no {label} in the state (positive control)")
                    continue
                arn, res = hits[0]
                writes, _ = evaluate(ss, arn, res)
                if writes:
                    passed += 1
                else:
                    failures.append(f"{role} may NOT write its own {label} ({arn}): the checker would be vacuous")

    # Mutation control: without the isolation deny, the region-wide EC2
    # statement reaches the other environment's launch template; the checker
    # must see that (else it is blind to what the deny is there for).
    for env in envs:
        me = info[env]
        no_deny = [s for s in me["stmts"]["deploy"] if s.get("Sid") != "NeverAnotherStacksResources"]
        others = [(arn, res) for o in envs if o != env for arn, res in info[o]["resources"].items()
                  if any(re.search(r"aws_launch_template\.this$", a) for a in res["addresses"])]
        if others and all(evaluate(no_deny, arn, res)[0] for arn, res in others):
            passed += 1
        else:
            failures.append(f"{me['roles']['deploy']}: without the isolation deny the checker finds no write on the other launch template (vacuous?)")

    # The shared repository: push (and tag) only where ci_push_images; never delete.
    repos = {info[e]["outputs"]["ecr_repository_name"] for e in envs}
    if len(repos) != 1:
        failures.append(f"environments use different repositories: {sorted(repos)}")
    else:
        if not offline:
            ecr = client("ecr")
            arn = ecr.describe_repositories(repositoryNames=[repos.pop()])["repositories"][0]["repositoryArn"]
            tags = {t["Key"]: t["Value"] for t in ecr.list_tags_for_resource(resourceArn=arn).get("tags", [])}
            saved["repository"] = {"arn": arn, "tags": tags}
            json.dump(saved, open(saved_path, "w"), indent=1)
        repo = {"repositoryArn": saved["repository"]["arn"]}
        res = {"tags": saved["repository"]["tags"], "boundary": "", "address": "shared repository"}
        for env in envs:
            me = info[env]
            # what the environment's variables file says (the example files are applied as shipped)
            example = os.path.join(os.path.dirname(__file__), "..", "..", "environments", f"{env}.tfvars.example")
            pushes = bool(re.search(r"^ci_push_images\s*=\s*true\b", open(example).read(), re.M))
            for kind, ss in me["stmts"].items():
                writes, reads = evaluate(ss, repo["repositoryArn"], res)
                actions = {a for a, _ in writes}
                want_push = pushes and kind == "deploy"
                if want_push:
                    ok = "ecr:PutImage" in actions and not any(wildcard(a, x) for a in actions for x in ("ecr:BatchDeleteImage", "ecr:DeleteRepository", "ecr:SetRepositoryPolicy", "ecr:PutLifecyclePolicy"))
                else:
                    ok = not actions
                if ok:
                    passed += 1
                else:
                    failures.append(f"{me['roles'][kind]} on the shared repository: writes {sorted(actions)}, want {'push and tag only' if want_push else 'none'}")
                if kind == "deploy":
                    read_actions = {a for a, _ in reads}
                    if {"ecr:BatchGetImage", "ecr:DescribeImages"} <= read_actions or any(a == "ecr:*" for a in actions):
                        passed += 1
                    else:
                        failures.append(f"{me['roles'][kind]} cannot describe and pull the shared repository: {sorted(read_actions)}")

    print("read-only actions accepted on other environments' resources (AWS cannot scope them, or they name only metadata):")
    for role, a, sid in sorted(accepted_reads):
        print(f"  {role}: {a} [{sid}]")
    if failures:
        for f in failures:
            print(f"  FAIL {f}", file=sys.stderr)
        sys.exit(f"isolation: {len(failures)} failure(s), {passed} checks passed")
    print(f"isolation: {passed} checks passed ({', '.join(envs)}: deploy and plan roles, each other's resources, own key resources, the shared repository)")


if __name__ == "__main__":
    main(sys.argv[1:])
