//! Credits and CostSim over HTTP on `aos dev`: an operator's grants (bad amounts and
//! fields refused, a repeat changing nothing, each on the tenant's audit record), the
//! balance and the paged ledger (never another tenant's), and CostSim's answers for plans
//! and stored workflows with the seed's golden numbers, the policy gate's gaps and the
//! price table's estimate.

use aos_tests::{Resp, TestStack};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn grant(stack: &TestStack, key: &str, body: &Value) -> Resp {
    stack.call(Method::POST, "/v1/credits/grants", Some(key), Some(body), &[]).await
}

async fn simulate(stack: &TestStack, body: &Value) -> Resp {
    stack.call(Method::POST, "/v1/runs/simulate", Some(&stack.key()), Some(body), &[]).await
}

fn unprocessable(r: &Resp, says: &str, what: &Value) {
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "ERR_VALIDATION_FAILED"), "{what}: {}", r.body);
    let message = r.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{what}: the message names {says:?}: {}", r.body);
}

#[tokio::test]
async fn operators_grant_credits_that_tenants_see_in_their_balance_and_ledger_only() {
    let stack = TestStack::start("").await;
    let op = stack.operator_key();
    let empty = stack.get("/v1/credits").await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!((empty.body["available_cents"].clone(), empty.body["metered"].clone()), (json!(0.0), json!(false)));

    let first = json!({"tenant_id": "ten_dev", "id": "welcome", "kind": "promotional", "amount_cents": 500});
    let refused = grant(&stack, &stack.key(), &first).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "ERR_PERMISSION_DENIED"), "{}", refused.body);
    let made = grant(&stack, &op, &first).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["credits"]["available_cents"], 500.0, "{}", made.body);
    let again = grant(&stack, &op, &first).await;
    assert_eq!(again.status, StatusCode::OK, "a repeat of the same grant: {}", again.body);
    assert_eq!(again.body["transfers"], json!([]), "a repeat makes no transfer");

    let changed = grant(&stack, &op, &json!({"tenant_id": "ten_dev", "id": "welcome", "amount_cents": 900})).await;
    assert!(changed.status.is_client_error(), "a grant id reused with other fields: {}", changed.body);
    for (body, says) in [
        (json!({"tenant_id": "ten_dev", "amount_cents": 0}), "amount_cents"),
        (json!({"tenant_id": "ten_dev", "amount_cents": -5}), "amount_cents"),
        (json!({"tenant_id": "ten_dev", "amount_cents": 1.5}), "amount_cents"),
        (json!({"tenant_id": "ten_dev", "amount_cents": 10_000_000_000_000u64}), "amount_cents"),
        (json!({"tenant_id": "ten_dev", "amount_cents": 5, "kind": "gift"}), "kind"),
        (json!({"tenant_id": "ten_dev", "amount_cents": 5, "id": "no spaces"}), "id"),
        (json!({"tenant_id": "ten_dev", "amount_cents": 5, "effective_at_ms": 2_000, "expires_at_ms": 1_000}), "grant"),
        (json!({"tenant_id": "ten_dev", "amount_cents": 5, "amonut": 1}), "amonut"),
    ] {
        unprocessable(&grant(&stack, &op, &body).await, says, &body);
    }
    let nobody = grant(&stack, &op, &json!({"tenant_id": "ten_nobody", "amount_cents": 5})).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{}", nobody.body);

    let book = stack.get("/v1/credits").await.body;
    assert_eq!((book["available_cents"].clone(), book["metered"].clone()), (json!(500.0), json!(true)), "{book}");
    assert_eq!(book["grants"][0]["id"], "welcome");
    assert_eq!(book["grants"][0]["remaining_cents"], 500.0, "nothing refused reached the book: {book}");
    let audit = stack.get("/v1/audit?action=credits.grant").await.body;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1), "one entry, for the grant made: {audit}");

    // A second grant, then the ledger a page at a time.
    let paid = grant(&stack, &op, &json!({"tenant_id": "ten_dev", "id": "paid-1", "amount_cents": 250})).await;
    assert_eq!(paid.status, StatusCode::CREATED, "{}", paid.body);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let q = after.as_ref().map(|a| format!("&after={a}")).unwrap_or_default();
        let page = stack.get(&format!("/v1/credits/ledger?limit=1{q}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(page.body["transfers"].as_array().expect("transfers").iter().map(|t| t["amount_cents"].clone()));
        match page.body["next_after"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [json!(500.0), json!(250.0)], "every transfer once, oldest first");
    for query in ["limit=0", "after=not-a-cursor"] {
        let bad = stack.get(&format!("/v1/credits/ledger?{query}")).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {}", bad.body);
    }

    // Another tenant sees only its own (empty) ledger.
    let other = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "other"})), &[]).await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    let key = other.body["api_key"]["key"].as_str().expect("key").to_owned();
    let theirs = stack.call(Method::GET, "/v1/credits", Some(&key), None, &[]).await.body;
    assert_eq!((theirs["available_cents"].clone(), theirs["grants"].clone()), (json!(0.0), json!([])), "{theirs}");
    let ledger = stack.call(Method::GET, "/v1/credits/ledger", Some(&key), None, &[]).await.body;
    assert_eq!(ledger["transfers"], json!([]), "{ledger}");
}

#[tokio::test]
async fn costsim_answers_the_seeds_golden_numbers_and_the_price_tables_estimate() {
    let stack = TestStack::start("").await;
    let ten = simulate(&stack, &json!({"plan": [{"skill": "llm_invoke", "iterations": 10}]})).await;
    assert_eq!(ten.status, StatusCode::OK, "{}", ten.body);
    assert_eq!(
        (ten.body["estimated_cost_cents"].clone(), ten.body["estimated_duration_ms"].clone()),
        (json!(50.0), json!(20_000.0))
    );
    assert_eq!(ten.body["status"], "feasible");
    let mixed = simulate(
        &stack,
        &json!({"plan": [{"skill": "llm_invoke", "iterations": 10}, {"skill": "email_send", "iterations": 10}], "budget_cents": 100}),
    )
    .await;
    assert_eq!(
        (mixed.body["estimated_cost_cents"].clone(), mixed.body["budget_remaining_cents"].clone()),
        (json!(60.0), json!(40.0))
    );
    let plan: Vec<Value> = (0..25).map(|_| json!({"skill": "some_other_skill"})).collect();
    let over = simulate(&stack, &json!({"plan": plan, "budget_cents": 100})).await;
    assert_eq!(over.body["estimated_cost_cents"], 250.0, "{}", over.body);
    assert_eq!(
        (over.body["feasible"].clone(), over.body["status"].clone()),
        (json!(false), json!("budget_insufficient"))
    );

    // The price table: the skill's 1 credit, plus 1 000 prompt tokens at 15 c and
    // 1 000 output tokens at 60 c per million (gpt-4o-mini).
    let prompt = "x".repeat(4_000);
    let llm = json!({"skill": "llm_invoke", "input": {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 1000,
                     "messages": [{"role": "user", "content": prompt}]}});
    let priced =
        simulate(&stack, &json!({"plan": [llm, {"skill": "agent_spawn", "input": {"tasks": [{}, {}, {}]}}]})).await;
    assert_eq!(priced.body["credits"]["source"], "price_table", "{}", priced.body);
    assert_eq!(priced.body["credits"]["steps"][0]["cents"], 1.075, "{}", priced.body);
    assert_eq!(priced.body["credits"]["steps"][1]["cents"], 11.0, "spawn 5 + 2 per item");
    assert_eq!(priced.body["step_estimates"][0]["base_cost_cents"], 5.0, "the seed's figure is kept beside it");

    // The policy gate's answer is the permission verdict.
    let policy =
        r#"@id("no-calls") @category("SAFETY") forbid (principal, action, resource == AOS::Skill::"http_call");"#;
    let applied =
        stack.call(Method::PUT, "/v1/policies", Some(&stack.key()), Some(&json!({"text": policy})), &[]).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{}", applied.body);
    let denied =
        simulate(&stack, &json!({"plan": [{"skill": "http_call", "input": {"url": "https://example.com"}}]})).await;
    assert_eq!(denied.body["status"], "permission_denied", "{}", denied.body);
    assert!(denied.body["permission_gaps"][0].as_str().unwrap_or_default().contains("no-calls"), "{}", denied.body);

    for (body, says) in [
        (json!({"plan": []}), "plan"),
        (json!({"plan": [{"skill": "llm_invoke", "iterations": 0}]}), "iterations"),
        (json!({"plan": [{"skill": "llm_invoke", "iterations": 101}]}), "iterations"),
        (json!({"plan": [{"skill": "llm_invoke", "iteratoins": 2}]}), "iteratoins"),
        (json!({"plan": [{"input": {}}]}), "skill"),
        (json!({"plan": [{"skill": "llm_invoke"}], "budget_cents": -1}), "budget_cents"),
        (json!({"goal": "write a poem"}), "goal"),
    ] {
        unprocessable(&simulate(&stack, &body).await, says, &body);
    }
}

const FLOW: &str = r#"
name: digest
nodes:
  - id: summarise
    skill: llm_invoke
    input: {provider: anthropic, model: claude-3-5-haiku, messages: [{role: user, content: "${input.text}"}]}
  - id: notify
    type: map
    items: "${input.people}"
    depends_on: [summarise]
    skill: email_send
    input: {to: "${item}", subject: digest, text: "${steps.summarise.output.text}"}
"#;

#[tokio::test]
async fn costsim_of_a_stored_workflow_counts_each_map_element() {
    let stack = TestStack::start("").await;
    stack.apply_workflow(FLOW).await;
    let path = "/v1/workflows/digest/simulate";
    let sim =
        stack.call(Method::POST, path, Some(&stack.key()), Some(&json!({"map_items": {"notify": 10}})), &[]).await;
    assert_eq!(sim.status, StatusCode::OK, "{}", sim.body);
    assert_eq!(sim.body["estimated_cost_cents"], 15.0, "llm 5 + email 1 x 10: {}", sim.body);
    assert_eq!(sim.body["workflow"], json!({"name": "digest", "version": 1}));
    let once = stack.call(Method::POST, path, Some(&stack.key()), Some(&json!({"budget_cents": 5})), &[]).await;
    assert_eq!(
        (once.body["estimated_cost_cents"].clone(), once.body["status"].clone()),
        (json!(6.0), json!("budget_insufficient"))
    );
    assert!(
        once.body["warnings"].to_string().contains("map_items"),
        "an unnamed map is counted once, and says so: {}",
        once.body
    );
    let wrong = json!({"map_items": {"summarise": 3}});
    unprocessable(&stack.call(Method::POST, path, Some(&stack.key()), Some(&wrong), &[]).await, "summarise", &wrong);
    let missing =
        stack.call(Method::POST, "/v1/workflows/nope/simulate", Some(&stack.key()), Some(&json!({})), &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
}

const PAIR: &str = r"
name: pair
nodes:
  - id: one
    skill: json_transform
    input: {expression: n, data: {n: 1}}
  - id: two
    skill: json_transform
    depends_on: [one]
    input: {expression: n, data: {n: 2}}
";

/// `GET /v1/usage` over HTTP: a plain run and a workflow's two node runs, grouped by
/// skill, workflow and day; bad groupings and spans refused naming what to fix; another
/// tenant sees none of it.
#[tokio::test]
async fn usage_groups_a_tenants_finished_runs_by_skill_workflow_and_day() {
    let stack = TestStack::start("").await;
    let run = stack
        .submit(&json!({"plan": [{"skill": "json_transform", "input": {"expression": "a", "data": {"a": 1}}}]}))
        .await;
    assert_eq!(stack.wait(&run).await["status"], "succeeded");
    stack.apply_workflow(PAIR).await;
    let started =
        stack.call(Method::POST, "/v1/workflows/pair/executions", Some(&stack.key()), Some(&json!({})), &[]).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let execution = started.body["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stack.get(&format!("/v1/executions/{execution}")).await.body["finished"] != true {
        assert!(std::time::Instant::now() < deadline, "the execution did not finish");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let by_workflow = stack.get("/v1/usage?group_by=workflow").await;
    assert_eq!(by_workflow.status, StatusCode::OK, "{}", by_workflow.body);
    let groups: Vec<(String, u64, u64)> = by_workflow.body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or("?").to_owned(),
                g["runs"].as_u64().unwrap_or(0),
                g["steps"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(groups, [(String::new(), 1, 1), ("pair".to_owned(), 2, 2)], "{}", by_workflow.body);
    assert_eq!((by_workflow.body["runs"].clone(), by_workflow.body["total"]["steps"].clone()), (json!(3), json!(3)));
    let day_ago = aos_runtime::clock::now_ms() - 86_400_000;
    let by_skill = stack.get(&format!("/v1/usage?group_by=skill&from={day_ago}")).await;
    assert_eq!(by_skill.body["groups"][0]["key"], "json_transform", "{}", by_skill.body);
    let by_day = stack.get("/v1/usage").await;
    assert_eq!(by_day.body["group_by"], "day", "day is the default grouping");
    assert_eq!(
        by_day.body["groups"].as_array().map(|g| g.iter().map(|d| d["runs"].as_u64().unwrap_or(0)).sum::<u64>()),
        Some(3)
    );
    let past = stack.get("/v1/usage?from=2020-01-01&to=2020-01-02T00:00:00Z").await;
    assert_eq!((past.status, past.body["runs"].clone()), (StatusCode::OK, json!(0)), "{}", past.body);
    assert_eq!(
        (past.body["from"].clone(), past.body["to"].clone()),
        (json!("2020-01-01T00:00:00.000Z"), json!("2020-01-02T00:00:00.000Z"))
    );

    for (query, says) in [
        ("group_by=tenant", "group_by"),
        ("from=yesterday", "from"),
        ("from=2026-12-02&to=2026-12-01", "before"),
        ("from=2020-01-01&to=2026-01-01", "366 days"),
        ("grup_by=day", "grup_by"),
    ] {
        let r = stack.get(&format!("/v1/usage?{query}")).await;
        let what = json!(query);
        unprocessable(&r, says, &what);
    }
    let op = stack.operator_key();
    let other = stack.call(Method::POST, "/v1/tenants", Some(&op), Some(&json!({"name": "other"})), &[]).await;
    let key = other.body["api_key"]["key"].as_str().expect("key").to_owned();
    let theirs = stack.call(Method::GET, "/v1/usage?group_by=skill", Some(&key), None, &[]).await;
    assert_eq!((theirs.status, theirs.body["runs"].clone()), (StatusCode::OK, json!(0)), "{}", theirs.body);
}

const CHAIN: &str = r"
name: chain
nodes:
  - {id: a, skill: json_transform, input: {expression: n, data: {n: 1}}}
  - {id: b, skill: json_transform, depends_on: [a], input: {expression: n, data: {n: 2}}}
  - {id: c, skill: json_transform, depends_on: [b], input: {expression: n, data: {n: 3}}}
  - {id: d, skill: json_transform, depends_on: [c], input: {expression: n, data: {n: 4}}}
";

const UNDO: &str = r"
name: undo
nodes:
  - id: a
    skill: json_transform
    input: {expression: n, data: {n: 1}}
    compensate: {skill: json_transform, input: {expression: n, data: {n: -1}}}
  - {id: b, skill: json_transform, depends_on: [a], input: {expression: n, data: {n: 2}}}
";

const FAN: &str = r"
name: fan
nodes:
  - id: each
    type: map
    items: ${input.items}
    max_concurrency: 4
    skill: json_transform
    input: {expression: n, data: {n: 1}}
";

/// Starts `name` with `body` and waits for the execution to finish; its view.
async fn execute(stack: &TestStack, name: &str, body: &Value) -> Value {
    let path = format!("/v1/workflows/{name}/executions");
    let started = stack.call(Method::POST, &path, Some(&stack.key()), Some(body), &[]).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let id = started.body["id"].as_str().expect("id").to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let view = stack.get(&format!("/v1/executions/{id}")).await.body;
        if view["finished"] == true {
            return view;
        }
        assert!(std::time::Instant::now() < deadline, "the execution did not finish: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A workflow execution's `budget_cents` is one envelope for all its runs: a chain stops
/// at the node that would pass it, and a map's elements running four at once never
/// spend more than it together. A budget that is no whole number of cents is refused.
#[tokio::test]
async fn a_workflow_executions_budget_holds_all_its_nodes_together() {
    let stack = TestStack::start("").await;
    stack.apply_workflow(CHAIN).await;
    stack.apply_workflow(FAN).await;
    let chain = execute(&stack, "chain", &json!({"budget_cents": 3})).await;
    assert_eq!((chain["status"].clone(), chain["failed_node"].clone()), (json!("failed"), json!("d")), "{chain}");
    assert_eq!(chain["error"]["code"], "ERR_BUDGET_EXCEEDED", "{chain}");
    assert_eq!(chain["error"]["details"]["scope"], "workflow", "{chain}");
    assert_eq!(chain["envelope"], json!({"limit_cents": 3.0, "spent_cents": 3.0}), "{chain}");
    assert_eq!(chain["budget_cents"], 3.0);

    let fan =
        execute(&stack, "fan", &json!({"budget_cents": 6, "input": {"items": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}})).await;
    assert_eq!(fan["status"], "failed", "{fan}");
    let items = &fan["nodes"][0]["items"];
    assert_eq!((items["completed"].clone(), items["total"].clone()), (json!(6), json!(10)), "{fan}");
    assert_eq!(fan["envelope"]["spent_cents"], 6.0, "never more than the budget: {fan}");

    // The budget stops b; a's compensation still runs (charged, never refused).
    stack.apply_workflow(UNDO).await;
    let undone = execute(&stack, "undo", &json!({"budget_cents": 1})).await;
    assert_eq!(undone["failed_node"], "b", "{undone}");
    assert_eq!(undone["compensations"][0]["status"], "completed", "{undone}");
    assert_eq!(undone["envelope"]["spent_cents"], 2.0, "the compensation is charged past the budget: {undone}");

    let unlimited = execute(&stack, "chain", &json!({})).await;
    assert_eq!(unlimited["status"], "succeeded", "{unlimited}");
    assert!(unlimited.get("envelope").is_none_or(Value::is_null), "no budget, no envelope: {unlimited}");
    for bad in [json!({"budget_cents": 0}), json!({"budget_cents": 1.5}), json!({"budget_cents": -1})] {
        let r = stack.call(Method::POST, "/v1/workflows/chain/executions", Some(&stack.key()), Some(&bad), &[]).await;
        assert!(r.status.is_client_error(), "{bad}: {}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap_or_default().contains("budget_cents"), "{bad}: {}", r.body);
    }
}
