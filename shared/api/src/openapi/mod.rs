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
use utoipa::ToSchema;

/// The component schemas the document refers to, gathered as routes name them, and the
/// error answers by status (one component each, which operations refer to).
#[derive(Default)]
pub(super) struct Schemas(BTreeMap<String, RefOr<Schema>>, BTreeMap<u16, &'static str>);

impl Schemas {
    /// `T`'s schema (and those it refers to) in the components; a reference to it.
    pub(super) fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let mut nested = Vec::new();
        T::schemas(&mut nested);
        self.0.extend(nested);
        let name = T::name().into_owned();
        self.0.insert(name.clone(), T::schema());
        Ref::from_schema_name(name).into()
    }
}

/// How a route answers when it succeeds.
pub(super) enum Answer {
    /// A JSON body.
    Json(Box<RefOr<Schema>>),
    /// No body (204).
    Empty,
    /// A stream of Server-Sent Events.
    Events(&'static str, &'static [&'static str]),
}

impl Answer {
    pub(super) fn json(schema: RefOr<Schema>) -> Self {
        Self::Json(Box::new(schema))
    }
}

mod routes;
use routes::{body_example, doc, links, Doc};

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
        op = op.parameter(optional_header(
            "Idempotency-Key",
            "Makes a retry safe: the same key and body answer the first request's result; the same key with another body is a 409.",
            ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)),
        ));
    }
    if matches!(d.answer, Answer::Events(..)) {
        op = op.parameter(optional_header(
            "Last-Event-ID",
            "Resume after this finished step or node.",
            ObjectBuilder::new().schema_type(Type::String),
        ));
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

/// A request header an operation takes but does not need.
fn optional_header(name: &str, what: &str, schema: ObjectBuilder) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(what))
        .schema(Some(schema))
        .build()
}

#[cfg(test)]
mod tests;
