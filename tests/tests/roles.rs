//! Roles on every route: each route the router serves, called with a key of each role,
//! answers 403 `ERR_PERMISSION_DENIED` naming the permission exactly when the permission
//! table says the role lacks it — the expectations are generated from the one table the
//! router checks (`Route::permission`, `Role::allows`), and every route of `Route::ALL`
//! must be served. Keys grant only what their creator holds; scopes narrow; expired keys
//! stop working.

use aos_api::Route;
use aos_runtime::ports::{Permission, Role};
use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A key of `role` in the dev tenant, made by the dev tenant's admin key (an operator key
/// for the operator).
async fn key_of(stack: &TestStack, role: Role) -> String {
    if role == Role::Operator {
        return stack.operator_key();
    }
    let r =
        stack.call(Method::POST, "/v1/api-keys", Some(&stack.key()), Some(&json!({"role": role.as_str()})), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{role}: {}", r.body);
    assert_eq!(r.body["role"], role.as_str());
    r.body["key"].as_str().expect("key").to_owned()
}

/// The path of `route` with its parameters filled with well-formed ids of nothing.
fn concrete(path: &str) -> String {
    path.replace("/runs/{id}", "/runs/run_00000000000000000000000000000000")
        .replace("/tenants/{id}", "/tenants/ten_dev")
        .replace("/api-keys/{id}", "/api-keys/key_00000000000000000000000000000000")
        .replace("/executions/{id}", "/executions/exe_00000000000000000000000000000000")
        .replace("/approvals/{id}", "/approvals/apr_00000000000000000000000000000000")
        .replace("{name}", "nothing")
}

#[tokio::test]
async fn every_route_refuses_exactly_the_roles_the_permission_table_refuses() {
    let stack = TestStack::start("").await;
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, key_of(&stack, role).await));
    }
    let mut checked = 0;
    for route in Route::ALL {
        let (method, path) = route.method_and_path();
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let path = concrete(path);
        // Served at all: without a key, a route answers 401 (or, for /healthz, 200), never
        // the router's 404 for a path it does not serve.
        let anonymous = stack.call(method.clone(), &path, None, Some(&json!({})), &[]).await;
        let expected_anonymous = if route.permission().is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
        assert_eq!(anonymous.status, expected_anonymous, "{method} {path}: {}", anonymous.body);
        for (role, key) in &keys {
            let r = stack.call(method.clone(), &path, Some(key), Some(&json!({})), &[]).await;
            let code = r.body["error"]["code"].as_str().unwrap_or_default().to_owned();
            let denied = r.status == StatusCode::FORBIDDEN && code == "ERR_PERMISSION_DENIED";
            match route.permission() {
                Some(p) if !role.allows(p) => {
                    assert!(denied, "{role} on {method} {path} must be refused: {} {}", r.status, r.body);
                    let message = r.body["error"]["message"].as_str().unwrap_or_default();
                    assert!(message.contains(p.as_str()), "the refusal names {p}: {message}");
                }
                _ => assert!(
                    !denied && r.status != StatusCode::UNAUTHORIZED,
                    "{role} on {method} {path} holds the permission: {} {}",
                    r.status,
                    r.body
                ),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, Route::ALL.len() * Role::ALL.len());
}

#[tokio::test]
async fn a_key_grants_only_what_its_creator_holds_and_scopes_narrow_it() {
    let stack = TestStack::start("").await;
    let dev = key_of(&stack, Role::Dev).await;
    let make = |key: String, body: Value| {
        let stack = &stack;
        async move { stack.call(Method::POST, "/v1/api-keys", Some(&key), Some(&body), &[]).await }
    };
    // A dev key holds no keys:write: it cannot make keys at all.
    let r = make(dev.clone(), json!({"role": "machine"})).await;
    assert_eq!((r.status, r.body["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("ERR_PERMISSION_DENIED")));
    // An infra key (level 4) cannot make an admin key (level 5), nor a level-5 anything.
    let infra = key_of(&stack, Role::Infra).await;
    let r = make(infra.clone(), json!({"role": "admin"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().expect("message").contains("level 5"), "{}", r.body);
    let r = make(infra.clone(), json!({"role": "dev", "approval_level": 2})).await;
    assert_eq!((r.status, r.body["approval_level"].clone()), (StatusCode::CREATED, json!(2)), "{}", r.body);
    // Bad requests name what to fix.
    for (body, says) in [
        (json!({"role": "root"}), "roles: admin"),
        (json!({"role": "dev", "scopes": ["runs:read", "keys:write"]}), "keys:write is not a permission of role dev"),
        (json!({"role": "dev", "scopes": ["runs:fly"]}), "not a permission"),
        (json!({"role": "dev", "approval_level": 4}), "approval_level must be 1-3"),
        (json!({"expires_in_s": 5}), "expires_in_s must be"),
    ] {
        let r = make(stack.key(), body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        let message = r.body["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{body}: {message}");
    }
    // A scoped key holds only its scopes.
    let r = make(stack.key(), json!({"role": "dev", "scopes": ["runs:read"]})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["permissions"], json!(["runs:read"]));
    let scoped = r.body["key"].as_str().expect("key").to_owned();
    assert_eq!(stack.call(Method::GET, "/v1/runs", Some(&scoped), None, &[]).await.status, StatusCode::OK);
    let r = stack.call(Method::POST, "/v1/runs", Some(&scoped), Some(&json!({"plan": []})), &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body["error"]["message"].as_str().expect("message").contains(Permission::RunsWrite.as_str()));
}

#[tokio::test]
async fn an_expired_key_stops_working() {
    let stack = TestStack::start("").await;
    let r = stack
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&stack.key()),
            Some(&json!({"role": "readonly", "expires_in_s": 60})),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let expires = r.body["expires_at_ms"].as_u64().expect("expiry shown");
    assert!(expires > aos_runtime::clock::now_ms());
    let key = r.body["key"].as_str().expect("key").to_owned();
    assert_eq!(stack.call(Method::GET, "/v1/runs", Some(&key), None, &[]).await.status, StatusCode::OK);
    // A key stored with its expiry passed is refused like an unknown one.
    let ports = aos_tests::backends::embedded(5).await;
    let tenant = aos_core::TenantId::parse("ten_expiry").expect("id");
    let record = aos_runtime::ports::TenantRecord {
        id: tenant.clone(),
        name: "expiry".into(),
        created_at_ms: 0,
        retention_days: None,
        plan: None,
    };
    let live = aos_runtime::auth::issue_key(&tenant, Role::Admin, "live");
    ports.tenants.create_tenant(&record, &live.record, &[]).await.expect("tenant");
    let grant = aos_runtime::ports::Grant::of(Role::Dev);
    let gone = aos_runtime::auth::issue_key_with(&tenant, &grant, Some(aos_runtime::clock::now_ms() - 1), "gone");
    ports.tenants.insert_key(&gone.record, &[]).await.expect("key");
    assert!(aos_runtime::auth::authenticate(ports.tenants.as_ref(), &live.secret).await.is_ok());
    let refused = aos_runtime::auth::authenticate(ports.tenants.as_ref(), &gone.secret).await;
    assert!(matches!(refused, Err(aos_runtime::auth::AuthError::Unauthenticated)), "{refused:?}");
}

#[tokio::test]
async fn an_approval_needing_level_4_is_refused_to_a_level_3_key_with_nothing_changed() {
    let stack = TestStack::start("").await;
    let spec = json!({"name": "gated", "nodes": [
        {"id": "ok", "type": "approval", "prompt": "ship it?", "level": 4},
        {"id": "after", "skill": "json_transform", "depends_on": ["ok"], "input": {"expression": "x", "data": {"x": 1}}}
    ]});
    let r = stack.call(Method::POST, "/v1/workflows", Some(&stack.key()), Some(&spec), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = stack.call(Method::POST, "/v1/workflows/gated/executions", Some(&stack.key()), Some(&json!({})), &[]).await;
    let execution = r.body["id"].as_str().unwrap_or_else(|| panic!("{}", r.body)).to_owned();
    let approval = loop {
        let list = stack.get("/v1/approvals?status=pending").await;
        if let Some(a) =
            list.body["approvals"].as_array().and_then(|a| a.iter().find(|a| a["execution_id"] == execution.as_str()))
        {
            break a.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(approval["required_level"], 4);
    let path = format!("/v1/approvals/{}/decision", approval["id"].as_str().expect("id"));
    let decide = json!({"decision": "approve"});
    let dev = key_of(&stack, Role::Dev).await;
    let r = stack.call(Method::POST, &path, Some(&dev), Some(&decide), &[]).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("ERR_PERMISSION_DENIED")),
        "{}",
        r.body
    );
    assert!(r.body["error"]["message"].as_str().expect("message").contains("level 4"), "{}", r.body);
    let still = stack.get("/v1/approvals?status=pending").await;
    assert!(
        still.body["approvals"].as_array().expect("list").iter().any(|a| a["id"] == approval["id"]),
        "still pending"
    );
    let infra = key_of(&stack, Role::Infra).await;
    let r = stack.call(Method::POST, &path, Some(&infra), Some(&decide), &[]).await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::OK, json!("approved")), "{}", r.body);
}

/// Every operation of the permission table is exactly one route the router serves.
#[test]
fn the_permission_table_names_each_route_once() {
    let named: Vec<&str> = Route::ALL.iter().filter_map(|r| r.operation()).collect();
    let table: Vec<&str> = aos_core::roles::API_OPERATIONS.iter().map(|(n, _)| *n).collect();
    assert_eq!(named, table, "routes and the permission table list the same operations in the same order");
}

#[tokio::test]
async fn policies_about_api_operations_refuse_what_they_forbid_on_the_audit_log_and_never_lock_out_admins() {
    let stack = TestStack::start("").await;
    let admin = stack.key();
    let dev = key_of(&stack, Role::Dev).await;
    let text = include_str!("../../examples/policies/api.cedar");
    let r = stack.call(Method::PUT, "/v1/policies", Some(&admin), Some(&json!({"text": text})), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // The dry run says so before anyone tries; an unknown operation is refused by name.
    let dry = json!({"operation": "secrets.put", "role": "infra"});
    let r = stack.call(Method::POST, "/v1/policies/evaluate", Some(&admin), Some(&dry), &[]).await;
    assert_eq!((r.body["decision"].clone(), r.body["role_allows"].clone()), (json!("deny"), json!(true)), "{}", r.body);
    assert_eq!(r.body["violations"][0]["policy"], "secrets-by-admins-only", "{}", r.body);
    let dry = json!({"operation": "secrets.put", "role": "admin"});
    let r = stack.call(Method::POST, "/v1/policies/evaluate", Some(&admin), Some(&dry), &[]).await;
    assert_eq!(r.body["decision"], "allow", "{}", r.body);
    let dry = json!({"operation": "runs.nuke"});
    let r = stack.call(Method::POST, "/v1/policies/evaluate", Some(&admin), Some(&dry), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("runs.nuke"), "{}", r.body);
    // An infra key holds secrets:write by its role; the policy refuses it all the same.
    let infra = key_of(&stack, Role::Infra).await;
    let secret = json!({"value": "v4lue"});
    let r = stack.call(Method::PUT, "/v1/secrets/TOKEN", Some(&infra), Some(&secret), &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "ERR_POLICY_VIOLATION"), "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("secrets.put") && message.contains("secrets-by-admins-only"), "{message}");
    assert_eq!(r.body["error"]["details"]["violations"][0]["policy"], "secrets-by-admins-only", "{}", r.body);
    let listed = stack.call(Method::GET, "/v1/secrets", Some(&infra), None, &[]).await;
    assert_eq!(listed.body["secrets"], json!([]), "nothing was stored: {}", listed.body);
    // What the policies do not forbid, the role decides.
    let runs = stack.call(Method::GET, "/v1/runs", Some(&dev), None, &[]).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
    let by_admin = stack.call(Method::PUT, "/v1/secrets/TOKEN", Some(&admin), Some(&secret), &[]).await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.body);
    // The refusal is on the audit log, with who and which policy.
    let log = stack.get("/v1/audit?action=api.deny").await.body;
    let entries = log["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["resource"], "operation:secrets.put");
    assert_eq!(entries[0]["actor"]["role"], "infra");
    assert_eq!(entries[0]["details"]["violations"][0]["policy"], "secrets-by-admins-only");
    // Forbidding every operation takes the explicit flag, and admins keep the policies.
    let all = json!({"text": "forbid (principal, action in AOS::Action::\"api\", resource);"});
    let r = stack.call(Method::PUT, "/v1/policies", Some(&admin), Some(&all), &[]).await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED", "{}", r.body);
    let all = json!({"text": "forbid (principal, action in AOS::Action::\"api\", resource);", "allow_deny_all": true});
    let r = stack.call(Method::PUT, "/v1/policies", Some(&admin), Some(&all), &[]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let runs = stack.call(Method::GET, "/v1/runs", Some(&admin), None, &[]).await;
    assert_eq!(runs.code(), "ERR_POLICY_VIOLATION", "{}", runs.body);
    let read = stack.call(Method::GET, "/v1/policies", Some(&admin), None, &[]).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let undo = stack.call(Method::PUT, "/v1/policies", Some(&admin), Some(&json!({"text": ""})), &[]).await;
    assert_eq!(undo.status, StatusCode::CREATED, "{}", undo.body);
    let runs = stack.call(Method::GET, "/v1/runs", Some(&admin), None, &[]).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.body);
}
