//! The API's OpenAPI 3.1 document, generated from the route table ([`Route::ALL`]: every
//! route, its method, path, operation and permission) and from the request and response
//! types the handlers use (their `ToSchema` derives): one definition serves the wire and
//! the description. Served at `GET /v1/openapi.json`, committed as `docs/openapi.json`
//! (a test fails when the two drift).

use crate::routes::Route;
use aos_core::ErrorCode;
use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    SecurityRequirement,
};
use utoipa::{IntoParams, ToSchema};

/// The component schemas the document refers to, gathered as routes name them, and the
/// error answers by status (one component each, which operations refer to).
#[derive(Default)]
struct Schemas(BTreeMap<String, RefOr<Schema>>, BTreeMap<u16, &'static str>);

impl Schemas {
    /// `T`'s schema (and those it refers to) in the components; a reference to it.
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        self.0.extend(nested);
        let name = T::name().into_owned();
        self.0.insert(name.clone(), T::schema());
        Ref::from_schema_name(name).into()
    }
}

/// How a route answers when it succeeds.
enum Answer {
    /// A JSON body.
    Json(Box<RefOr<Schema>>),
    /// No body (204).
    Empty,
    /// A stream of Server-Sent Events.
    Events(&'static str, &'static [&'static str]),
}

impl Answer {
    fn json(schema: RefOr<Schema>) -> Self {
        Self::Json(Box::new(schema))
    }
}

/// What the route table does not say of a route: its summary, bodies and parameters.
struct Doc {
    summary: &'static str,
    description: &'static str,
    /// Success statuses (the first is the usual one) and what they mean.
    ok: &'static [(u16, &'static str)],
    answer: Answer,
    /// The request body: its schema, and whether YAML is accepted too.
    body: Option<(RefOr<Schema>, bool)>,
    query: Vec<utoipa::openapi::path::Parameter>,
    /// Takes an `Idempotency-Key`.
    idempotent: bool,
    /// Answers `409` (a conflict: a newer version, an idempotency key in use, a state
    /// that does not allow the change).
    conflicts: bool,
    /// Answers `402` (a budget refused at submission).
    budgets: bool,
    /// A workflow route: `501` where the backend has no workflows configured.
    workflows: bool,
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

const CREATED_OR_REPEATED: &[(u16, &str)] =
    &[(201, "Created"), (200, "A repeat of an earlier request (same Idempotency-Key and body): its answer")];

/// What a success answer leads to (OpenAPI links, which clients and schemathesis' stateful
/// tests follow): the link's name, the operation, its path parameter and the answer's
/// field that fills it.
fn links(route: Route) -> &'static [(&'static str, &'static str, &'static str, &'static str)] {
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
fn body_example(route: Route) -> Option<serde_json::Value> {
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

fn doc(route: Route, s: &mut Schemas) -> Doc {
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

/// The error answer: `{"error": {"code", "message"}}`.
#[derive(serde::Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// An error's code and what to fix.
#[derive(serde::Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// The stable code.
    code: ErrorCode,
    /// What went wrong and what to fix (5xx: opaque, the cause is in the server log).
    message: String,
    /// The workflow node it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    /// What a client may act on beyond the message (a quota's figures, a budget's).
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<serde_json::Value>,
}

fn integer_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
        .description(Some(description))
        .build()
}

/// The `X-RateLimit-*` headers, on every answer of a tenant's request where the
/// deployment limits request rates.
fn rate_headers(r: ResponseBuilder) -> ResponseBuilder {
    r.header("X-RateLimit-Limit", integer_header("Requests per 60 s the tenant's plan allows."))
        .header("X-RateLimit-Remaining", integer_header("Requests that may be sent now."))
        .header("X-RateLimit-Reset", integer_header("Seconds until the bucket is full again."))
}

/// The error statuses `route` may answer, with what each means.
fn error_statuses(route: Route, d: &Doc, has_path_id: bool) -> Vec<(u16, &'static str)> {
    let mut out = Vec::new();
    let authed = route.permission().is_some();
    if d.body.is_some() || !d.query.is_empty() {
        out.push((400, "Malformed request (`ERR_MALFORMED_REQUEST`)"));
    }
    if authed {
        out.push((401, "Missing, unknown, expired or revoked API key (`ERR_UNAUTHENTICATED`)"));
    }
    if d.budgets {
        out.push((402, "The budget is below what the first step would cost (`ERR_BUDGET_EXCEEDED`)"));
    }
    if authed {
        out.push((403, "The key's role or scopes do not allow this, or a policy refused it (`ERR_PERMISSION_DENIED`, `ERR_POLICY_VIOLATION`)"));
    }
    if has_path_id || d.workflows || d.body.is_some() {
        out.push((404, "No such resource for this tenant (`ERR_NOT_FOUND`)"));
    }
    if d.conflicts {
        out.push((409, "A conflict: an Idempotency-Key in use or reused with another body, a newer version, or a state that does not allow it"));
    }
    if d.body.is_some() {
        out.push((413, "The body is larger than 256 KiB (`ERR_PAYLOAD_TOO_LARGE`)"));
        out.push((415, "The body's Content-Type is not one this route takes (`ERR_UNSUPPORTED_MEDIA_TYPE`)"));
    }
    if authed {
        out.push((422, "Invalid input: the message names the field to fix (`ERR_VALIDATION_FAILED` and others)"));
        out.push((429, "The tenant's request rate, a quota or its concurrent runs (`ERR_RATE_LIMIT_INTERNAL`, `ERR_QUOTA_EXCEEDED`, `ERR_RATE_LIMIT_CONCURRENT`); see Retry-After"));
    }
    out.push((500, "An internal error; the cause is in the server log (`ERR_INTERNAL`)"));
    if d.workflows {
        out.push((501, "This backend runs no workflows (`ERR_FEATURE_UNAVAILABLE`)"));
    }
    out.push((503, "A dependency is unavailable (`ERR_CIRCUIT_OPEN`)"));
    if d.body.is_some() {
        out.push((507, "The store is out of space or over a quota (`ERR_STORAGE_QUOTA_EXCEEDED`)"));
    }
    out
}

/// The component name of the error answer with `status`.
fn error_name(status: u16) -> String {
    format!("Error{status}")
}

/// The error answer with `status`: the error shape, the rate headers, and `Retry-After`
/// on a 429.
fn error_response(status: u16, meaning: &str, error: &RefOr<Schema>) -> utoipa::openapi::Response {
    let mut r = ResponseBuilder::new()
        .description(meaning)
        .content("application/json", ContentBuilder::new().schema(Some(error.clone())).build());
    r = rate_headers(r);
    if status == 429 {
        r = r.header("Retry-After", integer_header("Seconds to wait before sending again."));
    }
    r.build()
}

fn operation(route: Route, s: &mut Schemas) -> utoipa::openapi::path::Operation {
    let (_, path) = route.method_and_path();
    let d = doc(route, s);
    let operation_id = match route {
        Route::OpenApi => "openapi".to_owned(),
        _ => route.operation().map_or_else(|| "healthz".to_owned(), |op| op.replace('.', "_")),
    };
    let tag = route.operation().and_then(|op| op.split('.').next()).unwrap_or("health");
    let authed = route.permission().is_some();
    let mut description = d.description.to_owned();
    if let Some(p) = route.permission() {
        let needed = serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        description = format!("{description}\n\nNeeds the `{needed}` permission.").trim().to_owned();
    }
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id))
        .summary(Some(d.summary))
        .description(Some(description))
        .tag(tag);
    let ids: Vec<&str> =
        path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
    let errors = error_statuses(route, &d, !ids.is_empty());
    for id in &ids {
        let what = match *id {
            "name" if path.starts_with("/v1/workflows") => "The workflow's name.",
            "name" => "The secret's name.",
            "key" => "The flag's key.",
            _ => "The resource's id.",
        };
        op = op.parameter(
            ParameterBuilder::new()
                .name(*id)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(what))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)))),
        );
    }
    for p in d.query.iter().cloned() {
        op = op.parameter(p);
    }
    if d.idempotent {
        op = op.parameter(
            ParameterBuilder::new()
                .name("Idempotency-Key")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Makes a retry safe: the same key and body answer the first request's result; the same key with another body is a 409."))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)))),
        );
    }
    if matches!(d.answer, Answer::Events(..)) {
        op = op.parameter(
            ParameterBuilder::new()
                .name("Last-Event-ID")
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .description(Some("Resume after this finished step or node."))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
        );
    }
    if let Some((schema, yaml)) = d.body {
        let mut body = RequestBodyBuilder::new().required(Some(Required::True)).content(
            "application/json",
            ContentBuilder::new().schema(Some(schema.clone())).example(body_example(route)).build(),
        );
        if yaml {
            body = body.content("application/yaml", ContentBuilder::new().schema(Some(schema)).build());
        }
        op = op.request_body(Some(body.build()));
    }
    for (status, meaning) in d.ok {
        let mut r = ResponseBuilder::new().description(*meaning);
        match &d.answer {
            Answer::Json(schema) => {
                r = r.content("application/json", ContentBuilder::new().schema(Some((**schema).clone())).build());
            }
            Answer::Empty => {}
            Answer::Events(what, names) => {
                // One event of the stream, as SSE clients see it.
                let event = ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(*what))
                    .property(
                        "event",
                        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names.iter().copied())),
                    )
                    .property(
                        "data",
                        ObjectBuilder::new().schema_type(Type::String).description(Some("The JSON of what changed.")),
                    )
                    .property("id", ObjectBuilder::new().schema_type(Type::String))
                    .property("retry", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
                    .required("event")
                    .required("data");
                r = r.content("text/event-stream", ContentBuilder::new().schema(Some(event)).build());
            }
        }
        if authed {
            r = rate_headers(r);
        }
        for (name, operation_id, parameter, field) in links(route) {
            let link = utoipa::openapi::link::LinkBuilder::new()
                .operation_id(*operation_id)
                .parameter(*parameter, format!("$response.body#/{field}"))
                .build();
            r = r.link(*name, link);
        }
        op = op.response(status.to_string(), r.build());
    }
    for (status, meaning) in errors {
        s.1.entry(status).or_insert(meaning);
        op = op.response(status.to_string(), Ref::new(format!("#/components/responses/{}", error_name(status))));
    }
    if !authed {
        op = op.securities(Some(Vec::<SecurityRequirement>::new()));
    }
    op.build()
}

/// The OpenAPI document of every route.
pub fn document() -> OpenApi {
    let mut s = Schemas::default();
    let error = s.of::<ErrorBody>();
    let mut items: Vec<(&'static str, PathItem)> = Vec::new();
    for route in Route::ALL.into_iter().filter(|r| r.in_openapi()) {
        let (method, path) = route.method_and_path();
        let method = match method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            other => unreachable!("a route's method is one of the four, not {other}"),
        };
        let op = operation(route, &mut s);
        match items.iter_mut().find(|(p, _)| *p == path) {
            Some((_, item)) => item.merge_operations(PathItem::new(method, op)),
            None => items.push((path, PathItem::new(method, op))),
        }
    }
    // Parameters name these by reference.
    s.of::<aos_core::RunStatus>();
    s.of::<aos_runtime::ports::ApprovalStatus>();
    let mut paths = PathsBuilder::new();
    for (path, item) in items {
        paths = paths.path(path, item);
    }
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some("An AOS API key: `Authorization: Bearer aos_…`."))
        .build();
    let responses: Vec<(String, utoipa::openapi::Response)> =
        s.1.iter().map(|(status, meaning)| (error_name(*status), error_response(*status, meaning, &error))).collect();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(s.0)
        .responses_from_iter(responses)
        .security_scheme("bearer", SecurityScheme::Http(bearer))
        .security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "An AOS API key, as an alternative to the bearer header.",
            ))),
        )
        .build();
    let tags = [
        ("health", "Whether the API is up."),
        ("skills", "The skills steps call."),
        ("runs", "Durable runs: plans or goals, every step checkpointed, policy-checked and charged."),
        ("tenants", "Tenants (operators) and their settings."),
        ("keys", "API keys and their roles."),
        ("workflows", "Workflow specs (DAGs of nodes) and CostSim of them."),
        ("executions", "Executions of workflows."),
        ("approvals", "Human approvals of workflow nodes and of steps a policy holds back."),
        ("secrets", "A tenant's secrets, which steps use and nothing shows."),
        ("policies", "A tenant's Cedar policies, checked before every step and request."),
        ("audit", "A tenant's hash-chained audit log."),
        ("flags", "Feature flags."),
        ("credits", "Credits: the ledger, grants and balances."),
        ("quotas", "Plans and quotas."),
        ("usage", "Usage of finished runs."),
    ];
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("AOS API")
                .version(env!("CARGO_PKG_VERSION"))
                .license(Some(utoipa::openapi::info::LicenseBuilder::new().name("Apache-2.0").identifier(Some("Apache-2.0")).build()))
                .description(Some(
                    "The Agentic Operating System: AI-agent work run durably, every step checkpointed, exactly once in effect, policy-checked, budgeted in credits, approvable and replayable. Errors answer `{\"error\": {\"code\", \"message\"}}` with a stable code (the `ErrorCode` schema lists them all).",
                ))
                .build(),
        )
        .servers(Some([utoipa::openapi::server::ServerBuilder::new()
            .url("http://127.0.0.1:8787")
            .description(Some("`aos dev` on its default port (on AWS: the stack's ApiUrl output)"))
            .build()]))
        .paths(paths.build())
        .components(Some(components))
        .security(Some([SecurityRequirement::new("bearer", Vec::<String>::new()), SecurityRequirement::new("api_key", Vec::<String>::new())]))
        .tags(Some(tags.map(|(name, what)| TagBuilder::new().name(name).description(Some(what)).build())))
        .build()
}

/// The document as served and committed: pretty JSON, with a final newline.
pub fn document_json() -> String {
    // utoipa names the unsigned formats `u-int32`, `u-int64`; the usual names are `uint32`,
    // `uint64` (an unsigned integer is not an `int32`: its top half would read as out of range).
    // utoipa 5.4 writes a link's `operationId` as `operation_id` (no schema has that field).
    let mut text = document()
        .to_pretty_json()
        .expect("the document serializes")
        .replace("\"u-int", "\"uint")
        .replace("\"operation_id\":", "\"operationId\":");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const COMMITTED: &str = include_str!("../../../docs/openapi.json");

    #[test]
    fn the_committed_document_is_the_one_the_code_makes() {
        let made = document_json();
        if std::env::var_os("AOS_BLESS").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json"), &made).expect("write");
            return;
        }
        assert!(
            made == COMMITTED,
            "docs/openapi.json is stale: regenerate it with `aos openapi > docs/openapi.json` (or AOS_BLESS=1 cargo test -p aos-api openapi)"
        );
    }

    /// Every `$ref` in `v`.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// Each link names an operation of the document, one of its path parameters, and a
    /// field the answer it hangs on has (a required one), so a client can follow it.
    #[test]
    fn links_lead_to_operations_with_fields_the_answers_have() {
        let doc: Value = serde_json::from_str(&document_json()).expect("json");
        let ops: Vec<&Value> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .flat_map(|item| item.as_object().expect("item").values())
            .collect();
        let mut followed = 0;
        for op in &ops {
            for (status, answer) in op["responses"].as_object().expect("responses") {
                let Some(links) = answer.get("links").and_then(Value::as_object) else { continue };
                let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                let name = schema.as_str().and_then(|r| r.rsplit('/').next()).expect("a named answer");
                let required = &doc["components"]["schemas"][name]["required"];
                for (link_name, link) in links {
                    let target = ops.iter().find(|o| o["operationId"] == link["operationId"]);
                    let target = target.unwrap_or_else(|| panic!("{link_name} leads to {}", link["operationId"]));
                    for (param, expr) in link["parameters"].as_object().expect("parameters") {
                        assert!(
                            target["parameters"]
                                .as_array()
                                .expect("params")
                                .iter()
                                .any(|p| p["name"] == *param && p["in"] == "path"),
                            "{link_name}: {param} is a path parameter of {}",
                            link["operationId"]
                        );
                        let field =
                            expr.as_str().and_then(|e| e.strip_prefix("$response.body#/")).expect("a body field");
                        assert!(
                            required.as_array().is_some_and(|r| r.iter().any(|f| f == field)),
                            "{link_name} on {status} {name}: {field} is always in the answer"
                        );
                        followed += 1;
                    }
                }
            }
        }
        assert!(followed >= 24, "the create operations' answers link onwards ({followed} links)");
    }

    #[test]
    fn every_route_is_described_with_its_errors_and_every_reference_resolves() {
        let doc: Value = serde_json::from_str(&document_json()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = std::collections::HashSet::new();
        for route in Route::ALL.into_iter().filter(|r| r.in_openapi()) {
            let (method, path) = route.method_and_path();
            let op = &doc["paths"][path][method.to_ascii_lowercase()];
            assert!(op.is_object(), "{method} {path} is in the document");
            assert!(
                ids.insert(op["operationId"].as_str().expect("operationId").to_owned()),
                "{method} {path}: unique id"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(responses.keys().any(|k| k.starts_with('2')), "{method} {path} has a success answer");
            assert!(responses.contains_key("500"), "{method} {path} documents 500");
            if route.permission().is_some() {
                for status in ["401", "403", "429"] {
                    let named = responses.get(status).and_then(|r| r["$ref"].as_str()).expect("documented");
                    let r = &doc["components"]["responses"][named.rsplit('/').next().expect("name")];
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                        "{method} {path} {status} answers the error shape"
                    );
                    assert_eq!(r["headers"]["Retry-After"].is_object(), status == "429", "{status}: Retry-After");
                }
                let ok = responses.iter().find(|(k, _)| k.starts_with('2')).map(|(_, r)| r).expect("success");
                assert!(ok["headers"]["X-RateLimit-Limit"].is_object(), "{method} {path}: rate headers");
                assert!(op.get("security").is_none(), "{method} {path} takes the document's key schemes");
            } else {
                assert_eq!(op["security"], serde_json::json!([]), "{method} {path} needs no key");
            }
        }
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            let mut at = &doc;
            for part in r.strip_prefix("#/").expect("a local reference").split('/') {
                at = &at[part];
            }
            assert!(at.is_object(), "{r} resolves");
        }
        let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .expect("codes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(codes, all, "the spec's error codes are the table's");
    }
}
