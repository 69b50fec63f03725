//! The governance commands: `aos policy`, `aos approvals`, `aos flags`, `aos audit`.

use super::{print, Conn};
use anyhow::Context;
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(crate) enum ApprovalCommand {
    /// List approvals (pending by default; also escalated, approved, rejected, expired,
    /// cancelled).
    List {
        #[arg(long, default_value = "pending")]
        status: String,
    },
    /// Approve a pending approval.
    Approve {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject a pending approval (a held step fails; a workflow fails and compensates).
    Reject {
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum FlagsCommand {
    /// Set a flag (its next version). Without --file, from the options.
    Set {
        key: String,
        /// A JSON flag spec (`enabled`, `rollout_percent`, `environments`, `rules`, `skill`,
        /// `description`); the options below are ignored with it.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Switch it off (the default is on).
        #[arg(long)]
        off: bool,
        /// The share of run ids served true, percent.
        #[arg(long, default_value_t = 100.0)]
        rollout: f64,
        /// The skill it gates (off: that skill's steps fail with ERR_SKILL_DISABLED).
        #[arg(long)]
        skill: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// Refuse the change if the flag is not at this version.
        #[arg(long)]
        base_version: Option<u32>,
    },
    /// Print one flag.
    Get { key: String },
    /// List the tenant's flags.
    List,
    /// What a flag says for a stable key (a run id), with optional attributes NAME=VALUE.
    Eval {
        key: String,
        #[arg(long)]
        id: String,
        #[arg(long)]
        environment: Option<String>,
        attributes: Vec<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Entries, newest first, with optional filters.
    List {
        /// The acting key's id.
        #[arg(long)]
        actor: Option<String>,
        /// An action (`policy.apply`), or every action of a noun (`approval.`).
        #[arg(long)]
        action: Option<String>,
        /// A resource (`policies`), or a prefix ending in `:` or `/` (`run:run_…/`).
        #[arg(long)]
        resource: Option<String>,
        /// From this time (ms since the epoch).
        #[arg(long)]
        from_ms: Option<u64>,
        /// Before this time (ms since the epoch).
        #[arg(long)]
        to_ms: Option<u64>,
        /// How many entries (1-100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the entries as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Reads the whole log in chain order and checks every link here, on this machine:
    /// an edited, removed or reordered entry is reported with its position.
    Verify,
}

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a Cedar policy file and store it as the tenant's next version.
    Apply {
        file: PathBuf,
        /// Refuse steps no policy applies to (deny by default).
        #[arg(long)]
        default_deny: bool,
        /// Accept a policy that forbids every step.
        #[arg(long)]
        allow_deny_all: bool,
        /// Refuse the change if the current version is not this one.
        #[arg(long)]
        base_version: Option<u32>,
    },
    /// Print the current policy version (with --versions, the past ones too).
    Get {
        #[arg(long)]
        versions: bool,
    },
    /// What a policy file (or, without one, the current policies) says of a sample step
    /// (--skill) or a sample API request (--operation, --role).
    Test {
        /// A Cedar policy file; the tenant's current policies when absent.
        file: Option<PathBuf>,
        /// The skill the step calls.
        #[arg(long, required_unless_present = "operation", conflicts_with = "operation")]
        skill: Option<String>,
        /// An API operation (`secrets.put`, `runs.cancel`, …) instead of a step.
        #[arg(long)]
        operation: Option<String>,
        /// With --operation: the calling key's role (default: this key's).
        #[arg(long, requires = "operation")]
        role: Option<String>,
        /// The step's input: JSON, or @FILE.
        #[arg(long, default_value = "{}")]
        input: String,
        /// plan_step, workflow_node, compensation, planner_step or child_run.
        #[arg(long)]
        kind: Option<String>,
        /// The run's spend so far and the step's estimate, in cents.
        #[arg(long, default_value_t = 0)]
        spent_cents: i64,
        #[arg(long, default_value_t = 0)]
        estimated_cents: i64,
        /// With FILE: deny by default.
        #[arg(long)]
        default_deny: bool,
    },
}

pub(crate) async fn flags(command: FlagsCommand, conn: &Conn) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    match command {
        FlagsCommand::Set { key, file, off, rollout, skill, description, base_version } => {
            let mut body = match file {
                Some(f) => serde_json::from_str(
                    &std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?,
                )
                .with_context(|| format!("{} is not JSON", f.display()))?,
                None => {
                    json!({"enabled": !off, "rollout_percent": rollout, "skill": skill, "description": description})
                }
            };
            if let (Some(v), Some(o)) = (base_version, body.as_object_mut()) {
                o.insert("base_version".into(), json!(v));
            }
            let f = c.call(reqwest::Method::PUT, &format!("/v1/flags/{}", url_escape(&key)), Some(&body), None).await?;
            println!(
                "flag {} version {}: {} at {}%{}",
                key,
                f["version"],
                if f["enabled"] == true { "on" } else { "off" },
                f["rollout_percent"],
                f["skill"].as_str().map(|s| format!(", gating {s}")).unwrap_or_default()
            );
            Ok(())
        }
        FlagsCommand::Get { key } => {
            print(&c.call(reqwest::Method::GET, &format!("/v1/flags/{}", url_escape(&key)), None, None).await?)
        }
        FlagsCommand::List => {
            let list = c.call(reqwest::Method::GET, "/v1/flags", None, None).await?;
            let flags = list["flags"].as_array().cloned().unwrap_or_default();
            if flags.is_empty() {
                println!("no flags");
            }
            for f in flags {
                println!(
                    "{}  v{}  {}  {}%  {}",
                    f["key"].as_str().unwrap_or(""),
                    f["version"],
                    if f["enabled"] == true { "on" } else { "off" },
                    f["rollout_percent"],
                    f["skill"].as_str().unwrap_or("-")
                );
            }
            Ok(())
        }
        FlagsCommand::Eval { key, id, environment, attributes } => {
            let mut query = vec![format!("id={}", url_escape(&id))];
            if let Some(e) = environment {
                query.push(format!("environment={}", url_escape(&e)));
            }
            for a in attributes {
                let (k, v) = a.split_once('=').with_context(|| format!("attribute {a:?} is not NAME=VALUE"))?;
                query.push(format!("{}={}", url_escape(k), url_escape(v)));
            }
            let path = format!("/v1/flags/{}/evaluate?{}", url_escape(&key), query.join("&"));
            print(&c.call(reqwest::Method::GET, &path, None, None).await?)
        }
    }
}

pub(crate) async fn audit(command: AuditCommand, conn: &Conn) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    match command {
        AuditCommand::List { actor, action, resource, from_ms, to_ms, limit, json } => {
            let mut query = vec![format!("limit={limit}")];
            let mut add = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    query.push(format!("{k}={}", url_escape(&v)));
                }
            };
            add("actor", actor);
            add("action", action);
            add("resource", resource);
            add("from_ms", from_ms.map(|v| v.to_string()));
            add("to_ms", to_ms.map(|v| v.to_string()));
            let page = c.call(reqwest::Method::GET, &format!("/v1/audit?{}", query.join("&")), None, None).await?;
            let entries = page["entries"].as_array().cloned().unwrap_or_default();
            if entries.is_empty() {
                println!("no audit entries");
            }
            for e in &entries {
                if json {
                    println!("{e}");
                    continue;
                }
                let who = e["actor"]["key_id"].as_str().unwrap_or("aos");
                let why = e["reasons"].as_array().and_then(|r| r.first()).and_then(|r| r.as_str()).unwrap_or("");
                println!(
                    "{:>6}  {}  {}  {} ({})  {}  {}  {why}",
                    e["seq"],
                    e["at_ms"],
                    e["action"].as_str().unwrap_or(""),
                    who,
                    e["actor"]["role"].as_str().unwrap_or(""),
                    e["resource"].as_str().unwrap_or(""),
                    e["decision"].as_str().unwrap_or(""),
                );
            }
            if let Some(next) = page["next_before"].as_u64() {
                eprintln!("more: entries before seq {next} (GET /v1/audit?before={next})");
            }
            Ok(())
        }
        AuditCommand::Verify => {
            let mut walk: Option<aos_core::audit::ChainWalk> = None;
            let (mut after, mut head) = (0u64, None::<String>);
            loop {
                let page = c
                    .call(reqwest::Method::GET, &format!("/v1/audit?order=asc&after={after}&limit=100"), None, None)
                    .await?;
                let entries: Vec<aos_core::audit::AuditEntry> = serde_json::from_value(page["entries"].clone())
                    .context("the audit entries are not in the stored shape")?;
                for e in &entries {
                    let w = walk.get_or_insert_with(|| aos_core::audit::ChainWalk::new(&e.event.tenant));
                    if let Err(broken) = w.next(e) {
                        anyhow::bail!("{broken}");
                    }
                    head = Some(e.hash.clone());
                }
                match (page["next_after"].as_u64(), entries.last()) {
                    (Some(next), Some(_)) => {
                        after = next;
                        eprint!("\rverified {after} entries…");
                    }
                    _ => break,
                }
            }
            let count = walk.map_or(0, aos_core::audit::ChainWalk::finish);
            eprint!("\r");
            match head {
                Some(h) => println!("the audit log verifies: {count} entries, head {h}"),
                None => println!("the audit log is empty"),
            }
            Ok(())
        }
    }
}

/// Percent-escapes a query value.
pub(crate) fn url_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

pub(crate) async fn policy(command: PolicyCommand, conn: &Conn) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    let read = |f: &PathBuf| std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()));
    match command {
        PolicyCommand::Apply { file, default_deny, allow_deny_all, base_version } => {
            let body = json!({
                "text": read(&file)?, "default_deny": default_deny,
                "allow_deny_all": allow_deny_all, "base_version": base_version,
            });
            let v = c.call(reqwest::Method::PUT, "/v1/policies", Some(&body), None).await?;
            println!("policy version {} applied: {} policies", v["version"], v["policies"]);
            Ok(())
        }
        PolicyCommand::Get { versions } => {
            let all = c.call(reqwest::Method::GET, "/v1/policies", None, None).await?;
            if versions {
                return print(&all);
            }
            match all["current"].as_object() {
                Some(_) => print(&all["current"]),
                None => {
                    println!("no policies applied: every step is allowed");
                    Ok(())
                }
            }
        }
        PolicyCommand::Test { file, operation: Some(operation), role, .. } => {
            let policies = file.as_ref().map(read).transpose()?;
            let body = json!({"operation": operation, "role": role, "policies": policies});
            print(&c.call(reqwest::Method::POST, "/v1/policies/evaluate", Some(&body), None).await?)
        }
        PolicyCommand::Test { file, skill, input, kind, spent_cents, estimated_cents, default_deny, .. } => {
            let input = match input.strip_prefix('@') {
                Some(path) => read(&PathBuf::from(path))?,
                None => input,
            };
            let input: serde_json::Value = serde_json::from_str(&input).context("--input is not JSON")?;
            let policies = file.as_ref().map(read).transpose()?;
            let body = json!({
                "skill": skill, "input": input, "kind": kind, "spent_cents": spent_cents,
                "estimated_cents": estimated_cents, "policies": policies, "default_deny": default_deny,
            });
            print(&c.call(reqwest::Method::POST, "/v1/policies/evaluate", Some(&body), None).await?)
        }
    }
}

pub(crate) async fn approvals(command: ApprovalCommand, conn: &Conn) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    let (id, decision, comment) = match command {
        ApprovalCommand::List { status } => {
            let list = c.call(reqwest::Method::GET, &format!("/v1/approvals?status={status}"), None, None).await?;
            let items = list["approvals"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                println!("no {status} approvals");
            }
            for a in items {
                // A workflow's node, or the run step a policy holds back.
                let waiting = match a["step"].as_object() {
                    Some(step) => format!(
                        "{} step {} ({})",
                        step["run_id"].as_str().unwrap_or(""),
                        step["step_index"],
                        step["skill"].as_str().unwrap_or("")
                    ),
                    None => {
                        format!("{}/{}", a["workflow"].as_str().unwrap_or(""), a["node"].as_str().unwrap_or(""))
                    }
                };
                println!(
                    "{}  {}  level {}  {waiting}  {:?}",
                    a["id"].as_str().unwrap_or(""),
                    a["status"].as_str().unwrap_or(""),
                    a["required_level"],
                    a["prompt"].as_str().unwrap_or("")
                );
            }
            return Ok(());
        }
        ApprovalCommand::Approve { id, comment } => (id, "approve", comment),
        ApprovalCommand::Reject { id, comment } => (id, "reject", comment),
    };
    let body = json!({"decision": decision, "comment": comment});
    let a = c.call(reqwest::Method::POST, &format!("/v1/approvals/{id}/decision"), Some(&body), None).await?;
    println!("approval {id} {} by {}", a["status"].as_str().unwrap_or("?"), a["decided_by"].as_str().unwrap_or("?"));
    Ok(())
}
