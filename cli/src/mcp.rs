//! `aos mcp`: the MCP server over stdio, for MCP clients that start a command (desktop
//! assistants, agent frameworks). Its tools are those of `POST /mcp`; each call goes to
//! the deployment at AOS_URL through its HTTP API with the key in AOS_API_KEY, so what a
//! tool does is checked, charged and audited there.

use aos_api::bodies::{RunView, SkillList};
use aos_api::mcp::{McpBackend, McpServer, Refusal};
use aos_api::requests::SubmitRun;
use aos_client::{Client, ErrorCode, RunId, Submit};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{ErrorData, ServiceExt};
use std::time::Duration;

/// The deployment behind the HTTP API.
pub struct ApiBackend {
    client: Client,
}

fn refusal(e: aos_client::Error) -> Refusal {
    match e {
        aos_client::Error::Api { code, message, .. } => Refusal { code, message },
        other @ aos_client::Error::Transport { .. } => {
            Refusal { code: ErrorCode::ConnectionRefused, message: other.to_string() }
        }
        other => Refusal { code: ErrorCode::Unknown, message: other.to_string() },
    }
}

fn run_id(id: &str) -> Result<RunId, Refusal> {
    RunId::parse(id).map_err(|e| Refusal { code: ErrorCode::NotFound, message: e.to_string() })
}

impl McpBackend for ApiBackend {
    type Caller = ();

    fn caller(&self, _ctx: &RequestContext<RoleServer>) -> Result<(), ErrorData> {
        Ok(())
    }

    async fn skills(&self, _who: &()) -> Result<Vec<aos_runtime::skills::SkillDescriptor>, Refusal> {
        let list: SkillList =
            self.client.call(reqwest::Method::GET, "/v1/skills", None::<&()>, None, None).await.map_err(refusal)?;
        Ok(list.skills)
    }

    async fn submit(&self, _who: &(), run: SubmitRun, wait: Duration) -> Result<RunView, Refusal> {
        let opts = Submit { idempotency_key: None, wait: (!wait.is_zero()).then_some(wait) };
        Ok(self.client.submit_with(&run, &opts).await.map_err(refusal)?.value)
    }

    async fn get(&self, _who: &(), id: &str, wait: Duration) -> Result<RunView, Refusal> {
        let id = run_id(id)?;
        if wait.is_zero() {
            self.client.get(&id).await.map_err(refusal)
        } else {
            self.client.wait(&id, wait).await.map_err(refusal)
        }
    }

    async fn cancel(&self, _who: &(), id: &str) -> Result<RunView, Refusal> {
        self.client.cancel(&run_id(id)?).await.map_err(refusal)
    }
}

/// Serves MCP on stdin / stdout until the client closes it.
pub async fn serve_stdio(client: Client) -> anyhow::Result<()> {
    let server = McpServer::new(ApiBackend { client });
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
