//! The API's operations as Cedar actions: a tenant's policies may narrow what its keys
//! do through the API (who may cancel runs, when secrets may change, …) beyond what their
//! roles allow. Never wider: a route's permission is checked first, and a policy can only
//! forbid (or, of a higher category, let by what a lower one forbids).
//!
//! Each operation (`AOS::Action::"runs.cancel"`) is in the action group of the
//! permission its route needs (`AOS::Action::"runs:write"`), and every group in
//! `AOS::Action::"api"`. The principal is the caller's key (`AOS::ApiKey`, in its tenant,
//! with its `role`, `approval_level` and `permissions`), the resource its tenant, the
//! context the request's `method`, `path`, `hour_utc`, `weekday` and the tenant's `plan`.
//!
//! A policy about API operations names them in its action scope (`action ==
//! AOS::Action::"secrets.put"`, `action in AOS::Action::"api"`); a policy with any other
//! action scope is about steps (`AOS::Action::"call"`), so the policies tenants wrote for
//! steps keep their meaning and validate as before.

use aos_core::roles::{Permission, API_OPERATIONS};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The action group holding every API operation.
pub const API_GROUP: &str = "api";

/// The Cedar schema of API operations (generated from the permission table).
pub fn api_schema() -> &'static str {
    &API_SCHEMA
}

static API_SCHEMA: LazyLock<String> = LazyLock::new(|| {
    let mut groups: Vec<Permission> = API_OPERATIONS.iter().map(|(_, p)| *p).collect();
    groups.sort();
    groups.dedup();
    let mut s = String::from(
        "// The Cedar schema of AOS's API operations: a tenant's policies over what its keys do.\n\
         // Generated from the permission table (aos_core::roles::API_OPERATIONS).\n\
         namespace AOS {\n  entity Tenant;\n\
         // A caller's key, in its tenant: its role, the approval level it decides at (0: none)\n\
         // and the permissions it holds (`runs:write`, ...).\n\
         entity ApiKey in [Tenant] = {\n    \"role\": String,\n    \"approval_level\": Long,\n    \"permissions\": Set<String>,\n  };\n",
    );
    s.push_str(&format!("  action \"{API_GROUP}\";\n"));
    for g in &groups {
        s.push_str(&format!("  action \"{g}\" in [\"{API_GROUP}\"];\n"));
    }
    for (name, permission) in API_OPERATIONS {
        s.push_str(&format!(
            "  action \"{name}\" in [\"{permission}\"] appliesTo {{\n    principal: [ApiKey],\n    resource: [Tenant],\n    \
             context: {{ \"method\": String, \"path\": String, \"hour_utc\": Long, \"weekday\": Long, \"plan\": String }}\n  }};\n"
        ));
    }
    s.push_str("}\n");
    s
});

/// Whether `id` names an API operation or one of its groups.
pub(crate) fn is_api_action(id: &str) -> bool {
    id == API_GROUP || API_OPERATIONS.iter().any(|(name, p)| *name == id || p.as_str() == id)
}

/// The request a decision is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFacts {
    /// The caller's tenant.
    pub tenant: String,
    /// The caller's key.
    pub key_id: String,
    /// Its role.
    pub role: String,
    /// The approval level it decides at (0: none).
    pub approval_level: u8,
    /// The permissions it holds.
    pub permissions: Vec<String>,
    /// The operation (`runs.cancel`).
    pub operation: String,
    /// The request's method and path.
    pub method: String,
    /// Its path.
    pub path: String,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// The tenant's plan.
    pub plan: String,
}
