//! Tenants and API keys (hashes only) in the embedded database.

use crate::db::{backend, exec, qrow, Db};
use aos_core::limits::{QuotaName, SpendAdjust, SpendWindows};
use aos_core::{ApiKeyId, TenantId};
use aos_runtime::ports::{ApiKeyRecord, StoreError, StoreResult, TenantRecord, TenantStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Tenants and keys.
pub struct EmbeddedTenants {
    db: Arc<Db>,
}

impl EmbeddedTenants {
    /// The store over `db`.
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

/// Most keys [`KeyCache`] keeps; past it, it starts again empty.
const KEYS_KEPT: usize = 1024;

/// API keys by hash as last read, so that a request's authentication reads nothing. A
/// revoke empties it before it is acknowledged (this process alone writes the data
/// directory: it holds its lock), and a read that raced with a revoke is not kept.
#[derive(Default)]
pub(crate) struct KeyCache(Mutex<(u64, HashMap<String, ApiKeyRecord>)>);

impl KeyCache {
    /// The key with `hash`, if kept, and the cache's generation (to pass to `keep`).
    fn get(&self, hash: &str) -> (Option<ApiKeyRecord>, u64) {
        self.0.lock().map_or((None, u64::MAX), |c| (c.1.get(hash).cloned(), c.0))
    }

    /// Keeps `key` as read in `generation` (nothing, if a revoke came since).
    fn keep(&self, generation: u64, key: &ApiKeyRecord) {
        if let Ok(mut c) = self.0.lock() {
            if c.0 == generation {
                if c.1.len() >= KEYS_KEPT {
                    c.1.clear();
                }
                c.1.insert(key.hash.clone(), key.clone());
            }
        }
    }

    /// Forgets every key kept.
    fn forget(&self) {
        if let Ok(mut c) = self.0.lock() {
            c.0 += 1;
            c.1.clear();
        }
    }
}

fn parse_key(body: &str) -> Result<ApiKeyRecord, StoreError> {
    serde_json::from_str(body).map_err(|e| StoreError::Backend(format!("corrupt key record: {e}")))
}

fn insert_key_tx(c: &Connection, key: &ApiKeyRecord) -> Result<(), StoreError> {
    let body = serde_json::to_string(key).map_err(|e| StoreError::Backend(e.to_string()))?;
    exec(
        c,
        "INSERT INTO api_keys (id, tenant, hash, body) VALUES (?1, ?2, ?3, ?4)",
        params![key.id.as_str(), key.tenant.as_str(), key.hash, body],
    )
    .map_err(|e| backend(&e))?;
    Ok(())
}

fn tenant_exists(c: &Connection, id: &str) -> Result<bool, StoreError> {
    qrow(c, "SELECT 1 FROM tenants WHERE id = ?1", params![id], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
        .map_err(|e| backend(&e))
}

fn meter_tx(c: &Connection, tenant: &str, meter: &str, period: &str) -> rusqlite::Result<u64> {
    qrow(
        c,
        "SELECT value FROM meters WHERE tenant = ?1 AND meter = ?2 AND period = ?3",
        params![tenant, meter, period],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|v| u64::try_from(v.unwrap_or(0)).unwrap_or(0))
}

/// Adds `adjust` to the spend meters it names, inside the caller's transaction.
pub(crate) fn adjust_spend_tx(c: &Connection, tenant: &str, adjust: &SpendAdjust) -> StoreResult<()> {
    let windows = [(QuotaName::SpendPerHour, &adjust.hour), (QuotaName::SpendPerDay, &adjust.day)];
    for (quota, period) in windows {
        if let (Some(period), Some(meter)) = (period, quota.meter_name()) {
            add_to_meter_tx(c, tenant, meter, period, adjust.delta, None)?.ok();
        }
    }
    Ok(())
}

/// The spend meters of `windows`: (hour, day).
fn spend_meters(windows: &SpendWindows) -> [(&'static str, &str); 2] {
    let meter = |q: QuotaName| q.meter_name().unwrap_or_default();
    [(meter(QuotaName::SpendPerHour), windows.hour.as_str()), (meter(QuotaName::SpendPerDay), windows.day.as_str())]
}

/// Adds to a meter inside the caller's transaction (a step's commit adds its tokens).
pub(crate) fn add_to_meter_tx(
    c: &Connection,
    tenant: &str,
    meter: &str,
    period: &str,
    amount: i64,
    limit: Option<u64>,
) -> StoreResult<Result<u64, u64>> {
    let current = meter_tx(c, tenant, meter, period).map_err(|e| backend(&e))?;
    let total = u64::try_from(i128::from(current) + i128::from(amount)).unwrap_or(0);
    if amount > 0 && limit.is_some_and(|l| total > l) {
        return Ok(Err(current));
    }
    exec(
        c,
        "INSERT INTO meters (tenant, meter, period, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, meter, period) DO UPDATE SET value = excluded.value",
        params![tenant, meter, period, i64::try_from(total).unwrap_or(i64::MAX)],
    )
    .map_err(|e| backend(&e))?;
    Ok(Ok(total))
}

#[async_trait]
impl TenantStore for EmbeddedTenants {
    async fn create_tenant(
        &self,
        tenant: &TenantRecord,
        first_key: &ApiKeyRecord,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<()> {
        let (tenant, key, audit) = (tenant.clone(), first_key.clone(), audit.to_vec());
        self.db
            .write(true, move |c| {
                if tenant_exists(c, tenant.id.as_str())? {
                    return Err(StoreError::Conflict(format!("tenant {} exists", tenant.id)));
                }
                exec(
                    c,
                    "INSERT INTO tenants (id, name, created_at, retention_days, plan) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        tenant.id.as_str(),
                        tenant.name,
                        tenant.created_at_ms,
                        tenant.retention_days,
                        tenant.plan.map(aos_core::limits::PlanName::as_str)
                    ],
                )
                .map_err(|e| backend(&e))?;
                insert_key_tx(c, &key)?;
                crate::audit::append_tx(c, &audit).map(|_| ())
            })
            .await
    }

    async fn tenant_ids(&self, after: Option<&TenantId>, limit: u32) -> StoreResult<Vec<TenantId>> {
        let after = after.map_or("", TenantId::as_str).to_owned();
        let ids: Vec<String> = self.db.read(|c| {
            let mut st = c.prepare_cached("SELECT id FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2")?;
            let rows = st.query_map(params![after, limit], |r| r.get(0))?;
            rows.collect()
        })?;
        ids.into_iter().map(|id| TenantId::parse(id).map_err(|e| StoreError::Backend(e.to_string()))).collect()
    }

    async fn tenant(&self, id: &TenantId) -> StoreResult<Option<TenantRecord>> {
        self.db
            .read(|c| {
                qrow(
                    c,
                    "SELECT id, name, created_at, retention_days, plan FROM tenants WHERE id = ?1",
                    params![id.as_str()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, u64>(2)?,
                            r.get(3)?,
                            r.get::<_, Option<String>>(4)?,
                        ))
                    },
                )
                .optional()
            })?
            .map(|(id, name, created_at_ms, retention_days, plan)| {
                let plan = plan
                    .map(|p| {
                        aos_core::limits::PlanName::parse(&p)
                            .ok_or_else(|| StoreError::Backend(format!("tenant {id} has an unknown plan {p:?}")))
                    })
                    .transpose()?;
                Ok(TenantRecord {
                    id: TenantId::parse(&id).map_err(|e| StoreError::Backend(e.to_string()))?,
                    name,
                    created_at_ms,
                    retention_days,
                    plan,
                })
            })
            .transpose()
    }

    async fn set_plan(
        &self,
        id: &TenantId,
        plan: Option<aos_core::limits::PlanName>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<TenantRecord>> {
        let (t, audit) = (id.to_string(), audit.to_vec());
        let plan = plan.map(aos_core::limits::PlanName::as_str);
        let changed = self
            .db
            .write(true, move |c| {
                let changed =
                    exec(c, "UPDATE tenants SET plan = ?2 WHERE id = ?1", params![t, plan]).map_err(|e| backend(&e))?;
                if changed > 0 {
                    crate::audit::append_tx(c, &audit)?;
                }
                Ok(changed)
            })
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.tenant(id).await
    }

    async fn meter(&self, tenant: &TenantId, meter: &str, period: &str) -> StoreResult<u64> {
        self.db.read(|c| meter_tx(c, tenant.as_str(), meter, period))
    }

    async fn add_to_meter(
        &self,
        tenant: &TenantId,
        meter: &str,
        period: &str,
        amount: i64,
        limit: Option<u64>,
    ) -> StoreResult<Result<u64, u64>> {
        let (t, m, p) = (tenant.to_string(), meter.to_owned(), period.to_owned());
        self.db.write(true, move |c| add_to_meter_tx(c, &t, &m, &p, amount, limit)).await
    }

    async fn take_spend(
        &self,
        tenant: &TenantId,
        windows: &SpendWindows,
        amount: u64,
        limits: (Option<u64>, Option<u64>),
    ) -> StoreResult<Result<(u64, u64), (QuotaName, u64)>> {
        let (t, windows) = (tenant.to_string(), windows.clone());
        let add = i64::try_from(amount).unwrap_or(i64::MAX);
        self.db
            .write(true, move |c| {
                let meters = spend_meters(&windows);
                let limits = [(QuotaName::SpendPerHour, limits.0), (QuotaName::SpendPerDay, limits.1)];
                // Both limits are checked before either meter is written.
                for ((meter, period), (quota, limit)) in meters.iter().zip(limits) {
                    let current = meter_tx(c, &t, meter, period).map_err(|e| backend(&e))?;
                    if limit.is_some_and(|l| current.saturating_add(amount) > l) {
                        return Ok(Err((quota, current)));
                    }
                }
                let hour = add_to_meter_tx(c, &t, meters[0].0, meters[0].1, add, None)?.unwrap_or_else(|c| c);
                let day = add_to_meter_tx(c, &t, meters[1].0, meters[1].1, add, None)?.unwrap_or_else(|c| c);
                Ok(Ok((hour, day)))
            })
            .await
    }

    async fn adjust_spend(&self, tenant: &TenantId, adjust: &SpendAdjust) -> StoreResult<()> {
        let (t, adjust) = (tenant.to_string(), adjust.clone());
        self.db.write(true, move |c| adjust_spend_tx(c, &t, &adjust)).await
    }

    async fn spent(&self, tenant: &TenantId, windows: &SpendWindows) -> StoreResult<(u64, u64)> {
        let t = tenant.to_string();
        let [(hm, hp), (dm, dp)] = spend_meters(windows);
        self.db.read(|c| Ok((meter_tx(c, &t, hm, hp)?, meter_tx(c, &t, dm, dp)?)))
    }

    async fn set_retention(
        &self,
        id: &TenantId,
        days: Option<u32>,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<TenantRecord>> {
        let (t, audit) = (id.to_string(), audit.to_vec());
        let changed = self
            .db
            .write(true, move |c| {
                let changed = exec(c, "UPDATE tenants SET retention_days = ?2 WHERE id = ?1", params![t, days])
                    .map_err(|e| backend(&e))?;
                if changed > 0 {
                    crate::audit::append_tx(c, &audit)?;
                }
                Ok(changed)
            })
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.tenant(id).await
    }

    async fn insert_key(&self, key: &ApiKeyRecord, audit: &[aos_core::audit::AuditEvent]) -> StoreResult<()> {
        let (key, audit) = (key.clone(), audit.to_vec());
        self.db
            .write(true, move |c| {
                if !tenant_exists(c, key.tenant.as_str())? {
                    return Err(StoreError::Conflict(format!("tenant {} does not exist", key.tenant)));
                }
                insert_key_tx(c, &key)?;
                crate::audit::append_tx(c, &audit).map(|_| ())
            })
            .await
    }

    async fn key_by_hash(&self, hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let (kept, generation) = self.db.keys.get(hash);
        if kept.is_some() {
            return Ok(kept);
        }
        let body: Option<String> = self
            .db
            .read(|c| qrow(c, "SELECT body FROM api_keys WHERE hash = ?1", params![hash], |r| r.get(0)).optional())?;
        let key = body.as_deref().map(parse_key).transpose()?;
        if let Some(key) = &key {
            self.db.keys.keep(generation, key);
        }
        Ok(key)
    }

    async fn keys(&self, tenant: &TenantId) -> StoreResult<Vec<ApiKeyRecord>> {
        let bodies: Vec<String> = self.db.read(|c| {
            let mut st = c.prepare_cached("SELECT body FROM api_keys WHERE tenant = ?1 ORDER BY id")?;
            let rows = st.query_map(params![tenant.as_str()], |r| r.get(0))?;
            rows.collect()
        })?;
        bodies.iter().map(|b| parse_key(b)).collect()
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        now_ms: u64,
        audit: &[aos_core::audit::AuditEvent],
    ) -> StoreResult<Option<ApiKeyRecord>> {
        let (t, k, audit) = (tenant.to_string(), id.to_string(), audit.to_vec());
        let revoked = self
            .db
            .write(true, move |c| {
                let body: Option<String> = c
                    .query_row("SELECT body FROM api_keys WHERE id = ?1 AND tenant = ?2", params![k, t], |r| r.get(0))
                    .optional()
                    .map_err(|e| backend(&e))?;
                let Some(body) = body else { return Ok(None) };
                let mut key = parse_key(&body)?;
                if key.revoked_at_ms.is_some() {
                    return Ok(Some(key));
                }
                key.revoked_at_ms = Some(now_ms);
                let body = serde_json::to_string(&key).map_err(|e| StoreError::Backend(e.to_string()))?;
                exec(c, "UPDATE api_keys SET body = ?2 WHERE id = ?1", params![k, body]).map_err(|e| backend(&e))?;
                crate::audit::append_tx(c, &audit)?;
                Ok(Some(key))
            })
            .await;
        // Before the revoke is acknowledged, no request finds the key kept.
        self.db.keys.forget();
        revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aos_runtime::ports::Role;

    #[test]
    fn a_key_read_before_a_revoke_is_not_kept_after_it() {
        let cache = KeyCache::default();
        let tenant = TenantId::parse("ten_a").expect("tenant");
        let key = aos_runtime::auth::issue_key(&tenant, Role::Admin, "k").record;
        let (none, generation) = cache.get(&key.hash);
        assert!(none.is_none());
        // A revoke commits between the read and its keeping: the read is stale.
        cache.forget();
        cache.keep(generation, &key);
        assert!(cache.get(&key.hash).0.is_none(), "a read that raced with a revoke is not kept");
        let (_, now) = cache.get(&key.hash);
        cache.keep(now, &key);
        assert_eq!(cache.get(&key.hash).0.map(|k| k.id), Some(key.id.clone()));
        cache.forget();
        assert!(cache.get(&key.hash).0.is_none(), "a revoke forgets every key kept");
    }
}
