//! The MCP server (Model Context Protocol, with the official Rust SDK `rmcp`): each skill
//! of the deployment is a tool (its JSON Schemas are the tool's), and four tools control
//! runs (`aos_run_submit`, `aos_run_get`, `aos_run_wait`, `aos_run_cancel`). A skill's call
//! is a one-step run, so it is checkpointed, policy-gated, budgeted and audited like any
//! step; its answer names the run it made.
//!
//! Served at `POST /mcp` (streamable HTTP, stateless, JSON answers; the API key
//! authenticates as on every route) by `aos dev` and the `api-mcp` Lambda, and over stdio
//! by `aos mcp`, which reaches a deployment through its HTTP API: the one [`McpServer`]
//! over two [`McpBackend`]s.

use crate::auth::Principal;
use crate::bodies::RunView;
use crate::error::ApiError;
use crate::routes::Shared;
use aos_core::roles::Permission;
use aos_core::{ErrorCode, RunId, RunStatus};
use aos_runtime::runs::SubmitRun;
use aos_runtime::skills::SkillDescriptor;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    MetaObject, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The longest a tool call waits for its run: under API Gateway's 29 s integration
/// timeout. A run still going after it is answered as such; `aos_run_wait` waits on.
pub const TOOL_WAIT: Duration = Duration::from_secs(25);

/// The skills that are no tool: the planner's own step.
const NOT_TOOLS: [&str; 1] = ["agent_plan"];

/// Why the backend refused: the API's stable code and its message.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong and what to fix.
    pub message: String,
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self { code: e.code(), message: e.message().to_owned() }
    }
}

/// Where the tools run: the deployment's own services (`/mcp`), or its HTTP API (`aos mcp`).
pub trait McpBackend: Send + Sync + 'static {
    /// Who calls, as the backend needs to know them.
    type Caller: Send + Sync;
    /// The caller of a request (the HTTP route's authenticated key), or why there is none.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Self::Caller, ErrorData>;
    /// The deployment's skills.
    fn skills(&self, who: &Self::Caller) -> impl Future<Output = Result<Vec<SkillDescriptor>, Refusal>> + Send;
    /// Submits a run and waits up to `wait` for its end.
    fn submit(
        &self,
        who: &Self::Caller,
        run: SubmitRun,
        wait: Duration,
    ) -> impl Future<Output = Result<RunView, Refusal>> + Send;
    /// A run, after waiting up to `wait` for its end.
    fn get(
        &self,
        who: &Self::Caller,
        id: &str,
        wait: Duration,
    ) -> impl Future<Output = Result<RunView, Refusal>> + Send;
    /// Cancels a run.
    fn cancel(&self, who: &Self::Caller, id: &str) -> impl Future<Output = Result<RunView, Refusal>> + Send;
}

/// The MCP server over a backend.
pub struct McpServer<B> {
    backend: Arc<B>,
}

impl<B> Clone for McpServer<B> {
    fn clone(&self) -> Self {
        Self { backend: Arc::clone(&self.backend) }
    }
}

impl<B: McpBackend> McpServer<B> {
    /// A server whose tools run on `backend`.
    pub fn new(backend: B) -> Self {
        Self { backend: Arc::new(backend) }
    }
}

fn object(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    }
}

fn run_id_schema(extra: Value) -> JsonObject {
    let mut props =
        json!({"run_id": {"type": "string", "pattern": "^run_[a-z0-9_-]+$", "description": "The run's id (`run_…`)."}});
    if let (Some(p), Value::Object(more)) = (props.as_object_mut(), extra) {
        p.extend(more);
    }
    object(json!({"type": "object", "properties": props, "required": ["run_id"], "additionalProperties": false}))
}

/// The run-control tools.
fn control_tools() -> Vec<Tool> {
    let submit = object(json!({
        "type": "object",
        "properties": {
            "run": {"type": "object", "description": "A `POST /v1/runs` body: `plan` (steps of skill calls) or `goal` (an agent), with `input`, `budget_cents`, …"},
            "wait_s": {"type": "integer", "minimum": 0, "maximum": 25, "description": "Answer once it has finished or after this many seconds (default 0: at once)."}
        },
        "required": ["run"],
        "additionalProperties": false
    }));
    let wait_s = json!({"timeout_s": {"type": "integer", "minimum": 0, "maximum": 25, "description": "Wait at most this long for its end (default 25)."}});
    let read = ToolAnnotations::new().read_only(true);
    vec![
        Tool::new("aos_run_submit", "Submit an AOS run (a plan of skill calls, or a goal for an agent); answers the run, after waiting for it up to wait_s.", submit),
        Tool::new("aos_run_get", "An AOS run: status, steps done, output or error, budget and spend.", run_id_schema(json!({})))
            .annotate(read.clone()),
        Tool::new("aos_run_wait", "Wait until an AOS run has finished (or timeout_s has passed) and answer it.", run_id_schema(wait_s))
            .annotate(read),
        Tool::new("aos_run_cancel", "Cancel an AOS run that has not finished (its agent children too).", run_id_schema(json!({}))),
    ]
}

/// A skill as a tool: its name, description and schemas.
fn skill_tool(d: &SkillDescriptor) -> Tool {
    let description = format!(
        "{} (AOS skill {} v{}; each call is a one-step run: checkpointed, policy-gated, budgeted, audited)",
        d.description, d.name, d.version
    );
    let mut tool = Tool::new(d.name.clone(), description, object(d.input_schema.clone()));
    if d.output_schema.get("type") == Some(&json!("object")) {
        tool = tool.with_raw_output_schema(Arc::new(object(d.output_schema.clone())));
    }
    tool
}

/// The tool error of a refusal: its code and message, and the run when there is one.
fn refused(r: &Refusal) -> CallToolResult {
    CallToolResult::structured_error(json!({"code": r.code, "message": r.message}))
}

fn meta(run: &RunView) -> Option<MetaObject> {
    let status = run.status.as_str();
    Some(MetaObject(object(json!({"aos/run_id": run.id, "aos/status": status}))))
}

/// The answer of a skill's call: its output, or its error, with the run that made it.
fn skill_answer(run: &RunView) -> CallToolResult {
    let result = match run.status {
        RunStatus::Succeeded => {
            let output = run.output.clone().unwrap_or(Value::Null);
            let mut r = CallToolResult::structured(output);
            r.content.push(ContentBlock::text(format!("AOS run {} succeeded", run.id)));
            r
        }
        RunStatus::Failed | RunStatus::Cancelled => {
            let error = run.error.as_ref().map(|e| json!({"code": e.code, "message": e.message}));
            let mut r =
                CallToolResult::structured_error(json!({"run_id": run.id, "status": run.status, "error": error}));
            let why = run.error.as_ref().map(|e| format!(": {} {}", e.code, e.message)).unwrap_or_default();
            r.content.push(ContentBlock::text(format!("AOS run {} {}{why}", run.id, run.status.as_str())));
            r
        }
        _ => CallToolResult::success(vec![ContentBlock::text(format!(
            "AOS run {} is still {} after {} s; follow it with aos_run_wait {{\"run_id\": \"{}\"}}",
            run.id,
            run.status.as_str(),
            TOOL_WAIT.as_secs(),
            run.id
        ))]),
    };
    result.with_meta(meta(run))
}

fn run_answer(run: Result<RunView, Refusal>) -> CallToolResult {
    match run {
        Ok(run) => {
            let m = meta(&run);
            CallToolResult::structured(serde_json::to_value(&run).unwrap_or(Value::Null)).with_meta(m)
        }
        Err(r) => refused(&r),
    }
}

/// The arguments' first schema violations, naming the field (`/symbol: …`).
fn argument_errors(schema: &Value, args: &Value) -> Option<String> {
    match jsonschema::validator_for(schema) {
        Ok(v) => aos_runtime::skills::schema_errors(&v, args).map(|e| format!("arguments {e}")),
        Err(e) => Some(format!("the skill declares an invalid schema: {e}")),
    }
}

fn arg_str<'a>(args: &'a JsonObject, name: &str) -> Result<&'a str, CallToolResult> {
    args.get(name).and_then(Value::as_str).ok_or_else(|| {
        CallToolResult::error(vec![ContentBlock::text(format!("argument {name}: a string is required"))])
    })
}

fn arg_secs(args: &JsonObject, name: &str, default: u64) -> Duration {
    Duration::from_secs(args.get(name).and_then(Value::as_u64).unwrap_or(default).min(TOOL_WAIT.as_secs()))
}

impl<B: McpBackend> McpServer<B> {
    async fn call(&self, who: &B::Caller, name: &str, args: JsonObject) -> Result<CallToolResult, ErrorData> {
        let b = &self.backend;
        Ok(match name {
            "aos_run_submit" => {
                let Some(body) = args.get("run") else {
                    return Ok(CallToolResult::error(vec![ContentBlock::text(
                        "argument run: a POST /v1/runs body (an object with `plan` or `goal`) is required",
                    )]));
                };
                let run: SubmitRun = match serde_json::from_value(body.clone()) {
                    Ok(r) => r,
                    Err(e) => return Ok(CallToolResult::error(vec![ContentBlock::text(format!("argument run: {e}"))])),
                };
                run_answer(b.submit(who, run, arg_secs(&args, "wait_s", 0)).await)
            }
            "aos_run_get" | "aos_run_wait" | "aos_run_cancel" => {
                let id = match arg_str(&args, "run_id") {
                    Ok(id) => id,
                    Err(answer) => return Ok(answer),
                };
                match name {
                    "aos_run_get" => run_answer(b.get(who, id, Duration::ZERO).await),
                    "aos_run_wait" => {
                        run_answer(b.get(who, id, arg_secs(&args, "timeout_s", TOOL_WAIT.as_secs())).await)
                    }
                    _ => run_answer(b.cancel(who, id).await),
                }
            }
            skill => {
                let skills = b.skills(who).await.map_err(|r| ErrorData::internal_error(r.message, None))?;
                let Some(d) = skills.iter().find(|d| d.name == skill && !NOT_TOOLS.contains(&skill)) else {
                    return Err(ErrorData::invalid_params(
                        format!("no tool {skill:?}; tools/list names them (the deployment's skills and aos_run_*)"),
                        None,
                    ));
                };
                let args = Value::Object(args);
                if let Some(why) = argument_errors(&d.input_schema, &args) {
                    // Refused before any run exists: nothing to check, charge or audit.
                    return Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                        "{skill} was not called: {why}"
                    ))]));
                }
                let run = SubmitRun {
                    plan: Some(vec![serde_json::from_value(json!({"id": "call", "skill": skill, "input": args}))
                        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?]),
                    ..SubmitRun::default()
                };
                match b.submit(who, run, TOOL_WAIT).await {
                    Ok(run) => skill_answer(&run),
                    Err(r) => refused(&r),
                }
            }
        })
    }
}

impl<B: McpBackend> ServerHandler for McpServer<B> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("aos", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "AOS runs each tool call as a durable, checkpointed, policy-gated and budgeted one-step run; \
                 aos_run_* submit, read, wait for and cancel whole runs (plans or agent goals).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let who = self.backend.caller(&ctx)?;
        let skills = self.backend.skills(&who).await.map_err(|r| ErrorData::internal_error(r.message, None))?;
        let mut tools: Vec<Tool> =
            skills.iter().filter(|d| !NOT_TOOLS.contains(&d.name.as_str())).map(skill_tool).collect();
        tools.extend(control_tools());
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let who = self.backend.caller(&ctx)?;
        let args = request.arguments.unwrap_or_default();
        Ok(self.call(&who, &request.name, args).await?.into())
    }
}

/// The deployment's own services, for `POST /mcp`: the caller is the route's
/// authenticated key, held to the permission of what each tool does.
pub struct LocalBackend {
    state: Shared,
}

fn need(p: &Principal, permission: Permission) -> Result<(), Refusal> {
    crate::auth::require_permission(p, permission).map_err(Refusal::from)
}

fn parse_run_id(id: &str) -> Result<RunId, Refusal> {
    RunId::parse(id).map_err(|_| Refusal::from(ApiError::not_found("run")))
}

impl McpBackend for LocalBackend {
    type Caller = Principal;

    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Principal, ErrorData> {
        ctx.extensions
            .get::<axum::http::request::Parts>()
            .and_then(|parts| crate::auth::authorized(&parts.extensions))
            .ok_or_else(|| ErrorData::invalid_request("the request carries no authenticated API key", None))
    }

    async fn skills(&self, _who: &Principal) -> Result<Vec<SkillDescriptor>, Refusal> {
        Ok(self.state.runs.skills().descriptors())
    }

    async fn submit(&self, who: &Principal, run: SubmitRun, wait: Duration) -> Result<RunView, Refusal> {
        need(who, Permission::RunsWrite)?;
        let submitted = self.state.runs.submit(&who.tenant, run, None).await.map_err(ApiError::from)?;
        let run = if wait.is_zero() || submitted.run.status.is_terminal() {
            submitted.run
        } else {
            self.state.runs.wait(&who.tenant, &submitted.run.id, wait).await.map_err(ApiError::from)?
        };
        Ok(crate::views::run(&run))
    }

    async fn get(&self, who: &Principal, id: &str, wait: Duration) -> Result<RunView, Refusal> {
        need(who, Permission::RunsRead)?;
        let id = parse_run_id(id)?;
        let run = if wait.is_zero() {
            self.state.runs.get(&who.tenant, &id).await
        } else {
            self.state.runs.wait(&who.tenant, &id, wait).await
        };
        Ok(crate::views::run(&run.map_err(ApiError::from)?))
    }

    async fn cancel(&self, who: &Principal, id: &str) -> Result<RunView, Refusal> {
        need(who, Permission::RunsWrite)?;
        let id = parse_run_id(id)?;
        let run = self.state.runs.cancel(&who.tenant, &id, &who.actor()).await.map_err(ApiError::from)?;
        Ok(crate::views::run(&run))
    }
}

/// The `POST /mcp` service: stateless streamable HTTP with JSON answers (no session to
/// keep, so any instance, or any Lambda, answers any request).
pub(crate) fn service(
    state: Shared,
) -> rmcp::transport::streamable_http_server::StreamableHttpService<
    McpServer<LocalBackend>,
    rmcp::transport::streamable_http_server::session::never::NeverSessionManager,
> {
    use rmcp::transport::streamable_http_server::{session::never::NeverSessionManager, StreamableHttpServerConfig};
    let server = McpServer::new(LocalBackend { state });
    let mut config = StreamableHttpServerConfig::default().disable_allowed_hosts();
    config.legacy_session_mode = false;
    config.json_response = true;
    config.sse_keep_alive = None;
    config.max_request_body_bytes = crate::routes::MAX_BODY_BYTES;
    rmcp::transport::streamable_http_server::StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}
