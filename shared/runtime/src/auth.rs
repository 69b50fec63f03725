//! API keys: generated once, shown once, stored only as a SHA-256 hash, revocable.

use crate::clock::{now_ms, unique_suffix};
use crate::ports::{ApiKeyRecord, Grant, Role, StoreError, TenantRecord, TenantStore};
use aos_core::determinism::sha256_hex;
use aos_core::{ApiKeyId, TenantId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

/// Prefix of every AOS API key, so leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "aos_";

/// A freshly created key: the record to store and the secret to show once.
pub struct IssuedKey {
    /// What is stored.
    pub record: ApiKeyRecord,
    /// The full key; never stored, never logged.
    pub secret: SecretString,
}

/// Hash under which a presented key is looked up.
pub fn hash_key(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Generates a new key for `tenant` with 256 bits of randomness.
pub fn issue_key(tenant: &TenantId, role: Role, label: &str) -> IssuedKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let record = ApiKeyRecord {
        id: ApiKeyId::from_suffix(&unique_suffix()).expect("uuid suffix is a valid id"),
        tenant: tenant.clone(),
        role,
        label: label.chars().take(200).collect(),
        hash: hash_key(&secret),
        created_at_ms: now_ms(),
        revoked_at_ms: None,
        scopes: None,
        approval_level: None,
        expires_at_ms: None,
    };
    IssuedKey { record, secret: SecretString::from(secret) }
}

/// Generates a key holding `grant` (its role, scopes and approval level), expiring at
/// `expires_at_ms` if given.
pub fn issue_key_with(tenant: &TenantId, grant: &Grant, expires_at_ms: Option<u64>, label: &str) -> IssuedKey {
    let mut issued = issue_key(tenant, grant.role, label);
    issued.record.scopes.clone_from(&grant.scopes);
    issued.record.approval_level = grant.approval_level;
    issued.record.expires_at_ms = expires_at_ms;
    issued
}

/// Who a request is from, once its key checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's tenant.
    pub tenant: TenantId,
    /// The key's id.
    pub key_id: ApiKeyId,
    /// What the key may do: its role, scopes and approval level.
    pub grant: Grant,
}

impl Principal {
    /// The key's role.
    pub fn role(&self) -> Role {
        self.grant.role
    }

    /// The key as the audit log names an actor.
    pub fn actor(&self) -> aos_core::audit::Actor {
        aos_core::audit::Actor::key(self.key_id.as_str(), self.grant.role.as_str())
    }
}

/// Why a presented key was refused (all map to 401 without saying which).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No key, an unknown key or a revoked key.
    #[error("missing, unknown or revoked API key")]
    Unauthenticated,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Resolves a presented key to its principal.
pub async fn authenticate(store: &dyn TenantStore, presented: &SecretString) -> Result<Principal, AuthError> {
    let key = presented.expose_secret();
    if !key.starts_with(KEY_PREFIX) || key.len() > 200 {
        return Err(AuthError::Unauthenticated);
    }
    match store.key_by_hash(&hash_key(key)).await? {
        Some(rec) if rec.revoked_at_ms.is_none() && rec.expires_at_ms.is_none_or(|at| now_ms() < at) => {
            let grant = rec.grant();
            Ok(Principal { tenant: rec.tenant, key_id: rec.id, grant })
        }
        _ => Err(AuthError::Unauthenticated),
    }
}

/// Creates a tenant (with a generated id unless `id` is given) and its first key.
pub async fn create_tenant(
    store: &dyn TenantStore,
    id: Option<TenantId>,
    name: &str,
    role: Role,
) -> Result<(TenantRecord, IssuedKey), StoreError> {
    create_tenant_keeping(store, id, name, role, TenantSettings::default(), &aos_core::audit::Actor::system()).await
}

/// What a new tenant is set up with besides its name.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantSettings {
    /// Days to keep its finished runs (`None`: the default).
    pub retention_days: Option<u32>,
    /// Its plan (`None`: the deployment's default).
    pub plan: Option<aos_core::limits::PlanName>,
}

/// Like [`create_tenant`], with its retention and plan.
pub async fn create_tenant_keeping(
    store: &dyn TenantStore,
    id: Option<TenantId>,
    name: &str,
    role: Role,
    settings: TenantSettings,
    by: &aos_core::audit::Actor,
) -> Result<(TenantRecord, IssuedKey), StoreError> {
    let id = id.unwrap_or_else(|| TenantId::from_suffix(&unique_suffix()).expect("uuid suffix is a valid id"));
    let TenantSettings { retention_days, plan } = settings;
    let tenant = TenantRecord {
        id: id.clone(),
        name: name.chars().take(200).collect(),
        created_at_ms: now_ms(),
        retention_days,
        plan,
    };
    let key = issue_key(&id, role, "first key");
    let now = tenant.created_at_ms;
    let audit = [
        aos_core::audit::AuditEvent::new(&id, by.clone(), "tenant.create", format!("tenant:{id}"), "created", now)
            .with_details(serde_json::json!({"name": tenant.name, "retention_days": retention_days, "plan": plan})),
        key.record.audit(by.clone(), "key.create", "created", now),
    ];
    store.create_tenant(&tenant, &key.record, &audit).await?;
    Ok((tenant, key))
}
