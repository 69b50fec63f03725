//! The money commands: `aos credits` (balance, ledger, grants), `aos quotas`, `aos usage`
//! and CostSim (`aos run simulate`, `aos workflow simulate`).

use super::{print, Conn};
use anyhow::Context;
use aos_cli::client::Client;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::Path;

/// An amount of cents as people write it: `700`, `1.075`.
fn cents(v: &Value) -> String {
    match v.as_f64() {
        Some(c) if c.fract() == 0.0 => format!("{c:.0}"),
        Some(c) => format!("{c}"),
        None => "?".to_owned(),
    }
}

#[derive(Subcommand)]
pub(crate) enum CreditsCommand {
    /// The tenant's credits: available, reserved, spent, and each grant.
    Show {
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The tenant's ledger, oldest first (every page unless --limit).
    Ledger {
        /// At most this many transfers.
        #[arg(long)]
        limit: Option<u32>,
        /// Print the transfers as JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Grant a tenant credits (operator key). A repeat of the same --id is a no-op.
    Grant {
        /// The tenant.
        tenant: String,
        /// Whole cents (credits).
        amount_cents: u64,
        /// The grant's id (default: a new one).
        #[arg(long)]
        id: Option<String>,
        /// paid or promotional.
        #[arg(long, default_value = "paid")]
        kind: String,
        /// When its unspent rest expires (ms since the epoch).
        #[arg(long)]
        expires_at_ms: Option<u64>,
        /// From when it can be spent (ms since the epoch; default now).
        #[arg(long)]
        effective_at_ms: Option<u64>,
        /// Among grants expiring together, higher is spent first.
        #[arg(long)]
        priority: Option<i32>,
    },
}

pub(crate) async fn credits(command: CreditsCommand, conn: &Conn) -> anyhow::Result<()> {
    let get = reqwest::Method::GET;
    match command {
        CreditsCommand::Show { json } => {
            let c = conn.client("dev-api-key")?;
            let book = c.call(get, "/v1/credits", None, None).await?;
            if json {
                return print(&book);
            }
            println!(
                "available {} c, reserved {} c, spent {} c, expired {} c{}{}",
                cents(&book["available_cents"]),
                cents(&book["reserved_cents"]),
                cents(&book["spent_cents"]),
                cents(&book["expired_cents"]),
                if book["metered"] == true { "" } else { " (unmetered: no grants yet)" },
                if book["suspended"] == true { ", SUSPENDED" } else { "" },
            );
            for g in book["grants"].as_array().into_iter().flatten() {
                println!(
                    "  {}  {}  {}  {} of {} c left{}",
                    g["id"].as_str().unwrap_or(""),
                    g["kind"].as_str().unwrap_or(""),
                    g["state"].as_str().unwrap_or(""),
                    cents(&g["remaining_cents"]),
                    cents(&g["amount_cents"]),
                    g["expires_at_ms"].as_u64().map(|e| format!(", expires at {e} ms")).unwrap_or_default(),
                );
            }
            Ok(())
        }
        CreditsCommand::Ledger { limit, json } => {
            let c = conn.client("dev-api-key")?;
            let mut after: Option<String> = None;
            let mut shown = 0u32;
            loop {
                let page_size = limit.map_or(100, |l| l.saturating_sub(shown).clamp(1, 100));
                let q =
                    after.as_ref().map(|a| format!("&after={}", crate::governance::url_escape(a))).unwrap_or_default();
                let page = c.call(get.clone(), &format!("/v1/credits/ledger?limit={page_size}{q}"), None, None).await?;
                for t in page["transfers"].as_array().into_iter().flatten() {
                    shown += 1;
                    if json {
                        println!("{t}");
                    } else {
                        println!(
                            "{}  {:<7} {:>10} c  {} -> {}  {}",
                            t["at_ms"],
                            t["kind"].as_str().unwrap_or(""),
                            cents(&t["amount_cents"]),
                            t["debit"].as_str().unwrap_or(""),
                            t["credit"].as_str().unwrap_or(""),
                            t["id"].as_str().unwrap_or(""),
                        );
                    }
                }
                after = page["next_after"].as_str().map(str::to_owned);
                if after.is_none() || limit.is_some_and(|l| shown >= l) {
                    return Ok(());
                }
            }
        }
        CreditsCommand::Grant { tenant, amount_cents, id, kind, expires_at_ms, effective_at_ms, priority } => {
            let c = conn.client("operator-api-key")?;
            let body = json!({
                "tenant_id": tenant, "amount_cents": amount_cents, "id": id, "kind": kind,
                "expires_at_ms": expires_at_ms, "effective_at_ms": effective_at_ms, "priority": priority,
            });
            let answer = c.call(reqwest::Method::POST, "/v1/credits/grants", Some(&body), None).await?;
            let made = answer["transfers"].as_array().map_or(0, Vec::len);
            println!(
                "grant {} for {tenant}: {}; available now {} c",
                answer["grant_id"].as_str().unwrap_or(""),
                if made == 0 { "already made (nothing changed)" } else { "made" },
                cents(&answer["credits"]["available_cents"]),
            );
            Ok(())
        }
    }
}

/// Prints CostSim's answer: the verdict, the figures, each step, the warnings.
/// `aos quotas`: the tenant's plan and each quota, used of its limit.
pub(crate) async fn quotas(conn: &Conn, json: bool) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    let answer = c.call(reqwest::Method::GET, "/v1/quotas", None, None).await?;
    if json {
        return print(&answer);
    }
    let rate =
        answer["requests_per_minute"].as_u64().map_or_else(|| "no limit".to_owned(), |r| format!("{r} per 60 s"));
    println!("plan {}: requests {rate}", answer["plan"].as_str().unwrap_or("?"));
    for q in answer["quotas"].as_array().into_iter().flatten() {
        let name = q["quota_name"].as_str().unwrap_or("");
        // Spend is metered in millicredits; people read it in cents.
        let spend = name.starts_with("spend_");
        let shown = |v: &Value| match v.as_u64() {
            Some(mc) if spend => format!("{} c", cents(&json!(mc as f64 / 1000.0))),
            Some(n) => n.to_string(),
            None => "no limit".to_owned(),
        };
        println!(
            "  {name:<17} {:>12} of {:<12} {}",
            shown(&q["current"]),
            shown(&q["limit"]),
            if q["allowed"] == true { "ok" } else { "USED UP" }
        );
    }
    Ok(())
}

/// The columns of `aos usage`, as `GET /v1/usage` names them.
const USAGE_COLUMNS: [&str; 8] =
    ["key", "runs", "steps", "tokens_in", "tokens_out", "cache_hits", "tokens_saved", "cost_cents"];

/// How `aos usage` prints its answer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum UsageFormat {
    Table,
    Csv,
    Json,
}

/// `aos usage`: the tenant's usage grouped by `group_by` between `from` and `to`.
pub(crate) async fn usage(
    conn: &Conn,
    group_by: &str,
    from: Option<&str>,
    to: Option<&str>,
    format: UsageFormat,
) -> anyhow::Result<()> {
    let c = conn.client("dev-api-key")?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("group_by", group_by);
    if let Some(from) = from {
        query.append_pair("from", from);
    }
    if let Some(to) = to {
        query.append_pair("to", to);
    }
    let answer = c.call(reqwest::Method::GET, &format!("/v1/usage?{}", query.finish()), None, None).await?;
    let groups = answer["groups"].as_array().cloned().unwrap_or_default();
    let cell = |g: &Value, col: &str| match &g[col] {
        Value::String(s) => s.clone(),
        v if col == "cost_cents" => cents(v),
        v => v.to_string(),
    };
    match format {
        UsageFormat::Json => print(&answer),
        UsageFormat::Csv => {
            let mut out = csv::Writer::from_writer(std::io::stdout());
            out.write_record(USAGE_COLUMNS.map(|c| if c == "key" { group_by } else { c }))?;
            for g in &groups {
                out.write_record(USAGE_COLUMNS.map(|c| cell(g, c)))?;
            }
            out.flush().context("writing the CSV")
        }
        UsageFormat::Table => {
            println!(
                "{} to {}: {} runs, {} c",
                answer["from"].as_str().unwrap_or("?"),
                answer["to"].as_str().unwrap_or("?"),
                answer["runs"],
                cents(&answer["total"]["cost_cents"])
            );
            println!(
                "{:<24} {:>6} {:>7} {:>10} {:>10} {:>6} {:>9} {:>10}",
                group_by, "runs", "steps", "tokens in", "tokens out", "hits", "saved", "cost c"
            );
            for g in &groups {
                let key = cell(g, "key");
                let key = if key.is_empty() { "(none)".to_owned() } else { key };
                println!(
                    "{key:<24} {:>6} {:>7} {:>10} {:>10} {:>6} {:>9} {:>10}",
                    cell(g, "runs"),
                    cell(g, "steps"),
                    cell(g, "tokens_in"),
                    cell(g, "tokens_out"),
                    cell(g, "cache_hits"),
                    cell(g, "tokens_saved"),
                    cell(g, "cost_cents")
                );
            }
            Ok(())
        }
    }
}

fn show_simulation(answer: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print(answer);
    }
    println!(
        "{}: {} c, {} ms, cumulative risk {} (the seed's V1 table); AOS would reserve {} c",
        answer["status"].as_str().unwrap_or("?"),
        cents(&answer["estimated_cost_cents"]),
        cents(&answer["estimated_duration_ms"]),
        answer["metadata"]["cumulative_risk"],
        cents(&answer["credits"]["estimated_cents"]),
    );
    for e in answer["step_estimates"].as_array().into_iter().flatten() {
        println!(
            "  step {} {} x{}: {} c, {} ms, risk {}",
            e["step_index"],
            e["skill"].as_str().unwrap_or(""),
            e["iterations"],
            cents(&e["cost_cents"]),
            cents(&e["latency_ms"]),
            e["risk"]
        );
    }
    for list in ["permission_gaps", "warnings"] {
        for w in answer[list].as_array().into_iter().flatten() {
            println!("  {}: {}", list.trim_end_matches('s').replace('_', " "), w.as_str().unwrap_or(""));
        }
    }
    for a in answer["alternatives"].as_array().into_iter().flatten() {
        println!("  alternative: {} (saves {} c)", a["description"].as_str().unwrap_or(""), cents(&a["savings_cents"]));
    }
    Ok(())
}

/// `aos run simulate FILE`: the run file's plan (a POST /v1/runs body, steps may add
/// `iterations`).
pub(crate) async fn simulate_run(c: &Client, file: &Path, budget: Option<f64>, json: bool) -> anyhow::Result<()> {
    let raw = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let run: Value = serde_json::from_str(&raw).with_context(|| format!("{} is not valid JSON", file.display()))?;
    let body = json!({"plan": run["plan"], "budget_cents": budget});
    show_simulation(&c.call(reqwest::Method::POST, "/v1/runs/simulate", Some(&body), None).await?, json)
}

/// `aos workflow simulate NAME`: a stored workflow, each map node with its
/// `--items NODE=N`.
pub(crate) async fn simulate_workflow(
    c: &Client,
    name: &str,
    version: Option<u32>,
    budget: Option<f64>,
    items: &[String],
    json: bool,
) -> anyhow::Result<()> {
    let mut map_items = serde_json::Map::new();
    for i in items {
        let (node, n) = i.split_once('=').with_context(|| format!("--items {i:?} is not NODE=N"))?;
        let n: u32 = n.parse().with_context(|| format!("--items {i:?}: N must be a whole number"))?;
        map_items.insert(node.to_owned(), json!(n));
    }
    let body = json!({"version": version, "budget_cents": budget, "map_items": map_items});
    let path = format!("/v1/workflows/{}/simulate", crate::governance::url_escape(name));
    show_simulation(&c.call(reqwest::Method::POST, &path, Some(&body), None).await?, json)
}
