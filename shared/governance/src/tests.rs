use super::*;
use serde_json::json;

fn facts(skill: &str, input: serde_json::Value) -> StepFacts {
    StepFacts {
        tenant: "ten_a".into(),
        run_id: "run_1".into(),
        depth: 0,
        agent: false,
        workflow: String::new(),
        skill: skill.into(),
        idempotency: "keyed".into(),
        kind: "plan_step".into(),
        host: String::new(),
        port: 0,
        input,
        spent_cents: 0,
        estimated_cents: 0,
        // 2026-12-02T03:00:00Z, a Wednesday.
        now_ms: 1_796_180_400_000,
        plan: "pro".into(),
    }
}

fn compile(text: &str) -> Policies {
    Policies::compile(text, DefaultDecision::Allow, false).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn with_no_policy_the_default_decides() {
    let allow = compile("");
    assert_eq!(allow.evaluate(&facts("http_call", json!({}))).decision, Decision::Allow);
    let deny = Policies::compile("", DefaultDecision::Deny, false).expect("empty");
    let e = deny.evaluate(&facts("http_call", json!({})));
    assert_eq!(e.decision, Decision::Deny);
    assert!(e.reasons[0].contains("denies by default"), "{e:?}");
}

#[test]
fn a_forbid_denies_naming_the_policy_and_its_reason() {
    let p = compile(
        r#"@id("no-shell") @category("SAFETY") @reason("system commands are blocked")
        forbid(principal, action == AOS::Action::"call", resource)
        when { context.input_text like "*rm -rf*" };"#,
    );
    let e = p.evaluate(&facts("http_call", json!({"body": "please rm -rf /"})));
    assert_eq!(e.decision, Decision::Deny);
    assert_eq!(e.deciding_category, Some(Category::Safety));
    assert_eq!(e.violations[0].policy, "no-shell");
    assert_eq!(e.violations[0].message, "system commands are blocked");
    assert_eq!(p.evaluate(&facts("http_call", json!({"body": "hello"}))).decision, Decision::Allow);
}

#[test]
fn an_approval_forbid_asks_for_the_highest_level_and_a_deny_beats_it() {
    let p = compile(
        r#"@id("big-spend") @category("OPERATIONAL") @approval("2")
        forbid(principal, action, resource) when { context.estimated_cents > 50 };
        @id("email-at-night") @category("OPERATIONAL") @approval("3")
        forbid(principal, action, resource == AOS::Skill::"email_send")
        when { context.hour_utc < 8 || context.hour_utc >= 18 };
        @id("huge-spend") @category("OPERATIONAL")
        forbid(principal, action, resource) when { context.estimated_cents > 500 };"#,
    );
    let mut f = facts("email_send", json!({}));
    f.estimated_cents = 80;
    let e = p.evaluate(&f);
    assert_eq!((e.decision, e.approval_level_required), (Decision::RequiresApproval, Some(3)), "{e:?}");
    assert_eq!(e.violations.len(), 2);
    f.estimated_cents = 900;
    let e = p.evaluate(&f);
    assert_eq!((e.decision, e.approval_level_required), (Decision::Deny, None), "deny > approval: {e:?}");
}

#[test]
fn an_approval_takes_the_shortest_timeout_and_the_highest_escalation_of_its_policies() {
    let p = compile(
        r#"@id("big-spend") @category("OPERATIONAL") @approval("2") @timeout("600") @escalate("4")
        forbid(principal, action, resource) when { context.estimated_cents > 50 };
        @id("email") @category("OPERATIONAL") @approval("3") @timeout("120") @escalate("5")
        forbid(principal, action, resource == AOS::Skill::"email_send");
        @id("kv") @category("OPERATIONAL") @approval("1")
        forbid(principal, action, resource == AOS::Skill::"kv_store");"#,
    );
    let mut f = facts("email_send", json!({}));
    f.estimated_cents = 80;
    let e = p.evaluate(&f);
    assert_eq!(
        (e.approval_level_required, e.approval_timeout_s, e.escalate_to),
        (Some(3), Some(120), Some(5)),
        "{e:?}"
    );
    let e = p.evaluate(&facts("kv_store", json!({})));
    let default = Some(crate::DEFAULT_APPROVAL_TIMEOUT_S);
    assert_eq!((e.approval_level_required, e.approval_timeout_s, e.escalate_to), (Some(1), default, None), "{e:?}");
    // Neither shows on a decision that asks for no approval.
    let e = p.evaluate(&facts("http_call", json!({})));
    assert_eq!((e.decision, e.approval_timeout_s, e.escalate_to), (Decision::Allow, None, None), "{e:?}");
}

#[test]
fn timeout_and_escalate_are_refused_where_they_mean_nothing() {
    for (text, says) in [
        (r#"@timeout("60") forbid(principal, action, resource);"#, "@timeout goes with @approval"),
        (r#"@escalate("3") forbid(principal, action, resource);"#, "@escalate goes with @approval"),
        (r#"@approval("3") @escalate("3") forbid(principal, action, resource);"#, "above the @approval level 3"),
        (r#"@approval("2") @escalate("6") forbid(principal, action, resource);"#, "at most"),
        (r#"@approval("2") @timeout("0") forbid(principal, action, resource);"#, "from \"1\""),
        (r#"@approval("2") @timeout("soon") forbid(principal, action, resource);"#, "number of seconds"),
        (r#"@approval("2") @timeout("99999999") forbid(principal, action, resource);"#, "30 days"),
    ] {
        let e = Policies::compile(text, DefaultDecision::Allow, true).expect_err(text);
        assert!(e.message.contains(says), "{text}: {e}");
        assert_eq!(e.line, 1, "{text}: {e}");
    }
}

#[test]
fn the_highest_category_that_applies_decides() {
    // A SAFETY permit for the health check outranks a CUSTOM forbid of every http_call.
    let p = compile(
        r#"@id("health-ok") @category("SAFETY")
        permit(principal, action, resource == AOS::Skill::"http_call") when { context.host == "status.internal" };
        @id("no-http") @category("CUSTOM")
        forbid(principal, action, resource == AOS::Skill::"http_call");"#,
    );
    let mut f = facts("http_call", json!({}));
    f.host = "status.internal".into();
    let e = p.evaluate(&f);
    assert_eq!((e.decision, e.deciding_category), (Decision::Allow, Some(Category::Safety)), "{e:?}");
    f.host = "example.org".into();
    let e = p.evaluate(&f);
    assert_eq!((e.decision, e.deciding_category), (Decision::Deny, Some(Category::Custom)), "{e:?}");
}

#[test]
fn entity_attributes_and_hierarchy_are_there_to_use() {
    let p = compile(
        r#"@id("shallow") forbid(principal, action, resource) when { principal.depth > 2 };
        @id("tenant-a-only-pure") forbid(principal in AOS::Tenant::"ten_a", action, resource)
        when { resource.idempotency == "non_idempotent" && principal.agent };"#,
    );
    let mut f = facts("kv_store", json!({}));
    f.depth = 3;
    assert_eq!(p.evaluate(&f).violations[0].policy, "shallow");
    f.depth = 0;
    f.agent = true;
    f.idempotency = "non_idempotent".into();
    assert_eq!(p.evaluate(&f).violations[0].policy, "tenant-a-only-pure");
    f.tenant = "ten_b".into();
    assert_eq!(p.evaluate(&f).decision, Decision::Allow);
}

#[test]
fn a_bad_policy_is_refused_with_its_position_and_what_to_fix() {
    let cases = [
        ("permit(principal, action, resource)\nwhen { context.nope > 1 };", 2, "nope"),
        ("permit(principal, action, resource) when { context.hour_utc > \"x\" };", 1, "type"),
        ("\n\nforbid(principal, action resource);", 3, ""),
        ("@category(\"URGENT\")\nforbid(principal, action, resource) when { context.port == 1 };", 1, "SAFETY"),
        ("@approval(\"7\") forbid(principal, action, resource) when { context.port == 1 };", 1, "\"1\" to \"5\""),
        ("@approval(\"2\") permit(principal, action, resource);", 1, "goes on a forbid"),
        ("@owner(\"me\") permit(principal, action, resource);", 1, "unknown annotation @owner"),
    ];
    for (text, line, says) in cases {
        let e = Policies::compile(text, DefaultDecision::Allow, false).expect_err(text);
        assert_eq!(e.line, line, "{text}: {e}");
        assert!(e.message.contains(says), "{text}: {e}");
    }
}

#[test]
fn a_policy_that_denies_everything_needs_the_explicit_flag() {
    let text = "@id(\"stop\") forbid(principal, action, resource);";
    let e = Policies::compile(text, DefaultDecision::Allow, false).expect_err("refused");
    assert!(e.message.contains("allow_deny_all"), "{e}");
    let p = Policies::compile(text, DefaultDecision::Allow, true).expect("with the flag");
    assert_eq!(p.evaluate(&facts("json_transform", json!({}))).decision, Decision::Deny);
    // A conditioned forbid is not "everything".
    assert!(Policies::compile(
        "forbid(principal, action, resource) when { context.port == 22 };",
        DefaultDecision::Allow,
        false
    )
    .is_ok());
}

#[test]
fn the_time_of_day_and_weekday_are_utc() {
    let p = compile(
        r#"@id("weekend") forbid(principal, action, resource) when { context.weekday >= 6 };
        @id("night") forbid(principal, action, resource) when { context.hour_utc == 3 };"#,
    );
    let e = p.evaluate(&facts("kv_store", json!({})));
    assert_eq!(e.violations.iter().map(|v| v.policy.as_str()).collect::<Vec<_>>(), ["night"], "{e:?}");
}

#[test]
fn the_facts_of_a_step_are_what_the_published_schema_declares() {
    let p = compile("@id(\"x\") forbid(principal, action, resource) when { context.port == 22 };");
    p.request_fits_the_schema(&facts("http_call", json!({"url": "https://example.org"}))).expect("fits");
}

#[test]
fn a_skill_is_never_allowed_only_when_an_unconditional_forbid_decides_it() {
    let p = compile(
        r#"@id("no-mail") @category("PRIVACY") forbid (principal, action, resource == AOS::Skill::"email_send");
        @id("no-big-http") @category("SAFETY") forbid (principal, action, resource == AOS::Skill::"http_call") when { context.input_bytes > 100 };
        @id("ask-kv") @approval("2") forbid (principal, action, resource == AOS::Skill::"kv_store");"#,
    );
    assert!(p.never_allows("email_send"), "an unconditional forbid");
    assert!(!p.never_allows("http_call"), "a conditional forbid may not apply");
    assert!(!p.never_allows("kv_store"), "an approval may be given");
    assert!(!p.never_allows("json_transform"), "no policy names it and the default allows");
    // A higher category's permit could decide otherwise.
    let overruled = compile(
        r#"@category("CUSTOM") forbid (principal, action, resource == AOS::Skill::"email_send");
        @category("SAFETY") permit (principal, action, resource) when { context.hour_utc == 3 };"#,
    );
    assert!(!overruled.never_allows("email_send"));
    // Deny by default: only skills some permit could apply to may run.
    let strict = Policies::compile(
        r#"permit (principal, action, resource == AOS::Skill::"json_transform");"#,
        DefaultDecision::Deny,
        false,
    )
    .expect("compiles");
    assert!(!strict.never_allows("json_transform"));
    assert!(strict.never_allows("http_call"));
    // What never_allows says, evaluate agrees with on any input.
    let e = p.evaluate(&facts("email_send", json!({"to": ["a@example.com"]})));
    assert_eq!(e.decision, Decision::Deny);
}

#[test]
fn what_a_policy_reads_is_found_conservatively() {
    let reads = |text: &str| {
        let set: cedar_policy::PolicySet = text.parse().expect("parses");
        let p = set.policies().next().expect("one policy");
        let r = crate::answers::Reads::of(p);
        (r.input, r.spent, r.run)
    };
    let none = (false, false, false);
    assert_eq!(
        reads(
            r#"forbid(principal, action, resource == AOS::Skill::"s") when { context.host == "h" && principal.depth > 1 };"#
        ),
        none
    );
    assert_eq!(
        reads(r#"forbid(principal, action, resource) when { resource == AOS::Skill::"s" && context has port };"#),
        none
    );
    assert_eq!(
        reads(r#"forbid(principal, action, resource) when { context.input_text like "*x*" };"#),
        (true, false, false)
    );
    assert_eq!(
        reads(r#"forbid(principal, action, resource) when { context["input_bytes"] > 10 };"#),
        (true, false, false)
    );
    assert_eq!(
        reads(r#"forbid(principal, action, resource) when { context.spent_cents > 10 };"#),
        (false, true, false)
    );
    // The context as a whole is everything in it; the principal as a whole is which run.
    assert_eq!(reads(r#"forbid(principal, action, resource) unless { context == {} };"#), (true, true, false));
    assert_eq!(reads(r#"forbid(principal == AOS::Run::"r", action, resource);"#), (false, false, true));
    assert_eq!(
        reads(r#"forbid(principal, action, resource) when { principal in AOS::Tenant::"t" };"#),
        (false, false, true)
    );
    assert_eq!(reads(r#"forbid(principal, action, resource) when { AOS::Run::"r".depth > 1 };"#), (false, false, true));
}

/// A set judging many steps (its answers kept) says of each exactly what a freshly
/// compiled set (nothing kept) says.
#[test]
fn kept_answers_are_the_answers() {
    let text = r#"
        @id("no-secret") @category("SAFETY") forbid(principal, action, resource) when { context.input_text like "*secret*" };
        @id("spend") @category("OPERATIONAL") @approval("2") forbid(principal, action, resource) when { context.spent_cents > 20 };
        @id("host") @category("ROUTING") forbid(principal, action, resource == AOS::Skill::"http_call") unless { context.host == "api.example" };
        @id("night") @category("OPERATIONAL") @approval("3") forbid(principal, action, resource) when { context.hour_utc < 6 && principal.depth > 0 };
        @id("this-run") @category("CUSTOM") forbid(principal == AOS::Run::"run_2", action, resource);
        @id("ok") @category("CUSTOM") permit(principal, action, resource) when { context.kind == "plan_step" };
    "#;
    let warm = compile(text);
    let mut checked = 0;
    for round in 0..2 {
        for run in ["run_1", "run_2"] {
            for input in [json!({}), json!({"q": "a secret"}), json!({"q": "plain"})] {
                let each = |i: usize| {
                    (["api.example", "x.example"][i & 1], [0, 30][i >> 1 & 1], (i >> 2 & 1) as u32, [3, 12][i >> 3 & 1])
                };
                for (host, spent, depth, hour) in (0..16).map(each) {
                    for skill in ["http_call", "json_transform"] {
                        let mut f = facts(skill, input.clone());
                        f.run_id = run.into();
                        f.host = host.into();
                        f.spent_cents = spent;
                        f.depth = depth;
                        f.now_ms = 1_796_169_600_000 + hour * 3_600_000;
                        let fresh = compile(text).evaluate(&f);
                        assert_eq!(warm.evaluate(&f), fresh, "round {round}: {f:?}");
                        checked += u32::from(fresh.decision != Decision::Allow);
                    }
                }
            }
        }
    }
    assert!(checked > 20, "the facts exercise the policies: {checked} steps not plainly allowed");
}

fn api_facts(role: &str, operation: &str, hour: u64) -> ApiFacts {
    ApiFacts {
        tenant: "ten_a".into(),
        key_id: format!("key_{role}"),
        role: role.into(),
        approval_level: 3,
        permissions: vec!["runs:write".into(), "secrets:write".into()],
        operation: operation.into(),
        method: "PUT".into(),
        path: "/v1/secrets/token".into(),
        now_ms: 1_796_169_600_000 + hour * 3_600_000,
        plan: "pro".into(),
    }
}

#[test]
fn policies_about_api_operations_narrow_what_keys_do() {
    let p = compile(
        r#"
        @id("no-secret-changes-by-dev") @category("SAFETY") @reason("only admins change secrets")
        forbid (principal, action in AOS::Action::"secrets:write", resource) when { principal.role == "dev" };
        @id("no-cancel-at-night") @category("OPERATIONAL")
        forbid (principal, action == AOS::Action::"runs.cancel", resource) when { context.hour_utc >= 18 };
        // A step policy with no action scope keeps its meaning: it is about steps.
        @id("no-shell") forbid (principal, action, resource) when { context.input_text like "*rm -rf*" };
        "#,
    );
    assert!(p.has_api_policies());
    let e = p.evaluate_api(&api_facts("dev", "secrets.put", 10));
    assert_eq!(e.decision, Decision::Deny, "{e:?}");
    assert_eq!(e.violations[0].policy, "no-secret-changes-by-dev");
    assert_eq!(e.violations[0].message, "only admins change secrets");
    assert_eq!(p.evaluate_api(&api_facts("dev", "secrets.delete", 10)).decision, Decision::Deny);
    assert_eq!(p.evaluate_api(&api_facts("admin", "secrets.put", 10)).decision, Decision::Allow);
    assert_eq!(p.evaluate_api(&api_facts("dev", "runs.create", 10)).decision, Decision::Allow);
    assert_eq!(p.evaluate_api(&api_facts("admin", "runs.cancel", 10)).decision, Decision::Allow);
    assert_eq!(p.evaluate_api(&api_facts("admin", "runs.cancel", 20)).decision, Decision::Deny);
    // The step policy still judges steps, and only steps.
    assert_eq!(p.evaluate(&facts("http_call", json!({"c": "rm -rf /"}))).decision, Decision::Deny);
    assert!(
        !compile(r#"forbid (principal, action, resource) when { context.input_text like "*x*" };"#).has_api_policies()
    );
}

#[test]
fn api_policies_that_cannot_work_are_refused_with_their_position() {
    let cases = [
        // Steps' context is not an API request's.
        (
            r#"forbid (principal, action == AOS::Action::"runs.create", resource) when { context.input_text like "*x*" };"#,
            "input_text",
        ),
        (
            r#"@approval("2") forbid (principal, action == AOS::Action::"runs.create", resource);"#,
            "@approval goes on a policy about steps",
        ),
        (r#"forbid (principal, action in [AOS::Action::"call", AOS::Action::"runs.create"], resource);"#, "not both"),
        (r#"forbid (principal, action == AOS::Action::"runs.nuke", resource);"#, "runs.nuke"),
        (r#"forbid (principal, action in AOS::Action::"api", resource);"#, "every API operation"),
    ];
    for (text, says) in cases {
        let e = Policies::compile(&format!("\n{text}"), DefaultDecision::Allow, false).expect_err(text);
        assert!(e.message.contains(says), "{text}: {e}");
        assert_eq!(e.line, 2, "{text}: {e}");
    }
    assert!(Policies::compile(
        r#"forbid (principal, action in AOS::Action::"api", resource);"#,
        DefaultDecision::Allow,
        true
    )
    .is_ok());
}

#[test]
fn the_api_schema_has_every_operation_in_its_permission_group() {
    let schema = api_schema();
    for (name, permission) in aos_core::roles::API_OPERATIONS {
        assert!(schema.contains(&format!("action \"{name}\" in [\"{permission}\"]")), "{name}");
    }
    // Deny by default is the tenant's choice for steps; API requests no policy forbids are
    // the roles' to decide.
    let deny_steps = Policies::compile(
        r#"forbid (principal, action == AOS::Action::"keys.create", resource) when { principal.role == "dev" };"#,
        DefaultDecision::Deny,
        false,
    )
    .expect("compiles");
    assert_eq!(deny_steps.evaluate_api(&api_facts("admin", "runs.get", 10)).decision, Decision::Allow);
}
