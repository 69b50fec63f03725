//! AOS on Lambda. Each function's `main.rs` calls one of these entry points; the
//! handlers here only translate events and call the same code `aos dev` runs.
//!
//! - [`api::serve`]: one API route behind API Gateway (HTTP API, payload v2), served by
//!   the shared router restricted to that route;
//! - [`worker::serve`]: the step worker on the SQS event source, with partial batch
//!   responses (`ReportBatchItemFailures`);
//! - [`authorizer::serve`]: the HTTP API Lambda authorizer (API key → tenant);
//! - [`sweep::serve`]: the scheduled sweep (first messages of stranded runs).

pub mod api;
pub mod authorizer;
pub mod sweep;
pub mod worker;

/// Error type of the Lambda entry points.
pub type Error = lambda_runtime::Error;

/// Logs for CloudWatch: no colours, level from `AOS_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("AOS_LOG").unwrap_or_else(|_| "info".into()))
        .with_ansi(false)
        .without_time()
        .init();
}

/// How long a warm Lambda keeps a tenant's compiled policies: `AOS_POLICY_CACHE_MS`
/// (0 to 600000), else [`aos_runtime::policies::CACHE_TTL`].
pub fn policy_cache_ttl() -> Result<std::time::Duration, Error> {
    match std::env::var("AOS_POLICY_CACHE_MS") {
        Err(_) => Ok(aos_runtime::policies::CACHE_TTL),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(ms) if ms <= 600_000 => Ok(std::time::Duration::from_millis(ms)),
            _ => {
                Err(format!("AOS_POLICY_CACHE_MS must be a number of milliseconds from 0 to 600000, got {v:?}").into())
            }
        },
    }
}

/// The plan of tenants without their own (`AOS_PLAN`: free, dev, pro, enterprise or
/// unlimited; default unlimited).
pub fn default_plan() -> Result<aos_core::limits::PlanName, Error> {
    match std::env::var("AOS_PLAN") {
        Err(_) => Ok(aos_core::limits::PlanName::Unlimited),
        Ok(v) if v.trim().is_empty() => Ok(aos_core::limits::PlanName::Unlimited),
        Ok(v) => aos_core::limits::PlanName::parse(v.trim())
            .ok_or_else(|| format!("AOS_PLAN must be free, dev, pro, enterprise or unlimited, got {v:?}").into()),
    }
}

/// The environment feature flags are evaluated in: `AOS_ENVIRONMENT`, else `production`.
pub fn environment() -> String {
    std::env::var("AOS_ENVIRONMENT").ok().filter(|e| !e.is_empty()).unwrap_or_else(|| "production".to_owned())
}
