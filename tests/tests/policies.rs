//! The policy routes on `aos dev`: a policy set that does not validate is refused naming
//! its line and nothing is stored; versions are consecutive, never edited, paged newest
//! first, and a change written against a stale version is refused; the dry run answers
//! in the seed's shape with the current version, for the example policy set.

use aos_tests::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("../../examples/policies/guardrails.cedar");
/// 2026-12-02, a Wednesday: 03:00 and 10:00 UTC.
const NIGHT_MS: u64 = 1_796_180_400_000;
const OFFICE_MS: u64 = NIGHT_MS + 7 * 3_600_000;

async fn put(stack: &TestStack, body: &Value) -> aos_tests::Resp {
    stack.call(Method::PUT, "/v1/policies", Some(&stack.key()), Some(body), &[]).await
}

async fn evaluate(stack: &TestStack, body: &Value) -> aos_tests::Resp {
    stack.call(Method::POST, "/v1/policies/evaluate", Some(&stack.key()), Some(body), &[]).await
}

#[tokio::test]
async fn a_policy_set_that_does_not_validate_is_refused_naming_its_line_and_nothing_is_stored() {
    let stack = TestStack::start("").await;
    let none = stack.get("/v1/policies").await;
    assert_eq!(none.status, StatusCode::OK, "{}", none.body);
    assert_eq!((none.body["current"].clone(), none.body["versions"].clone()), (Value::Null, json!([])));
    // A typo in an attribute: strict validation against the published schema.
    let typo = "@id(\"hosts\")\nforbid (principal, action, resource)\nwhen { context.hots == \"x\" };\n";
    let r = put(&stack, &json!({"text": typo})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{}", r.body);
    assert_eq!(r.body["error"]["details"]["line"], 3, "{}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("line 3") && message.contains("hots"), "names the line and the attribute: {message}");
    // Not Cedar at all.
    let r = put(&stack, &json!({"text": "permit (principal, action, resource"})).await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED", "{}", r.body);
    // A policy that forbids everything only with the explicit flag.
    let all = "forbid (principal, action, resource);";
    let r = put(&stack, &json!({"text": all})).await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED", "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("allow_deny_all"), "{}", r.body);
    // An unknown field is refused, not ignored.
    let r = put(&stack, &json!({"text": "", "default_denny": true})).await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED", "{}", r.body);
    let still = stack.get("/v1/policies").await;
    assert_eq!(still.body["versions"], json!([]), "nothing was stored: {}", still.body);
    let with_flag = put(&stack, &json!({"text": all, "allow_deny_all": true})).await;
    assert_eq!(with_flag.status, StatusCode::CREATED, "{}", with_flag.body);
    assert_eq!((with_flag.body["version"].clone(), with_flag.body["allow_deny_all"].clone()), (json!(1), json!(true)));
}

#[tokio::test]
async fn versions_are_consecutive_paged_newest_first_and_a_stale_change_is_refused() {
    let stack = TestStack::start("").await;
    let first = put(&stack, &json!({"text": EXAMPLE})).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!((first.body["version"].clone(), first.body["policies"].clone()), (json!(1), json!(4)));
    assert!(first.body["created_by"].as_str().is_some_and(|k| k.starts_with("key_")), "{}", first.body);
    let second = put(&stack, &json!({"text": "", "default_deny": true, "base_version": 1})).await;
    assert_eq!(second.body["version"], 2, "{}", second.body);
    // The same change again (a retry whose answer was lost) is answered with its version.
    let again = put(&stack, &json!({"text": "", "default_deny": true, "base_version": 1})).await;
    assert_eq!((again.status, again.body["version"].clone()), (StatusCode::CREATED, json!(2)), "{}", again.body);
    let stale = put(&stack, &json!({"text": EXAMPLE, "base_version": 1})).await;
    assert_eq!((stale.status, stale.code()), (StatusCode::CONFLICT, "ERR_ILLEGAL_TRANSITION"), "{}", stale.body);
    assert!(stale.body["error"]["message"].as_str().unwrap_or_default().contains("is 2"), "{}", stale.body);
    let third = put(&stack, &json!({"text": EXAMPLE})).await;
    assert_eq!(third.body["version"], 3, "{}", third.body);
    let page = stack.get("/v1/policies?limit=2").await;
    assert_eq!(page.body["current"]["version"], 3, "{}", page.body);
    let numbers: Vec<&Value> =
        page.body["versions"].as_array().expect("versions").iter().map(|v| &v["version"]).collect();
    assert_eq!(numbers, [&json!(3), &json!(2)]);
    assert_eq!(page.body["next_before"], 2);
    let rest = stack.get("/v1/policies?limit=2&before=2").await;
    assert_eq!(rest.body["versions"].as_array().map(|v| v.len()), Some(1), "{}", rest.body);
    assert_eq!(
        (rest.body["versions"][0]["version"].clone(), rest.body["next_before"].clone()),
        (json!(1), Value::Null)
    );
    assert_eq!(rest.body["versions"][0]["text"], EXAMPLE, "a version keeps its text as applied");
    assert_eq!(rest.body["current"]["version"], 3, "{}", rest.body);
}

#[tokio::test]
async fn the_dry_run_judges_sample_steps_by_the_example_policies_in_the_seeds_shape() {
    let stack = TestStack::start("").await;
    let applied = put(&stack, &json!({"text": EXAMPLE})).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{}", applied.body);
    let cases = [
        // (skill, input, estimated cents, at, decision, deciding policy)
        ("http_call", json!({"url": "https://api.example.com/v1/x"}), 5, OFFICE_MS, "allow", None),
        ("http_call", json!({"url": "https://evil.example.net/"}), 5, OFFICE_MS, "deny", Some("http-call-hosts")),
        ("http_call", json!({"url": "https://api.example.com/"}), 250, OFFICE_MS, "deny", Some("spend-cap-per-step")),
        ("json_transform", json!({"data": {}, "expression": "@"}), 0, NIGHT_MS, "allow", None),
        (
            "email_send",
            json!({"to": ["a@example.com"], "subject": "s", "text": "t"}),
            0,
            NIGHT_MS,
            "requires_approval",
            Some("email-outside-office-hours"),
        ),
        ("email_send", json!({"to": ["a@example.com"], "subject": "s", "text": "t"}), 0, OFFICE_MS, "allow", None),
    ];
    for (skill, input, estimated, at, decision, policy) in cases {
        let body = json!({"skill": skill, "input": input, "estimated_cents": estimated, "at_ms": at});
        let r = evaluate(&stack, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{skill}: {}", r.body);
        assert_eq!(r.body["decision"], decision, "{skill} {input}: {}", r.body);
        assert_eq!(r.body["policy_version"], 1);
        assert!(r.body["reasons"].as_array().is_some_and(|r| !r.is_empty()), "{}", r.body);
        assert!(r.body["timestamp_ms"].as_u64().is_some());
        match policy {
            Some(p) => assert_eq!(r.body["violations"][0]["policy"], p, "{}", r.body),
            None => assert_eq!(r.body["violations"], json!([]), "{}", r.body),
        }
        let level = if decision == "requires_approval" { json!(3) } else { Value::Null };
        assert_eq!(r.body["approval_level_required"], level, "{}", r.body);
    }
    // A SAFETY deny outranks the OPERATIONAL cap: the highest category decides.
    let both = json!({"skill": "http_call", "input": {"url": "https://evil.example.net/"}, "estimated_cents": 500});
    let r = evaluate(&stack, &both).await;
    assert_eq!((r.body["decision"].clone(), r.body["deciding_category"].clone()), (json!("deny"), json!("SAFETY")));
    // A policy file tried before it is applied: nothing stored, no version.
    let trial = json!({"skill": "json_transform", "input": {}, "policies": "@id(\"no-json\") forbid (principal, action, resource == AOS::Skill::\"json_transform\");"});
    let r = evaluate(&stack, &trial).await;
    assert_eq!(
        (r.body["decision"].clone(), r.body["policy_version"].clone()),
        (json!("deny"), Value::Null),
        "{}",
        r.body
    );
    assert_eq!(stack.get("/v1/policies").await.body["current"]["version"], 1);
    // Unknown skills and kinds are named.
    let r = evaluate(&stack, &json!({"skill": "shell_exec", "input": {}})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_SKILL_NOT_FOUND"), "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("shell_exec"));
    let r = evaluate(&stack, &json!({"skill": "http_call", "kind": "cron_job"})).await;
    assert_eq!(r.code(), "ERR_VALIDATION_FAILED", "{}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("cron_job"));
}

#[tokio::test]
async fn one_tenants_policies_never_judge_anothers() {
    let stack = TestStack::start("").await;
    let r = put(&stack, &json!({"text": EXAMPLE})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let made = stack
        .call(Method::POST, "/v1/tenants", Some(&stack.operator_key()), Some(&json!({"name": "other"})), &[])
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let other = made.body["api_key"]["key"].as_str().expect("key").to_owned();
    let theirs = stack.call(Method::GET, "/v1/policies", Some(&other), None, &[]).await;
    assert_eq!(theirs.body["current"], Value::Null, "{}", theirs.body);
    let body = json!({"skill": "http_call", "input": {"url": "https://evil.example.net/"}});
    let r = stack.call(Method::POST, "/v1/policies/evaluate", Some(&other), Some(&body), &[]).await;
    assert_eq!(
        (r.body["decision"].clone(), r.body["policy_version"].clone()),
        (json!("allow"), json!(0)),
        "{}",
        r.body
    );
}
