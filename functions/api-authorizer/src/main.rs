//! Lambda for the HTTP API authorizer.

#[tokio::main]
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::authorizer::serve().await
}
