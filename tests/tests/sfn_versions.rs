//! State machines of workflow versions on Step Functions (moto server): applying a new
//! version deletes the machines of earlier ones nothing runs on, keeps those with a running
//! execution, and a start of a retired version makes its machine again.

use aos_core::TenantId;
use aos_runtime::skills::JsonTransformSkill;
use aos_runtime::workflows::StartExecution;
use aos_runtime::SkillRegistry;
use aos_tests::backends::{aws_at, emulator_endpoint, step_functions_at};
use serde_json::json;
use std::sync::Arc;

fn spec(n: u32) -> aos_core::workflow::WorkflowSpec {
    let yaml = format!("name: versions\nnodes:\n  - id: a\n    skill: json_transform\n    input: {{expression: \"x\", data: {{x: {n}}}}}\n");
    aos_core::workflow::parse(&yaml, aos_core::workflow::Format::Yaml).expect("spec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the AWS emulator: ./scripts/test.sh runs it"]
async fn earlier_versions_machines_are_deleted_when_idle_and_made_again_when_started() {
    let emulator = emulator_endpoint();
    let ports = aws_at(&emulator, 5).await;
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(JsonTransformSkill)).expect("register");
    let service = step_functions_at(&ports, &emulator, "versions", Arc::new(reg), false).await.service;
    let client = aws_sdk_sfn::Client::new(&aos_tests::backends::sdk_config_at(&emulator).await);
    let t = TenantId::parse("ten_versions").expect("tenant");
    let exists = |arn: String| {
        let client = client.clone();
        async move { client.describe_state_machine().state_machine_arn(arn).send().await.is_ok() }
    };
    let v1 = service.apply(&t, spec(1)).await.expect("v1").value;
    let m1 = v1.state_machine_arn.clone().expect("machine");
    // An execution of v1 that is still running keeps its machine.
    let req =
        StartExecution { input: json!({}), version: Some(1), base_seed: Some(1), budget_cents: None, notify_url: None };
    service.start(&t, "versions", req, None).await.expect("started");
    let v2 = service.apply(&t, spec(2)).await.expect("v2").value;
    let m2 = v2.state_machine_arn.clone().expect("machine");
    assert!(exists(m1.clone()).await, "v1 still runs an execution: its machine stays");
    let v3 = service.apply(&t, spec(3)).await.expect("v3").value;
    assert!(!exists(m2.clone()).await, "v2's machine, which nothing runs on, is deleted");
    assert!(exists(m1.clone()).await, "v1's, still running an execution, is kept");
    assert!(exists(v3.state_machine_arn.clone().expect("machine")).await, "the latest stays");
    // Re-applying an earlier spec names its machine again: the latest is never deleted.
    let v4 = service.apply(&t, spec(1)).await.expect("v4").value;
    assert_eq!(v4.state_machine_arn.as_deref(), Some(m1.as_str()));
    assert!(exists(m1.clone()).await);
    // Starting a retired version makes its machine again.
    let req =
        StartExecution { input: json!({}), version: Some(2), base_seed: Some(1), budget_cents: None, notify_url: None };
    let started = service.start(&t, "versions", req, None).await.expect("a retired version starts");
    assert_eq!(started.value.version, 2);
    assert!(exists(m2).await, "v2's machine is back");
}
