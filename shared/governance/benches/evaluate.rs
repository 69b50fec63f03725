//! Policy evaluation per step with 1, 50 and 500 policies: p50 and p99 in µs over 2,000
//! evaluations each (an empty set costs nothing: it is not evaluated), for steps whose
//! facts are all new, steps with a new input each, and steps with the same facts (the
//! policies' answers kept for facts judged before). The gate's cost on a
//! durable step, on against off, is in `aos bench` (`durable step, policy gate on`).
//! `cargo bench -p aos-governance`.

use aos_governance::{DefaultDecision, Policies, StepFacts};
use std::time::Instant;

fn policies(n: usize) -> String {
    (0..n)
        .map(|i| match i % 3 {
            0 => format!("@id(\"p{i}\") @category(\"SAFETY\") forbid(principal, action, resource) when {{ context.input_text like \"*never-{i}*\" }};\n"),
            1 => format!("@id(\"p{i}\") @category(\"OPERATIONAL\") @approval(\"3\") forbid(principal, action, resource == AOS::Skill::\"s{i}\") when {{ context.estimated_cents > {i} }};\n"),
            _ => format!("@id(\"p{i}\") @category(\"CUSTOM\") forbid(principal, action, resource) when {{ context.host == \"h{i}.example\" && principal.depth > 3 }};\n"),
        })
        .collect()
}

fn facts() -> StepFacts {
    StepFacts {
        tenant: "ten_bench".into(),
        run_id: "run_bench".into(),
        depth: 1,
        agent: true,
        workflow: String::new(),
        skill: "http_call".into(),
        idempotency: "keyed".into(),
        kind: "plan_step".into(),
        host: "api.example".into(),
        port: 443,
        input: serde_json::json!({"url": "https://api.example/v1/items", "method": "POST", "body": {"n": 1, "note": "a normal request"}}),
        spent_cents: 10,
        estimated_cents: 2,
        now_ms: 1_796_180_400_000,
        plan: "pro".into(),
    }
}

/// p50 and p99 of `evaluate` over 2,000 steps whose facts `vary(i)` makes.
fn measure(n: usize, vary: impl Fn(&mut StepFacts, usize)) -> (f64, f64) {
    let set = Policies::compile(&policies(n), DefaultDecision::Allow, false).expect("compiles");
    let base = facts();
    let steps: Vec<StepFacts> = (0..2200)
        .map(|i| {
            let mut f = base.clone();
            vary(&mut f, i);
            f
        })
        .collect();
    for f in &steps[..200] {
        std::hint::black_box(set.evaluate(f));
    }
    let mut us: Vec<f64> = steps[200..]
        .iter()
        .map(|f| {
            let t = Instant::now();
            std::hint::black_box(set.evaluate(f));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    us.sort_by(f64::total_cmp);
    (us[us.len() / 2], us[us.len() * 99 / 100])
}

fn main() {
    println!("p50 / p99 µs per step; a third of the policies read the step's input");
    println!("policies  every fact new    a new input     same facts");
    for n in [1, 50, 500] {
        // A new estimate each step: no policy's answer can be reused.
        let (a50, a99) = measure(n, |f, i| f.estimated_cents = i as i64);
        // A new input each step: the policies that read it are evaluated, the others' answers kept.
        let (i50, i99) = measure(n, |f, i| f.input["body"]["n"] = i.into());
        // What every step of a loop of identical calls sees.
        let (s50, s99) = measure(n, |_, _| {});
        println!("{n:>8}  {a50:>6.1} / {a99:>5.1}  {i50:>6.1} / {i99:>5.1}  {s50:>6.1} / {s99:>5.1}");
    }
}
