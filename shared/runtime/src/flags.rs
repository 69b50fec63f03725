//! Tenants' feature flags: setting one (checked first, each change its next version and
//! on the audit record), reading them, evaluating one for a stable key, and the
//! pipeline's question — is this step's skill switched off by a flag?
//!
//! Warm workers keep each tenant's flags for the cache period ([`crate::policies::CACHE_TTL`]
//! unless set): a change reaches every worker within it, and at once the process that made it.

use crate::ports::{FlagRecord, FlagStore, StoreError};
use aos_core::audit::{Actor, AuditEvent};
use aos_core::flags::{check_key, FlagAnswer, FlagSpec};
use aos_core::{ErrorCode, TenantId};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most flags a tenant may have.
pub const MAX_FLAGS: usize = 500;
/// The environment `aos dev` evaluates in unless `AOS_ENVIRONMENT` says.
pub const DEV_ENVIRONMENT: &str = "development";

/// A flag change or question that cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    /// What to fix.
    #[error("{0}")]
    Invalid(String),
    /// The flag changed since the version the change was written against.
    #[error("{0}")]
    Conflict(String),
    /// No such flag.
    #[error("flag {0} not found")]
    NotFound(String),
    /// The tenant has as many flags as it may.
    #[error("{0}")]
    Quota(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FlagError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::Conflict(_) => ErrorCode::IllegalTransition,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Quota(_) => ErrorCode::QuotaExceeded,
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}

struct Cached {
    at: Instant,
    flags: Arc<Vec<FlagRecord>>,
}

/// The flags' use cases.
#[derive(Clone)]
pub struct FlagService {
    store: Arc<dyn FlagStore>,
    cache: Arc<Mutex<HashMap<TenantId, Cached>>>,
    ttl: Duration,
    environment: String,
    notices: Option<Arc<dyn crate::ports::RunStore>>,
}

impl FlagService {
    /// The service over `store`, evaluating in `environment`.
    pub fn new(store: Arc<dyn FlagStore>, environment: impl Into<String>) -> Self {
        Self {
            store,
            cache: Arc::default(),
            ttl: crate::policies::CACHE_TTL,
            environment: environment.into(),
            notices: None,
        }
    }

    /// Sends each change's signed `flag.changed` webhook (to the flag's `webhook_url`) as
    /// a run in `runs`.
    #[must_use]
    pub fn with_notifications(mut self, runs: Arc<dyn crate::ports::RunStore>) -> Self {
        self.notices = Some(runs);
        self
    }

    /// Keeps a tenant's flags for `ttl` (zero: read on every step).
    #[must_use]
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The environment steps are evaluated in.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// Sets flag `key` to `spec` as its next version (written against `base_version`
    /// when given: a newer stored one is a conflict). The same change again answers the
    /// stored version.
    pub async fn set(
        &self,
        tenant: &TenantId,
        key: &str,
        spec: FlagSpec,
        base_version: Option<u32>,
        by: &Actor,
        now_ms: u64,
    ) -> Result<FlagRecord, FlagError> {
        check_key(key).map_err(FlagError::Invalid)?;
        spec.check().map_err(FlagError::Invalid)?;
        let actor = by.key_id.clone().unwrap_or_else(|| "aos".to_owned());
        for _ in 0..3 {
            let stored = self.store.flag(tenant, key).await?;
            let number = stored.as_ref().map_or(0, |f| f.version);
            if let Some(s) = &stored {
                if s.spec == spec && base_version.is_none_or(|b| b + 1 == s.version) && s.updated_by == actor {
                    return Ok(s.clone());
                }
            }
            if let Some(base) = base_version {
                if base != number {
                    return Err(FlagError::Conflict(format!(
                        "flag {key} is at version {number}, not {base}: read it and set it again on top of it"
                    )));
                }
            }
            if stored.is_none() && self.store.flags(tenant).await?.len() >= MAX_FLAGS {
                return Err(FlagError::Quota(format!("a tenant has at most {MAX_FLAGS} flags")));
            }
            let record = FlagRecord {
                tenant: tenant.clone(),
                key: key.to_owned(),
                spec: spec.clone(),
                version: number + 1,
                updated_by: actor.clone(),
                updated_at_ms: now_ms,
            };
            let before =
                stored.as_ref().map(|s| json!({"enabled": s.spec.enabled, "rollout_percent": s.spec.rollout_percent}));
            let event = AuditEvent::new(tenant, by.clone(), "flag.set", format!("flag:{key}"), "set", now_ms)
                .because(vec![format!("version {}", record.version)])
                .with_details(json!({
                    "version": record.version,
                    "before": before,
                    "enabled": spec.enabled,
                    "rollout_percent": spec.rollout_percent,
                    "environments": spec.environments,
                    "rules": spec.rules.len(),
                    "skill": spec.skill,
                }));
            match self.store.put_flag(&record, &[event]).await {
                Ok(()) => {
                    self.cache.lock().expect("flag cache").remove(tenant);
                    self.notify(&record, now_ms).await;
                    return Ok(record);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FlagError::Conflict(format!("flag {key} kept changing while it was set; try again")))
    }

    /// The change's webhook, when the flag names one. Sent after the change is stored: a
    /// crash in between loses this one notice (the change and its audit entry stand).
    async fn notify(&self, f: &FlagRecord, now_ms: u64) {
        let (Some(runs), Some(url)) = (&self.notices, &f.spec.webhook_url) else { return };
        let data = json!({"key": f.key, "version": f.version, "updated_by": f.updated_by, "flag": f.spec});
        let dedupe = format!("flag:{}/{}", f.key, f.version);
        if let Err(e) = crate::notify::send(runs.as_ref(), &f.tenant, url, "flag.changed", &dedupe, data, now_ms).await
        {
            tracing::warn!(flag = %f.key, error = %e, "could not queue the flag's webhook");
        }
    }

    /// One flag.
    pub async fn get(&self, tenant: &TenantId, key: &str) -> Result<FlagRecord, FlagError> {
        self.store.flag(tenant, key).await?.ok_or_else(|| FlagError::NotFound(key.to_owned()))
    }

    /// Every flag of the tenant, by key.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<FlagRecord>, FlagError> {
        Ok(self.store.flags(tenant).await?)
    }

    /// What flag `key` says for `stable_key` in `environment` (the service's own when
    /// `None`), given `attributes`.
    pub async fn evaluate(
        &self,
        tenant: &TenantId,
        key: &str,
        environment: Option<&str>,
        stable_key: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(FlagRecord, FlagAnswer), FlagError> {
        let flag = self.get(tenant, key).await?;
        let answer = flag.spec.evaluate(key, environment.unwrap_or(&self.environment), stable_key, attributes);
        Ok((flag, answer))
    }

    async fn cached(&self, tenant: &TenantId) -> Result<Arc<Vec<FlagRecord>>, StoreError> {
        if let Some(c) = self.cache.lock().expect("flag cache").get(tenant) {
            if c.at.elapsed() < self.ttl {
                return Ok(Arc::clone(&c.flags));
            }
        }
        let flags = Arc::new(self.store.flags(tenant).await?);
        self.cache
            .lock()
            .expect("flag cache")
            .insert(tenant.clone(), Cached { at: Instant::now(), flags: Arc::clone(&flags) });
        Ok(flags)
    }

    /// The flag that switches `skill` off for this step (its run id the stable key), if
    /// any: every flag naming the skill must serve true for it to run.
    pub async fn disabling(
        &self,
        tenant: &TenantId,
        skill: &str,
        run_id: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Option<(String, FlagAnswer)>, StoreError> {
        let flags = self.cached(tenant).await?;
        Ok(flags.iter().filter(|f| f.spec.skill.as_deref() == Some(skill)).find_map(|f| {
            let answer = f.spec.evaluate(&f.key, &self.environment, run_id, attributes);
            (!answer.value).then(|| (f.key.clone(), answer))
        }))
    }
}
