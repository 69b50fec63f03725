//! The audit log on `aos dev`: every governed change — a policy version, the gate's
//! decisions other than a plain allow, approval requests and decisions, cancels, keys —
//! is on the tenant's record with its actor, written with the change (a change that is
//! refused leaves no entry); `GET /v1/audit` pages it newest first with filters, and in
//! chain order for a client that verifies it; bad queries are refused.

use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const POLICIES: &str = r#"
@id("no-secrets-key") @category("SAFETY") @reason("the key 'secret' is off limits")
forbid (principal, action, resource == AOS::Skill::"kv_store") when { context.input_text like "*\"secret\"*" };
@id("ask-first") @category("OPERATIONAL") @approval("3")
forbid (principal, action, resource == AOS::Skill::"kv_store") when { context.input_text like "*ask*" };
"#;

fn kv_put(key: &str) -> Value {
    json!({"plan": [{"skill": "kv_store", "input": {"op": "put", "key": key, "value": 1}}]})
}

async fn audit(stack: &TestStack, query: &str) -> Vec<Value> {
    let r = stack.get(&format!("/v1/audit{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["entries"].as_array().cloned().unwrap_or_default()
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["action"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The run's pending step approval, once it is listed.
async fn pending_approval(stack: &TestStack, run: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = stack.get("/v1/approvals?status=pending").await.body;
        if let Some(a) = list["approvals"].as_array().and_then(|l| l.iter().find(|a| a["step"]["run_id"] == run)) {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "no pending approval for {run}: {list}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test]
async fn every_governed_change_is_on_the_audit_record_with_its_actor_and_the_chain_verifies() {
    let stack = TestStack::start("").await;
    let me = stack.get("/v1/api-keys").await.body["api_keys"][0]["id"].as_str().expect("key id").to_owned();

    // A policy version.
    let applied =
        stack.call(Method::PUT, "/v1/policies", Some(&stack.key()), Some(&json!({"text": POLICIES})), &[]).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{}", applied.body);
    // A stale change is refused and records nothing.
    let stale = json!({"text": "", "base_version": 7});
    let refused = stack.call(Method::PUT, "/v1/policies", Some(&stack.key()), Some(&stale), &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);

    // The gate denies a step.
    let denied = stack.submit(&kv_put("secret")).await;
    assert_eq!(stack.wait(&denied).await["error"]["code"], "ERR_POLICY_VIOLATION");

    // A step waits for an approval, which the dev key gives; the step runs.
    let held = stack.submit(&kv_put("ask")).await;
    let approval = pending_approval(&stack, &held).await;
    let id = approval["id"].as_str().expect("approval id");
    let decided = stack
        .call(
            Method::POST,
            &format!("/v1/approvals/{id}/decision"),
            Some(&stack.key()),
            Some(&json!({"decision": "approve", "comment": "fine"})),
            &[],
        )
        .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    assert_eq!(stack.wait(&held).await["status"], "succeeded");

    // A cancel (of a run waiting for its approval).
    let cancelled = stack.submit(&kv_put("ask-again")).await;
    pending_approval(&stack, &cancelled).await;
    let r = stack.call(Method::POST, &format!("/v1/runs/{cancelled}/cancel"), Some(&stack.key()), None, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // A key made and revoked; revoking it again changes and records nothing.
    let made = stack
        .call(Method::POST, "/v1/api-keys", Some(&stack.key()), Some(&json!({"label": "ci", "role": "machine"})), &[])
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let machine_secret = made.body["key"].as_str().or(made.body["secret"].as_str()).expect("secret").to_owned();
    let made_id = made.body["id"].as_str().expect("id").to_owned();
    for _ in 0..2 {
        let r =
            stack.call(Method::POST, &format!("/v1/api-keys/{made_id}/revoke"), Some(&stack.key()), None, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    // A secret set and deleted (never its value on the record), the retention changed.
    let put = stack
        .call(Method::PUT, "/v1/secrets/API_TOKEN", Some(&stack.key()), Some(&json!({"value": "s3cr3t-v4lue"})), &[])
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{}", put.body);
    let r = stack.call(Method::DELETE, "/v1/secrets/API_TOKEN", Some(&stack.key()), None, &[]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let tenant_id = audit(&stack, "?limit=1").await[0]["tenant"].as_str().expect("tenant").to_owned();
    let r = stack
        .call(
            Method::PUT,
            &format!("/v1/tenants/{tenant_id}/retention"),
            Some(&stack.key()),
            Some(&json!({"days": 7})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let all = audit(&stack, "?limit=100").await;
    let expected = [
        "tenant.retention",
        "secret.delete",
        "secret.put",
        "key.revoke",
        "key.create",
        "run.cancel",
        "approval.request",
        "gate.decide",
        "approval.decide",
        "approval.request",
        "gate.decide",
        "policy.apply",
    ];
    let got = actions(&all);
    // The dev tenant's own creation comes first in its log (tenant.create, key.create).
    assert_eq!(&got[..expected.len()], expected, "newest first: {got:?}");
    assert_eq!(&got[expected.len()..], ["key.create", "tenant.create"], "{got:?}");
    let by_action = |action: &str| all.iter().filter(|e| e["action"] == action).cloned().collect::<Vec<_>>();
    let policy = &by_action("policy.apply")[0];
    assert_eq!(
        (policy["actor"]["key_id"].as_str(), policy["actor"]["role"].as_str()),
        (Some(me.as_str()), Some("admin"))
    );
    assert_eq!(policy["details"]["version"], 1);
    let gates = by_action("gate.decide");
    assert_eq!(gates[1]["decision"], "deny", "{}", gates[1]);
    assert_eq!(gates[1]["resource"], format!("run:{denied}/step:0"));
    assert!(gates[1]["reasons"][0].as_str().unwrap_or_default().contains("no-secrets-key"), "{}", gates[1]);
    assert_eq!((gates[0]["decision"].as_str(), gates[0]["details"]["approval"].as_str()), (Some("approved"), Some(id)));
    let decision = &by_action("approval.decide")[0];
    assert_eq!(
        (decision["decision"].as_str(), decision["actor"]["key_id"].as_str()),
        (Some("approved"), Some(me.as_str()))
    );
    assert_eq!(decision["details"]["level"], 5, "the decider's level, from its key: {decision}");
    let cancel = &by_action("run.cancel")[0];
    assert_eq!(
        (cancel["resource"].as_str(), cancel["actor"]["key_id"].as_str()),
        (Some(&*format!("run:{cancelled}")), Some(me.as_str()))
    );
    assert_eq!(by_action("key.revoke").len(), 1, "a repeated revoke records nothing");
    let key_entry = &by_action("key.create")[0];
    assert_eq!(key_entry["details"]["role"], "machine");
    let shown = serde_json::to_string(&all).expect("json");
    assert!(!shown.contains(&machine_secret), "no key secret on the record");
    assert!(!shown.contains("s3cr3t-v4lue"), "no secret value on the record");
    assert_eq!(by_action("tenant.retention")[0]["details"]["retention_days"], 7);

    // Filters: by action (or its noun), resource prefix, actor, time.
    assert_eq!(
        actions(&audit(&stack, "?action=approval.").await),
        ["approval.request", "approval.decide", "approval.request"]
    );
    assert_eq!(actions(&audit(&stack, "?action=gate.decide&limit=1").await), ["gate.decide"]);
    assert_eq!(actions(&audit(&stack, &format!("?resource=run:{denied}/")).await), ["gate.decide"]);
    let system = audit(&stack, &format!("?actor={me}")).await;
    assert!(system.iter().all(|e| e["actor"]["key_id"] == me.as_str()) && system.len() >= 4, "{system:?}");
    let t = policy["at_ms"].as_u64().expect("time");
    let before_policy = audit(&stack, &format!("?to_ms={t}")).await;
    assert_eq!(actions(&before_policy), ["key.create", "tenant.create"]);
    // Pages newest first, by seq.
    let page = stack.get("/v1/audit?limit=4").await.body;
    let next = page["next_before"].as_u64().expect("a next page");
    let rest = audit(&stack, &format!("?before={next}&limit=100")).await;
    assert_eq!(page["entries"].as_array().map(Vec::len).unwrap_or(0) + rest.len(), all.len());

    // In chain order, the whole log verifies.
    let mut chain = Vec::new();
    let mut after = 0;
    loop {
        let r = stack.get(&format!("/v1/audit?order=asc&after={after}&limit=5")).await.body;
        let entries: Vec<aos_core::audit::AuditEntry> =
            serde_json::from_value(r["entries"].clone()).expect("entries in the stored shape");
        chain.extend(entries);
        match r["next_after"].as_u64() {
            Some(n) => after = n,
            None => break,
        }
    }
    let tenant = aos_core::TenantId::parse(all[0]["tenant"].as_str().expect("tenant")).expect("tenant id");
    assert_eq!(aos_core::audit::verify(&tenant, &chain), Ok(all.len() as u64));

    // Bad queries are refused with what to fix; a key without audit:read is refused.
    for q in ["?order=sideways", "?from_ms=5&to_ms=5", "?actr=x", "?order=asc&action=gate.", "?after=3"] {
        let r = stack.get(&format!("/v1/audit{q}")).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"),
            "{q}: {}",
            r.body
        );
    }
    let machine = stack
        .call(Method::POST, "/v1/api-keys", Some(&stack.key()), Some(&json!({"label": "m", "role": "machine"})), &[])
        .await;
    let secret = machine.body["key"].as_str().or(machine.body["secret"].as_str()).expect("secret").to_owned();
    let r = stack.call(Method::GET, "/v1/audit", Some(&secret), None, &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "ERR_PERMISSION_DENIED"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("audit:read"), "{}", r.body);
}
