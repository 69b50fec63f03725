#!/usr/bin/env python3
"""Lints every IAM policy of infra/template.yaml with parliament (an independent IAM
linter that knows each action's resource types), so a policy AWS would refuse or never
match fails the test script instead of a deployment.

The template's policies are turned into plain IAM documents first: intrinsic functions
resolve to the ARNs CloudFormation would produce (a sample account and region), and the
SAM policy templates the template uses expand to their published statements. Fails on any
RESOURCE_MISMATCH, UNKNOWN_ACTION, UNKNOWN_PREFIX or malformed document; prints the rest.

One reading of parliament's is corrected: it takes every resource type the service
reference marks required for an action as required together, where the reference lists
alternatives (`states:DescribeExecution` on a standard execution *or* an express one,
`bedrock:InvokeModel` on a foundation model *or* an inference profile). A mismatch is
forgiven only when a resource of the same statement strictly matches another required
type of that action; an action that needs `Resource: "*"` (task tokens) never is.
"""
import json
import pathlib
import re
import sys

from parliament import analyze_policy_string, is_arn_strictly_valid
from parliament.statement import get_arn_format, get_privilege_info

ROOT = pathlib.Path(__file__).resolve().parent.parent
FATAL = {"RESOURCE_MISMATCH", "UNKNOWN_ACTION", "UNKNOWN_PREFIX", "MALFORMED", "MALFORMED_JSON",
         "UNKNOWN_PRINCIPAL", "UNKNOWN_FORMAT", "UNKNOWN_OPERATOR", "MISMATCHED_TYPE"}
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::StackName": "aos", "AWS::URLSuffix": "amazonaws.com"}


from cfn_yaml import load_template
template = load_template()
resources = template["Resources"]
A = "arn:aws:{}:us-east-1:123456789012:{}"


def arn(name):
    """The ARN CloudFormation gives resource `name` (`!GetAtt name.Arn`)."""
    kind = resources[name]["Type"]
    return {
        "AWS::DynamoDB::Table": A.format("dynamodb", f"table/aos-{name}"),
        "AWS::SQS::Queue": A.format("sqs", f"aos-{name}"),
        "AWS::Serverless::StateMachine": A.format("states", f"stateMachine:aos-{name}"),
        "AWS::IAM::Role": f"arn:aws:iam::123456789012:role/aos-{name}",
        "AWS::Serverless::Function": A.format("lambda", f"function:aos-{name}"),
        "AWS::SecretsManager::Secret": A.format("secretsmanager", f"secret:aos/{name}-AbCdEf"),
        "AWS::S3::Bucket": f"arn:aws:s3:::aos-{name.lower()}",
    }[kind]


def ref(name):
    """What `!Ref name` gives: a pseudo parameter, a parameter's default or the resource's id."""
    if name in PSEUDO:
        return PSEUDO[name]
    if name in template.get("Parameters", {}):
        return str(template["Parameters"][name].get("Default", name))
    kind = resources[name]["Type"]
    if kind == "AWS::SQS::Queue":
        return f"https://sqs.us-east-1.amazonaws.com/123456789012/aos-{name}"
    if kind in ("AWS::Serverless::StateMachine", "AWS::SecretsManager::Secret"):
        return arn(name)
    return f"aos-{name}"


def resolve(value):
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key in ("Ref",):
            return ref(arg)
        if key in ("GetAtt", "Fn::GetAtt"):
            name, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            if attr == "Arn":
                return arn(name)
            if attr == "QueueName":
                return f"aos-{name}"
            raise SystemExit(f"lint_iam: unknown attribute {name}.{attr}")
        if key in ("Sub", "Fn::Sub"):
            text, names = (arg, {}) if isinstance(arg, str) else (arg[0], resolve(arg[1]))
            return re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1)) or (
                arn(m.group(1).split(".")[0]) if m.group(1).endswith(".Arn") else ref(m.group(1))), text)
    return {k: resolve(v) for k, v in value.items()}


def sam_template(name, args):
    """The statements of the SAM policy templates this template uses."""
    if name == "SQSSendMessagePolicy":
        return [{"Effect": "Allow", "Action": ["sqs:SendMessage*"],
                 "Resource": A.format("sqs", args["QueueName"])}]
    raise SystemExit(f"lint_iam: SAM policy template {name} is not known here: add its statements")


def documents():
    """(where, policy document) for every policy in the template."""
    for name, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            for i, policy in enumerate(props.get("Policies", [])):
                if isinstance(policy, str):
                    continue  # an AWS managed policy by name
                if "Statement" in policy:
                    statements = resolve(policy["Statement"])
                else:
                    (tpl, args), = policy.items()
                    statements = sam_template(tpl, resolve(args))
                yield f"{name}.Policies[{i}]", {"Version": "2012-10-17", "Statement": statements}
        if res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield f"{name}.{policy['PolicyName']}", resolve(policy["PolicyDocument"])


def required_formats(action):
    service, name = action.split(":", 1)
    info = get_privilege_info(service, name)
    return [(rt["resource_type"], get_arn_format(rt["resource_type"], info["service_resources"]))
            for rt in info["resource_types"] if "*" in rt["resource_type"]]


def alternative_matched(action, resources_of):
    """Whether some resource matches one of the action's required types."""
    return any(is_arn_strictly_valid(rt, fmt, r) for rt, fmt in required_formats(action) for r in resources_of)


count = 0
fatal = []
for where, doc in documents():
    count += 1
    for i, statement in enumerate(doc["Statement"]):
        single = {"Version": "2012-10-17", "Statement": [statement]}
        resources_of = statement.get("Resource", [])
        resources_of = resources_of if isinstance(resources_of, list) else [resources_of]
        for f in analyze_policy_string(json.dumps(single)).findings:
            detail = f.detail
            if f.issue == "RESOURCE_MISMATCH":
                detail = [d for d in f.detail if not alternative_matched(d["action"], resources_of)]
                forgiven = [d for d in f.detail if d not in detail]
                if forgiven:
                    print(f"note {where}.Statement[{i}]: alternatives of {sorted({d['action'] for d in forgiven})} "
                          f"not listed ({len(forgiven)}); one required type matched")
                if not detail:
                    continue
            line = f"{where}.Statement[{i}]: {f.issue} {json.dumps(detail, default=str)}"
            if f.issue in FATAL:
                fatal.append(line)
            print(("FAIL " if f.issue in FATAL else "note ") + line)
print(f"parliament: {count} policies, {len(fatal)} findings that fail the check")
sys.exit(1 if fatal or count == 0 else 0)
