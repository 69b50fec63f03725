//! Lambda for the step worker; the pipeline is the shared `StepWorker`.

#[tokio::main]
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::worker::serve().await
}
