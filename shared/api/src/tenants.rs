//! The tenant and key routes: create a tenant (operators), its retention, and the
//! tenant's API keys (create, list, revoke).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::Shared;
use crate::views;
use aos_core::limits::PlanName;
use aos_core::{ApiKeyId, ErrorCode, TenantId};
use aos_runtime::auth::{create_tenant_keeping, issue_key_with};
use aos_runtime::clock::now_ms;
use aos_runtime::ports::{Grant, Permission, Role, StoreError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of `POST /v1/tenants`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    /// Its name, 1-200 characters.
    name: String,
    /// Its id (`ten_…`); made up when absent.
    #[serde(default)]
    id: Option<String>,
    /// Days to keep its finished runs; the deployment's default when absent.
    #[serde(default)]
    retention_days: Option<u32>,
    /// `free`, `dev`, `pro`, `enterprise` or `unlimited`; default: the deployment's.
    #[serde(default)]
    plan: Option<String>,
}

fn retention(days: Option<u32>) -> Result<Option<u32>, ApiError> {
    days.map(aos_runtime::retention::check_days).transpose().map_err(|m| ApiError::new(ErrorCode::ValidationFailed, m))
}

/// A tenant.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    /// Its id.
    pub id: TenantId,
    /// Its name.
    pub name: String,
    /// Creation time, ms since the epoch.
    pub created_at_ms: u64,
    /// Days its finished runs are kept.
    pub retention_days: u32,
    /// Whether that is the deployment's default.
    pub retention_is_default: bool,
    /// Its plan.
    pub plan: PlanName,
    /// Whether that is the deployment's default.
    pub plan_is_default: bool,
}

pub(crate) fn tenant_view(t: &aos_runtime::ports::TenantRecord, default_plan: PlanName) -> TenantView {
    TenantView {
        id: t.id.clone(),
        name: t.name.clone(),
        created_at_ms: t.created_at_ms,
        retention_days: aos_runtime::retention::days_of(t),
        retention_is_default: t.retention_days.is_none(),
        plan: t.plan.unwrap_or(default_plan),
        plan_is_default: t.plan.is_none(),
    }
}

/// A new tenant and its first key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantCreated {
    /// The tenant.
    pub tenant: TenantView,
    /// Its first key (an `admin`).
    pub api_key: NewKeyView,
}

/// A new key, with its secret: shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NewKeyView {
    /// The key.
    #[serde(flatten)]
    pub view: views::KeyView,
    /// The secret to send as `Authorization: Bearer <key>`.
    pub key: String,
    /// That AOS keeps only its hash.
    pub note: String,
}

/// A tenant's keys.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyList {
    /// The keys, revoked ones too.
    pub api_keys: Vec<views::KeyView>,
}

/// The body of `PUT /v1/tenants/{id}/retention`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRetention {
    /// Days to keep finished runs; `null` returns to the default.
    days: Option<u32>,
}

/// `PUT /v1/tenants/{id}/retention`: the tenant itself, or an operator for any tenant.
pub(crate) async fn put_retention(
    State(s): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<NewRetention>,
) -> Result<Json<TenantView>, ApiError> {
    let id = TenantId::parse(id).map_err(|_| ApiError::not_found("tenant"))?;
    if id != caller.0.tenant {
        caller.require(Permission::TenantsAdmin)?;
    }
    let days = retention(req.days)?;
    let event = aos_core::audit::AuditEvent::new(
        &id,
        caller.0.actor(),
        "tenant.retention",
        format!("tenant:{id}"),
        "set",
        now_ms(),
    )
    .with_details(serde_json::json!({"retention_days": days}));
    let tenant = s.tenants.set_retention(&id, days, &[event]).await?.ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(Json(tenant_view(&tenant, s.quotas.default_plan())))
}

pub(crate) async fn post_tenant(
    State(s): State<Shared>,
    operator: Caller,
    Body(req): Body<NewTenant>,
) -> Result<Response, ApiError> {
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(ApiError::new(ErrorCode::ValidationFailed, "name must be 1-200 characters"));
    }
    let id = req
        .id
        .map(|i| TenantId::parse(i).map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.to_string())))
        .transpose()?;
    let settings = aos_runtime::auth::TenantSettings {
        retention_days: retention(req.retention_days)?,
        plan: req.plan.as_deref().map(crate::plans::parse_plan).transpose()?,
    };
    let (tenant, key) = match create_tenant_keeping(
        s.tenants.as_ref(),
        id,
        req.name.trim(),
        Role::Admin,
        settings,
        &operator.0.actor(),
    )
    .await
    {
        Ok(v) => v,
        Err(StoreError::Conflict(m)) => return Err(ApiError::new(ErrorCode::IllegalTransition, m)),
        Err(e) => return Err(e.into()),
    };
    let body = TenantCreated {
        tenant: tenant_view(&tenant, s.quotas.default_plan()),
        api_key: merge_secret(views::key(&key.record), key.secret.expose_secret()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn merge_secret(view: views::KeyView, secret: &str) -> NewKeyView {
    let note = "store this key now: AOS keeps only its hash and cannot show it again".to_owned();
    NewKeyView { view, key: secret.to_owned(), note }
}

/// The body of `POST /v1/api-keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    /// Free text.
    #[serde(default)]
    label: String,
    /// Another tenant's id (operators provisioning it); default: the caller's.
    #[serde(default)]
    tenant_id: Option<String>,
    /// The new key's role; default: the caller's (an operator's default for another
    /// tenant: `admin`).
    #[serde(default)]
    role: Option<String>,
    /// Permissions the key is limited to (of its role's).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// The level it decides approvals at (1-5, at most its role's).
    #[serde(default)]
    approval_level: Option<u8>,
    /// Seconds until it stops working (60 s to 10 years).
    #[serde(default)]
    expires_in_s: Option<u64>,
}

/// The grant a key request asks for, or what is wrong with it.
fn requested_grant(req: &NewKey, default_role: Role) -> Result<Grant, ApiError> {
    let invalid = |m: String| ApiError::new(ErrorCode::ValidationFailed, m);
    let role = match &req.role {
        None => default_role,
        Some(name) => Role::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            invalid(format!("role {name:?} does not exist; roles: {}", names.join(", ")))
        })?,
    };
    let scopes = match &req.scopes {
        None => None,
        Some(names) => {
            let mut set = std::collections::BTreeSet::new();
            for name in names {
                let p = Permission::parse(name)
                    .ok_or_else(|| invalid(format!("scope {name:?} is not a permission (e.g. runs:read)")))?;
                if !role.allows(p) {
                    return Err(invalid(format!("scope {name} is not a permission of role {role}")));
                }
                set.insert(p);
            }
            Some(set)
        }
    };
    if let Some(level) = req.approval_level {
        if !(1..=5).contains(&level) || level > role.max_approval_level() {
            return Err(invalid(format!(
                "approval_level must be 1-{} for role {role}, got {level}",
                role.max_approval_level()
            )));
        }
    }
    Ok(Grant { role, scopes, approval_level: req.approval_level })
}

pub(crate) async fn post_key(
    State(s): State<Shared>,
    caller: Caller,
    Body(req): Body<NewKey>,
) -> Result<Response, ApiError> {
    let (tenant, default_role) = match &req.tenant_id {
        Some(t) if t != caller.0.tenant.as_str() => {
            caller.require(Permission::TenantsAdmin)?;
            let id = TenantId::parse(t).map_err(|_| ApiError::not_found("tenant"))?;
            (s.tenants.tenant(&id).await?.ok_or_else(|| ApiError::not_found("tenant"))?.id, Role::Admin)
        }
        _ => (caller.0.tenant.clone(), caller.0.role()),
    };
    let grant = requested_grant(&req, default_role)?;
    // An operator provisions other tenants' keys; anyone else grants only what it holds.
    let provisioning = tenant != caller.0.tenant && caller.0.grant.allows(Permission::TenantsAdmin);
    if let Some(lacking) = (!provisioning).then(|| caller.0.grant.lacks_for(&grant)).flatten() {
        return Err(ApiError::new(ErrorCode::PermissionDenied, lacking));
    }
    let expires_at_ms = match req.expires_in_s {
        None => None,
        Some(s @ 60..=315_360_000) => Some(now_ms() + s * 1000),
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("expires_in_s must be 60 to 315360000 (10 years), got {other}"),
            ))
        }
    };
    s.quotas.admit_key(&tenant).await.map_err(|e| match e {
        aos_runtime::limits::AdmitError::Refused(r) => ApiError::from(r),
        aos_runtime::limits::AdmitError::Store(e) => e.into(),
    })?;
    let issued = issue_key_with(&tenant, &grant, expires_at_ms, &req.label);
    let audit = issued.record.audit(caller.0.actor(), "key.create", "created", now_ms());
    s.tenants.insert_key(&issued.record, &[audit]).await?;
    let body = merge_secret(views::key(&issued.record), issued.secret.expose_secret());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub(crate) async fn list_keys(State(s): State<Shared>, Caller(p): Caller) -> Result<Json<KeyList>, ApiError> {
    let keys = s.tenants.keys(&p.tenant).await?;
    Ok(Json(KeyList { api_keys: keys.iter().map(views::key).collect() }))
}

pub(crate) async fn revoke_key(
    State(s): State<Shared>,
    Caller(p): Caller,
    Path(id): Path<String>,
) -> Result<Json<views::KeyView>, ApiError> {
    let id = ApiKeyId::parse(id).map_err(|_| ApiError::not_found("api key"))?;
    let now = now_ms();
    // The entry is written only if this call revokes the key (see the port).
    let audit =
        aos_core::audit::AuditEvent::new(&p.tenant, p.actor(), "key.revoke", format!("key:{id}"), "revoked", now);
    let key =
        s.tenants.revoke_key(&p.tenant, &id, now, &[audit]).await?.ok_or_else(|| ApiError::not_found("api key"))?;
    Ok(Json(views::key(&key)))
}
