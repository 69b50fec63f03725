//! The Step Functions definitions in infra/statemachines/ are exactly what the compiler
//! makes of the examples, and they, like every workflow of the differential catalogue's
//! shapes, pass asl-validator (npm; `scripts/test.sh` installs it and sets
//! `AOS_ASL_VALIDATOR`).

use aos_core::workflow::asl::{compile, AslOptions};
use aos_core::workflow::{parse, Format, Workflow};
use aos_runtime::skills::declared_registry;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compiled(example: &str) -> Value {
    let raw = std::fs::read_to_string(root().join("examples").join(example)).expect("example");
    let wf = Workflow::new(parse(&raw, Format::Yaml).expect("parses"), &declared_registry()).expect("valid");
    compile(&wf, &AslOptions { queue_url: "${StepQueueUrl}".into() }).expect("compiles")
}

#[test]
fn the_checked_in_definitions_are_the_compiled_examples() {
    for name in ["workflow-approval", "workflow-compensation"] {
        let path = root().join(format!("infra/statemachines/{name}.asl.json"));
        let on_disk: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("definition")).expect("json");
        assert_eq!(
            on_disk,
            compiled(&format!("{name}.yaml")),
            "{} is stale: run `aos workflow compile examples/{name}.yaml > {}`",
            path.display(),
            path.display()
        );
    }
}

/// Shapes the compiler emits: Parallel layers, retry wrappers, Map with a failing
/// element path, Choice branches with typed comparisons, waits (seconds, timestamp,
/// path), approvals with and without an escalation path, the compensation chain.
const SHAPES: &str = r#"
name: shapes
nodes:
  - {id: a, skill: json_transform, input: {expression: "@", data: {n: 1}}, retry: {max_attempts: 3}, compensate: {skill: kv_store, input: {op: delete, key: a}}}
  - {id: b, skill: json_transform, input: {expression: "@", data: {}}, timeout_s: 120}
  - id: each
    type: map
    depends_on: [a]
    items: "${input.xs}"
    max_concurrency: 4
    skill: json_transform
    input: {expression: "@", data: {x: "${item}", i: "${index}"}}
    retry: {max_attempts: 2, backoff_s: 2}
    compensate: {skill: kv_store, input: {op: delete, key: each}}
  - id: pick
    type: choice
    depends_on: [each, b]
    choices:
      - {name: big, when: {all: [{var: "${steps.a.output.result.n}", op: gte, value: 1}, {not: {var: "${input.s}", op: eq, value: "x"}}]}, next: [w1]}
      - {when: {any: [{var: "${input.flag}", op: eq, value: true}, {var: "${input.z}", op: exists, value: false}]}, next: [w2]}
    default: [w3]
  - {id: w1, type: wait, seconds: 5}
  - {id: w2, type: wait, until: "2030-01-01T00:00:00Z"}
  - {id: w3, type: wait, until: "${input.when}"}
  - {id: join, skill: json_transform, depends_on: [w1, w2, w3], join: any, input: {expression: "@", data: {}}}
  - {id: ok, type: approval, depends_on: [join], prompt: "Go ${input.s}?", timeout_s: 60, on_timeout: [late]}
  - {id: strict, type: approval, depends_on: [join]}
  - {id: late, skill: json_transform, input: {expression: "@", data: {}}}
  - {id: end, skill: json_transform, depends_on: [ok, strict], input: {expression: "@", data: {}}}
"#;

#[test]
#[ignore = "needs asl-validator (AOS_ASL_VALIDATOR): ./scripts/test.sh runs it"]
fn compiled_definitions_pass_asl_validator() {
    let validator = aos_tests::backends::required_env("AOS_ASL_VALIDATOR", "asl-validator");
    let dir = tempfile::tempdir().expect("tmp");
    let wf = Workflow::new(parse(SHAPES, Format::Yaml).expect("parses"), &declared_registry()).expect("valid");
    let shapes = compile(&wf, &AslOptions { queue_url: "https://sqs.us-east-1.amazonaws.com/1/q".into() }).expect("ok");
    let shapes_path = dir.path().join("shapes.asl.json");
    std::fs::write(&shapes_path, serde_json::to_string_pretty(&shapes).expect("json")).expect("write");
    let mut cmd = Command::new(validator);
    for f in ["workflow-approval", "workflow-compensation"] {
        cmd.arg("--json-path").arg(root().join(format!("infra/statemachines/{f}.asl.json")));
    }
    cmd.arg("--json-path").arg(&shapes_path);
    let out = cmd.output().expect("asl-validator runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "asl-validator refused a definition:\n{said}");
    assert_eq!(said.matches("is valid").count(), 3, "{said}");
}
