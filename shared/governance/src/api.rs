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

use crate::answers::{judge, ANSWERS_KEPT};
use crate::policy::{Decision, Evaluation, Meta, Policies};
use aos_core::roles::{Permission, API_OPERATIONS};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
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

/// The API operations' schema, parsed once.
pub(crate) fn api_schema_parsed() -> &'static cedar_policy::Schema {
    static PARSED: std::sync::LazyLock<cedar_policy::Schema> = std::sync::LazyLock::new(|| {
        cedar_policy::Schema::from_cedarschema_str(crate::api::api_schema())
            .expect("the generated API schema is valid Cedar")
            .0
    });
    &PARSED
}

/// The API's action entities (operations in their permission groups, groups in `api`),
/// which a request's entities must hold for `action in …` to see the groups.
pub(crate) fn api_action_entities() -> &'static [cedar_policy::Entity] {
    static ACTIONS: std::sync::LazyLock<Vec<cedar_policy::Entity>> = std::sync::LazyLock::new(|| {
        api_schema_parsed().action_entities().expect("the schema's actions are entities").iter().cloned().collect()
    });
    &ACTIONS
}

/// Whether `policy` is about API operations (its action scope names them) rather than
/// steps (any action, or `AOS::Action::"call"`).
pub(crate) fn about_api(policy: &cedar_policy::Policy) -> Result<bool, String> {
    let Ok(json) = policy.to_json() else { return Ok(false) };
    let action = &json["action"];
    let mut ids: Vec<&str> = Vec::new();
    if let Some(id) = action["entity"]["id"].as_str() {
        ids.push(id);
    }
    for e in action["entities"].as_array().into_iter().flatten() {
        ids.extend(e["id"].as_str());
    }
    let api = ids.iter().filter(|id| crate::api::is_api_action(id)).count();
    match (api, ids.len()) {
        (0, _) => Ok(false),
        (a, n) if a == n => Ok(true),
        _ => {
            Err("a policy is about steps (AOS::Action::\"call\") or about API operations, not both: write two"
                .to_owned())
        }
    }
}

/// Whether an API policy forbids every operation of every key: no principal or resource
/// constraint, the whole `api` group, no condition.
pub(crate) fn forbids_every_operation(policy: &cedar_policy::Policy) -> bool {
    if policy.effect() != cedar_policy::Effect::Forbid {
        return false;
    }
    let Ok(json) = policy.to_json() else { return false };
    let all = |k: &str| json[k]["op"] == "All";
    let whole_group = json["action"]["entity"]["id"] == crate::api::API_GROUP
        || json["action"]["entities"].as_array().is_some_and(|a| a.iter().any(|e| e["id"] == crate::api::API_GROUP));
    all("principal") && all("resource") && whole_group && json["conditions"].as_array().is_none_or(Vec::is_empty)
}

impl Policies {
    /// Whether the set holds policies about API operations.
    pub fn has_api_policies(&self) -> bool {
        self.api.iter().any(|s| !s.is_empty())
    }

    /// Judges one API request (see [`crate::api`]): allowed unless a policy about API
    /// operations forbids it (the highest category that applies decides, as for steps).
    /// Never asks for an approval; a request that cannot be described is refused.
    pub fn evaluate_api(&self, f: &crate::api::ApiFacts) -> Evaluation {
        let allowed = |notes: Vec<String>| {
            let mut reasons = vec!["no policy about API operations applies; the key's role decides".to_owned()];
            reasons.extend(notes);
            Evaluation::plain(Decision::Allow, reasons)
        };
        if !self.has_api_policies() {
            return allowed(Vec::new());
        }
        let (request, entities) = match self.api_request(f) {
            Ok(r) => r,
            Err(e) => return self.undescribable(&e.to_string()),
        };
        let judged = judge(&self.api, &request, &entities);
        let applied: Vec<&Meta> = judged.applied.iter().filter_map(|id| self.meta.get(id)).collect();
        match applied.iter().map(|m| m.category).max_by_key(|c| c.priority()) {
            Some(top) => {
                let deciding: Vec<&Meta> = applied.into_iter().filter(|m| m.category == top).collect();
                self.decided(top, &deciding, judged.notes)
            }
            None => allowed(judged.notes),
        }
    }

    /// An API request as Cedar has it: the key in its tenant, the operation, the tenant.
    fn api_request(
        &self,
        f: &crate::api::ApiFacts,
    ) -> Result<(cedar_policy::Request, std::sync::Arc<cedar_policy::Entities>), Box<dyn std::error::Error>> {
        use cedar_policy::{Entity, RestrictedExpression as X};
        let key_type = cedar_policy::EntityTypeName::from_str("AOS::ApiKey")?;
        let (tenant, key) = (self.uid(&self.names.tenant, &f.tenant), self.uid(&key_type, &f.key_id));
        let cache_key = format!("api{:?}{:?}{:?}{}{:?}", f.tenant, f.key_id, f.role, f.approval_level, f.permissions);
        let kept = self.entities.lock().expect("policy entities").get(&cache_key).cloned();
        let entities = match kept {
            Some(e) => e,
            None => {
                let caller = Entity::new(
                    key.clone(),
                    [
                        ("role".to_owned(), X::new_string(f.role.clone())),
                        ("approval_level".to_owned(), X::new_long(i64::from(f.approval_level))),
                        ("permissions".to_owned(), X::new_set(f.permissions.iter().map(|p| X::new_string(p.clone())))),
                    ]
                    .into(),
                    [tenant.clone()].into(),
                )?;
                let all = api_action_entities().iter().cloned().chain([Entity::with_uid(tenant.clone()), caller]);
                let e = std::sync::Arc::new(cedar_policy::Entities::from_entities(all, None)?);
                let mut kept = self.entities.lock().expect("policy entities");
                if kept.len() >= ANSWERS_KEPT {
                    kept.clear();
                }
                kept.insert(cache_key, std::sync::Arc::clone(&e));
                e
            }
        };
        let secs = f.now_ms / 1000;
        let as_long = |v: u64| X::new_long(i64::try_from(v).unwrap_or(i64::MAX));
        let context = cedar_policy::Context::from_pairs([
            ("method".to_owned(), X::new_string(f.method.clone())),
            ("path".to_owned(), X::new_string(f.path.clone())),
            ("hour_utc".to_owned(), as_long((secs % 86_400) / 3600)),
            ("weekday".to_owned(), as_long((secs / 86_400 + 3) % 7 + 1)),
            ("plan".to_owned(), X::new_string(f.plan.clone())),
        ])?;
        let action = cedar_policy::EntityUid::from_str(&format!("AOS::Action::{:?}", f.operation))?;
        let request = cedar_policy::Request::new(key, action, tenant, context, Some(api_schema_parsed()))?;
        Ok((request, entities))
    }
}
