//! Feature flags on `aos dev`: set as versioned records (bad input refused naming what to
//! fix, a stale change refused, each change on the audit record), evaluated for a stable
//! key by `GET /v1/flags/{key}/evaluate` (a 30 % rollout serves 30 % ± 2 % of 10 000 run ids and
//! the same id the same answer), and in the step pipeline: a skill a flag switches off
//! fails with `ERR_SKILL_DISABLED` and never runs.

use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn put(stack: &TestStack, key: &str, body: &Value) -> aos_tests::Resp {
    stack.call(Method::PUT, &format!("/v1/flags/{key}"), Some(&stack.key()), Some(body), &[]).await
}

#[tokio::test]
async fn flags_are_versioned_checked_and_on_the_audit_record() {
    let stack = TestStack::start("").await;
    let made =
        put(&stack, "new-planner", &json!({"enabled": true, "rollout_percent": 30, "description": "try it"})).await;
    assert_eq!((made.status, made.body["version"].clone()), (StatusCode::CREATED, json!(1)), "{}", made.body);
    let changed = put(&stack, "new-planner", &json!({"enabled": true, "rollout_percent": 50, "base_version": 1})).await;
    assert_eq!((changed.status, changed.body["version"].clone()), (StatusCode::OK, json!(2)), "{}", changed.body);
    let stale = put(&stack, "new-planner", &json!({"enabled": false, "base_version": 1})).await;
    assert_eq!((stale.status, stale.code()), (StatusCode::CONFLICT, "ERR_ILLEGAL_TRANSITION"), "{}", stale.body);
    for (key, body, says) in [
        ("Bad Key", json!({"enabled": true}), "flag key"),
        ("f", json!({"enabled": true, "rollout_percent": 120}), "rollout_percent"),
        ("f", json!({"enabled": true, "rollot_percent": 1}), "rollot_percent"),
        ("f", json!({"rollout_percent": 1}), "enabled"),
        ("f", json!({"enabled": true, "skill": "no_such_skill"}), "no_such_skill"),
        (
            "f",
            json!({"enabled": true, "rules": [{"attribute": "skill", "op": "in", "values": [], "serve": true}]}),
            "values",
        ),
        ("f", json!({"enabled": true, "environments": {"Prod": {}}}), "environment"),
    ] {
        let r = put(&stack, key, &body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"),
            "{body}: {}",
            r.body
        );
        assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains(says), "{body}: {}", r.body);
    }
    let list = stack.get("/v1/flags").await.body;
    assert_eq!(list["flags"].as_array().map(Vec::len), Some(1), "nothing stored by refused changes: {list}");
    assert_eq!(list["environment"], "development");
    let one = stack.get("/v1/flags/new-planner").await;
    assert_eq!(one.body["rollout_percent"], 50.0, "{}", one.body);
    assert_eq!(stack.get("/v1/flags/missing").await.status, StatusCode::NOT_FOUND);
    let audit = stack.get("/v1/audit?action=flag.set").await.body;
    let versions: Vec<Value> =
        audit["entries"].as_array().expect("entries").iter().map(|e| e["details"]["version"].clone()).collect();
    assert_eq!(versions, [json!(2), json!(1)], "one entry per change, none for the refused: {audit}");
    assert_eq!(audit["entries"][0]["details"]["before"]["rollout_percent"], 30.0);
}

#[tokio::test]
async fn a_30_percent_rollout_serves_30_percent_of_run_ids_and_each_id_the_same_answer() {
    let stack = TestStack::start("").await;
    put(&stack, "beta", &json!({"enabled": true, "rollout_percent": 30})).await;
    let ids: Vec<String> = (0..10_000)
        .map(|_| aos_core::RunId::from_suffix(&aos_runtime::clock::unique_suffix()).expect("id").to_string())
        .collect();
    let mut on = 0;
    for id in &ids {
        let r = stack.get(&format!("/v1/flags/beta/evaluate?id={id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if r.body["value"] == true {
            on += 1;
        }
    }
    let share = f64::from(on) / ids.len() as f64;
    assert!((0.28..=0.32).contains(&share), "30 % of 10 000 ids, ±2 % (over 4 standard deviations): {share}");
    for id in ids.iter().take(50) {
        let a = stack.get(&format!("/v1/flags/beta/evaluate?id={id}")).await.body;
        let b = stack.get(&format!("/v1/flags/beta/evaluate?id={id}")).await.body;
        assert_eq!((a["value"].clone(), a["bucket"].clone()), (b["value"].clone(), b["bucket"].clone()));
    }
    // A rule and an environment override.
    let body = json!({"enabled": true, "rollout_percent": 0,
        "rules": [{"attribute": "team", "op": "in", "values": ["core"], "serve": true}],
        "environments": {"production": {"enabled": false}}});
    put(&stack, "beta", &body).await;
    let ruled = stack.get(&format!("/v1/flags/beta/evaluate?id={}&team=core", ids[0])).await.body;
    assert_eq!((ruled["value"].clone(), ruled["reason"].clone()), (json!(true), json!("rule 0 (team In)")), "{ruled}");
    let prod = stack.get(&format!("/v1/flags/beta/evaluate?id={}&team=core&environment=production", ids[0])).await.body;
    assert_eq!(prod["value"], false, "{prod}");
    let r = stack.get("/v1/flags/beta/evaluate").await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
}

#[tokio::test]
async fn a_skill_a_flag_switches_off_fails_its_steps_with_err_skill_disabled() {
    let stack = TestStack::start("").await;
    let plan = json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": "k", "value": 1}}]});
    // Off in this environment (aos dev: development), on elsewhere.
    let off = json!({"enabled": true, "skill": "kv_store", "environments": {"development": {"enabled": false}}});
    assert_eq!(put(&stack, "kv-writes", &off).await.status, StatusCode::CREATED);
    let id = stack.submit(&plan).await;
    let run = stack.wait(&id).await;
    assert_eq!(
        (run["status"].as_str(), run["error"]["code"].as_str()),
        (Some("failed"), Some("ERR_SKILL_DISABLED")),
        "{run}"
    );
    assert!(run["error"]["message"].as_str().unwrap_or_default().contains("kv-writes"), "names the flag: {run}");
    let steps = stack.steps(&id).await;
    assert_eq!(steps["steps"][0]["attempts"], 1, "not retried: {steps}");
    // On again: the same plan runs.
    let on = json!({"enabled": true, "skill": "kv_store", "base_version": 1});
    assert_eq!(put(&stack, "kv-writes", &on).await.status, StatusCode::OK);
    let run = stack.wait(&stack.submit(&plan).await).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    // A 0 % rollout switches it off for every run.
    let none = json!({"enabled": true, "skill": "kv_store", "rollout_percent": 0, "base_version": 2});
    put(&stack, "kv-writes", &none).await;
    let run = stack.wait(&stack.submit(&plan).await).await;
    assert_eq!(run["error"]["code"], "ERR_SKILL_DISABLED", "{run}");
}
