//! `aos tenant …` and `aos key …`: tenants and their plans (operator), API keys.

use super::{print, Conn};
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant and print its first API key (shown once).
    Create {
        name: String,
        /// Tenant id (ten_...); generated when absent.
        #[arg(long)]
        id: Option<String>,
        /// Its plan (free, dev, pro, enterprise, unlimited); default: the deployment's.
        #[arg(long)]
        plan: Option<String>,
    },
    /// Set a tenant's plan: its request rate and quotas (`default`: the deployment's).
    Plan {
        /// The tenant (ten_...).
        tenant: String,
        /// free, dev, pro, enterprise, unlimited or default.
        plan: String,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeyCommand {
    /// Create an API key (for another tenant with an operator key) and print it once.
    Create {
        #[arg(long, default_value = "")]
        label: String,
        #[arg(long)]
        tenant: Option<String>,
        /// admin, infra, dev, machine or readonly (default: the caller's role).
        #[arg(long)]
        role: Option<String>,
        /// Limit the key to these permissions of its role (repeat, or comma-separated).
        #[arg(long, value_delimiter = ',')]
        scope: Vec<String>,
        /// The level (1-5) it decides approvals at, at most its role's.
        #[arg(long)]
        approval_level: Option<u8>,
        /// Seconds until the key stops working.
        #[arg(long)]
        expires_in: Option<u64>,
    },
    /// Revoke an API key of the caller's tenant.
    Revoke { id: String },
}

/// `aos tenant …` (an operator key).
pub(crate) async fn tenant(command: TenantCommand, conn: &Conn) -> anyhow::Result<()> {
    let c = conn.client("operator-api-key")?;
    match command {
        TenantCommand::Create { name, id, plan } => {
            let body = json!({"name": name, "id": id, "plan": plan});
            print(&c.call(reqwest::Method::POST, "/v1/tenants", Some(&body), None).await?)
        }
        TenantCommand::Plan { tenant, plan } => {
            let plan = (plan != "default").then_some(plan);
            let path = format!("/v1/tenants/{}/plan", crate::governance::url_escape(&tenant));
            print(&c.call(reqwest::Method::PUT, &path, Some(&json!({"plan": plan})), None).await?)
        }
    }
}

/// `aos key …`.
pub(crate) async fn key(command: KeyCommand, conn: &Conn) -> anyhow::Result<()> {
    match command {
        KeyCommand::Create { label, tenant, role, scope, approval_level, expires_in } => {
            let file = if tenant.is_some() { "operator-api-key" } else { "dev-api-key" };
            let c = conn.client(file)?;
            let scopes = (!scope.is_empty()).then_some(scope);
            let body = json!({
                "label": label, "tenant_id": tenant, "role": role, "scopes": scopes,
                "approval_level": approval_level, "expires_in_s": expires_in,
            });
            print(&c.call(reqwest::Method::POST, "/v1/api-keys", Some(&body), None).await?)
        }
        KeyCommand::Revoke { id } => {
            let c = conn.client("dev-api-key")?;
            print(&c.call(reqwest::Method::POST, &format!("/v1/api-keys/{id}/revoke"), None, None).await?)
        }
    }
}
