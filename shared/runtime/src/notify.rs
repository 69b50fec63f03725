//! Signed governance webhooks: an approval requested, decided, escalated or expired, a
//! feature flag changed. Each is delivered by a one-step run of `webhook_send` (signed
//! per Standard Webhooks with the tenant's `WEBHOOK_SIGNING_SECRET`, through the SSRF
//! guard, retried with back-off like any step), so a delivery is as durable as a run.
//!
//! The run's id comes from what the webhook is about (the approval and its transition,
//! the flag and its version) and its target, so sending the same notice again — a
//! redelivered step, a retried request — finds the run already there and sends nothing
//! twice; `webhook_send`'s `webhook-id` is stable across its retries, for receivers that
//! drop repeats.

use crate::ports::{RunRecord, RunStore, StepMessage, StoreError, StoreResult};
use aos_core::determinism::content_hash;
use aos_core::plan::PlanStep;
use aos_core::{Plan, RunId, TenantId};
use serde_json::{json, Value};

/// The run input that marks a notification's run (the gate does not notify about
/// approvals of notification runs, so a policy holding webhooks back cannot loop).
pub const MARKER: &str = "aos_notification";

/// Whether `run` delivers a notification.
pub fn is_notification(run: &RunRecord) -> bool {
    run.input.get(MARKER).is_some()
}

/// Sends `event` (`approval.requested`, `flag.changed`, …) with `data` to `url` for
/// `tenant`, once per `dedupe` key and URL.
pub async fn send(
    runs: &dyn RunStore,
    tenant: &TenantId,
    url: &str,
    event: &str,
    dedupe: &str,
    data: Value,
    now_ms: u64,
) -> StoreResult<RunId> {
    let key = content_hash(&json!(["notify", tenant, dedupe, url]));
    let id = RunId::from_suffix(&key[..32]).expect("hex suffixes are valid ids");
    let payload = json!({"type": event, "timestamp_ms": now_ms, "data": data});
    let step = PlanStep {
        id: Some("notify".to_owned()),
        skill: "webhook_send".to_owned(),
        input: json!({"url": url, "payload": payload}),
        max_attempts: Some(8),
        timeout_ms: None,
        backoff_ms: Some(1_000),
    };
    let plan = Plan::new(vec![step]).map_err(|e| StoreError::Backend(format!("notification plan: {e}")))?;
    let seed = u64::from_str_radix(&key[32..48], 16).expect("hex");
    let input = json!({ MARKER: {"event": event, "about": dedupe} });
    let run = RunRecord::queued(tenant.clone(), id.clone(), plan, input, seed, None, now_ms);
    let first = StepMessage { tenant: tenant.clone(), run_id: id.clone(), step_index: 0 };
    match runs.insert_run(&run, &first, None).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant, run = %id, event, "governance webhook queued");
            Ok(id)
        }
        // Sent before (a repeat of the same notice).
        Err(StoreError::Conflict(_)) => Ok(id),
        Err(e) => Err(e),
    }
}

/// The longest `notify_url` a run or an execution may carry.
pub const MAX_URL_LEN: usize = 2048;

/// A run's or an execution's `notify_url` checked: an absolute `http` or `https` URL
/// (where it may point is the outbound guard's to decide when a notice is sent), or the
/// message that says what to fix.
pub fn check_url(url: Option<String>) -> Result<Option<String>, String> {
    let Some(url) = url else { return Ok(None) };
    let parsed = url::Url::parse(&url).map_err(|e| format!("notify_url is not a URL ({e}): {url:?}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || url.len() > MAX_URL_LEN {
        return Err(format!("notify_url must be an http or https URL of at most {MAX_URL_LEN} characters"));
    }
    Ok(Some(url))
}

/// Sends the `budget.warning` notices among `events` (what a step's commit puts on the
/// audit record) to `url`, once each: a step retried after a crash finds its notices
/// already sent. Failures are logged; the audit entries stand.
pub async fn budget_warnings(
    runs: &dyn RunStore,
    tenant: &TenantId,
    url: &str,
    events: &[aos_core::audit::AuditEvent],
    now_ms: u64,
) {
    for e in events.iter().filter(|e| e.action == "budget.warning") {
        let scope = e.details["scope"].as_str().unwrap_or("run");
        let dedupe = format!("budget.warning:{}:{scope}", e.resource);
        let mut data = e.details.clone();
        data["resource"] = json!(e.resource);
        if let Err(err) = send(runs, tenant, url, "budget.warning", &dedupe, data, now_ms).await {
            tracing::warn!(tenant = %tenant, error = %err, "a budget warning's webhook could not be queued");
        }
    }
}

/// The webhook body's `data` for an approval.
pub fn approval_data(a: &crate::ports::ApprovalRecord) -> Value {
    json!({
        "approval_id": a.id,
        "status": a.status,
        "required_level": a.required_level,
        "prompt": a.prompt,
        "expires_at_ms": a.expires_at_ms,
        "decided_by": a.decided_by,
        "comment": a.comment,
        "step": a.step.as_ref().map(|s| json!({"run_id": s.run_id, "step_index": s.step_index, "skill": s.skill, "policies": s.policies})),
        "transition": a.history.last(),
    })
}

/// Sends the notice of `a`'s latest transition to every URL its policies named; a
/// failure is logged (the step's next look at the approval sends it again).
pub async fn approval_changed(runs: &dyn RunStore, a: &crate::ports::ApprovalRecord, now_ms: u64) {
    let Some(step) = &a.step else { return };
    let event = match a.status {
        crate::ports::ApprovalStatus::Pending => "approval.requested",
        crate::ports::ApprovalStatus::Escalated => "approval.escalated",
        crate::ports::ApprovalStatus::Expired => "approval.expired",
        crate::ports::ApprovalStatus::Cancelled => "approval.cancelled",
        _ => "approval.decided",
    };
    let dedupe = format!("approval:{}/{}", a.id, a.history.len());
    for url in &step.notify {
        if let Err(e) = send(runs, &a.tenant, url, event, &dedupe, approval_data(a), now_ms).await {
            tracing::warn!(approval = %a.id, error = %e, "could not queue an approval webhook; the next look sends it");
        }
    }
}
