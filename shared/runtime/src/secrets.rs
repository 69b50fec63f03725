//! Tenant secrets: the API's use cases (set, list, delete, within their limits) and what
//! the step worker does with `${secrets.NAME}`: look the values up just before the skill
//! runs, and redact them from whatever the skill hands back, so a value reaches the skill
//! and nothing else (not the run, its checkpoints, the API or the log).

use crate::ports::{SecretMeta, StoreError, TenantSecrets};
use aos_core::template::{references, valid_secret_name, Reference};
use aos_core::{ErrorCode, StructuredOutcome, TenantId};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most secrets one tenant may hold.
pub const MAX_SECRETS: usize = 100;
/// Largest secret value (bytes of UTF-8).
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Values at least this long are redacted from step outputs and errors; shorter ones
/// would match ordinary text.
pub const MIN_REDACTED_LEN: usize = 6;

/// A secrets request that cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A bad name or value; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The tenant already holds [`MAX_SECRETS`].
    #[error("this tenant already has {MAX_SECRETS} secrets; delete one first")]
    TooMany,
    /// No such secret.
    #[error("no secret named {0:?} for this tenant")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SecretError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::ValidationFailed,
            Self::TooMany => ErrorCode::QuotaExceeded,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Store(_) => ErrorCode::Internal,
        }
    }
}

fn check_name(name: &str) -> Result<(), SecretError> {
    if valid_secret_name(name) {
        Ok(())
    } else {
        Err(SecretError::Invalid(format!(
            "secret name {:?} is not valid: use 1 to 128 letters, digits, '_' and '-', starting with a letter",
            name.chars().take(140).collect::<String>()
        )))
    }
}

/// The tenant secrets use cases of the API.
#[derive(Clone)]
pub struct SecretService {
    store: Arc<dyn TenantSecrets>,
    audit: Option<Arc<dyn crate::ports::AuditStore>>,
}

impl SecretService {
    /// Over `store`.
    pub fn new(store: Arc<dyn TenantSecrets>) -> Self {
        Self { store, audit: None }
    }

    /// Records each change (never a value) on the tenant's audit log in `audit`: right
    /// after the change, since the secrets may live apart from it (Secrets Manager) — a
    /// crash between the two loses that entry.
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn crate::ports::AuditStore>) -> Self {
        self.audit = Some(audit);
        self
    }

    async fn record(&self, event: aos_core::audit::AuditEvent) {
        if let Some(audit) = &self.audit {
            if let Err(e) = audit.append(&[event]).await {
                tracing::error!(error = %e, "a secret change could not be put on the audit record");
            }
        }
    }

    /// Sets a secret; `Ok(true)` if it was created.
    pub async fn put(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &SecretString,
        now_ms: u64,
        by: &aos_core::audit::Actor,
    ) -> Result<bool, SecretError> {
        check_name(name)?;
        let len = value.expose_secret().len();
        if len == 0 || len > MAX_VALUE_BYTES {
            return Err(SecretError::Invalid(format!(
                "a secret value is 1 to {MAX_VALUE_BYTES} bytes; this one is {len}"
            )));
        }
        let existing = self.store.list(tenant).await?;
        if existing.len() >= MAX_SECRETS && !existing.iter().any(|m| m.name == name) {
            return Err(SecretError::TooMany);
        }
        let created = self.store.put(tenant, name, value, now_ms).await?;
        let decision = if created { "created" } else { "replaced" };
        let event = aos_core::audit::AuditEvent::new(
            tenant,
            by.clone(),
            "secret.put",
            format!("secret:{name}"),
            decision,
            now_ms,
        )
        .with_details(serde_json::json!({"bytes": len}));
        self.record(event).await;
        Ok(created)
    }

    /// The tenant's secrets: names and times, never values.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<SecretMeta>, SecretError> {
        let mut all = self.store.list(tenant).await?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Deletes a secret.
    pub async fn delete(&self, tenant: &TenantId, name: &str, by: &aos_core::audit::Actor) -> Result<(), SecretError> {
        check_name(name)?;
        if self.store.delete(tenant, name).await? {
            let now = crate::clock::now_ms();
            let event = aos_core::audit::AuditEvent::new(
                tenant,
                by.clone(),
                "secret.delete",
                format!("secret:{name}"),
                "deleted",
                now,
            );
            self.record(event).await;
            Ok(())
        } else {
            Err(SecretError::NotFound(name.to_owned()))
        }
    }
}

/// The values of the secrets one step input references, for resolving it, and what to
/// redact from the step's outcome afterwards.
#[derive(Default)]
pub struct StepSecrets {
    values: BTreeMap<String, Value>,
}

impl StepSecrets {
    /// Looks up every `${secrets.NAME}` in `input` for `tenant`. A missing one fails the
    /// step with `ERR_SECRET_NOT_FOUND` naming it.
    pub async fn load(store: &dyn TenantSecrets, tenant: &TenantId, input: &Value) -> Result<Self, StructuredOutcome> {
        let mut values = BTreeMap::new();
        for r in references(input).unwrap_or_default() {
            let Reference::Secret(name) = r else { continue };
            if values.contains_key(&name) {
                continue;
            }
            match store.get(tenant, &name).await {
                Ok(Some(v)) => {
                    values.insert(name, Value::String(v.expose_secret().to_owned()));
                }
                Ok(None) => return Err(missing(&name)),
                Err(e) => return Err(StructuredOutcome::failure(ErrorCode::Internal, format!("secrets: {e}"))),
            }
        }
        Ok(Self { values })
    }

    /// Whether the input referenced no secret.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The values by name, for the template scope.
    pub fn scope(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// `outcome` with every value (at least [`MIN_REDACTED_LEN`] long) replaced by
    /// `[secret NAME]` in its output, error message and details.
    pub fn redact(&self, mut outcome: StructuredOutcome) -> StructuredOutcome {
        if self.values.is_empty() {
            return outcome;
        }
        if let Some(out) = outcome.output.as_mut() {
            self.redact_value(out);
        }
        if let Some(e) = outcome.error.as_mut() {
            e.message = self.redact_str(&e.message);
            if let Some(d) = e.details.as_mut() {
                self.redact_value(d);
            }
        }
        outcome
    }

    fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for (name, v) in &self.values {
            if let Some(v) = v.as_str().filter(|v| v.len() >= MIN_REDACTED_LEN) {
                if out.contains(v) {
                    out = out.replace(v, &format!("[secret {name}]"));
                }
            }
        }
        out
    }

    fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.redact_str(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }
}

/// The failure of a step that needs a secret the tenant does not have.
pub fn missing(name: &str) -> StructuredOutcome {
    StructuredOutcome::failure(
        ErrorCode::SecretNotFound,
        format!(
            "the step needs the secret {name:?}, which this tenant does not have: set it with PUT /v1/secrets/{name}"
        ),
    )
}
