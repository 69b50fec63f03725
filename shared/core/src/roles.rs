//! Roles and permissions: the one table every route checks (on `aos dev` and in each API
//! Lambda), and the approval level each role may decide at.
//!
//! A key has a role; it may narrow the role's permissions with scopes and its approval
//! level below the role's, never widen either. A key can only be created by a caller who
//! holds everything the new key would hold.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Permission {
    /// List the skills.
    #[serde(rename = "skills:read")]
    SkillsRead,
    /// Read runs and their steps.
    #[serde(rename = "runs:read")]
    RunsRead,
    /// Submit and cancel runs.
    #[serde(rename = "runs:write")]
    RunsWrite,
    /// Read workflows and their executions.
    #[serde(rename = "workflows:read")]
    WorkflowsRead,
    /// Apply workflow specs.
    #[serde(rename = "workflows:write")]
    WorkflowsWrite,
    /// Start and cancel executions.
    #[serde(rename = "executions:write")]
    ExecutionsWrite,
    /// List approvals.
    #[serde(rename = "approvals:read")]
    ApprovalsRead,
    /// Decide approvals (up to the key's approval level).
    #[serde(rename = "approvals:decide")]
    ApprovalsDecide,
    /// List the names of the tenant's secrets (never their values).
    #[serde(rename = "secrets:read")]
    SecretsRead,
    /// Set and delete the tenant's secrets.
    #[serde(rename = "secrets:write")]
    SecretsWrite,
    /// List the tenant's API keys.
    #[serde(rename = "keys:read")]
    KeysRead,
    /// Create and revoke the tenant's API keys.
    #[serde(rename = "keys:write")]
    KeysWrite,
    /// Change the tenant's settings (retention).
    #[serde(rename = "tenant:write")]
    TenantWrite,
    /// Read the tenant's policies.
    #[serde(rename = "policies:read")]
    PoliciesRead,
    /// Change the tenant's policies.
    #[serde(rename = "policies:write")]
    PoliciesWrite,
    /// Read the tenant's audit log.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Read the tenant's feature flags.
    #[serde(rename = "flags:read")]
    FlagsRead,
    /// Change the tenant's feature flags.
    #[serde(rename = "flags:write")]
    FlagsWrite,
    /// Read the tenant's credits: balance, grants and ledger.
    #[serde(rename = "credits:read")]
    CreditsRead,
    /// Create tenants, grant them credits, and act on any tenant's keys and settings
    /// (operators only).
    #[serde(rename = "tenants:admin")]
    TenantsAdmin,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 20] = [
        Permission::SkillsRead,
        Permission::RunsRead,
        Permission::RunsWrite,
        Permission::WorkflowsRead,
        Permission::WorkflowsWrite,
        Permission::ExecutionsWrite,
        Permission::ApprovalsRead,
        Permission::ApprovalsDecide,
        Permission::SecretsRead,
        Permission::SecretsWrite,
        Permission::KeysRead,
        Permission::KeysWrite,
        Permission::TenantWrite,
        Permission::PoliciesRead,
        Permission::PoliciesWrite,
        Permission::AuditRead,
        Permission::FlagsRead,
        Permission::FlagsWrite,
        Permission::CreditsRead,
        Permission::TenantsAdmin,
    ];

    /// Its name, as keys' scopes and error messages spell it (`runs:write`).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::SkillsRead => "skills:read",
            Permission::RunsRead => "runs:read",
            Permission::RunsWrite => "runs:write",
            Permission::WorkflowsRead => "workflows:read",
            Permission::WorkflowsWrite => "workflows:write",
            Permission::ExecutionsWrite => "executions:write",
            Permission::ApprovalsRead => "approvals:read",
            Permission::ApprovalsDecide => "approvals:decide",
            Permission::SecretsRead => "secrets:read",
            Permission::SecretsWrite => "secrets:write",
            Permission::KeysRead => "keys:read",
            Permission::KeysWrite => "keys:write",
            Permission::TenantWrite => "tenant:write",
            Permission::PoliciesRead => "policies:read",
            Permission::PoliciesWrite => "policies:write",
            Permission::AuditRead => "audit:read",
            Permission::FlagsRead => "flags:read",
            Permission::FlagsWrite => "flags:write",
            Permission::CreditsRead => "credits:read",
            Permission::TenantsAdmin => "tenants:admin",
        }
    }

    /// The permission named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Role of an API key.
/// The API's operations as policies name them (`AOS::Action::"runs.create"`) and the
/// permission a caller's key must hold for each: the one permission table. Every route
/// but `/healthz` is one operation (the route table maps each to its name), and the
/// Cedar schema's API actions are these, each in the action group of its permission.
pub const API_OPERATIONS: [(&str, Permission); 40] = [
    ("skills.list", Permission::SkillsRead),
    ("runs.create", Permission::RunsWrite),
    ("runs.list", Permission::RunsRead),
    ("runs.get", Permission::RunsRead),
    ("runs.steps", Permission::RunsRead),
    ("runs.events", Permission::RunsRead),
    ("runs.cancel", Permission::RunsWrite),
    ("runs.simulate", Permission::RunsRead),
    ("tenants.create", Permission::TenantsAdmin),
    ("tenants.retention", Permission::TenantWrite),
    ("tenants.plan", Permission::TenantsAdmin),
    ("keys.create", Permission::KeysWrite),
    ("keys.list", Permission::KeysRead),
    ("keys.revoke", Permission::KeysWrite),
    ("workflows.apply", Permission::WorkflowsWrite),
    ("workflows.get", Permission::WorkflowsRead),
    ("workflows.simulate", Permission::WorkflowsRead),
    ("executions.start", Permission::ExecutionsWrite),
    ("executions.get", Permission::WorkflowsRead),
    ("executions.events", Permission::WorkflowsRead),
    ("executions.cancel", Permission::ExecutionsWrite),
    ("approvals.list", Permission::ApprovalsRead),
    ("approvals.decide", Permission::ApprovalsDecide),
    ("secrets.list", Permission::SecretsRead),
    ("secrets.put", Permission::SecretsWrite),
    ("secrets.delete", Permission::SecretsWrite),
    ("policies.apply", Permission::PoliciesWrite),
    ("policies.list", Permission::PoliciesRead),
    ("policies.evaluate", Permission::PoliciesRead),
    ("audit.list", Permission::AuditRead),
    ("flags.put", Permission::FlagsWrite),
    ("flags.list", Permission::FlagsRead),
    ("flags.get", Permission::FlagsRead),
    ("flags.evaluate", Permission::FlagsRead),
    ("credits.get", Permission::CreditsRead),
    ("credits.ledger", Permission::CreditsRead),
    ("credits.grant", Permission::TenantsAdmin),
    ("quotas.get", Permission::CreditsRead),
    ("usage.get", Permission::CreditsRead),
    // The MCP endpoint: listing its tools needs the skills; each tool holds the caller to
    // what it does (runs:write to call a skill or submit, runs:read to read).
    ("mcp.call", Permission::SkillsRead),
];

/// The permission operation `name` needs (`None`: no such operation).
pub fn operation_permission(name: &str) -> Option<Permission> {
    API_OPERATIONS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in its tenant; decides approvals at level 5 (owner). Keys stored before
    /// roles existed (`tenant`) read as this.
    #[serde(alias = "tenant")]
    Admin,
    /// Everything in its tenant, as the people who run the platform; level 4.
    Infra,
    /// Builds and runs: runs, workflows, executions, approvals; reads settings; level 3.
    Dev,
    /// A service calling AOS: submits and reads runs and executions; decides nothing.
    Machine,
    /// Reads everything but secrets' names and keys; decides nothing.
    Readonly,
    /// Manages tenants and any tenant's keys and settings; runs nothing.
    Operator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [Role::Admin, Role::Infra, Role::Dev, Role::Machine, Role::Readonly, Role::Operator];

    /// Its name (`admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Infra => "infra",
            Role::Dev => "dev",
            Role::Machine => "machine",
            Role::Readonly => "readonly",
            Role::Operator => "operator",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether the role holds `p`: the permission table.
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Role::Admin | Role::Infra => p != P::TenantsAdmin,
            Role::Dev => matches!(
                p,
                P::SkillsRead
                    | P::RunsRead
                    | P::RunsWrite
                    | P::WorkflowsRead
                    | P::WorkflowsWrite
                    | P::ExecutionsWrite
                    | P::ApprovalsRead
                    | P::ApprovalsDecide
                    | P::SecretsRead
                    | P::PoliciesRead
                    | P::FlagsRead
                    | P::AuditRead
                    | P::CreditsRead
            ),
            Role::Machine => matches!(
                p,
                P::SkillsRead | P::RunsRead | P::RunsWrite | P::WorkflowsRead | P::ExecutionsWrite | P::ApprovalsRead
            ),
            Role::Readonly => matches!(
                p,
                P::SkillsRead
                    | P::RunsRead
                    | P::WorkflowsRead
                    | P::ApprovalsRead
                    | P::PoliciesRead
                    | P::FlagsRead
                    | P::AuditRead
                    | P::CreditsRead
            ),
            Role::Operator => matches!(p, P::TenantsAdmin | P::KeysRead | P::KeysWrite | P::TenantWrite),
        }
    }

    /// The highest approval level (1–5) the role decides at; 0: it decides nothing.
    pub fn max_approval_level(self) -> u8 {
        match self {
            Role::Admin => 5,
            Role::Infra => 4,
            Role::Dev => 3,
            Role::Machine | Role::Readonly | Role::Operator => 0,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one key may do: its role, narrowed by its scopes and its approval level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The key's role.
    pub role: Role,
    /// The permissions the key is limited to (`None`: all of its role's).
    pub scopes: Option<BTreeSet<Permission>>,
    /// The key's approval level, at most its role's (`None`: its role's).
    pub approval_level: Option<u8>,
}

impl Grant {
    /// A grant of everything `role` holds.
    pub fn of(role: Role) -> Self {
        Self { role, scopes: None, approval_level: None }
    }

    /// Whether the key holds `p`.
    pub fn allows(&self, p: Permission) -> bool {
        self.role.allows(p) && self.scopes.as_ref().is_none_or(|s| s.contains(&p))
    }

    /// The permissions the key holds.
    pub fn permissions(&self) -> BTreeSet<Permission> {
        Permission::ALL.into_iter().filter(|p| self.allows(*p)).collect()
    }

    /// The level the key decides approvals at (0 without `approvals:decide`).
    pub fn approval_level(&self) -> u8 {
        if !self.allows(Permission::ApprovalsDecide) {
            return 0;
        }
        let max = self.role.max_approval_level();
        self.approval_level.map_or(max, |l| l.min(max))
    }

    /// Whether a caller holding `self` may create a key holding `other`: every permission
    /// and the approval level of the new key must be the caller's already. Returns what
    /// the caller lacks, `None` when it may.
    pub fn lacks_for(&self, other: &Grant) -> Option<String> {
        let mine = self.permissions();
        let missing: Vec<&str> = other.permissions().difference(&mine).map(|p| p.as_str()).collect();
        if !missing.is_empty() {
            return Some(format!("a {} key would hold {}, which this key does not", other.role, missing.join(", ")));
        }
        (other.approval_level() > self.approval_level()).then(|| {
            format!(
                "a key deciding approvals at level {} needs a caller at that level (this key: {})",
                other.approval_level(),
                self.approval_level()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_old_tenant_keys_read_as_admin() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).expect("json"), serde_json::json!(p.as_str()));
        }
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).expect("json"), serde_json::json!(r.as_str()));
        }
        assert_eq!(serde_json::from_value::<Role>(serde_json::json!("tenant")).expect("old"), Role::Admin);
    }

    #[test]
    fn scopes_and_levels_only_narrow() {
        let dev = Grant::of(Role::Dev);
        assert_eq!(dev.approval_level(), 3);
        let narrowed = Grant {
            role: Role::Dev,
            scopes: Some([Permission::RunsRead, Permission::ApprovalsDecide].into()),
            approval_level: Some(9),
        };
        assert!(narrowed.allows(Permission::RunsRead) && !narrowed.allows(Permission::RunsWrite));
        assert_eq!(narrowed.approval_level(), 3, "never above the role's");
        let scoped_out = Grant { role: Role::Admin, scopes: Some([Permission::RunsRead].into()), approval_level: None };
        assert_eq!(scoped_out.approval_level(), 0, "no approvals:decide, no level");
        assert_eq!(Grant::of(Role::Readonly).approval_level(), 0);
    }

    #[test]
    fn a_key_grants_only_what_its_holder_holds() {
        let dev = Grant::of(Role::Dev);
        assert!(dev.lacks_for(&Grant::of(Role::Machine)).is_none());
        assert!(dev.lacks_for(&Grant::of(Role::Readonly)).is_none());
        let admin = dev.lacks_for(&Grant::of(Role::Admin)).expect("dev cannot make admins");
        assert!(admin.contains("keys:write") && admin.contains("secrets:write"), "{admin}");
        let lower = Grant { role: Role::Dev, scopes: None, approval_level: Some(2) };
        let higher = lower.lacks_for(&dev).expect("level 2 cannot make level 3");
        assert!(higher.contains("level 3"), "{higher}");
        assert!(Grant::of(Role::Admin).lacks_for(&Grant::of(Role::Operator)).is_some());
    }
}
