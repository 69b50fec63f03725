//! What a failed call looks like: the HTTP status and the stable error code.
//!
//! ```sh
//! AOS_API_KEY=$(cat aos-data/dev-api-key) cargo run -p aos-client --example errors
//! ```

use aos_client::requests::SubmitRun;
use aos_client::{Client, Error, ErrorCode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AOS_URL").unwrap_or_else(|_| "http://127.0.0.1:8787".to_owned());
    let aos = Client::new(&url, &std::env::var("AOS_API_KEY")?)?;
    let run: SubmitRun =
        serde_json::from_value(serde_json::json!({"plan": [{"id": "x", "skill": "no_such_skill", "input": {}}]}))?;
    match aos.submit(&run).await {
        Err(Error::Api { status, code: ErrorCode::SkillNotFound, message, .. }) => {
            println!("refused with {status} ERR_SKILL_NOT_FOUND: {message}");
        }
        Err(Error::Api { retry_after: Some(wait), .. }) => println!("slow down: ask again in {wait:?}"),
        Err(other) => return Err(other.into()),
        Ok(run) => println!("unexpectedly accepted: {}", run.id),
    }
    Ok(())
}
