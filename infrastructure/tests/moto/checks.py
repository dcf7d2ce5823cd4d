#!/usr/bin/env python3
"""Read-back, drift and leftover checks for the moto run (tests/moto/run.sh).

    checks.py import-cert                 import a self-signed certificate into ACM, print its ARN
    checks.py delete-cert ARN             delete it again
    checks.py readback WORKDIR            check the applied stack with boto3 (outputs.json, state.json)
    checks.py drift PLAN_JSON             fail on any planned change not in KNOWN_DRIFT
    checks.py wait-bucket BUCKET          wait until the bucket exists and is versioned
    checks.py empty-bucket BUCKET         delete every object version (see empty_bucket)
    checks.py leftovers [--keep-bucket B] [--keep-cert ARN]
                                          fail if anything the stack created still exists

boto3 reaches moto through AWS_ENDPOINT_URL (set by tests/lib/moto.sh).
"""
import base64
import datetime
import json
import os
import re
import sys

import boto3
from botocore.config import Config

REGION = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
NAME = "items-api"

# Changes that a second plan shows against moto although the configuration and
# the emulated infrastructure agree. Each entry: (resource address regex,
# attribute path regex, why). Any other change fails the test.
KNOWN_DRIFT = [
    # moto does not store an Auto Scaling group's DefaultInstanceWarmup and
    # reads it back as 0.
    (r"module\.compute\.aws_autoscaling_group\.this", r"default_instance_warmup",
     "moto drops DefaultInstanceWarmup"),
    # moto's DescribePolicies returns no Enabled flag (read as false) and an
    # empty PredictiveScalingConfiguration for target tracking policies.
    (r"module\.compute\.aws_autoscaling_policy\.(cpu|requests)", r"enabled|predictive_scaling_configuration",
     "moto omits Enabled and adds an empty predictive scaling block"),
    # moto copies CreateLaunchTemplate's own TagSpecifications (resource type
    # launch-template, i.e. the default_tags) into the template data, so the
    # provider sees an extra tag_specifications block and plans a new version.
    (r"module\.compute\.aws_launch_template\.this", r"tag_specifications|default_version|latest_version",
     "moto stores the launch template's own tags as a tag specification"),
    # moto ignores DescribeDBParameters' Source=user filter and returns the
    # parameters without a Source, so the provider finds no user parameters.
    (r"module\.database\.aws_db_parameter_group\.this", r"parameter",
     "moto returns parameters without Source=user"),
    # moto does not return the Description of security group rules that
    # reference another security group (rules with a CIDR keep theirs).
    (r"module\.security_groups\.aws_vpc_security_group_(ingress|egress)_rule\.(alb_to_app|app_to_db|app_from_alb|db_from_app)",
     r"description", "moto drops descriptions of group-referencing rules"),
]


def client(service, region=REGION):
    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"})
    return boto3.client(service, region_name=region, config=cfg)


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, what, condition, detail=""):
        if condition:
            self.passed += 1
        else:
            self.failed.append(f"{what}{': ' + str(detail) if detail != '' else ''}")
            print(f"  FAIL {what} {detail}", file=sys.stderr)

    def equal(self, what, actual, expected):
        self.check(what, actual == expected, f"got {actual!r}, want {expected!r}")

    def finish(self, label):
        if self.failed:
            print(f"{label}: {len(self.failed)} of {self.passed + len(self.failed)} checks FAILED", file=sys.stderr)
            sys.exit(1)
        print(f"{label}: {self.passed} checks passed")


# --------------------------------------------------------------------------- #
# certificate
# --------------------------------------------------------------------------- #

def import_cert():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.items.example.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("api.items.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    arn = client("acm").import_certificate(
        Certificate=cert.public_bytes(serialization.Encoding.PEM),
        PrivateKey=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )["CertificateArn"]
    print(arn)


def delete_cert(arn):
    client("acm").delete_certificate(CertificateArn=arn)


# --------------------------------------------------------------------------- #
# read-back
# --------------------------------------------------------------------------- #

def tfvars(path):
    """Top-level `key = value` pairs of a simple tfvars file (strings, numbers, bools)."""
    out = {}
    for line in open(path):
        m = re.match(r'^\s*([a-z_0-9]+)\s*=\s*(.+?)\s*$', line)
        if not m:
            continue
        raw = m.group(2)
        try:
            out[m.group(1)] = json.loads(raw)
        except ValueError:
            out[m.group(1)] = raw
    return out


def subnets_by_tier(ec2, vpc_id):
    tiers = {}
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        tier = {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("Tier")
        tiers.setdefault(tier, set()).add(s["SubnetId"])
    return tiers


def ingress(ec2, sg_id):
    sg = ec2.describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
    return sg["IpPermissions"]


def readback(workdir):
    c = Checker()
    outputs = {k: v["value"] for k, v in json.load(open(os.path.join(workdir, "outputs.json"))).items()}
    state_text = open(os.path.join(workdir, "state.json")).read()
    vars_ = tfvars(os.path.join(os.path.dirname(__file__), "..", "moto.tfvars"))
    cert_arn = open(os.path.join(workdir, "certificate_arn")).read().strip()
    lbs = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "lb-settings.json")))
    port = lbs["app_port"]
    api_keys = vars_["api_keys"]
    ec2, elb, asg, rds = client("ec2"), client("elbv2"), client("autoscaling"), client("rds")

    # ---- network
    vpc_id = outputs["vpc_id"]
    tiers = subnets_by_tier(ec2, vpc_id)
    for tier in ("public", "app", "database"):
        c.equal(f"two {tier} subnets", len(tiers.get(tier, ())), 2)
    nats = [n for n in ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"] if n["State"] != "deleted"]
    c.equal("one NAT gateway per AZ", len(nats), 2)
    c.check("NAT gateways in public subnets", all(n["SubnetId"] in tiers["public"] for n in nats))
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    c.check("S3 gateway endpoint", any(e["ServiceName"].endswith(".s3") and e["VpcEndpointType"] == "Gateway" for e in endpoints))
    c.check("VPC flow logs", len(ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]) == 1)
    for rt in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]:
        subnets = {a.get("SubnetId") for a in rt["Associations"]}
        if subnets & tiers["database"]:
            c.check("database route table has no route out of the VPC",
                    all(r.get("GatewayId", "local") == "local" or r.get("GatewayId", "").startswith("vpce-") for r in rt["Routes"]),
                    rt["Routes"])

    # ---- security groups
    sgs = {g["GroupName"]: g for g in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]}
    alb_sg, app_sg, db_sg = sgs[f"{NAME}-alb"]["GroupId"], sgs[f"{NAME}-app"]["GroupId"], sgs[f"{NAME}-db"]["GroupId"]
    db_in = ingress(ec2, db_sg)
    c.equal("DB SG: one ingress rule", len(db_in), 1)
    c.check("DB SG admits 5432 from the app SG only",
            db_in and db_in[0]["FromPort"] == 5432 and db_in[0]["ToPort"] == 5432 and not db_in[0]["IpRanges"]
            and [p["GroupId"] for p in db_in[0]["UserIdGroupPairs"]] == [app_sg], db_in)
    app_in = ingress(ec2, app_sg)
    c.check(f"app SG admits {port} from the ALB SG only",
            len(app_in) == 1 and app_in[0]["FromPort"] == port and not app_in[0]["IpRanges"]
            and [p["GroupId"] for p in app_in[0]["UserIdGroupPairs"]] == [alb_sg], app_in)
    alb_ports = sorted(p["FromPort"] for p in ingress(ec2, alb_sg))
    c.equal("ALB SG admits 80 and 443", alb_ports, [80, 443])
    open_world = [(n, p["FromPort"]) for n, g in sgs.items() for p in g["IpPermissions"]
                  if any(r.get("CidrIp") == "0.0.0.0/0" for r in p.get("IpRanges", []))]
    c.equal("only the ALB is open to 0.0.0.0/0, on 80/443", sorted(open_world), [(f"{NAME}-alb", 80), (f"{NAME}-alb", 443)])
    c.check("no SSH anywhere", not any(p.get("FromPort") == 22 for g in sgs.values() for p in g["IpPermissions"]))
    default_sg = sgs.get("default")
    c.check("default SG has no rules", default_sg and not default_sg["IpPermissions"] and not default_sg["IpPermissionsEgress"], default_sg)

    # ---- load balancer
    lb = elb.describe_load_balancers(Names=[NAME])["LoadBalancers"][0]
    c.equal("ALB DNS name = output alb_dns_name", lb["DNSName"], outputs["alb_dns_name"])
    # moto omits Scheme when the request leaves it at its default (internet-facing).
    c.equal("ALB scheme", lb.get("Scheme", "internet-facing"), "internet-facing")
    c.equal("ALB in the public subnets", {z["SubnetId"] for z in lb["AvailabilityZones"]}, tiers["public"])
    c.equal("ALB security group", lb["SecurityGroups"], [alb_sg])
    attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
    c.equal("ALB drops invalid header fields", attrs.get("routing.http.drop_invalid_header_fields.enabled"), "true")
    c.equal("ALB desync mitigation", attrs.get("routing.http.desync_mitigation_mode"), "strictest")
    c.equal("ALB access logs on", attrs.get("access_logs.s3.enabled"), "true")
    c.check("ALB access log bucket", attrs.get("access_logs.s3.bucket", "").startswith(f"{NAME}-alb-logs-"), attrs.get("access_logs.s3.bucket"))
    listeners = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    c.equal("listeners", sorted(listeners), [80, 443])
    http = listeners.get(80, {}).get("DefaultActions", [{}])[0]
    c.check("HTTP redirects to HTTPS with 301",
            http.get("Type") == "redirect" and http.get("RedirectConfig", {}).get("Protocol") == "HTTPS"
            and http["RedirectConfig"].get("StatusCode") == "HTTP_301", http)
    https = listeners.get(443, {})
    c.equal("HTTPS listener protocol", https.get("Protocol"), "HTTPS")
    c.equal("HTTPS certificate", [x["CertificateArn"] for x in https.get("Certificates", [])], [cert_arn])
    c.check("HTTPS TLS 1.3/1.2 policy", str(https.get("SslPolicy", "")).startswith("ELBSecurityPolicy-TLS13"), https.get("SslPolicy"))
    tg = elb.describe_target_groups(Names=[f"{NAME}-app"])["TargetGroups"][0]
    c.equal("HTTPS forwards to the app target group", https.get("DefaultActions", [{}])[0].get("TargetGroupArn"), tg["TargetGroupArn"])
    c.equal("health check path (lb-settings.json)", tg["HealthCheckPath"], lbs["health_check_path"])
    c.equal("health check port", tg["HealthCheckPort"], "traffic-port")
    c.equal("health check matcher", tg.get("Matcher", {}).get("HttpCode"), "200")
    c.equal("health check interval/timeout/thresholds (lb-settings.json)",
            (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"], tg["HealthyThresholdCount"], tg["UnhealthyThresholdCount"]),
            (lbs["health_check_interval_seconds"], lbs["health_check_timeout_seconds"],
             lbs["health_check_healthy_threshold"], lbs["health_check_unhealthy_threshold"]))
    c.equal("target port", tg["Port"], port)
    tg_attrs = {a["Key"]: a["Value"] for a in elb.describe_target_group_attributes(TargetGroupArn=tg["TargetGroupArn"])["Attributes"]}
    c.equal("deregistration delay (lb-settings.json)", tg_attrs.get("deregistration_delay.timeout_seconds"), str(lbs["deregistration_delay_seconds"]))
    c.equal("ALB idle timeout (lb-settings.json)", attrs.get("idle_timeout.timeout_seconds"), str(lbs["idle_timeout_seconds"]))

    # ---- Auto Scaling group and launch template
    group = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[outputs["asg_name"]])["AutoScalingGroups"]
    c.equal("ASG named as output asg_name", len(group), 1)
    group = group[0]
    c.equal("ASG name is fixed", group["AutoScalingGroupName"], f"{NAME}-app")
    # The defaults follow the capacity model (tools/capacity/check.py).
    model = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "capacity-model.json")))
    c.equal("ASG min/max", (group["MinSize"], group["MaxSize"]),
            (model["defaults"]["asg_min_size"], model["defaults"]["asg_max_size"]))
    c.equal("ASG desired starts at min", group["DesiredCapacity"], 2)
    c.equal("ASG in the app subnets", set(group["VPCZoneIdentifier"].split(",")), tiers["app"])
    c.equal("ASG health check type", group["HealthCheckType"], "ELB")
    c.equal("ASG target group", group["TargetGroupARNs"], [tg["TargetGroupArn"]])
    c.check("ASG collects GroupInServiceInstances", any(m["Metric"] == "GroupInServiceInstances" for m in group.get("EnabledMetrics", [])))
    lt_spec = group["LaunchTemplate"]
    c.equal("ASG launch template = output", lt_spec["LaunchTemplateId"], outputs["launch_template_id"])
    policies = asg.describe_policies(AutoScalingGroupName=group["AutoScalingGroupName"])["ScalingPolicies"]
    kinds = sorted(p["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"] for p in policies)
    c.equal("target tracking on CPU and requests per target", kinds, ["ALBRequestCountPerTarget", "ASGAverageCPUUtilization"])
    lt = client("ec2").describe_launch_template_versions(LaunchTemplateId=lt_spec["LaunchTemplateId"], Versions=[str(outputs["launch_template_version"])])["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    md = lt["MetadataOptions"]
    c.equal("IMDSv2 required", md.get("HttpTokens"), "required")
    c.equal("IMDS hop limit 1", md.get("HttpPutResponseHopLimit"), 1)
    ebs = lt["BlockDeviceMappings"][0]["Ebs"]
    c.check("root volume encrypted gp3", ebs.get("Encrypted") in (True, "true") and ebs.get("VolumeType") == "gp3", ebs)
    ami = client("ssm").get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")["Parameter"]["Value"]
    c.equal("AMI from the AL2023 SSM parameter", lt["ImageId"], ami)
    c.check("instance profile", lt.get("IamInstanceProfile", {}).get("Arn", "").endswith(f":instance-profile/{NAME}-instance"), lt.get("IamInstanceProfile"))
    user_data = base64.b64decode(lt["UserData"]).decode()
    c.check("user_data runs the image by tag", f"{outputs['ecr_repository_url']}:{vars_['image_tag']}" in user_data)
    c.check("user_data holds no API key", not any(k in user_data for k in api_keys))
    c.check("user_data under 16 KB", len(user_data.encode()) < 16384, len(user_data))
    c.check("DRAIN_SECONDS = deregistration delay", f'DRAIN_SECONDS="{lbs["deregistration_delay_seconds"]}"' in user_data)

    # ---- database
    db = rds.describe_db_instances(DBInstanceIdentifier=f"{NAME}-db")["DBInstances"][0]
    c.check("RDS storage encrypted", db["StorageEncrypted"] is True)
    c.check("RDS not publicly accessible", db["PubliclyAccessible"] is False)
    c.check("RDS Multi-AZ", db["MultiAZ"] is True)
    c.equal("RDS engine", db["Engine"], "postgres")
    c.check("RDS PostgreSQL 16", db["EngineVersion"].split(".")[0] == "16", db["EngineVersion"])
    c.equal("RDS database name", db.get("DBName"), "items")
    c.equal("RDS backups", db["BackupRetentionPeriod"], 7)
    c.equal("RDS managed master password: secret = output", db.get("MasterUserSecret", {}).get("SecretArn"), outputs["db_master_secret_arn"])
    c.equal("RDS in the database subnets", {s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]}, tiers["database"])
    c.equal("RDS security group", [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]], [db_sg])
    pg = db["DBParameterGroups"][0]["DBParameterGroupName"]
    params = {p["ParameterName"]: p.get("ParameterValue") for p in rds.describe_db_parameters(DBParameterGroupName=pg)["Parameters"]}
    c.equal("rds.force_ssl", params.get("rds.force_ssl"), "1")

    # ---- secrets
    sm = client("secretsmanager")
    secret = sm.describe_secret(SecretId=outputs["api_keys_secret_arn"])
    c.equal("API keys secret name", secret["Name"], f"{NAME}/api-keys")
    value = sm.get_secret_value(SecretId=outputs["api_keys_secret_arn"])["SecretString"]
    c.equal("API keys written through the write-only argument", value, "\n".join(api_keys))
    c.check("API key value not in the state", not any(k in state_text for k in api_keys))
    master = json.loads(sm.get_secret_value(SecretId=outputs["db_master_secret_arn"])["SecretString"])
    c.check("database password not in the state", master["password"] not in state_text)
    role_policy = json.loads(json.dumps(client("iam").get_role_policy(RoleName=f"{NAME}-instance", PolicyName="items-api-runtime")["PolicyDocument"]))
    reads = [s for s in role_policy["Statement"] if "secretsmanager:GetSecretValue" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    c.equal("instance role reads exactly its two secrets", sorted(r for s in reads for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])),
            sorted([outputs["api_keys_secret_arn"], outputs["db_master_secret_arn"]]))

    # ---- registry
    repo = client("ecr").describe_repositories(repositoryNames=[outputs["ecr_repository_name"]])["repositories"][0]
    c.equal("ECR repository URL = output", repo["repositoryUri"], outputs["ecr_repository_url"])
    c.equal("ECR tags immutable", repo["imageTagMutability"], "IMMUTABLE")
    c.check("ECR scan on push", repo["imageScanningConfiguration"]["scanOnPush"] is True)
    c.check("ECR lifecycle policy", "imageCountMoreThan" in client("ecr").get_lifecycle_policy(repositoryName=repo["repositoryName"])["lifecyclePolicyText"])

    # ---- monitoring
    groups = client("logs").describe_log_groups(logGroupNamePrefix=outputs["log_group_name"])["logGroups"]
    c.check("log group with 30 days retention", len(groups) == 1 and groups[0].get("retentionInDays") == 30, groups)
    alarms = client("cloudwatch").describe_alarms(AlarmNamePrefix=f"{NAME}-")["MetricAlarms"]
    c.equal("ten alarms", len(alarms), 10)
    c.check("an alarm on the service's EMF metric DbErrors",
            any(a.get("Namespace") == "ItemsApi" and a.get("MetricName") == "DbErrors" for a in alarms))
    c.check("every alarm notifies the SNS topic", all(outputs["alarm_topic_arn"] in a["AlarmActions"] for a in alarms))
    # The rollback guard, read back from CloudWatch: deploy-guard.json's numbers,
    # the alarm the refresh preferences name, and a bake of its window + a period.
    guard = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "deploy-guard.json")))
    t5xx = next((a for a in alarms if a["AlarmName"] == f"{NAME}-target-5xx"), {})
    c.equal("target-5xx alarm = deploy-guard.json (metric, statistic, period, evaluation periods, datapoints, threshold)",
            [t5xx.get(k) for k in ("MetricName", "Statistic", "Period", "EvaluationPeriods", "DatapointsToAlarm", "Threshold")],
            [guard["metric"], guard["statistic"], guard["period_seconds"], guard["evaluation_periods"],
             guard["datapoints_to_alarm"], float(guard["threshold"])])
    prefs = outputs["instance_refresh_preferences"]
    c.check("the refresh preferences roll back on the target-5xx alarm",
            f"{NAME}-target-5xx" in prefs.get("AlarmSpecification", {}).get("Alarms", []), prefs)
    c.equal("refresh BakeTime = guard window + one period", prefs.get("BakeTime"),
            guard["period_seconds"] * (guard["evaluation_periods"] + 1))
    body = client("cloudwatch").get_dashboard(DashboardName=outputs["dashboard_name"])["DashboardBody"]
    c.check("dashboard shows the service's EMF metrics", '"ItemsApi"' in body and "DbPoolWaiting" in body)
    subs = client("sns").list_subscriptions_by_topic(TopicArn=outputs["alarm_topic_arn"])["Subscriptions"]
    c.equal("alarm e-mail subscription", [(s["Protocol"], s["Endpoint"]) for s in subs], [("email", vars_["alarm_email"])])

    # ---- CI access
    iam = client("iam")
    trust = iam.get_role(RoleName=f"{NAME}-github-deploy")["Role"]["AssumeRolePolicyDocument"]
    if isinstance(trust, str):
        trust = json.loads(trust)
    cond = trust["Statement"][0]["Condition"]["StringEquals"]
    repo = vars_["github_repository"]
    c.equal("deploy role pinned to repository, environment, workflow and branch (customized subject)",
            sorted(cond.get("token.actions.githubusercontent.com:sub") or []),
            [f"repo:{repo}:environment:production:job_workflow_ref:{repo}/.github/workflows/{wf}@refs/heads/main"
             for wf in ("ci-cd.yml", "redeploy.yml")])
    flow = iam.get_role(RoleName=f"{NAME}-vpc-flow-logs")["Role"]["AssumeRolePolicyDocument"]
    if isinstance(flow, str):
        flow = json.loads(flow)
    c.equal("flow-logs role trusted only for this account's flow logs",
            flow["Statement"][0].get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount"),
            client("sts").get_caller_identity()["Account"])
    c.equal("deploy role ARN = output", iam.get_role(RoleName=f"{NAME}-github-deploy")["Role"]["Arn"], outputs["deploy_role_arn"])
    boundary = iam.get_role(RoleName=f"{NAME}-instance")["Role"].get("PermissionsBoundary", {}).get("PermissionsBoundaryArn", "")
    c.check("instance role carries the workload boundary", boundary.endswith(f":policy/{NAME}-workload-boundary"), boundary)

    # ---- state backend
    s3 = client("s3")
    bucket, key = vars_["tf_state_bucket"], vars_["tf_state_key"]
    c.equal("state bucket versioned", s3.get_bucket_versioning(Bucket=bucket).get("Status"), "Enabled")
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    c.equal("state bucket encrypted", enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")
    pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    c.check("state bucket blocks public access", all(pab.values()), pab)
    names = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    c.check("state object in the bucket", key in names, names)
    c.check("state lock released", f"{key}.tflock" not in names, names)

    c.finish("read-back")


# --------------------------------------------------------------------------- #
# drift
# --------------------------------------------------------------------------- #

def changed_paths(before, after, prefix=""):
    """Attribute paths whose values differ between before and after."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in sorted(set(before) | set(after)):
            out += changed_paths(before.get(k), after.get(k), f"{prefix}.{k}" if prefix else k)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after)):
            out += changed_paths(b, a, f"{prefix}[{i}]")
        return out
    # The legacy SDK reads some unset strings back as "" and lists as []:
    # Terraform does not show those as changes, so neither do we.
    if before in (None, "", []) and after in (None, "", []):
        return []
    return [] if before == after else [prefix]


def unknown_paths(tree, prefix=""):
    """Attribute paths marked true in a plan's after_unknown."""
    if tree is True:
        return [prefix]
    if isinstance(tree, dict):
        return [p for k, v in sorted(tree.items()) for p in unknown_paths(v, f"{prefix}.{k}" if prefix else k)]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in unknown_paths(v, f"{prefix}[{i}]")]
    return []


def drift(plan_path):
    plan = json.load(open(plan_path))
    known, unknown = [], []
    for rc in plan.get("resource_changes", []):
        actions = rc["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        addr = rc["address"]
        if actions != ["update"]:
            unknown.append(f"{addr}: {'/'.join(actions)}")
            continue
        after_unknown = rc["change"].get("after_unknown") or {}
        paths = changed_paths(rc["change"]["before"], rc["change"]["after"])
        paths += [p for p in unknown_paths(after_unknown) if p not in paths]
        for path in paths:
            why = next((w for a, p, w in KNOWN_DRIFT if re.fullmatch(a, addr) and re.fullmatch(p, path)), None)
            (known if why else unknown).append(f"{addr} {path}" + (f"  ({why})" if why else ""))
    for line in known:
        print(f"  known emulator drift: {line}")
    if unknown:
        for line in unknown:
            print(f"  UNEXPLAINED change: {line}", file=sys.stderr)
        sys.exit(f"second plan: {len(unknown)} unexplained change(s)")
    print(f"second plan: no unexplained changes ({len(known)} known emulator drift item(s))")


# --------------------------------------------------------------------------- #
# leftovers
# --------------------------------------------------------------------------- #

def leftovers(keep_bucket=None, keep_cert=None):
    found = []
    ec2 = client("ec2")
    found += [f"VPC {v['VpcId']}" for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    found += [f"NAT gateway {n['NatGatewayId']}" for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] not in ("deleted", "deleting")]
    found += [f"Elastic IP {a.get('AllocationId')}" for a in ec2.describe_addresses()["Addresses"]]
    found += [f"launch template {t['LaunchTemplateName']}" for t in ec2.describe_launch_templates()["LaunchTemplates"]]
    found += [f"instance {i['InstanceId']}" for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
              if i["State"]["Name"] not in ("terminated", "shutting-down")]
    found += [f"load balancer {l['LoadBalancerName']}" for l in client("elbv2").describe_load_balancers()["LoadBalancers"]]
    found += [f"target group {t['TargetGroupName']}" for t in client("elbv2").describe_target_groups()["TargetGroups"]]
    found += [f"ASG {g['AutoScalingGroupName']}" for g in client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]]
    rds = client("rds")
    found += [f"DB instance {d['DBInstanceIdentifier']}" for d in rds.describe_db_instances()["DBInstances"]]
    found += [f"DB subnet group {g['DBSubnetGroupName']}" for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
    found += [f"DB parameter group {g['DBParameterGroupName']}" for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
              if not g["DBParameterGroupName"].startswith("default.")]
    found += [f"secret {s['Name']}" for s in client("secretsmanager").list_secrets()["SecretList"]]
    found += [f"ECR repository {r['repositoryName']}" for r in client("ecr").describe_repositories()["repositories"]]
    found += [f"log group {g['logGroupName']}" for g in client("logs").describe_log_groups()["logGroups"]]
    found += [f"alarm {a['AlarmName']}" for a in client("cloudwatch").describe_alarms()["MetricAlarms"]]
    found += [f"dashboard {d['DashboardName']}" for d in client("cloudwatch").list_dashboards()["DashboardEntries"]]
    found += [f"SNS topic {t['TopicArn']}" for t in client("sns").list_topics()["Topics"]]
    iam = client("iam")
    found += [f"IAM role {r['RoleName']}" for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(NAME)]
    found += [f"IAM policy {p['PolicyName']}" for p in iam.list_policies(Scope="Local")["Policies"]]
    found += [f"instance profile {p['InstanceProfileName']}" for p in iam.list_instance_profiles()["InstanceProfiles"]]
    found += [f"OIDC provider {p['Arn']}" for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    found += [f"bucket {b['Name']}" for b in client("s3").list_buckets()["Buckets"] if b["Name"] != keep_bucket]
    found += [f"certificate {c['CertificateArn']}" for c in client("acm").list_certificates()["CertificateSummaryList"]
              if c["CertificateArn"] != keep_cert]
    if found:
        for f in found:
            print(f"  LEFT BEHIND: {f}", file=sys.stderr)
        sys.exit(f"destroy left {len(found)} resource(s) behind")
    print("destroy left nothing behind" + (f" (besides the state bucket {keep_bucket})" if keep_bucket else ""))


def empty_bucket(bucket):
    """Delete every object version and delete marker one by one.

    moto's DeleteObjects (the batch call terraform's force_destroy uses) fails
    on delete markers, such as the ones S3 locking leaves behind when the
    .tflock objects are removed; single DeleteObject calls work.
    """
    s3 = client("s3")
    versions = s3.list_object_versions(Bucket=bucket)
    items = versions.get("Versions", []) + versions.get("DeleteMarkers", [])
    for item in items:
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    print(f"emptied {bucket}: {len(items)} object version(s) and delete marker(s)")


def wait_bucket(bucket, timeout=120):
    """Wait until the state bucket exists and is versioned (bootstrap/ runs in the background)."""
    import time
    s3 = client("s3")
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled":
                print(f"state bucket {bucket} exists and is versioned")
                return
        except s3.exceptions.NoSuchBucket:
            pass
        except Exception as e:  # moto still starting the request handler, etc.
            if "NoSuchBucket" not in str(e):
                raise
        time.sleep(1)
    sys.exit(f"state bucket {bucket} did not appear within {timeout}s")


def main(argv):
    if not argv:
        sys.exit(__doc__)
    cmd, args = argv[0], argv[1:]
    if cmd == "import-cert":
        import_cert()
    elif cmd == "delete-cert":
        delete_cert(args[0])
    elif cmd == "readback":
        readback(args[0])
    elif cmd == "drift":
        drift(args[0])
    elif cmd == "wait-bucket":
        wait_bucket(args[0])
    elif cmd == "empty-bucket":
        empty_bucket(args[0])
    elif cmd == "leftovers":
        opts = dict(zip(args[0::2], args[1::2]))
        leftovers(opts.get("--keep-bucket"), opts.get("--keep-cert"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
