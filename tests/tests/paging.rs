//! Every list pages the same on both backends: a cursor leads from page to page with
//! nothing skipped and nothing twice, and the last page says it is the last.

use aos_core::page::PageLimit;
use aos_core::{ApprovalId, ExecutionId, RunId, RunStatus, TenantId};
use aos_runtime::ports::{ApprovalRecord, ApprovalStatus};
use aos_runtime::runs::{RunQuery, RunService, SubmitRun};
use aos_runtime::skills::KvStoreSkill;
use aos_runtime::workflows::WorkflowService;
use aos_runtime::SkillRegistry;
use aos_tests::backends::Ports;
use aos_tests::contract;
use serde_json::json;
use std::sync::Arc;

fn tenant() -> TenantId {
    TenantId::parse("ten_pages").expect("id")
}

fn registry() -> Arc<SkillRegistry> {
    let mut reg = SkillRegistry::new();
    reg.register(Arc::new(KvStoreSkill)).expect("kv");
    Arc::new(reg)
}

async fn run_pages(runs: &RunService, status: Option<RunStatus>, limit: u32) -> Vec<Vec<RunId>> {
    let limit = PageLimit::new(Some(limit)).expect("limit");
    let mut pages = Vec::new();
    let mut before = None;
    loop {
        let page = runs.list(&tenant(), RunQuery { status, limit, before }).await.expect("page");
        pages.push(page.items.iter().map(|r| r.id.clone()).collect());
        match page.next {
            Some(next) => before = Some(RunId::parse(next).expect("the cursor is a run id")),
            None => return pages,
        }
    }
}

contract!(runs_page_through_every_run_newest_first, 5, |p: Ports| async move {
    let runs = RunService::new(Arc::clone(&p.runs), Arc::clone(&p.idempotency), registry());
    let mut ids = Vec::new();
    for i in 0..7 {
        let body: SubmitRun = serde_json::from_value(
            json!({"plan": [{"skill": "kv_store", "input": {"op": "get", "key": format!("k{i}")}}]}),
        )
        .expect("body");
        ids.push(runs.submit(&tenant(), body, None).await.expect("submitted").run.id);
    }
    ids.sort();
    ids.reverse();
    for status in [None, Some(RunStatus::Queued)] {
        let pages = run_pages(&runs, status, 2).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [2, 2, 2, 1], "status {status:?}: four pages, the last one short");
        assert_eq!(pages.concat(), ids, "status {status:?}: every run once, newest first");
    }
    // A page size that divides the list ends on a full page with no next cursor.
    let pages = run_pages(&runs, None, 7).await;
    assert_eq!(pages.len(), 1, "seven runs fit one page of seven: no empty page after it");
    assert!(run_pages(&runs, Some(RunStatus::Failed), 2).await.concat().is_empty());
});

fn approval(i: u64, status: ApprovalStatus, expires_at_ms: u64) -> ApprovalRecord {
    ApprovalRecord {
        tenant: tenant(),
        id: ApprovalId::from_suffix(&format!("{:04x}", 0xff - i)).expect("id"),
        execution: Some(ExecutionId::from_suffix("e1").expect("id")),
        workflow: "wf".into(),
        node: format!("n{i}"),
        prompt: "ok?".into(),
        status,
        expires_at_ms,
        decided_by: None,
        comment: None,
        closed_at_ms: None,
        created_at_ms: 1_000 + i,
        required_level: 1,
        task_token: None,
        step: None,
        history: Vec::new(),
    }
}

async fn approval_pages(svc: &WorkflowService, status: Option<ApprovalStatus>, limit: u32) -> Vec<Vec<String>> {
    let limit = PageLimit::new(Some(limit)).expect("limit");
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = svc.approvals(&tenant(), status, before.as_deref(), limit).await.expect("page");
        pages.push(page.items.iter().map(|a| a.node.clone()).collect());
        match page.next {
            Some(next) => before = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 20, "paging does not end: {pages:?}");
    }
}

contract!(approvals_page_newest_first_and_pending_ones_past_expiry_list_as_expired, 5, |p: Ports| async move {
    let svc =
        WorkflowService::new(Arc::clone(&p.workflows), Arc::clone(&p.runs), Arc::clone(&p.idempotency), registry());
    let far = u64::MAX / 2;
    // n0..n9, created in that order: pending (two of them long past expiry), approved, rejected.
    let statuses = [
        (ApprovalStatus::Pending, far),
        (ApprovalStatus::Approved, far),
        (ApprovalStatus::Pending, 1),
        (ApprovalStatus::Rejected, far),
        (ApprovalStatus::Pending, far),
        (ApprovalStatus::Expired, 1),
        (ApprovalStatus::Pending, far),
        (ApprovalStatus::Pending, 1),
        (ApprovalStatus::Approved, far),
        (ApprovalStatus::Pending, far),
    ];
    for (i, (status, expires)) in statuses.iter().enumerate() {
        p.workflows.put_approval(&approval(i as u64, *status, *expires), None, None, &[]).await.expect("stored");
    }
    let names = |idx: &[usize]| idx.iter().map(|i| format!("n{i}")).collect::<Vec<_>>();
    let all = approval_pages(&svc, None, 3).await;
    assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
    assert_eq!(all.concat(), names(&[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]), "every approval once, newest first");
    let pending = approval_pages(&svc, Some(ApprovalStatus::Pending), 2).await.concat();
    assert_eq!(pending, names(&[9, 6, 4, 0]), "pending ones past their expiry are not pending");
    let expired = approval_pages(&svc, Some(ApprovalStatus::Expired), 2).await;
    assert_eq!(expired.concat(), names(&[7, 5, 2]), "expired: recorded ones and pending ones past expiry");
    let approved = approval_pages(&svc, Some(ApprovalStatus::Approved), 1).await;
    assert_eq!(approved.concat(), names(&[8, 1]));
    assert!(approved.len() <= 3, "at most one empty page at the end: {approved:?}");
});

#[test]
fn a_limit_outside_one_to_a_hundred_is_refused_with_the_bounds() {
    let err = PageLimit::new(Some(0)).expect_err("0 is refused");
    assert!(err.contains("between 1 and 100"), "{err}");
}

contract!(tenant_ids_page_in_id_order_for_sweeps, 5, |p: Ports| async move {
    for (i, name) in ["ten_c", "ten_a", "ten_b"].iter().enumerate() {
        let id = TenantId::parse(*name).expect("id");
        let record = aos_runtime::ports::TenantRecord {
            id: id.clone(),
            name: (*name).into(),
            created_at_ms: 1,
            retention_days: None,
            plan: None,
        };
        let key = aos_runtime::ports::ApiKeyRecord {
            id: aos_core::ApiKeyId::parse(format!("key_{i}")).expect("id"),
            tenant: id,
            role: aos_runtime::ports::Role::Admin,
            label: "first".into(),
            hash: format!("{i:064}"),
            created_at_ms: 1,
            revoked_at_ms: None,
            scopes: None,
            approval_level: None,
            expires_at_ms: None,
        };
        p.tenants.create_tenant(&record, &key, &[]).await.expect("tenant");
    }
    let first = p.tenants.tenant_ids(None, 2).await.expect("page");
    assert_eq!(first.iter().map(TenantId::as_str).collect::<Vec<_>>(), ["ten_a", "ten_b"]);
    let rest = p.tenants.tenant_ids(first.last(), 2).await.expect("page");
    assert_eq!(rest.iter().map(TenantId::as_str).collect::<Vec<_>>(), ["ten_c"]);
});
