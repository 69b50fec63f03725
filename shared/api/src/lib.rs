//! AOS HTTP routes: request -> use case -> response. The same router serves `aos dev`
//! and (behind `lambda_http`) the API Lambdas.

mod audit;
mod auth;
pub use auth::{presented_key, GatewayPrincipal};
mod credits;
pub mod demo;
mod error;
mod events;
mod extract;
mod flags;
mod flows;
mod plans;
mod policies;
mod routes;
mod runs;
mod secrets;
mod tenants;
mod usage;
mod views;

pub use error::ApiError;
pub use routes::{router, router_for, AppState, Route, MAX_BODY_BYTES};
