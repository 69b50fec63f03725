//! Lambda for the MCP route (`POST /mcp`, stateless streamable HTTP): submits and reads
//! runs, so it needs the skills' declarations but never executes one.

#[tokio::main]
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::api::serve_with_skills(aos_api::Route::Mcp).await
}
