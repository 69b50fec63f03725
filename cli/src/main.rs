//! `aos`: the AOS command line. Parses arguments and calls the library.

use anyhow::Context;
use aos_cli::client::{self, Client};
use aos_cli::stack::{LocalStack, StackConfig};
use aos_core::ErrorCode;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// mimalloc rather than the system allocator: a step allocates and frees a few hundred
/// small blocks (JSON values, SQL parameters, messages), and glibc's malloc and free
/// were about a sixth of a step's instructions (`aos bench --instructions`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod governance;
mod money;
mod runs;
mod tenants;
use governance::{ApprovalCommand, AuditCommand, FlagsCommand, PolicyCommand};
use runs::{RunCommand, WorkflowCommand};
use tenants::{KeyCommand, TenantCommand};

#[derive(Parser)]
#[command(name = "aos", version, about = "AOS, the Agentic Operating System: durable agent runs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Conn {
    /// AOS API base url.
    #[arg(long, env = "AOS_URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// API key (default: the dev key in <AOS_DATA_DIR>/dev-api-key).
    #[arg(long, env = "AOS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Data directory used to find the dev key when no key is given.
    #[arg(long, env = "AOS_DATA_DIR", default_value = "aos-data")]
    data_dir: PathBuf,
}

impl Conn {
    fn client(&self, key_file: &str) -> anyhow::Result<Client> {
        let key = match &self.api_key {
            Some(k) => k.clone(),
            None => {
                let path = self.data_dir.join(key_file);
                std::fs::read_to_string(&path).with_context(|| {
                    format!("no API key: set AOS_API_KEY or start `aos dev` (which writes {})", path.display())
                })?
            }
        };
        Client::new(&self.url, &key)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Start the local stack: API, workers and an embedded durable store.
    Dev {
        /// Loopback port of the API.
        #[arg(long, env = "AOS_PORT", default_value_t = 8787)]
        port: u16,
        /// Data directory.
        #[arg(long, env = "AOS_DATA_DIR", default_value = "aos-data")]
        data_dir: PathBuf,
        /// Steps in flight at once (default 64 on the embedded store: a step mostly waits for
        /// its commit, a model or an HTTP call; 4 on the aws backend, each a long poll of SQS).
        #[arg(long, env = "AOS_WORKERS")]
        workers: Option<usize>,
        /// Hosts http_call may reach although they are loopback or private (comma-separated host[:port]).
        #[arg(long, env = "AOS_HTTP_ALLOW_HOSTS", default_value = "")]
        allow_hosts: String,
        /// Use this dev API key instead of generating one.
        #[arg(long, env = "AOS_DEV_API_KEY", hide_env_values = true)]
        dev_api_key: Option<String>,
        /// Message visibility timeout of the step queue, in milliseconds.
        #[arg(long, env = "AOS_VISIBILITY_TIMEOUT_MS", default_value_t = 30_000)]
        visibility_timeout_ms: u64,
        /// Storage: `embedded` (SQLite in the data directory) or `aws` (DynamoDB, SQS and
        /// Secrets Manager named by AOS_TABLE and AOS_STEP_QUEUE_URL, reached through
        /// AWS_ENDPOINT_URL when set: AWS, LocalStack or moto).
        #[arg(long, env = "AOS_BACKEND", default_value = "embedded", value_parser = ["embedded", "aws"])]
        backend: String,
        /// With --backend aws: create the table and queues where they are missing.
        #[arg(long)]
        create_resources: bool,
        /// The plan whose request rate every tenant is held to: free (60 per 60 s), dev
        /// (300), pro (1200), enterprise (6000) or unlimited.
        #[arg(long, env = "AOS_PLAN", default_value = "unlimited", value_parser = ["free", "dev", "pro", "enterprise", "unlimited"])]
        plan: String,
    },
    /// Run the quickstart end to end: start a local stack on a fresh data directory,
    /// submit examples/quickstart.json, follow it to the end, stop.
    Demo {
        /// Loopback port (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Data directory (default: a new temporary one).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Submit, read, list and cancel runs.
    Run {
        #[command(subcommand)]
        command: RunCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create tenants and set their plans (operator key).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Create API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Apply workflows (YAML or JSON), start and follow executions, compile to ASL.
    Workflow {
        #[command(subcommand)]
        command: WorkflowCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Apply, read and try out the tenant's Cedar policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Set, read and try out the tenant's feature flags.
    Flags {
        #[command(subcommand)]
        command: FlagsCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// The tenant's plan and where it stands on each quota.
    Quotas {
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// The tenant's usage (steps, model tokens, cache hits, cost) of the runs that ended
    /// between --from and --to (default: the last 30 days), grouped.
    Usage {
        /// day, workflow, skill or model.
        #[arg(long, default_value = "day")]
        group_by: String,
        /// From (inclusive): a UTC day (2026-12-01), an RFC 3339 time or ms since the epoch.
        #[arg(long)]
        from: Option<String>,
        /// To (exclusive), written as --from.
        #[arg(long)]
        to: Option<String>,
        /// Print the groups as CSV (a header line, then a line per group).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        conn: Conn,
    },
    /// The tenant's credits and ledger; grants (operator key).
    Credits {
        #[command(subcommand)]
        command: money::CreditsCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Read the tenant's audit log and verify its hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// List and decide the approvals workflows and policy-held steps wait for.
    Approvals {
        #[command(subcommand)]
        command: ApprovalCommand,
        #[command(flatten)]
        conn: Conn,
    },
    /// Measure the embedded engine: fsync floor, raw commit, durable step latency,
    /// overhead with durability off, throughput with concurrent runs.
    Bench {
        /// Scratch directory (on the disk to measure).
        #[arg(long, default_value = "aos-bench")]
        dir: PathBuf,
        /// Samples for fsync and raw commit.
        #[arg(long, default_value_t = 500)]
        samples: usize,
        /// Steps in the serial latency measurements.
        #[arg(long, default_value_t = 500)]
        serial_steps: usize,
        /// Concurrent runs.
        #[arg(long, default_value_t = 64)]
        concurrent_runs: usize,
        /// Steps per run in the throughput measurements.
        #[arg(long, default_value_t = 20)]
        steps_per_run: usize,
        /// Rounds of the concurrent-runs measurement (its figure is their median).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Also count instructions per step under valgrind's callgrind (needs valgrind).
        #[arg(long)]
        instructions: bool,
    },
    /// What `aos bench --instructions` runs under callgrind: serial no-op steps, nothing else.
    #[command(hide = true)]
    BenchProbe {
        #[arg(long)]
        steps: usize,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, action = clap::ArgAction::Set, default_value_t = false)]
        durable: bool,
        /// A metered tenant: every step reserves and settles credits.
        #[arg(long)]
        metered: bool,
        /// What the steps are: runs of 10 (`runs`), one run (`run`), the nodes of a
        /// workflow chain (`chain`), or one-step runs (`short`); all but the first handled
        /// in the foreground, durable.
        #[arg(long, value_enum, default_value = "runs")]
        shape: aos_cli::bench_workflow::ProbeShape,
    },
    /// Measure what agents cost over plain steps: planner decisions (model simulated on
    /// loopback), plan growth, and a spawn of child runs against independent runs.
    BenchAgent {
        /// Scratch directory.
        #[arg(long, default_value = "aos-bench")]
        dir: PathBuf,
        /// Skill steps (and LLM decisions), at most 49.
        #[arg(long, default_value_t = 40)]
        steps: usize,
        /// Children of the spawn.
        #[arg(long, default_value_t = 32)]
        children: usize,
        /// Workers of the spawn.
        #[arg(long, default_value_t = 8)]
        workers: usize,
    },
    /// Measure AOS end to end over HTTP: `aos dev` in its own process, a run of 3 pure
    /// steps submitted and awaited with `POST /v1/runs?wait=` against the same run polled.
    BenchHttp {
        /// Scratch directory.
        #[arg(long, default_value = "aos-bench")]
        dir: PathBuf,
        /// Serial calls per way of waiting.
        #[arg(long, default_value_t = 500)]
        calls: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds of each concurrent measurement.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The polling client's interval, in milliseconds.
        #[arg(long, default_value_t = 50)]
        poll_ms: u64,
        /// Step workers of the server.
        #[arg(long, default_value_t = aos_cli::stack::EMBEDDED_WORKERS)]
        workers: usize,
    },
    /// Measure the embedded workflow executor: cost per node over a bare run step, and
    /// nodes/s of a map fan-out.
    BenchWorkflow {
        /// Scratch directory.
        #[arg(long, default_value = "aos-bench")]
        dir: PathBuf,
        /// Nodes in the chain.
        #[arg(long, default_value_t = 200)]
        chain: usize,
        /// Elements of the fan-out map.
        #[arg(long, default_value_t = 100)]
        fanout: usize,
        /// Map concurrency.
        #[arg(long, default_value_t = 16)]
        concurrency: u32,
        /// Workers for the fan-out.
        #[arg(long, default_value_t = 16)]
        workers: usize,
        /// Alternating rounds of the chain against a bare run and of the map against
        /// independent runs (each figure is the median ratio of its rounds).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Also count instructions per node and per run step under valgrind's callgrind
        /// (needs valgrind).
        #[arg(long)]
        instructions: bool,
    },
    /// Count DynamoDB calls per step on the AWS adapters (AWS_ENDPOINT_URL: moto,
    /// LocalStack or AWS), on a fresh table and queue.
    BenchAws {
        /// Runs to execute.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// No-op steps per run.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Bytes of output per step (over 64 KiB, they go to S3).
        #[arg(long, default_value_t = 0)]
        output_bytes: usize,
        /// Meter the tenant (ledger on): each step reserves credits, its commit settles them.
        #[arg(long)]
        credits: bool,
        /// Hold the tenant to this plan's spend limits (free, dev, pro, enterprise): each
        /// step also takes its estimate from the tenant's spend windows.
        #[arg(long)]
        plan: Option<String>,
    },
    /// Print the error code table.
    Errors {
        /// As the markdown table of docs/error-codes.md.
        #[arg(long)]
        markdown: bool,
    },
    /// Print the API's OpenAPI 3.1 document (what `GET /v1/openapi.json` serves and
    /// docs/openapi.json holds).
    Openapi,
    /// Serve MCP (Model Context Protocol) over stdio for an MCP client: the deployment's
    /// skills as tools (each call a one-step run) and run control, through its HTTP API
    /// at AOS_URL with AOS_API_KEY. Logs go to stderr.
    Mcp {
        #[command(flatten)]
        conn: Conn,
    },
}

fn print(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

async fn dev(cfg: StackConfig) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir.clone();
    let stack = LocalStack::start(cfg).await?;
    println!("AOS dev stack is up");
    println!("  API:          {}", stack.url());
    println!("  data dir:     {}", data_dir.display());
    println!("  dev API key:  {}   (also in {})", stack.dev_api_key, data_dir.join("dev-api-key").display());
    println!("  operator key: in {}", data_dir.join("operator-api-key").display());
    println!("Try:  AOS_URL={0} aos run submit examples/quickstart.json --set base_url={0} --watch", stack.url());
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    println!("stopping: finishing steps in flight");
    stack.stop().await;
    Ok(())
}

/// `AOS_TEST_ABORT_AFTER_EFFECT=<step index>` makes the process abort right after that
/// step's skill ran and before its checkpoint: the crash tests use it to kill a worker at
/// the worst moment. Never set it in production.
fn crash_test_hook() -> anyhow::Result<Option<aos_runtime::worker::AfterEffectHook>> {
    let Ok(raw) = std::env::var("AOS_TEST_ABORT_AFTER_EFFECT") else {
        return Ok(None);
    };
    let index: u32 = raw.parse().context("AOS_TEST_ABORT_AFTER_EFFECT must be a step index")?;
    eprintln!("warning: AOS_TEST_ABORT_AFTER_EFFECT={index}: this process aborts after step {index}'s effect");
    Ok(Some(std::sync::Arc::new(move |msg: &aos_runtime::ports::StepMessage| {
        if msg.step_index == index {
            eprintln!("aborting after the effect of step {index} (AOS_TEST_ABORT_AFTER_EFFECT)");
            std::process::abort();
        }
        aos_runtime::worker::HookAction::Continue
    })))
}

const QUICKSTART: &str = include_str!("../../examples/quickstart.json");

async fn demo(port: u16, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = data_dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("aos-demo-{}-{}", std::process::id(), aos_runtime::clock::now_ms()))
    });
    let mut cfg = StackConfig::new(&dir);
    cfg.port = port;
    let stack = LocalStack::start(cfg).await?;
    println!("AOS demo: local stack on {} with data in {}", stack.url(), dir.display());
    let mut body: serde_json::Value = serde_json::from_str(QUICKSTART)?;
    client::set_fields(&mut body["input"], &[format!("base_url={}", stack.url())])?;
    let api = Client::new(&stack.url(), &stack.dev_api_key)?;
    let ok = client::submit_body(&api, &body, Some("quickstart-demo"), true).await;
    stack.stop().await;
    if ok? {
        println!("demo finished: every step ran once, was checkpointed and chained");
        Ok(())
    } else {
        anyhow::bail!("the demo run did not succeed")
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Benchmarks print figures; their per-step log lines would bury them.
    let quiet = matches!(
        cli.command,
        Command::Bench { .. }
            | Command::BenchProbe { .. }
            | Command::BenchWorkflow { .. }
            | Command::BenchAgent { .. }
            | Command::BenchHttp { .. }
    );
    let default_filter = if quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AOS_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Dev {
            port,
            data_dir,
            workers,
            allow_hosts,
            dev_api_key,
            visibility_timeout_ms,
            backend,
            create_resources,
            plan,
        } => {
            let mut cfg = StackConfig::new(data_dir);
            cfg.plan = aos_core::limits::PlanName::parse(&plan).context("--plan")?;
            cfg.port = port;
            if let Some(w) = workers {
                cfg.workers = w;
            }
            cfg.allow_hosts = allow_hosts;
            cfg.dev_api_key = dev_api_key;
            cfg.worker.visibility = Duration::from_millis(visibility_timeout_ms.max(100));
            cfg.worker.heartbeat = cfg.worker.visibility / 3;
            cfg.after_effect = crash_test_hook()?;
            if backend == "aws" {
                cfg.backend = aos_cli::stack::Backend::Aws { create_resources };
                cfg.workers = workers.unwrap_or(aos_cli::stack::AWS_WORKERS);
                cfg.worker.poll_wait = aos_runtime::worker::WorkerConfig::default().poll_wait;
                // SQS counts visibility in whole seconds.
                cfg.worker.visibility = cfg.worker.visibility.max(Duration::from_secs(1));
                cfg.worker.heartbeat = cfg.worker.visibility / 3;
            }
            dev(cfg).await
        }
        Command::Demo { port, data_dir } => demo(port, data_dir).await,
        Command::Run { command, conn } => runs::run(command, &conn).await,
        Command::Tenant { command, conn } => tenants::tenant(command, &conn).await,
        Command::Quotas { json, conn } => money::quotas(&conn, json).await,
        Command::Usage { group_by, from, to, csv, json, conn } => {
            let format = match (csv, json) {
                (true, _) => money::UsageFormat::Csv,
                (_, true) => money::UsageFormat::Json,
                _ => money::UsageFormat::Table,
            };
            money::usage(&conn, &group_by, from.as_deref(), to.as_deref(), format).await
        }
        Command::Key { command, conn } => tenants::key(command, &conn).await,
        Command::Workflow { command, conn } => runs::workflow(command, &conn).await,
        Command::Policy { command, conn } => governance::policy(command, &conn).await,
        Command::Audit { command, conn } => governance::audit(command, &conn).await,
        Command::Credits { command, conn } => money::credits(command, &conn).await,
        Command::Flags { command, conn } => governance::flags(command, &conn).await,
        Command::Approvals { command, conn } => governance::approvals(command, &conn).await,
        Command::Bench { dir, samples, serial_steps, concurrent_runs, steps_per_run, rounds, instructions } => {
            let opts = aos_cli::bench::BenchOptions {
                dir,
                samples,
                serial_steps,
                concurrent_runs,
                steps_per_run,
                rounds,
                instructions,
            };
            aos_cli::bench::run(&opts).await
        }
        Command::BenchProbe { steps, dir, durable, metered, shape } => match shape {
            aos_cli::bench_workflow::ProbeShape::Runs => aos_cli::bench::probe(&dir, steps, durable, metered).await,
            shape => aos_cli::bench_workflow::probe(&dir, steps, shape).await,
        },
        Command::BenchWorkflow { dir, chain, fanout, concurrency, workers, rounds, instructions } => {
            let opts = aos_cli::bench_workflow::WorkflowBenchOptions {
                dir,
                chain,
                fanout,
                rounds,
                concurrency,
                workers,
                instructions,
            };
            aos_cli::bench_workflow::workflows(&opts).await
        }
        Command::BenchHttp { dir, calls, clients, seconds, poll_ms, workers } => {
            let opts = aos_cli::bench_http::HttpBenchOptions { dir, calls, clients, seconds, poll_ms, workers };
            aos_cli::bench_http::run(&opts).await
        }
        Command::BenchAgent { dir, steps, children, workers } => {
            aos_cli::bench_agent::run(&aos_cli::bench_agent::AgentBenchOptions { dir, steps, children, workers }).await
        }
        Command::BenchAws { runs, steps, output_bytes, credits, plan } => {
            let plan = plan
                .map(|p| {
                    aos_core::limits::PlanName::parse(&p)
                        .ok_or_else(|| anyhow::anyhow!("unknown plan {p:?}: use free, dev, pro or enterprise"))
                })
                .transpose()?;
            aos_cli::bench_aws::aws_calls(&aos_cli::bench_aws::AwsBenchOptions {
                runs,
                steps,
                output_bytes,
                credits,
                plan,
            })
            .await
        }
        Command::Openapi => {
            print!("{}", aos_api::document_json());
            Ok(())
        }
        Command::Mcp { conn } => aos_cli::mcp::serve_stdio(conn.client("dev-api-key")?.api().clone()).await,
        Command::Errors { markdown } => {
            if markdown {
                print!("{}", ErrorCode::markdown_table());
            } else {
                for c in ErrorCode::ALL {
                    println!(
                        "{:<30} {:<12} retryable={:<5} {}",
                        c.as_str(),
                        c.category().as_str(),
                        c.retryable(),
                        c.description()
                    );
                }
            }
            Ok(())
        }
    }
}
