//! The tenant's approvals: the listing (both kinds, open ones past their expiry as what
//! their timeout makes of them) and decisions — of workflow approval nodes (through the
//! execution's state machine, or Step Functions' task token) and of steps the policy gate
//! holds back (waking the step).

use super::{FlowError, WorkflowService};
use crate::clock::now_ms;
use crate::ports::{ApprovalRecord, ApprovalStatus, StoreError};
use aos_core::page::{Page, PageLimit};
use aos_core::workflow::{Decision, Event};
use aos_core::{ApprovalId, ErrorCode, TenantId};

impl WorkflowService {
    /// A page of the tenant's approvals (of workflow approval nodes and of steps the
    /// policy gate holds back), newest first, after the cursor `before`. An open
    /// approval past its expiry is listed as what its timeout makes of it (expired, or
    /// escalated), whether or not that has been recorded yet.
    pub async fn approvals(
        &self,
        tenant: &TenantId,
        status: Option<ApprovalStatus>,
        before: Option<&str>,
        limit: PageLimit,
    ) -> Result<Page<ApprovalRecord>, FlowError> {
        let now = now_ms();
        let shown = |a: ApprovalRecord| as_of(a, now);
        // Stored open approvals may show as escalated or expired: such pages merge them.
        let sources: Vec<ApprovalStatus> = match status {
            Some(ApprovalStatus::Expired) => {
                vec![ApprovalStatus::Expired, ApprovalStatus::Pending, ApprovalStatus::Escalated]
            }
            Some(ApprovalStatus::Escalated) => vec![ApprovalStatus::Escalated, ApprovalStatus::Pending],
            Some(st) => vec![st],
            None => Vec::new(),
        };
        let mut batches = Vec::new();
        if sources.is_empty() {
            batches.push(self.store.approvals(tenant, None, before, limit.probe()).await?);
        }
        for st in sources {
            batches.push(self.store.approvals(tenant, Some(st), before, limit.probe()).await?);
        }
        Ok(merge_page(batches, limit, shown, |a| status.is_none_or(|st| a.status == st)))
    }

    /// Decides an open approval as a decider holding approval level `level`. An
    /// approval that is not open (decided, expired, cancelled), not this tenant's, or
    /// needing a higher level is refused and nothing changes.
    pub async fn decide(
        &self,
        tenant: &TenantId,
        id: &ApprovalId,
        decision: Decision,
        level: u8,
        role: &str,
    ) -> Result<ApprovalRecord, FlowError> {
        let approval = self.store.approval(tenant, id).await?.ok_or(FlowError::NotFound("approval"))?;
        let actor = aos_core::audit::Actor::key(decision.decided_by.clone(), role);
        if approval.step.is_some() {
            // A change racing the decision (the step's own recheck escalating or
            // expiring it) is read back and the decision judged again.
            let mut stored = approval;
            for _ in 0..3 {
                match self.decide_step(stored, &decision, level, &actor).await? {
                    Ok(decided) => return Ok(decided),
                    Err(()) => {
                        stored = self.store.approval(tenant, id).await?.ok_or(FlowError::NotFound("approval"))?;
                    }
                }
            }
            return Err(FlowError::Conflict(
                ErrorCode::ApprovalNotPending,
                format!("approval {id} kept changing while it was decided; try again"),
            ));
        }
        if level < approval.required_level {
            return Err(FlowError::Forbidden(format!(
                "approval {id} needs a decider at approval level {}; this key decides at level {level}",
                approval.required_level
            )));
        }
        if let (Some(_), Some(engine)) = (&approval.task_token, &self.sfn) {
            return crate::sfn::decide(self.store.as_ref(), engine.tokens.as_ref(), tenant, id, decision, level, role)
                .await;
        }
        let not_pending = |status: ApprovalStatus| {
            FlowError::Conflict(
                ErrorCode::ApprovalNotPending,
                format!("approval {id} is {}; only pending approvals can be decided", status.as_str()),
            )
        };
        // The same decision by the same decider again is answered as the first was.
        let decided_as = if decision.approved { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
        if approval.status == decided_as && approval.decided_by.as_deref() == Some(decision.decided_by.as_str()) {
            return Ok(approval);
        }
        if approval.status != ApprovalStatus::Pending {
            return Err(not_pending(approval.status));
        }
        let now = now_ms();
        if now >= approval.expires_at_ms {
            return Err(not_pending(ApprovalStatus::Expired));
        }
        let decided = approval.clone().decided(&decision, level, now);
        let execution = approval.execution.clone().ok_or(FlowError::NotFound("approval's execution"))?;
        let event = Event::Decided { node: approval.node.clone(), decision };
        let audit = decided.audit(actor, "approval.decide");
        match self.transition(tenant, &execution, event, None, Some((decided.clone(), audit))).await? {
            Some(_) => Ok(decided),
            None => Err(not_pending(ApprovalStatus::Expired)),
        }
    }

    /// Decides the approval of a run step the policy gate holds back, and wakes the step
    /// in the same write (where the store holds the queue; else right after it, with the
    /// step's own recheck behind it). A request past its timeout is first what the
    /// timeout makes of it: escalated (then only a decider at the higher level may decide
    /// it) or expired. A request whose run has ended is cancelled instead.
    /// `Ok(Err(()))`: the record changed meanwhile and nothing was written.
    async fn decide_step(
        &self,
        stored: ApprovalRecord,
        decision: &Decision,
        level: u8,
        actor: &aos_core::audit::Actor,
    ) -> Result<Result<ApprovalRecord, ()>, FlowError> {
        let (tenant, id) = (stored.tenant.clone(), stored.id.clone());
        let not_open = |status: ApprovalStatus| {
            FlowError::Conflict(
                ErrorCode::ApprovalNotPending,
                format!("approval {id} is {}; only pending or escalated approvals can be decided", status.as_str()),
            )
        };
        let decided_as = if decision.approved { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
        if stored.status == decided_as && stored.decided_by.as_deref() == Some(decision.decided_by.as_str()) {
            return Ok(Ok(stored));
        }
        let now = now_ms();
        let current = as_of(stored.clone(), now);
        if !current.status.is_open() {
            return Err(not_open(current.status));
        }
        if level < current.required_level {
            return Err(FlowError::Forbidden(format!(
                "approval {id} needs a decider at approval level {}; this key decides at level {level}",
                current.required_level
            )));
        }
        let step = current.step.clone().expect("a step's approval");
        let run = self.runs.run(&tenant, &step.run_id).await?;
        if run.as_ref().is_none_or(|r| r.status.is_terminal()) {
            let ended = run.map_or("deleted", |r| r.status.as_str());
            let reason = format!("run {} is {ended}", step.run_id);
            let cancelled = current.moved(ApprovalStatus::Cancelled, None, None, reason.clone(), now);
            let audit = cancelled.audit(aos_core::audit::Actor::system(), "approval.cancel");
            match self.store.put_approval(&cancelled, Some(stored.status), None, &[audit]).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => return Ok(Err(())),
                Err(e) => return Err(e.into()),
            }
            return Err(FlowError::Conflict(
                ErrorCode::ApprovalNotPending,
                format!("approval {id} was cancelled: {reason}"),
            ));
        }
        let decided = current.decided(decision, level, now);
        let wake = crate::worker::encode(&crate::ports::StepMessage {
            tenant: tenant.clone(),
            run_id: step.run_id.clone(),
            step_index: step.step_index,
        });
        let audit = decided.audit(actor.clone(), "approval.decide");
        match self.store.put_approval(&decided, Some(stored.status), Some(&wake), &[audit]).await {
            Ok(()) => {
                crate::notify::approval_changed(self.runs.as_ref(), &decided, now).await;
                Ok(Ok(decided))
            }
            Err(StoreError::Conflict(_)) => Ok(Err(())),
            Err(e) => Err(e.into()),
        }
    }
}

/// An approval as of `now`: an open one past its expiry as its timeout makes it (a
/// step's approval may escalate once, then expire), whether or not that is recorded yet.
pub fn as_of(mut a: ApprovalRecord, now: u64) -> ApprovalRecord {
    while a.status.is_open() && now >= a.expires_at_ms {
        let at = a.expires_at_ms;
        a = crate::worker::timed_out(a, at);
    }
    a
}

/// One page out of store batches that are each sorted newest first and were each asked
/// for `limit.probe()` items: walks them merged, keeps what `keep` accepts, and stops at
/// a full page or where a batch that has more ran out (what lies beyond is unknown), so
/// the next page starts exactly where this one ended.
fn merge_page(
    batches: Vec<Vec<ApprovalRecord>>,
    limit: PageLimit,
    show: impl Fn(ApprovalRecord) -> ApprovalRecord,
    keep: impl Fn(&ApprovalRecord) -> bool,
) -> Page<ApprovalRecord> {
    let probe = limit.probe() as usize;
    let truncated: Vec<bool> = batches.iter().map(|b| b.len() >= probe).collect();
    let mut queues: Vec<std::collections::VecDeque<ApprovalRecord>> = batches.into_iter().map(Into::into).collect();
    let mut items = Vec::new();
    let mut last = None;
    loop {
        let newest = (0..queues.len()).filter(|&i| !queues[i].is_empty()).max_by_key(|&i| queues[i][0].cursor());
        let Some(i) = newest else {
            // Every batch ran out: a next page exists only if one of them had more.
            let more = truncated.iter().any(|t| *t);
            return Page { items, next: if more { last } else { None } };
        };
        let a = queues[i].pop_front().expect("non-empty");
        last = Some(a.cursor());
        let a = show(a);
        if keep(&a) {
            items.push(a);
        }
        let ran_out = queues.iter().zip(&truncated).any(|(q, t)| *t && q.is_empty());
        if items.len() == limit.get() as usize || ran_out {
            let more = truncated.iter().any(|t| *t) || queues.iter().any(|q| !q.is_empty());
            return Page { items, next: if more { last } else { None } };
        }
    }
}
