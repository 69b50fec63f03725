//! Submits the quickstart run to an `aos dev` and follows it step by step.
//!
//! ```sh
//! cargo run --bin aos -- dev &                 # in another terminal
//! AOS_URL=http://127.0.0.1:8787 AOS_API_KEY=$(cat aos-data/dev-api-key) \
//!     cargo run -p aos-client --example quickstart
//! ```

use aos_client::bodies::StepView;
use aos_client::requests::SubmitRun;
use aos_client::{Client, RunEvent};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("AOS_URL").unwrap_or_else(|_| "http://127.0.0.1:8787".to_owned());
    let key =
        std::env::var("AOS_API_KEY").map_err(|_| "set AOS_API_KEY (aos dev writes it to aos-data/dev-api-key)")?;
    let aos = Client::new(&url, &key)?;

    let mut run: SubmitRun = serde_json::from_str(include_str!("../../../examples/quickstart.json"))?;
    run.input["base_url"] = url.clone().into(); // the demo service of this aos dev
    let submitted = aos.submit(&run).await?;
    println!("run {} submitted", submitted.id);

    let mut events = std::pin::pin!(aos.follow(&submitted.id));
    while let Some(event) = events.next().await {
        match event?.data {
            RunEvent::Step(step) => match *step {
                StepView::Finished(done) => {
                    println!("step {} ({}) {:?}", done.checkpoint.step_index, done.checkpoint.skill, done.status);
                }
                StepView::Unfinished(s) => println!("step {} ({}) {:?}", s.step_index, s.skill, s.status),
            },
            RunEvent::Run(run) => {
                println!("run {:?}: {}", run.status, serde_json::to_string_pretty(&run.output)?);
            }
        }
    }
    Ok(())
}
