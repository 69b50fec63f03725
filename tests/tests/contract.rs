//! One contract suite, two backends: every test here runs on the embedded adapters and
//! on the AWS adapters against moto server (`name::embedded`, `name::aws`). Timings use
//! whole seconds because SQS counts visibility and delays in seconds.

use aos_core::TenantId;
use aos_runtime::auth::issue_key;
use aos_runtime::clock::now_ms;
use aos_runtime::ports::{ClaimOutcome, IdempotencyCompletion, Role, StoreError, TenantRecord};
use aos_tests::backends::Ports;
use aos_tests::contract;
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::Duration;

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("tenant id")
}

const SEC: Duration = Duration::from_secs(1);

contract!(queue_hides_a_received_message_until_its_visibility_expires, 5, |p: Ports| async move {
    p.queue.send("m1", Duration::ZERO).await.expect("send");
    let first = p.queue.receive(10, SEC, Duration::ZERO).await.expect("receive");
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].body.as_str(), first[0].receive_count), ("m1", 1));
    assert!(p.queue.receive(10, SEC, Duration::ZERO).await.expect("receive").is_empty(), "hidden while leased");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = p.queue.receive(10, Duration::from_secs(30), Duration::from_secs(2)).await.expect("receive");
    assert_eq!(again.len(), 1, "visible again after the timeout");
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first[0].receipt);
    p.queue.delete(&again[0].receipt).await.expect("delete");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(p.queue.receive(10, SEC, Duration::ZERO).await.expect("receive").is_empty(), "deleted for good");
});

contract!(queue_change_visibility_extends_a_lease, 5, |p: Ports| async move {
    p.queue.send("long step", Duration::ZERO).await.expect("send");
    let m = p.queue.receive(1, SEC, Duration::ZERO).await.expect("receive").remove(0);
    assert!(p.queue.change_visibility(&m.receipt, Duration::from_secs(30)).await.expect("heartbeat"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(p.queue.receive(1, SEC, Duration::ZERO).await.expect("receive").is_empty(), "the heartbeat kept it hidden");
});

contract!(queue_dead_letters_after_the_maximum_receive_count, 2, |p: Ports| async move {
    p.queue.send("poison", Duration::ZERO).await.expect("send");
    for i in 1..=2 {
        let got = p.queue.receive(1, Duration::ZERO, Duration::from_secs(1)).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {i}");
        assert_eq!(got[0].receive_count, i);
    }
    assert!(p.queue.receive(1, Duration::ZERO, Duration::from_secs(1)).await.expect("receive").is_empty());
    assert_eq!(p.dead_letters().await, vec!["poison".to_owned()]);
});

contract!(queue_delays_a_message, 5, |p: Ports| async move {
    p.queue.send("later", SEC).await.expect("send");
    assert!(p.queue.receive(1, SEC, Duration::ZERO).await.expect("receive").is_empty(), "not visible yet");
    let got = p.queue.receive(1, SEC, Duration::from_secs(3)).await.expect("receive");
    assert_eq!(got.len(), 1);
});

contract!(idempotency_replays_a_completed_key_and_refuses_another_payload, 5, |p: Ports| async move {
    let (t, now) = (tenant("ten_a"), now_ms());
    assert_eq!(p.idempotency.claim(&t, "k", "h1", now + 60_000, now).await.expect("claim"), ClaimOutcome::Claimed);
    assert_eq!(
        p.idempotency.claim(&t, "k", "h1", now + 60_000, now + 10).await.expect("claim"),
        ClaimOutcome::InProgress { until_ms: now + 60_000 }
    );
    let done = IdempotencyCompletion {
        key: "k".into(),
        payload_hash: "h1".into(),
        result: json!({"run_id": "r"}),
        expires_at_ms: now + 86_400_000,
    };
    p.idempotency.complete(&t, &done).await.expect("complete");
    assert_eq!(
        p.idempotency.claim(&t, "k", "h1", now + 60_000, now + 20).await.expect("claim"),
        ClaimOutcome::Completed(json!({"run_id": "r"}))
    );
    assert_eq!(
        p.idempotency.claim(&t, "k", "h2", now + 60_000, now + 20).await.expect("claim"),
        ClaimOutcome::Conflict
    );
    assert_eq!(
        p.idempotency.claim(&tenant("ten_b"), "k", "h2", now + 60_000, now).await.expect("claim"),
        ClaimOutcome::Claimed,
        "per tenant"
    );
});

contract!(idempotency_takes_over_an_expired_claim_and_frees_a_released_one, 5, |p: Ports| async move {
    let (t, now) = (tenant("ten_a"), now_ms());
    assert_eq!(p.idempotency.claim(&t, "k", "h", now + 100, now).await.expect("claim"), ClaimOutcome::Claimed);
    assert_eq!(
        p.idempotency.claim(&t, "k", "h", now + 400, now + 150).await.expect("claim"),
        ClaimOutcome::Claimed,
        "expired: taken over"
    );
    p.idempotency.release(&t, "k").await.expect("release");
    assert_eq!(
        p.idempotency.claim(&t, "k", "other", now + 500, now + 160).await.expect("claim"),
        ClaimOutcome::Claimed
    );
});

contract!(kv_values_are_per_tenant, 5, |p: Ports| async move {
    let (a, b) = (tenant("ten_a"), tenant("ten_b"));
    p.kv.put(&a, "k", &json!({"v": 1})).await.expect("put");
    assert_eq!(p.kv.get(&a, "k").await.expect("get"), Some(json!({"v": 1})));
    assert_eq!(p.kv.get(&b, "k").await.expect("get"), None);
    assert!(!p.kv.delete(&b, "k").await.expect("delete"));
    assert!(p.kv.delete(&a, "k").await.expect("delete"));
    assert_eq!(p.kv.get(&a, "k").await.expect("get"), None);
});

contract!(tenants_and_keys_are_created_found_listed_and_revoked, 5, |p: Ports| async move {
    let t = tenant("ten_acme");
    let record =
        TenantRecord { id: t.clone(), name: "acme".into(), created_at_ms: now_ms(), retention_days: None, plan: None };
    let first = issue_key(&t, Role::Admin, "first");
    p.tenants.create_tenant(&record, &first.record, &[]).await.expect("create");
    assert!(matches!(
        p.tenants.create_tenant(&record, &issue_key(&t, Role::Admin, "x").record, &[]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(p.tenants.tenant(&t).await.expect("read").map(|r| r.name), Some("acme".to_owned()));
    let found = p.tenants.key_by_hash(&first.record.hash).await.expect("lookup").expect("found");
    assert_eq!((found.tenant, found.role), (t.clone(), Role::Admin));
    let second = issue_key(&t, Role::Admin, "second");
    p.tenants.insert_key(&second.record, &[]).await.expect("insert");
    assert_eq!(p.tenants.keys(&t).await.expect("list").len(), 2);
    let ghost = issue_key(&tenant("ten_ghost"), Role::Admin, "x");
    assert!(
        matches!(p.tenants.insert_key(&ghost.record, &[]).await, Err(StoreError::Conflict(_))),
        "no key for a missing tenant"
    );
    // Found once before its revoke (a store may keep what it found): the revoke shows all the same.
    let live = p.tenants.key_by_hash(&second.record.hash).await.expect("lookup").expect("found");
    assert_eq!(live.revoked_at_ms, None);
    let revoked = p.tenants.revoke_key(&t, &second.record.id, 42, &[]).await.expect("revoke").expect("found");
    assert_eq!(revoked.revoked_at_ms, Some(42));
    assert_eq!(
        p.tenants.key_by_hash(&second.record.hash).await.expect("lookup").expect("found").revoked_at_ms,
        Some(42)
    );
    assert!(
        p.tenants.revoke_key(&tenant("ten_other"), &first.record.id, 1, &[]).await.expect("revoke").is_none(),
        "another tenant's key"
    );
    assert!(second.secret.expose_secret().starts_with("aos_"));
});

contract!(secrets_are_found_by_name_and_missing_ones_are_none, 5, |p: Ports| async move {
    assert!(p.secrets.secret("slack_webhook").await.expect("read").is_none());
    p.put_secret("slack_webhook", "https://hooks.example/abc").await;
    let got = p.secrets.secret("slack_webhook").await.expect("read").expect("present");
    assert_eq!(got.expose_secret(), "https://hooks.example/abc");
});

contract!(tenant_secrets_are_per_tenant_listed_without_values_and_deleted, 5, |p: Ports| async move {
    let (a, b) = (tenant("ten_sec_a"), tenant("ten_sec_b"));
    assert!(p.tenant_secrets.get(&a, "TOKEN").await.expect("get").is_none());
    assert!(p.tenant_secrets.put(&a, "TOKEN", &"value-one".to_owned().into(), 10).await.expect("put"), "created");
    assert!(!p.tenant_secrets.put(&a, "TOKEN", &"value-two".to_owned().into(), 20).await.expect("put"), "replaced");
    assert!(p.tenant_secrets.put(&b, "OTHER", &"b-value".to_owned().into(), 30).await.expect("put"));
    assert_eq!(p.tenant_secrets.get(&a, "TOKEN").await.expect("get").expect("set").expose_secret(), "value-two");
    assert!(p.tenant_secrets.get(&b, "TOKEN").await.expect("get").is_none(), "not another tenant's");
    assert!(p.tenant_secrets.get(&a, "OTHER").await.expect("get").is_none(), "not another tenant's");
    let names: Vec<String> = p.tenant_secrets.list(&a).await.expect("list").into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["TOKEN"]);
    assert!(p.tenant_secrets.delete(&a, "TOKEN").await.expect("delete"));
    assert!(!p.tenant_secrets.delete(&a, "TOKEN").await.expect("delete again"));
    assert!(p.tenant_secrets.get(&a, "TOKEN").await.expect("get").is_none());
    assert!(p.tenant_secrets.list(&a).await.expect("list").is_empty());
    // A deleted name can be set again at once.
    assert!(p.tenant_secrets.put(&a, "TOKEN", &"value-three".to_owned().into(), 40).await.expect("put"));
});

contract!(blobs_are_kept_whole_replaced_read_back_and_deleted_by_prefix, 5, |p: Ports| async move {
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| u8::try_from(i % 251).expect("byte")).collect();
    assert!(p.blobs.get("ten_a/runs/run_1/x.json").await.expect("get").is_none());
    p.blobs.put("ten_a/runs/run_1/x.json", big.clone()).await.expect("put");
    p.blobs.put("ten_a/runs/run_1/y.json", b"{}".to_vec()).await.expect("put");
    p.blobs.put("ten_a/runs/run_10/z.json", b"[1]".to_vec()).await.expect("put");
    p.blobs.put("ten_b/runs/run_1/x.json", b"\"b\"".to_vec()).await.expect("put");
    assert_eq!(p.blobs.get("ten_a/runs/run_1/x.json").await.expect("get"), Some(big));
    p.blobs.put("ten_a/runs/run_1/y.json", b"{\"v\":2}".to_vec()).await.expect("replace");
    assert_eq!(p.blobs.get("ten_a/runs/run_1/y.json").await.expect("get"), Some(b"{\"v\":2}".to_vec()));
    assert_eq!(p.blobs.delete_prefix("ten_a/runs/run_1/").await.expect("delete"), 2);
    assert!(p.blobs.get("ten_a/runs/run_1/x.json").await.expect("get").is_none());
    assert!(p.blobs.get("ten_a/runs/run_10/z.json").await.expect("get").is_some(), "a longer id is another run");
    assert!(p.blobs.get("ten_b/runs/run_1/x.json").await.expect("get").is_some(), "another tenant's stays");
});

contract!(breakers_open_after_five_failures_admit_one_probe_and_are_per_tenant, 5, |p: Ports| async move {
    use aos_core::breaker::{Admission, BreakerPolicy};
    let policy = BreakerPolicy { threshold: 5, cooldown_ms: 1_000, probe_timeout_ms: 5_000 };
    let t = TenantId::parse("ten_brk").expect("tenant");
    let other = TenantId::parse("ten_brk2").expect("tenant");
    let key = "http_call:api.example.com:443";
    let now = 1_000_000;
    for i in 0..4 {
        p.breakers.record(&t, key, true, now + i, &policy).await.expect("record");
        assert_eq!(p.breakers.admit(&t, key, now + i, &policy).await.expect("admit"), Admission::Call);
    }
    p.breakers.record(&t, key, true, now + 10, &policy).await.expect("record");
    assert_eq!(
        p.breakers.admit(&t, key, now + 20, &policy).await.expect("admit"),
        Admission::Refuse { retry_after_ms: 990 }
    );
    assert_eq!(p.breakers.admit(&other, key, now + 20, &policy).await.expect("admit"), Admission::Call, "per tenant");
    // After the cooldown, concurrent callers race for the one probe.
    let later = now + 1_010;
    let calls = (0..6).map(|_| {
        let (b, t) = (std::sync::Arc::clone(&p.breakers), t.clone());
        tokio::spawn(async move { b.admit(&t, key, later, &policy).await.expect("admit") })
    });
    let mut probes = 0;
    for c in calls {
        if c.await.expect("join") == Admission::Probe {
            probes += 1;
        }
    }
    assert_eq!(probes, 1, "exactly one half-open probe");
    p.breakers.record(&t, key, false, later + 5, &policy).await.expect("record");
    assert_eq!(
        p.breakers.admit(&t, key, later + 6, &policy).await.expect("admit"),
        Admission::Call,
        "a good probe closes it"
    );
});

contract!(expiring_entries_idle_breakers_and_closed_approvals_go_at_their_time, 5, |p: Ports| async move {
    use aos_core::{ApprovalId, ExecutionId};
    use aos_runtime::ports::{ApprovalRecord, ApprovalStatus, BREAKER_IDLE_MS};
    let t = TenantId::parse("ten_ret").expect("tenant");
    let now = now_ms();
    let day = 86_400_000;
    // Key-value entries with an expiry: absent once it passed, purged by the store that
    // has no TTL of its own.
    p.kv.put_expiring(&t, "fresh", &json!(1), now + 3_600_000).await.expect("put");
    p.kv.put_expiring(&t, "stale", &json!(2), now - 1).await.expect("put");
    p.kv.put(&t, "forever", &json!(3)).await.expect("put");
    assert_eq!(p.kv.get(&t, "fresh").await.expect("get"), Some(json!(1)));
    assert_eq!(p.kv.get(&t, "stale").await.expect("get"), None, "expired is absent");
    let purged = p.kv.purge_expired(now).await.expect("purge");
    // Breakers nobody touched for a week.
    let policy = aos_core::breaker::BreakerPolicy::default();
    p.breakers.record(&t, "http_call:old:443", true, now - 8 * day, &policy).await.expect("record");
    p.breakers.record(&t, "http_call:new:443", true, now, &policy).await.expect("record");
    let forgotten = p.breakers.forget_idle(now - BREAKER_IDLE_MS).await.expect("forget");
    if p.aws_names.0.is_empty() {
        assert_eq!((purged, forgotten), (1, 1), "the embedded store deletes them itself");
    } else {
        // DynamoDB's TTL deletes them: each item carries its expiry.
        assert_eq!((purged, forgotten), (0, 0));
        let conf = aos_aws::sdk_config().await;
        let items = aws_sdk_dynamodb::Client::new(&conf).scan().table_name(&p.aws_names.0).send().await.expect("scan");
        let ttl_of = |sk: &str| {
            items
                .items()
                .iter()
                .find(|i| i.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|s| s == sk))
                .and_then(|i| i.get("ttl"))
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
        };
        assert_eq!(ttl_of("KV#stale"), Some((now - 1).div_ceil(1000)));
        assert_eq!(ttl_of("KV#forever"), None, "entries without an expiry never expire");
        assert_eq!(ttl_of("BREAKER#http_call:old:443"), Some((now - 8 * day + BREAKER_IDLE_MS).div_ceil(1000)));
    }
    assert_eq!(p.kv.get(&t, "forever").await.expect("get"), Some(json!(3)));
    // Approvals closed, or left open (pending, escalated) past their expiry, before the cutoff go.
    let approval = |i: u64, status: ApprovalStatus, created: u64, expires: u64, closed: Option<u64>| ApprovalRecord {
        tenant: t.clone(),
        id: ApprovalId::from_suffix(&format!("ret{i}")).expect("id"),
        execution: Some(ExecutionId::from_suffix("e1").expect("id")),
        workflow: "wf".into(),
        node: format!("n{i}"),
        prompt: "ok?".into(),
        status,
        expires_at_ms: expires,
        decided_by: None,
        comment: None,
        closed_at_ms: closed,
        created_at_ms: created,
        required_level: 1,
        task_token: None,
        step: None,
        history: Vec::new(),
    };
    let all = [
        approval(1, ApprovalStatus::Approved, now - 4 * day, now - 3 * day, Some(now - 3 * day)),
        approval(2, ApprovalStatus::Pending, now - 4 * day, now - 3 * day, None),
        approval(3, ApprovalStatus::Pending, now - 4 * day, now + day, None),
        approval(4, ApprovalStatus::Rejected, now - 4 * day, now + day, Some(now)),
        approval(5, ApprovalStatus::Escalated, now - 4 * day, now - 2 * day, None),
        approval(6, ApprovalStatus::Escalated, now - 4 * day, now + day, None),
    ];
    for a in &all {
        p.workflows.put_approval(a, None, None, &[]).await.expect("put");
    }
    assert_eq!(p.workflows.expire_before(&t, now - day, 100).await.expect("expire"), 3);
    let mut kept = Vec::new();
    for a in &all {
        kept.push(p.workflows.approval(&t, &a.id).await.expect("read").is_some());
    }
    assert_eq!(kept, [false, false, true, true, false, true], "closed or expired long ago go; the rest stay");
});

contract!(policy_versions_are_consecutive_never_edited_and_paged_newest_first, 5, |p: Ports| async move {
    use aos_runtime::ports::PolicyVersion;
    let t = tenant("ten_policies");
    let other = tenant("ten_other_policies");
    let v = |tenant: &aos_core::TenantId, version: u32| PolicyVersion {
        tenant: tenant.clone(),
        version,
        text: format!("// version {version}\npermit(principal, action, resource);"),
        default_deny: version.is_multiple_of(2),
        allow_deny_all: false,
        policies: 1,
        created_by: "key_x".into(),
        created_at_ms: u64::from(version),
    };
    assert_eq!(p.policies.current(&t).await.expect("read"), None);
    assert!(matches!(p.policies.put_version(&v(&t, 2), &[]).await, Err(StoreError::Conflict(_))), "2 before 1");
    for n in 1..=5 {
        p.policies.put_version(&v(&t, n), &[]).await.expect("next version");
    }
    // The same version again (a second writer, or a retry) changes nothing.
    let mut rival = v(&t, 5);
    rival.text = "forbid(principal, action, resource);".into();
    assert!(matches!(p.policies.put_version(&rival, &[]).await, Err(StoreError::Conflict(_))));
    assert!(matches!(p.policies.put_version(&v(&t, 7), &[]).await, Err(StoreError::Conflict(_))), "no gaps");
    assert_eq!(p.policies.current(&t).await.expect("read"), Some(v(&t, 5)), "the newest, as written first");
    let page = p.policies.versions(&t, None, 2).await.expect("page");
    assert_eq!(page.iter().map(|v| v.version).collect::<Vec<_>>(), [5, 4]);
    let page = p.policies.versions(&t, Some(4), 2).await.expect("page");
    assert_eq!(page.iter().map(|v| v.version).collect::<Vec<_>>(), [3, 2]);
    let page = p.policies.versions(&t, Some(2), 2).await.expect("page");
    assert_eq!(page.iter().map(|v| v.version).collect::<Vec<_>>(), [1]);
    assert!(p.policies.versions(&t, Some(1), 2).await.expect("page").is_empty());
    // Tenants never see each other's.
    assert_eq!(p.policies.current(&other).await.expect("read"), None);
    p.policies.put_version(&v(&other, 1), &[]).await.expect("its own first version");
    assert_eq!(p.policies.current(&t).await.expect("read").map(|v| v.version), Some(5));
});

contract!(audit_entries_chain_gaplessly_per_tenant_even_when_appended_at_once, 5, |p: Ports| async move {
    use aos_core::audit::{Actor, AuditEvent};
    let t = tenant("ten_audit");
    let other = tenant("ten_audit_other");
    let ev = |tenant: &TenantId, i: u64| {
        AuditEvent::new(tenant, Actor::key("key_a", "admin"), "policy.apply", "policies", "applied", 1_000 + i)
    };
    let placed = p.audit.append(&[ev(&t, 0)]).await.expect("append");
    assert_eq!(placed.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    let placed = p.audit.append(&[ev(&t, 1), ev(&t, 2)]).await.expect("append two");
    assert_eq!(placed.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3], "one write, consecutive places");
    assert_eq!(placed[1].prev_hash, placed[0].hash);
    // Eight writers at once: each gets its own place, none is lost, the chain holds.
    let writers = (3..11).map(|i| {
        let (audit, e) = (p.audit.clone(), ev(&t, i));
        tokio::spawn(async move { audit.append(&[e]).await.expect("concurrent append") })
    });
    for w in writers {
        w.await.expect("writer");
    }
    p.audit.append(&[ev(&other, 0)]).await.expect("other tenant");
    let all = p.audit.entries(&t, 0, 100).await.expect("entries");
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=11).collect::<Vec<_>>());
    assert_eq!(aos_core::audit::verify(&t, &all), Ok(11));
    let svc = aos_runtime::audit::AuditService::new(p.audit.clone());
    assert_eq!(svc.verify(&t).await.expect("verify").map(|v| v.entries), Ok(11));
    assert_eq!(svc.verify(&other).await.expect("verify").map(|v| v.entries), Ok(1), "each tenant its own chain");
    // Newest first, paged by seq; in order after a seq.
    let seqs = |v: Vec<aos_core::audit::AuditEntry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    assert_eq!(seqs(p.audit.recent(&t, None, 3).await.expect("recent")), [11, 10, 9]);
    assert_eq!(seqs(p.audit.recent(&t, Some(9), 3).await.expect("recent")), [8, 7, 6]);
    assert_eq!(seqs(p.audit.entries(&t, 9, 10).await.expect("after")), [10, 11]);
    // A change that does not happen records nothing: a policy version out of turn.
    let v = aos_runtime::ports::PolicyVersion {
        tenant: t.clone(),
        version: 5,
        text: String::new(),
        default_deny: false,
        allow_deny_all: false,
        policies: 0,
        created_by: "key_a".into(),
        created_at_ms: 1,
    };
    let refused = p.policies.put_version(&v, &[ev(&t, 99)]).await;
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");
    assert_eq!(p.audit.entries(&t, 0, 100).await.expect("entries").len(), 11, "no entry for what did not happen");
    // And one that does records its entry with it.
    let first = aos_runtime::ports::PolicyVersion { version: 1, ..v };
    p.policies.put_version(&first, &[ev(&t, 100)]).await.expect("version 1");
    let last = p.audit.recent(&t, None, 1).await.expect("recent").remove(0);
    assert_eq!((last.seq, last.event.at_ms), (12, 1_100));
});

contract!(an_audit_log_edited_removed_or_reordered_in_storage_is_caught_at_its_position, 5, |p: Ports| async move {
    use aos_core::audit::{Actor, AuditEvent};
    use aos_tests::backends::Tamper;
    let svc = aos_runtime::audit::AuditService::new(p.audit.clone());
    let log = |name: &str| {
        let t = tenant(name);
        let audit = p.audit.clone();
        async move {
            let events: Vec<AuditEvent> = (0..5)
                .map(|i| AuditEvent::new(&t, Actor::system(), "gate.decide", format!("run:r/step:{i}"), "deny", 10 + i))
                .collect();
            audit.append(&events).await.expect("append");
            let entries = audit.entries(&t, 0, 10).await.expect("entries");
            (t, entries)
        }
    };
    // Edited: a decision turned into an allow.
    let (t, entries) = log("ten_edit").await;
    let mut body = serde_json::to_value(&entries[2]).expect("json");
    body["decision"] = json!("allow");
    p.tamper_audit(&t, Tamper::Rewrite(3, body)).await;
    let broken = svc.verify(&t).await.expect("verify").expect_err("edited");
    assert_eq!((broken.position, broken.seq), (3, 3), "{broken}");
    assert!(broken.reason.contains("edited"), "{broken}");
    // Removed: the second entry is gone.
    let (t, _) = log("ten_remove").await;
    p.tamper_audit(&t, Tamper::Remove(2)).await;
    let broken = svc.verify(&t).await.expect("verify").expect_err("removed");
    assert_eq!((broken.position, broken.seq), (2, 3), "{broken}");
    assert!(broken.reason.contains("missing"), "{broken}");
    // Reordered: the bodies of entries 2 and 4 swapped.
    let (t, entries) = log("ten_reorder").await;
    p.tamper_audit(&t, Tamper::Rewrite(2, serde_json::to_value(&entries[3]).expect("json"))).await;
    p.tamper_audit(&t, Tamper::Rewrite(4, serde_json::to_value(&entries[1]).expect("json"))).await;
    let broken = svc.verify(&t).await.expect("verify").expect_err("reordered");
    assert_eq!(broken.position, 2, "{broken}");
    // An untouched log verifies.
    let (t, _) = log("ten_intact").await;
    assert_eq!(svc.verify(&t).await.expect("verify").map(|v| v.entries), Ok(5));
});

contract!(flags_take_their_next_version_only_with_their_audit_entry, 5, |p: Ports| async move {
    use aos_core::audit::{Actor, AuditEvent};
    use aos_runtime::ports::FlagRecord;
    let t = tenant("ten_flags");
    let spec: aos_core::flags::FlagSpec =
        serde_json::from_value(json!({"enabled": true, "rollout_percent": 30})).expect("spec");
    let flag = |version: u32| FlagRecord {
        tenant: t.clone(),
        key: "beta".into(),
        spec: spec.clone(),
        version,
        updated_by: "key_a".into(),
        updated_at_ms: u64::from(version),
    };
    let event = |v: u64| AuditEvent::new(&t, Actor::key("key_a", "admin"), "flag.set", "flag:beta", "set", v);
    assert!(matches!(p.flags.put_flag(&flag(2), &[event(2)]).await, Err(StoreError::Conflict(_))), "2 before 1");
    p.flags.put_flag(&flag(1), &[event(1)]).await.expect("made");
    assert!(matches!(p.flags.put_flag(&flag(1), &[event(1)]).await, Err(StoreError::Conflict(_))), "made once");
    p.flags.put_flag(&flag(2), &[event(2)]).await.expect("changed");
    assert_eq!(p.flags.flag(&t, "beta").await.expect("read").map(|f| f.version), Some(2));
    assert_eq!(p.flags.flags(&t).await.expect("list").len(), 1);
    assert!(p.flags.flags(&tenant("ten_flags_other")).await.expect("list").is_empty());
    let entries = p.audit.entries(&t, 0, 10).await.expect("audit");
    assert_eq!(entries.iter().map(|e| e.event.at_ms).collect::<Vec<_>>(), [1, 2], "an entry per stored change only");
});
