//! Lambda for the scheduled sweep; the use case is the shared `Sweeper`.

#[tokio::main]
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::sweep::serve().await
}
