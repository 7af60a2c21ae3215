#!/usr/bin/env python3
"""Deploy infra/template.yaml into an emulator's CloudFormation (moto), the way `sam deploy`
would deploy it into AWS: the SAM template is transformed by the SAM translator
(aws-sam-translator, the library behind `sam deploy`'s server-side transform), the result is
created as a stack through the CloudFormation API, and what the stack created is printed as
JSON for the test that drives the flow through it (tests/stack_moto.rs).

Emulator gaps are closed here, explicitly, and reported under "applied_by_script" and
"not_created": moto's CloudFormation creates a bucket but ignores its
NotificationConfiguration, so the script writes the same configuration (translated from the
template's CloudFormation form to the S3 API form, nothing added) with PutBucketNotification;
resource types moto cannot create are listed, not faked.

Usage: emulator_stack.py --endpoint http://127.0.0.1:PORT [--stack-name NAME]
           [--template infra/template.yaml] [--param Key=Value ...] [--translated-out FILE]
           [--enforce-iam] [--gpu-network]
       emulator_stack.py --translate-only [--param Key=Value ...]   (the transformed template)
Credentials/region: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any, for moto), AWS_REGION.
"""

import argparse
import ast
import json
import os
import sys
import time
import urllib.request

import boto3
import yaml
from samtranslator.translator.transform import transform

ACCOUNT_ID = "123456789012"


# --- CloudFormation YAML (short-form intrinsics) -------------------------------------------
class CfnLoader(yaml.SafeLoader):
    """YAML loader that turns `!Ref x` into {"Ref": x}, `!GetAtt a.b` into
    {"Fn::GetAtt": [a, b]} and every other `!Fn v` into {"Fn::Fn": v}."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


# --- SAM transform ---------------------------------------------------------------------------
class NoManagedPolicies:
    """The translator's managed-policy loader. Sightline's template names no AWS managed
    policy (every role is written out); if the translator asks for one, that is an error."""

    def load(self):
        return {}


def image_uri(region, logical_id):
    """Where `sam deploy --resolve-image-repos` would have pushed the function's image."""
    return f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/sightline-{logical_id.lower()}:latest"


def sam_transform(template, parameters, region):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            props = resource.setdefault("Properties", {})
            if props.get("PackageType") == "Image":
                props.setdefault("ImageUri", image_uri(region, logical_id))
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    return transform(template, parameters, NoManagedPolicies())


# --- Stack -----------------------------------------------------------------------------------
def create_stack(cfn, name, body, parameters):
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    deadline = time.time() + 120
    while True:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        status = stack["StackStatus"]
        if status.endswith("_COMPLETE") or status.endswith("_FAILED"):
            break
        if time.time() > deadline:
            raise SystemExit(f"stack {name} still {status} after 120 s")
        time.sleep(0.2)
    if status != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
        raise SystemExit(f"stack {name}: {status}: {reasons}")
    return stack


# --- What moto's CloudFormation leaves out ------------------------------------------------
class Resolver:
    """Evaluates the few intrinsics the bucket's notification uses (Ref, Fn::GetAtt of a
    queue's Arn, Fn::If on a template condition, AWS::NoValue) against the created stack."""

    def __init__(self, template, parameters, created, region):
        self.template = template
        self.parameters = {
            k: parameters.get(k, v.get("Default", ""))
            for k, v in template.get("Parameters", {}).items()
        }
        self.created = created
        self.region = region

    def condition(self, name):
        return self.value(self.template["Conditions"][name])

    def value(self, node):
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                if arg == "AWS::NoValue":
                    return NO_VALUE
                return self.parameters.get(arg, self.created.get(arg))
            if fn == "Fn::GetAtt":
                resource, attribute = arg
                if attribute != "Arn" or not self.created[resource].startswith("https://sqs."):
                    raise SystemExit(f"unsupported GetAtt {arg}")
                name = self.created[resource].rsplit("/", 1)[1]
                return f"arn:aws:sqs:{self.region}:{ACCOUNT_ID}:{name}"
            if fn == "Fn::If":
                cond, then, other = arg
                return self.value(then if self.condition(cond) else other)
            if fn == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                return a == b
            if fn == "Fn::Not":
                return not self.value(arg[0])
            if fn == "Condition":
                return self.condition(arg)
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}


NO_VALUE = object()


def apply_bucket_notification(s3, template, resolver, bucket):
    """moto's CloudFormation creates the bucket without its NotificationConfiguration; write
    the template's own configuration through the S3 API (CloudFormation form -> API form)."""
    props = template["Resources"]["Bucket"]["Properties"]
    config = resolver.value(props["NotificationConfiguration"])
    api = {"QueueConfigurations": []}
    for q in config.get("QueueConfigurations", []):
        rules = q.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        api["QueueConfigurations"].append(
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                "Filter": {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}},
            }
        )
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=api)
    return api


def policy_document(doc):
    """A role policy as a dict (moto returns a policy written by CloudFormation as the
    Python repr of the dict)."""
    if isinstance(doc, str):
        try:
            return json.loads(doc)
        except json.JSONDecodeError:
            return ast.literal_eval(doc)
    return doc


def describe(client, translated, created):
    """What the stack created, as the test needs it: functions (environment, role, limits),
    event source mappings, the roles' inline policies, the GPU task definition, dashboard."""
    lam, iam = client("lambda"), client("iam")
    functions = {}
    for logical, res in translated["Resources"].items():
        if res["Type"] != "AWS::Lambda::Function" or logical not in created:
            continue
        f = lam.get_function(FunctionName=created[logical])
        cfg = f["Configuration"]
        functions[logical] = {
            "name": cfg["FunctionName"],
            "arn": cfg["FunctionArn"],
            "environment": cfg.get("Environment", {}).get("Variables", {}),
            "role": cfg["Role"],
            "memory_mb": cfg.get("MemorySize"),
            "timeout_s": cfg.get("Timeout"),
            "reserved_concurrency": f.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
            "dead_letter_target": cfg.get("DeadLetterConfig", {}).get("TargetArn"),
        }
    mappings = [
        {
            "function_arn": m["FunctionArn"],
            "queue_arn": m["EventSourceArn"],
            "batch_size": m["BatchSize"],
            "batching_window_s": m.get("MaximumBatchingWindowInSeconds"),
            "response_types": m.get("FunctionResponseTypes", []),
            "uuid": m["UUID"],
        }
        for m in lam.list_event_source_mappings()["EventSourceMappings"]
        if m["FunctionArn"] in {f["arn"] for f in functions.values()}
    ]
    roles = {}
    for logical, res in translated["Resources"].items():
        if res["Type"] != "AWS::IAM::Role" or logical not in created:
            continue
        name = created[logical]
        docs = [
            policy_document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
            for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
        roles[logical] = {"name": name, "arn": arn, "policies": docs, "managed": attached}
    task = None
    if "GpuTaskDefinition" in created:
        td = client("ecs").describe_task_definition(taskDefinition=created["GpuTaskDefinition"])
        task = td["taskDefinition"]
    dashboard = None
    if "Dashboard" in created:
        dashboard = client("cloudwatch").get_dashboard(DashboardName=created["Dashboard"])["DashboardBody"]
    return {"functions": functions, "event_source_mappings": mappings, "roles": roles,
            "gpu_task_definition": task, "dashboard_body": dashboard}


# Where moto's IAM check names an action differently from AWS, the emulator's users get
# moto's name beside the AWS action that authorizes the call there. Neither kind of name is
# an IAM action AWS knows, and each authorizes only the call its AWS action does, so a user
# is granted nothing the deployed role would not be (a statement keeps its resources and
# conditions):
# * AWS authorizes an SQS batch call with its single action's permission (SendMessageBatch
#   with sqs:SendMessage, ...); moto checks the batch call's own name.
# * moto 5.2.6 checks an S3 call under its API operation's name (ListObjectsV2, HeadObject,
#   DeleteObjects, ...); AWS checks the action the S3 documentation gives for it
#   (s3:ListBucket, s3:GetObject, s3:DeleteObject, ...). moto 5.2.5 used AWS's names.
EMULATOR_ACTION_NAMES = {
    "sqs:SendMessage": ["sqs:SendMessageBatch"],
    "sqs:DeleteMessage": ["sqs:DeleteMessageBatch"],
    "sqs:ChangeMessageVisibility": ["sqs:ChangeMessageVisibilityBatch"],
    "s3:ListBucket": ["s3:ListObjectsV2", "s3:ListObjects", "s3:HeadBucket"],
    "s3:ListBucketVersions": ["s3:ListObjectVersions"],
    "s3:GetObject": ["s3:HeadObject"],
    "s3:PutObject": ["s3:CreateMultipartUpload", "s3:UploadPart", "s3:CompleteMultipartUpload"],
    "s3:DeleteObject": ["s3:DeleteObjects"],
}


def with_emulator_action_names(doc):
    doc = json.loads(json.dumps(doc))
    statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    for s in statements:
        actions = s.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        s["Action"] = actions + [n for a in actions for n in EMULATOR_ACTION_NAMES.get(a, [])]
    doc["Statement"] = statements
    return doc


def role_users(iam, roles):
    """For each role, an IAM user holding exactly the role's deployed policies (inline
    documents and managed ARNs), with an access key: the binaries run with these so that the
    emulator's IAM checks what each role allows. (A Lambda role trusts lambda.amazonaws.com
    only, so the test cannot assume it.) Plus an administrator for the test's own calls."""
    users = {}
    for logical, role in roles.items():
        name = f"as-{role['name']}"[:64]
        iam.create_user(UserName=name)
        for i, doc in enumerate(role["policies"]):
            emulated = with_emulator_action_names(doc)
            iam.put_user_policy(UserName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(emulated))
        for arn in role["managed"]:
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        users[logical] = iam.create_access_key(UserName=name)["AccessKey"]
    iam.create_user(UserName="sightline-emulator-admin")
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="sightline-emulator-admin", PolicyName="admin", PolicyDocument=json.dumps(admin))
    users["admin"] = iam.create_access_key(UserName="sightline-emulator-admin")["AccessKey"]
    return {
        k: {"access_key_id": v["AccessKeyId"], "secret_access_key": v["SecretAccessKey"]}
        for k, v in users.items()
    }


def enforce_iam(endpoint):
    """From now on the emulator checks every request's signature and IAM permissions."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(request) as response:
        response.read()


def gpu_network(client):
    """Stand-ins for what an account already has for GPU workers: a VPC, a subnet and the
    ECS GPU AMI's SSM parameter (the template's defaults name AWS's own path)."""
    ec2, ssm = client("ec2"), client("ssm")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ssm.put_parameter(Name="/sightline-emulator/ecs-gpu-ami", Value=ami, Type="String", Overwrite=True)
    return {"GpuVpcId": vpc, "GpuSubnetIds": subnet, "GpuAmiId": "/sightline-emulator/ecs-gpu-ami"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="the emulator (moto server); not with --translate-only")
    parser.add_argument("--stack-name", default="sightline")
    parser.add_argument(
        "--translate-only",
        action="store_true",
        help="only transform the template and print it (JSON); no emulator",
    )
    parser.add_argument("--template", default="infra/template.yaml")
    parser.add_argument("--param", action="append", default=[], help="Key=Value")
    parser.add_argument("--translated-out", help="write the transformed template (JSON) here")
    parser.add_argument(
        "--enforce-iam",
        action="store_true",
        help="create one IAM user per role (its policies) and an admin, print their keys, then "
        "make the emulator enforce IAM for every later request",
    )
    parser.add_argument(
        "--gpu-network",
        action="store_true",
        help="with EnableGpuWorker=true: create a VPC, subnet and AMI parameter in the emulator first",
    )
    args = parser.parse_args()
    region = os.environ.get("AWS_REGION", "us-east-1")
    parameters = dict(p.split("=", 1) for p in args.param)

    if not args.translate_only and not args.endpoint:
        parser.error("--endpoint is required (or --translate-only)")
    session = boto3.session.Session(region_name=region)
    client = lambda service: session.client(service, endpoint_url=args.endpoint)
    if parameters.get("EnableGpuWorker") == "true" and args.gpu_network:
        parameters.update(gpu_network(client))

    translated = sam_transform(load_template(args.template), parameters, region)
    if args.translated_out:
        with open(args.translated_out, "w") as f:
            json.dump(translated, f, indent=1)
    if args.translate_only:
        print(json.dumps(translated, indent=1))
        return 0

    cfn = client("cloudformation")
    stack = create_stack(cfn, args.stack_name, translated, parameters)
    resources = cfn.list_stack_resources(StackName=args.stack_name)["StackResourceSummaries"]
    created = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    resolver = Resolver(translated, parameters, created, region)
    wanted = {
        k: v["Type"]
        for k, v in translated["Resources"].items()
        if "Condition" not in v or resolver.condition(v["Condition"])
    }
    report = {
        "parameters": parameters,
        "outputs": {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])},
        "resources": {k: v for k, v in created.items() if k},
        "not_created": {k: t for k, t in wanted.items() if k not in created},
        "applied_by_script": {},
    }
    report.update(describe(client, translated, created))
    # moto would run the functions' images in Docker when a message arrives; the test runs
    # the real binaries itself, as the event source mapping describes. Disabled before the
    # first message can arrive.
    lam = client("lambda")
    for m in report["event_source_mappings"]:
        lam.update_event_source_mapping(UUID=m["uuid"], Enabled=False)
    if "Bucket" in created:
        report["applied_by_script"]["bucket_notification"] = apply_bucket_notification(
            client("s3"), translated, resolver, created["Bucket"]
        )
    if args.enforce_iam:
        report["credentials"] = role_users(client("iam"), report["roles"])
        enforce_iam(args.endpoint)
    print(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    sys.exit(main())
