#!/usr/bin/env python3
"""Checks infra/template.yaml for what AOS promises of its deployment, and that the
LocalStack init hook creates the same resources. Exits non-zero naming every failure."""
import pathlib
import json
import re
import sys


ROOT = pathlib.Path(__file__).resolve().parent.parent


from cfn_yaml import load_template

failures = []
checks = 0


def check(ok, message):
    global checks
    checks += 1
    if not ok:
        failures.append(message)


template = load_template()
resources = template["Resources"]
globals_fn = template["Globals"]["Function"]
check(globals_fn["Runtime"] == "provided.al2023", "functions must run on provided.al2023")
check(globals_fn["Architectures"] == ["arm64"], "functions must be arm64")

functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
crates = sorted(p.parent.name for p in (ROOT / "functions").glob("*/Cargo.toml"))
binaries = []
for name, fn in functions.items():
    meta = fn.get("Metadata", {})
    check(meta.get("BuildMethod") == "rust-cargolambda", f"{name}: BuildMethod must be rust-cargolambda")
    binary = meta.get("BuildProperties", {}).get("Binary")
    binaries.append(binary)
    check(binary in crates, f"{name}: Binary {binary!r} is not a crate in functions/")
    check(fn["Properties"].get("CodeUri") == "../", f"{name}: CodeUri must be the workspace root")
    for policy in fn["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources_of = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            # Resource "*" only where IAM has no resource to name: X-Ray/CloudWatch,
            # task-token answers and ListSecrets (parliament, scripts/lint_iam.py, checks
            # the rest).
            observability = all(a.startswith(("xray:", "cloudwatch:", "logs:", "states:SendTask"))
                                or a == "secretsmanager:ListSecrets" for a in actions)
            check(all("*" not in a for a in actions), f"{name}: wildcard action in {actions}")
            check(observability or all(r != "*" for r in resources_of), f"{name}: Resource '*' outside X-Ray/CloudWatch")
check(sorted(binaries) == crates, f"every function crate is deployed exactly once: {sorted(binaries)} vs {crates}")

# Every route of the route table has its function, on its method and path, and no
# function serves a route the table does not have.
routes_rs = (ROOT / "shared/api/src/routes.rs").read_text()
table_routes = sorted(set(re.findall(r'Route::\w+ => \("([A-Z]+)", "([^"]+)"\)', routes_rs)))
deployed = sorted((ev["Properties"]["Method"], ev["Properties"]["Path"])
                  for fn in functions.values() for ev in fn["Properties"].get("Events", {}).values()
                  if ev.get("Type") == "HttpApi")
check(len(table_routes) >= 21 and deployed == table_routes,
      f"the HTTP API's routes are the route table's: missing {sorted(set(table_routes) - set(deployed))}, extra {sorted(set(deployed) - set(table_routes))}")

queue = resources["StepQueue"]["Properties"]
worker_timeout = functions["WorkerStepFunction"]["Properties"]["Timeout"]
check(queue["VisibilityTimeout"] >= 6 * worker_timeout, "step queue visibility must be >= 6 x the worker timeout")
# The worker's numbers live in its code; the template must deploy the same function timeout.
code = (ROOT / "shared/lambda/src/worker.rs").read_text()
m = re.search(r"FUNCTION_TIMEOUT: Duration = Duration::from_secs\((\d+)\)", code)
check(m is not None and int(m.group(1)) == worker_timeout,
      f"the worker's Timeout {worker_timeout} is aos_lambda::worker::FUNCTION_TIMEOUT ({m.group(1) if m else '?'})")
check("AOS_VISIBILITY_TIMEOUT_S" not in (ROOT / "infra/template.yaml").read_text(),
      "no second visibility setting: the worker's lease is its own")
check(int(queue["RedrivePolicy"]["maxReceiveCount"]) >= 5, "maxReceiveCount must be >= 5")
worker_events = functions["WorkerStepFunction"]["Properties"]["Events"]["Steps"]["Properties"]
check(worker_events.get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "the worker reports batch item failures")

table = resources["Table"]["Properties"]
check(table["BillingMode"] == "PAY_PER_REQUEST", "table billing must be on demand")
check(table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}, "table TTL on `ttl`")
check(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, "point-in-time recovery")
gsi = table["GlobalSecondaryIndexes"][0]
check(gsi["IndexName"] == "gsi1", "GSI gsi1")
ends = [g for g in table["GlobalSecondaryIndexes"] if g["IndexName"] == "ends"]
check(len(ends) == 1 and [k["AttributeName"] for k in ends[0]["KeySchema"]] == ["gsi2pk", "gsi2sk"]
      and ends[0]["Projection"]["ProjectionType"] == "KEYS_ONLY", "GSI ends on gsi2pk/gsi2sk, keys only")
status = [g for g in table["GlobalSecondaryIndexes"] if g["IndexName"] == "status"]
check(len(status) == 1 and [k["AttributeName"] for k in status[0]["KeySchema"]] == ["gsi3pk", "gsi3sk"]
      and status[0]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["since_ms"]},
      "GSI status on gsi3pk/gsi3sk, projecting since_ms alone (a step must not write it)")
lib = (ROOT / "shared/aws/src/lib.rs").read_text()
check('pub const ENDS_INDEX: &str = "ends";' in lib, "the code names the ends index as the template does")
check('pub const STATUS_INDEX: &str = "status";' in lib, "the code names the status index as the template does")

# Large values: one private, encrypted bucket, named to every function; S3 access only on it.
bucket = resources.get("BlobBucket", {}).get("Properties", {})
check(bucket.get("PublicAccessBlockConfiguration") == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
      "IgnorePublicAcls": True, "RestrictPublicBuckets": True}, "the blob bucket blocks all public access")
check("ServerSideEncryptionConfiguration" in bucket.get("BucketEncryption", {}), "the blob bucket is encrypted")
check(globals_fn["Environment"]["Variables"].get("AOS_BLOB_BUCKET") == {"Ref": "BlobBucket"}, "functions know the blob bucket")
for name, fn in functions.items():
    for policy in fn["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if any(a.startswith("s3:") for a in actions):
                res = json.dumps(statement["Resource"])
                check("BlobBucket" in res, f"{name}: S3 actions only on the blob bucket")
writers = sorted(name for name, fn in functions.items() for p in fn["Properties"].get("Policies", [])
                 for st in p.get("Statement", []) if "s3:PutObject" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))
check(writers == ["WorkerStepFunction"], f"only the worker writes large values: {writers}")

api = resources["HttpApi"]["Properties"]
check(api["Auth"]["DefaultAuthorizer"] in api["Auth"]["Authorizers"], "the HTTP API has a default Lambda authorizer")
identity = api["Auth"]["Authorizers"]["ApiKeyAuthorizer"].get("Identity", {})
check(not identity.get("Headers") and identity.get("ReauthorizeEvery") == 0,
      "the authorizer needs no one header (a key in either Authorization or x-api-key reaches it), so it caches nothing")
check("ThrottlingRateLimit" in api["DefaultRouteSettings"], "the HTTP API is throttled")
for out in ["ApiUrl", "TableName", "StepQueueUrl", "StepDeadLetterQueueUrl"]:
    check(out in template["Outputs"], f"output {out}")

# Workflow state machines: definitions from infra/statemachines/, tasks only to the step
# queue, and the worker may answer their tokens and nothing else's.
machines = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::StateMachine"}
check(len(machines) >= 2, "the example workflows are deployed as state machines")
definitions = sorted(p.name for p in (ROOT / "infra/statemachines").glob("*.asl.json"))
check(sorted(m["Properties"]["DefinitionUri"].split("/")[-1] for m in machines.values()) == definitions,
      f"every definition in infra/statemachines is deployed exactly once: {definitions}")
for name, machine in machines.items():
    props = machine["Properties"]
    check((ROOT / "infra" / props["DefinitionUri"]).is_file(), f"{name}: DefinitionUri {props['DefinitionUri']} missing")
    check(props.get("DefinitionSubstitutions") == {"StepQueueUrl": {"Ref": "StepQueue"}},
          f"{name}: the queue URL must be substituted from StepQueue")
    check(props.get("Policies") == [{"SQSSendMessagePolicy": {"QueueName": {"GetAtt": "StepQueue.QueueName"}}}],
          f"{name}: may only send to the step queue")
    body = (ROOT / "infra" / props["DefinitionUri"]).read_text()
    check('"QueryLanguage": "JSONata"' not in body and '"Assign"' not in body, f"{name}: JSONPath only")
answers = [st for st in functions["WorkerStepFunction"]["Properties"]["Policies"][0]["Statement"]
           if any(a.startswith("states:") for a in st["Action"])]
check(len(answers) == 1 and sorted(answers[0]["Action"]) == ["states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"],
      "the worker answers task tokens (SendTaskSuccess/Failure/Heartbeat) and nothing more")
# Models and mail: the worker calls Bedrock (foundation models and inference profiles of
# its region) and SES (the account's identities), nothing wider; nobody else does.
worker_statements = functions["WorkerStepFunction"]["Properties"]["Policies"][0]["Statement"]
for service, action, arns in [
    ("bedrock", "bedrock:InvokeModel", [":foundation-model/*", ":inference-profile/*"]),
    ("ses", "ses:SendEmail", [":identity/*"]),
]:
    found = [st for st in worker_statements if any(a.startswith(service + ":") for a in st["Action"])]
    check(len(found) == 1 and found[0]["Action"] == [action], f"the worker may {action} and nothing more of {service}")
    scoped = found[0]["Resource"] if found else []
    scoped = scoped if isinstance(scoped, list) else [scoped]
    subs = [r.get("Sub", "") for r in scoped]
    check(len(subs) == len(arns) and all(any(s.endswith(a) for s in subs) for a in arns),
          f"{action} is scoped to {arns}: {subs}")
    for name, fn in functions.items():
        if name != "WorkerStepFunction":
            acts = [a for p in fn["Properties"].get("Policies", []) for st in p.get("Statement", [])
                    for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])]
            check(not any(a.startswith(service + ":") for a in acts), f"{name} must not call {service}")
env = template["Globals"]["Function"]["Environment"]["Variables"]
check(env.get("AOS_PLANNER_PROVIDER") == {"Ref": "PlannerProvider"} and env.get("AOS_PLANNER_MODEL") == {"Ref": "PlannerModel"},
      "every function gets the planner defaults from the stack parameters")
PREFIX = "${AWS::StackName}-wf-"
# Step Functions calls per route: exactly what each needs, on the stack's machines only.
needs = {
    "ApiWorkflowsApplyFunction": {"states:CreateStateMachine", "states:ListExecutions", "states:DeleteStateMachine", "iam:PassRole"},
    "ApiExecutionsStartFunction": {"states:StartExecution", "states:CreateStateMachine", "iam:PassRole"},
    "ApiExecutionsGetFunction": {"states:DescribeExecution"},
    "ApiExecutionsEventsFunction": {"states:DescribeExecution"},
    "ApiExecutionsCancelFunction": {"states:DescribeExecution", "states:StopExecution"},
    "ApiApprovalsDecideFunction": {"states:SendTaskSuccess", "states:SendTaskFailure"},
    "WorkerSweepFunction": {"states:DescribeExecution"},
}
for name, fn in functions.items():
    if name == "WorkerStepFunction":
        continue
    granted = set()
    for policy in fn["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            sfn_actions = [a for a in actions if a.startswith(("states:", "iam:"))]
            granted.update(sfn_actions)
            # Task-token answers name no resource (IAM wants "*"; scripts/lint_iam.py checks).
            if any(a.startswith("states:") and not a.startswith("states:SendTask") for a in sfn_actions):
                check(PREFIX in statement["Resource"].get("Sub", ""), f"{name}: Step Functions calls only on the stack's workflow machines")
            if "iam:PassRole" in sfn_actions:
                check(statement["Resource"] == {"GetAtt": "WorkflowRole.Arn"}, f"{name}: passes only the workflow role")
    check(granted == needs.get(name, set()), f"{name}: Step Functions/IAM actions {sorted(granted)} != {sorted(needs.get(name, set()))}")
role = resources["WorkflowRole"]["Properties"]
role_statements = role["Policies"][0]["PolicyDocument"]["Statement"]
check(role_statements == [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"GetAtt": "StepQueue.Arn"}}],
      "the workflow role may only send to the step queue")
check(role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"},
      "only Step Functions assumes the workflow role")
env = globals_fn["Environment"]["Variables"]
check(env.get("AOS_WORKFLOW_ROLE_ARN") == {"GetAtt": "WorkflowRole.Arn"}, "functions know the workflow role")
check(env.get("AOS_WORKFLOW_PREFIX") == {"Sub": PREFIX}, "functions name state machines under the stack's prefix")
for out in ["RefundApprovalWorkflowArn", "OrderSagaWorkflowArn"]:
    check(out in template["Outputs"], f"output {out}")

# LocalStack's init hook must create the same shapes.
hook = (ROOT / "localstack/init/ready.d/create-resources.sh").read_text()
def var(name):
    m = re.search(rf"^{name}=(\S+)$", hook, re.M)
    return m.group(1) if m else None
check(var("VISIBILITY_TIMEOUT") == str(queue["VisibilityTimeout"]), "LocalStack queue visibility differs from the template")
check(var("MAX_RECEIVE_COUNT") == str(queue["RedrivePolicy"]["maxReceiveCount"]), "LocalStack maxReceiveCount differs")
check("AttributeName=ttl" in hook, "LocalStack TTL attribute differs")
check("PointInTimeRecoveryEnabled=true" in hook, "LocalStack point-in-time recovery missing")
check("IndexName=ends" in hook and "ProjectionType=KEYS_ONLY" in hook, "LocalStack ends index differs")
check("IndexName=status" in hook and "ProjectionType=INCLUDE,NonKeyAttributes=[since_ms]" in hook,
      "LocalStack status index differs")
for attr in ["pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"]:
    check(f"AttributeName={attr},AttributeType=S" in hook, f"LocalStack attribute {attr} missing")
check(f"IndexName={gsi['IndexName']}" in hook, "LocalStack GSI name differs")
check("--billing-mode PAY_PER_REQUEST" in hook, "LocalStack billing mode differs")

for f in failures:
    print(f"template check failed: {f}")
print(f"template checks: {checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
