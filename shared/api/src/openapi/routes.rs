//! What the route table does not say of each route: its summary and description, its
//! request body (and a working example of it), its query parameters, and its success
//! answers with the links they lead on by.

use super::{Answer, Schemas};
use crate::routes::Route;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::IntoParams;

/// What the route table does not say of a route: its summary, bodies and parameters.
pub(super) struct Doc {
    pub(super) summary: &'static str,
    pub(super) description: &'static str,
    /// Success statuses (the first is the usual one) and what they mean.
    pub(super) ok: &'static [(u16, &'static str)],
    pub(super) answer: Answer,
    /// The request body: its schema, and whether YAML is accepted too.
    pub(super) body: Option<(RefOr<Schema>, bool)>,
    pub(super) query: Vec<utoipa::openapi::path::Parameter>,
    /// Takes an `Idempotency-Key`.
    pub(super) idempotent: bool,
    /// Answers `409` (a conflict: a newer version, an idempotency key in use, a state
    /// that does not allow the change).
    pub(super) conflicts: bool,
    /// Answers `402` (a budget refused at submission).
    pub(super) budgets: bool,
    /// A workflow route: `501` where the backend has no workflows configured.
    pub(super) workflows: bool,
}

impl Doc {
    fn new(summary: &'static str, answer: Answer) -> Self {
        Self {
            summary,
            description: "",
            ok: &[(200, "OK")],
            answer,
            body: None,
            query: Vec::new(),
            idempotent: false,
            conflicts: false,
            budgets: false,
            workflows: false,
        }
    }
    fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }
    fn ok(mut self, ok: &'static [(u16, &'static str)]) -> Self {
        self.ok = ok;
        self
    }
    fn body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some((schema, false));
        self
    }
    fn yaml_body(mut self, schema: RefOr<Schema>) -> Self {
        self.body = Some((schema, true));
        self
    }
    fn query<P: IntoParams>(mut self) -> Self {
        self.query.extend(P::into_params(|| Some(ParameterIn::Query)));
        self
    }
    fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self.conflicts = true;
        self
    }
    fn conflicts(mut self) -> Self {
        self.conflicts = true;
        self
    }
    fn budgets(mut self) -> Self {
        self.budgets = true;
        self
    }
    fn workflows(mut self) -> Self {
        self.workflows = true;
        self
    }
}

pub(super) const CREATED_OR_REPEATED: &[(u16, &str)] =
    &[(201, "Created"), (200, "A repeat of an earlier request (same Idempotency-Key and body): its answer")];

/// What a success answer leads to (OpenAPI links, which clients and schemathesis' stateful
/// tests follow): the link's name, the operation, its path parameter and the answer's
/// field that fills it.
pub(super) fn links(route: Route) -> &'static [(&'static str, &'static str, &'static str, &'static str)] {
    match route {
        Route::RunsCreate => &[
            ("GetRun", "runs_get", "id", "id"),
            ("GetSteps", "runs_steps", "id", "id"),
            ("FollowEvents", "runs_events", "id", "id"),
            ("CancelRun", "runs_cancel", "id", "id"),
        ],
        Route::ExecutionsStart => &[
            ("GetExecution", "executions_get", "id", "id"),
            ("FollowEvents", "executions_events", "id", "id"),
            ("CancelExecution", "executions_cancel", "id", "id"),
        ],
        Route::WorkflowsApply => &[
            ("GetWorkflow", "workflows_get", "name", "name"),
            ("StartExecution", "executions_start", "name", "name"),
            ("SimulateWorkflow", "workflows_simulate", "name", "name"),
        ],
        Route::FlagsPut => &[("GetFlag", "flags_get", "key", "key"), ("EvaluateFlag", "flags_evaluate", "key", "key")],
        _ => &[],
    }
}

/// A request body that works as it is, for people and for generated tests to start from.
pub(super) fn body_example(route: Route) -> Option<serde_json::Value> {
    let transform =
        serde_json::json!({"id": "double", "skill": "json_transform", "input": {"expression": "n", "data": {"n": 2}}});
    Some(match route {
        Route::RunsCreate => serde_json::json!({"input": {"n": 2}, "plan": [transform]}),
        Route::RunsSimulate => serde_json::json!({"plan": [transform], "budget_cents": 100}),
        Route::WorkflowsApply => serde_json::json!({"name": "example", "nodes": [transform]}),
        Route::ExecutionsStart => serde_json::json!({"input": {"n": 2}}),
        _ => return None,
    })
}

const WAIT_NOTE: &str = "With `?wait=`, answers when it has finished or when the time is up (at most 25 s on AWS, where API Gateway ends a request at 29 s: ask again), whichever comes first.";

pub(super) fn doc(route: Route, s: &mut Schemas) -> Doc {
    use crate::{audit, credits, flags, flows, plans, policies, runs, secrets, tenants, usage, views};
    match route {
        Route::Healthz => {
            Doc::new("Whether the API is up", Answer::json(s.of::<crate::routes::Health>())).describe("No key needed.")
        }
        Route::OpenApi => Doc::new(
            "This document",
            Answer::json(ObjectBuilder::new().description(Some("An OpenAPI 3.1 document.")).into()),
        )
        .describe("No key needed."),
        Route::SkillsList => Doc::new("The deployment's skills", Answer::json(s.of::<crate::routes::SkillList>())),
        Route::RunsCreate => Doc::new("Submit a run", Answer::json(s.of::<views::RunView>()))
            .describe("A plan of skill steps, or a goal that a planner turns into steps. Every step is checkpointed, policy-checked and charged. With `?wait=`, answers when the run has finished or the time is up.")
            .ok(CREATED_OR_REPEATED)
            .body(s.of::<aos_runtime::runs::SubmitRun>())
            .query::<runs::WaitQuery>()
            .idempotent()
            .budgets(),
        Route::RunsList => Doc::new("List runs, newest first", Answer::json(s.of::<views::RunList>())).query::<runs::ListQuery>(),
        Route::RunsGet => Doc::new("A run", Answer::json(s.of::<views::RunView>())).describe(WAIT_NOTE).query::<runs::WaitQuery>(),
        Route::RunsSteps => Doc::new("A run's steps and its checkpoint chain", Answer::json(s.of::<views::StepsView>())),
        Route::RunsEvents => Doc::new(
            "Follow a run as Server-Sent Events",
            Answer::Events("Events `step` (data: the step as `GET /v1/runs/{id}/steps` shows it; a finished step's event id is its index) as steps change, then `run` (the run) at its end. Send `Last-Event-ID` to resume after a finished step. A stream ends after 25 s on AWS: reconnect with the last id.", &["step", "run"]),
        )
        .conflicts(),
        Route::RunsCancel => Doc::new("Cancel a run", Answer::json(s.of::<views::RunView>())).conflicts(),
        Route::RunsSimulate => Doc::new("CostSim: cost, latency and risk of a plan before it runs", Answer::json(s.of::<aos_runtime::credits::SimulationAnswer>()))
            .body(s.of::<credits::SimulateRun>()),
        Route::TenantsCreate => Doc::new("Create a tenant and its first key (operators)", Answer::json(s.of::<tenants::TenantCreated>()))
            .ok(&[(201, "Created")])
            .body(s.of::<tenants::NewTenant>())
            .conflicts(),
        Route::TenantsRetention => Doc::new("Set how long a tenant's finished runs are kept", Answer::json(s.of::<tenants::TenantView>()))
            .body(s.of::<tenants::NewRetention>()),
        Route::TenantsPlan => Doc::new("Set a tenant's plan (operators)", Answer::json(s.of::<tenants::TenantView>()))
            .body(s.of::<plans::NewPlan>()),
        Route::KeysCreate => Doc::new("Create an API key", Answer::json(s.of::<tenants::NewKeyView>()))
            .describe("The answer holds the key's secret, shown this once.")
            .ok(&[(201, "Created")])
            .body(s.of::<tenants::NewKey>()),
        Route::KeysList => Doc::new("The tenant's API keys", Answer::json(s.of::<tenants::KeyList>())),
        Route::KeysRevoke => Doc::new("Revoke an API key", Answer::json(s.of::<views::KeyView>())),
        Route::WorkflowsApply => Doc::new("Store a workflow's spec as its next version", Answer::json(s.of::<flows::WorkflowView>()))
            .describe("JSON (`application/json`) or YAML (`application/yaml`). 200 when the spec is the latest version's already.")
            .ok(&[(201, "Created: a new version"), (200, "The same spec as the latest version")])
            .yaml_body(s.of::<aos_core::workflow::WorkflowSpec>())
            .workflows(),
        Route::WorkflowsGet => Doc::new("A workflow's version", Answer::json(s.of::<flows::WorkflowView>()))
            .query::<flows::VersionQuery>()
            .workflows(),
        Route::WorkflowsSimulate => Doc::new("CostSim for a stored workflow", Answer::json(s.of::<aos_runtime::credits::SimulationAnswer>()))
            .body(s.of::<credits::SimulateWorkflow>())
            .workflows(),
        Route::ExecutionsStart => Doc::new("Start an execution of a workflow", Answer::json(s.of::<flows::ExecutionView>()))
            .ok(CREATED_OR_REPEATED)
            .body(s.of::<aos_runtime::workflows::StartExecution>())
            .idempotent()
            .budgets()
            .workflows(),
        Route::ExecutionsGet => Doc::new("An execution", Answer::json(s.of::<flows::ExecutionView>()))
            .describe(WAIT_NOTE)
            .query::<runs::WaitQuery>()
            .workflows(),
        Route::ExecutionsEvents => Doc::new(
            "Follow an execution as Server-Sent Events",
            Answer::Events("Events `node` (data: the node as `GET /v1/executions/{id}` shows it; a finished node's event id is the node's id) as nodes change, `compensation` as compensations run, then `execution` at its end. Send `Last-Event-ID` to resume after a finished node. A stream ends after 25 s on AWS: reconnect with the last id.", &["node", "compensation", "execution"]),
        )
        .workflows(),
        Route::ExecutionsCancel => Doc::new("Cancel an execution", Answer::json(s.of::<flows::ExecutionView>())).conflicts().workflows(),
        Route::ApprovalsList => Doc::new("Approvals, newest first", Answer::json(s.of::<flows::ApprovalList>()))
            .query::<flows::ApprovalQuery>()
            .workflows(),
        Route::ApprovalsDecide => Doc::new("Approve or reject", Answer::json(s.of::<flows::ApprovalView>()))
            .body(s.of::<flows::DecisionBody>())
            .conflicts()
            .workflows(),
        Route::SecretsList => Doc::new("The tenant's secrets, by name (never their values)", Answer::json(s.of::<secrets::SecretList>())),
        Route::SecretsPut => Doc::new("Set a secret", Answer::json(s.of::<secrets::SecretWritten>()))
            .ok(&[(201, "Created"), (200, "Its value replaced")])
            .body(s.of::<secrets::NewValue>()),
        Route::SecretsDelete => Doc::new("Delete a secret", Answer::Empty).ok(&[(204, "Deleted")]),
        Route::PoliciesPut => Doc::new("Apply a new version of the tenant's Cedar policies", Answer::json(s.of::<policies::PolicyView>()))
            .ok(&[(201, "Created")])
            .body(s.of::<policies::NewPolicies>())
            .conflicts(),
        Route::PoliciesList => Doc::new("The tenant's policy versions", Answer::json(s.of::<policies::PolicyList>()))
            .query::<policies::VersionsQuery>(),
        Route::PoliciesEvaluate => Doc::new("What the policies say of a sample step or API request", Answer::json(s.of::<policies::EvaluationView>()))
            .body(s.of::<policies::SampleStep>()),
        Route::AuditList => Doc::new("The tenant's audit log", Answer::json(s.of::<audit::AuditPage>())).query::<audit::AuditQuery>(),
        Route::FlagsPut => Doc::new("Set a feature flag", Answer::json(s.of::<flags::FlagView>()))
            .ok(&[(201, "Created"), (200, "Changed")])
            .body(s.of::<flags::SetFlag>())
            .conflicts(),
        Route::FlagsList => Doc::new("The tenant's feature flags", Answer::json(s.of::<flags::FlagList>())),
        Route::FlagsGet => Doc::new("A feature flag", Answer::json(s.of::<flags::FlagView>())),
        Route::FlagsEvaluate => Doc::new("What a flag says for a stable key", Answer::json(s.of::<flags::FlagEvaluation>()))
            .describe("Any other query parameter is an attribute its rules may test.")
            .query::<flags::EvaluateQuery>(),
        Route::CreditsGet => Doc::new("The tenant's credits", Answer::json(s.of::<credits::BookView>())),
        Route::CreditsLedger => Doc::new("The tenant's ledger, oldest first", Answer::json(s.of::<credits::LedgerPage>()))
            .query::<credits::LedgerQuery>(),
        Route::CreditsGrant => Doc::new("Grant credits to a tenant (operators)", Answer::json(s.of::<credits::GrantMade>()))
            .ok(&[(201, "Granted"), (200, "A repeat of the same grant: nothing more granted")])
            .body(s.of::<credits::NewGrant>()),
        Route::QuotasGet => Doc::new("Where the tenant stands on its plan's quotas", Answer::json(s.of::<plans::QuotasView>())),
        Route::UsageGet => Doc::new("The tenant's usage, grouped", Answer::json(s.of::<usage::UsageReport>())).query::<usage::UsageQuery>(),
        Route::Mcp => unreachable!("/mcp is described by MCP, not by this document"),
    }
}
