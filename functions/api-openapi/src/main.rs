//! Lambda for one API route; the handler is the shared router restricted to it.

#[tokio::main]
async fn main() -> Result<(), aos_lambda::Error> {
    aos_lambda::api::serve(aos_api::Route::OpenApi).await
}
