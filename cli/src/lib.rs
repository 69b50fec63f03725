//! The `aos` command's library: the local stack (`aos dev`), the API client commands
//! and the benchmark. The binary in `main.rs` only parses arguments.

pub mod bench;
pub mod bench_agent;
pub mod bench_aws;
pub mod bench_http;
pub mod bench_workflow;
pub mod client;
pub mod mcp;
pub mod stack;
