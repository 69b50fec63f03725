//! Response bodies. Only what clients need, never secrets or key hashes.

use aos_core::checkpoint::verify_chain;
use aos_core::{Checkpoint, RunStatus, StepStatus};
use aos_runtime::ports::{ApiKeyRecord, RunRecord, StepProgress};
use serde_json::{json, Value};

pub(crate) fn run(r: &RunRecord) -> Value {
    json!({
        "id": r.id,
        "tenant_id": r.tenant,
        "status": r.status,
        "plan": r.plan,
        "input": r.input,
        "base_seed": r.base_seed,
        "steps_total": r.plan.len(),
        "steps_done": r.next_step,
        "output": r.output,
        "error": r.error,
        "genesis_hash": r.genesis_hash,
        "last_hash": r.last_hash,
        "created_at_ms": r.created_at_ms,
        "updated_at_ms": r.updated_at_ms,
        // The workflow execution a node's run belongs to (never the task token).
        "parent": r.parent.as_ref().map(|p| json!({
            "execution_id": p.execution,
            "node": p.slot.node,
            "item": p.slot.item,
            "compensation": p.slot.compensation,
        })),
        // The agent step that started this run and waits for it.
        "caller": r.caller,
        "budget_cents": r.budget_mc.map(|b| aos_core::credits::Millicredits(b).cents()),
        "spent_cents": aos_core::credits::Millicredits(r.spent_mc).cents(),
        // A goal-driven run's goal (its planner steps hold the rest of its settings).
        "goal": r.plan.step(0).filter(|s| s.skill == aos_core::agent::PLAN_SKILL).map(|s| s.input["goal"].clone()),
    })
}

pub(crate) fn steps(r: &RunRecord, cps: &[Checkpoint], progress: &[StepProgress]) -> Value {
    let chain = verify_chain(&r.genesis_hash, cps);
    let steps: Vec<Value> = r
        .plan
        .steps()
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let base = json!({"step_index": index, "step_id": step.id, "skill": step.skill});
            if let Some(cp) = cps.iter().find(|c| c.step_index == index) {
                // The checkpoint's own fields, so clients can verify the chain from it.
                let status = if cp.outcome.ok { StepStatus::Succeeded } else { StepStatus::Failed };
                let fields = serde_json::to_value(cp).unwrap_or(Value::Null);
                return merge(merge(base, fields), json!({"status": status}));
            }
            let p = progress.iter().find(|p| p.step_index == index);
            let status = match (r.status, p) {
                (RunStatus::Cancelled, _) => StepStatus::Cancelled,
                (_, Some(p)) if p.claim_until_ms > 0 => StepStatus::Running,
                (_, Some(_)) => StepStatus::Waiting,
                _ => StepStatus::Queued,
            };
            merge(
                base,
                json!({
                    "status": status,
                    "attempts": p.map_or(0, |p| p.attempts),
                    "last_error": p.and_then(|p| p.last_error.clone()),
                }),
            )
        })
        .collect();
    json!({
        "run_id": r.id,
        "status": r.status,
        "genesis_hash": r.genesis_hash,
        "chain_valid": chain.is_ok(),
        "chain_error": chain.err().map(|e| e.to_string()),
        "steps": steps,
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

pub(crate) fn key(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "tenant_id": k.tenant,
        "role": k.role,
        "scopes": k.scopes,
        "permissions": k.grant().permissions(),
        "approval_level": k.grant().approval_level(),
        "label": k.label,
        "created_at_ms": k.created_at_ms,
        "expires_at_ms": k.expires_at_ms,
        "revoked_at_ms": k.revoked_at_ms,
    })
}
