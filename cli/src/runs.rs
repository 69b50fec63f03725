//! `aos run …` and `aos workflow …`: submit, follow, read and cancel runs; apply, start
//! and follow workflows.

use super::{money, print, Conn};
use anyhow::Context;
use aos_cli::client;
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum RunCommand {
    /// Submit a run from a JSON file (a POST /v1/runs body).
    Submit {
        file: PathBuf,
        /// Set a field of the run input: FIELD=VALUE (a dotted path; VALUE is JSON or a
        /// string), e.g. --set base_url=$AOS_URL. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Follow the run and print each step, then the output.
        #[arg(long)]
        watch: bool,
        /// Idempotency-Key header.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show a run.
    Get { id: String },
    /// Show a run's steps and checkpoints.
    Steps { id: String },
    /// Follow a run until it ends.
    Watch { id: String },
    /// List runs, newest first.
    List {
        #[arg(long)]
        status: Option<String>,
    },
    /// Cancel a run.
    Cancel { id: String },
    /// CostSim: the cost, latency and risk of a run file's plan before it runs (steps may
    /// add `iterations`), and whether it fits --budget-cents.
    Simulate {
        file: PathBuf,
        #[arg(long)]
        budget_cents: Option<f64>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum WorkflowCommand {
    /// Validate and store a spec (`.yaml`/`.yml` or JSON) as the workflow's next version.
    Apply { file: PathBuf },
    /// Show a workflow version (the latest by default).
    Get {
        name: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Start an execution of the latest (or a given) version.
    Start {
        name: String,
        /// Input file (JSON or YAML).
        #[arg(long)]
        input: Option<PathBuf>,
        /// Set a field of the input: FIELD=VALUE (a dotted path; VALUE is JSON or a
        /// string), e.g. --set base_url=$AOS_URL. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Version to run.
        #[arg(long)]
        version: Option<u32>,
        /// Idempotency-Key header.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// The most its runs may spend together, in whole cents.
        #[arg(long)]
        budget_cents: Option<u64>,
        /// Where signed notices about it go (`budget.warning` at 80 % of its budget).
        #[arg(long)]
        notify_url: Option<String>,
        /// Follow the execution node by node until it ends.
        #[arg(long)]
        watch: bool,
    },
    /// Show an execution with its nodes.
    Execution { id: String },
    /// Follow an execution until it ends.
    Watch { id: String },
    /// Cancel an execution.
    Cancel { id: String },
    /// CostSim of a stored workflow: its task and map nodes (--items NODE=N per map).
    Simulate {
        name: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long)]
        budget_cents: Option<f64>,
        /// Elements of a map node: NODE=N (default 1).
        #[arg(long = "items")]
        items: Vec<String>,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a spec offline and print its Amazon States Language definition.
    Compile {
        file: PathBuf,
        /// Queue URL the tasks send to (a SAM substitution by default).
        #[arg(long, default_value = "${StepQueueUrl}")]
        queue_url: String,
    },
}

/// `aos run …`.
pub(crate) async fn run(command: RunCommand, conn: &Conn) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    let get = reqwest::Method::GET;
    match command {
        RunCommand::Submit { file, set, watch, idempotency_key } => {
            if !client::submit(&c, &file, &set, idempotency_key.as_deref(), watch).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        RunCommand::Get { id } => print(&c.call(get, &format!("/v1/runs/{id}"), None, None).await?),
        RunCommand::Steps { id } => print(&c.call(get, &format!("/v1/runs/{id}/steps"), None, None).await?),
        RunCommand::Watch { id } => {
            if !client::watch(&c, &id).await? {
                std::process::exit(1);
            }
            Ok(())
        }
        RunCommand::List { status } => {
            let q = status.map(|s| format!("?status={s}")).unwrap_or_default();
            print(&c.call(get, &format!("/v1/runs{q}"), None, None).await?)
        }
        RunCommand::Cancel { id } => {
            print(&c.call(reqwest::Method::POST, &format!("/v1/runs/{id}/cancel"), None, None).await?)
        }
        RunCommand::Simulate { file, budget_cents, json } => money::simulate_run(&c, &file, budget_cents, json).await,
    }
}

/// `aos workflow …`.
pub(crate) async fn workflow(command: WorkflowCommand, conn: &Conn) -> anyhow::Result<()> {
    if let WorkflowCommand::Compile { file, queue_url } = &command {
        let raw = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let spec = aos_core::workflow::parse(&raw, aos_core::workflow::Format::guess(&file.to_string_lossy()))?;
        let skills = aos_runtime::skills::declared_registry();
        let wf = aos_core::workflow::Workflow::new(spec, &skills)?;
        let opts = aos_core::workflow::asl::AslOptions { queue_url: queue_url.clone() };
        let asl = aos_core::workflow::asl::compile(&wf, &opts).map_err(|e| anyhow::anyhow!("{e}"))?;
        return print(&asl);
    }
    let c = conn.client("dev-api-key")?;
    let (get, post) = (reqwest::Method::GET, reqwest::Method::POST);
    match command {
        WorkflowCommand::Apply { file } => {
            client::apply_workflow(&c, &file).await?;
        }
        WorkflowCommand::Get { name, version } => {
            let q = version.map(|v| format!("?version={v}")).unwrap_or_default();
            print(&c.call(get, &format!("/v1/workflows/{name}{q}"), None, None).await?)?;
        }
        WorkflowCommand::Start { name, input, set, version, idempotency_key, budget_cents, notify_url, watch } => {
            let input = client::execution_input(input.as_deref(), &set)?;
            let mut body = json!({"input": input, "version": version});
            if let Some(b) = budget_cents {
                body["budget_cents"] = json!(b);
            }
            if let Some(u) = notify_url {
                body["notify_url"] = json!(u);
            }
            if !client::start_workflow(&c, &name, &body, idempotency_key.as_deref(), watch).await? {
                std::process::exit(1);
            }
        }
        WorkflowCommand::Execution { id } => print(&c.call(get, &format!("/v1/executions/{id}"), None, None).await?)?,
        WorkflowCommand::Watch { id } => {
            if !client::watch_execution(&c, &id).await? {
                std::process::exit(1);
            }
        }
        WorkflowCommand::Cancel { id } => {
            print(&c.call(post, &format!("/v1/executions/{id}/cancel"), None, None).await?)?;
        }
        WorkflowCommand::Simulate { name, version, budget_cents, items, json } => {
            money::simulate_workflow(&c, &name, version, budget_cents, &items, json).await?;
        }
        WorkflowCommand::Compile { .. } => unreachable!("handled above"),
    }
    Ok(())
}
