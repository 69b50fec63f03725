//! The workflow spec as tenants write it (JSON or YAML), and its parsing.

use super::condition::Condition;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A workflow: a DAG of nodes, declared once and run on either backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    /// Name, unique per tenant: `a-z`, `0-9`, `-`, `_`, 1–64 characters. Applying a
    /// changed spec under the same name creates the next version.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The nodes; order matters only to break ties (see [`super::Graph::canonical_order`]).
    pub nodes: Vec<NodeSpec>,
    /// The execution's output, templated from `${input...}` and `${steps.<id>.output...}`.
    /// Without it the output is every completed node's output, by node id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// Kind of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// One skill call.
    #[default]
    Task,
    /// One skill call per element of an array, at most `max_concurrency` at a time.
    Map,
    /// Picks one branch by conditions; the nodes of the other branches are skipped.
    Choice,
    /// A durable timer: a number of seconds or a timestamp.
    Wait,
    /// Waits for a human decision; `on_timeout` nodes run if nobody decides in time.
    Approval,
}

impl NodeType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Map => "map",
            Self::Choice => "choice",
            Self::Wait => "wait",
            Self::Approval => "approval",
        }
    }
}

/// How a task or map node is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry); 1..=10, default 3.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Delay before the first retry, in seconds (doubling after each); 1..=3600, default 1.
    #[serde(default = "default_backoff")]
    pub backoff_s: u32,
}

fn default_attempts() -> u32 {
    3
}

fn default_backoff() -> u32 {
    1
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: default_attempts(), backoff_s: default_backoff() }
    }
}

/// A skill call that undoes a completed node when the workflow fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Compensation {
    /// Skill to call.
    pub skill: String,
    /// Its input; may reference the node's own output (`${steps.<self>.output...}`).
    #[serde(default = "empty_object")]
    pub input: Value,
}

/// One branch of a choice node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceRule {
    /// Branch name reported in the node's output (`{"branch": name}`); defaults to
    /// its position, `"0"`, `"1"`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The condition; the first rule that holds wins.
    pub when: Condition,
    /// Nodes that run only when this branch is taken.
    #[serde(default)]
    pub next: Vec<String>,
}

/// One node. Which fields apply depends on `type`; validation refuses the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Id, unique in the workflow: `A-Z`, `a-z`, `0-9`, `_`, 1–64 characters.
    pub id: String,
    /// Kind of node; default `task`.
    #[serde(rename = "type", default)]
    pub kind: NodeType,
    /// Nodes that must finish first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// With `any`, the node runs when at least one dependency completed and the others
    /// were skipped (a join after a choice); default `all`.
    #[serde(default, skip_serializing_if = "Join::is_all")]
    pub join: Join,
    /// Task, map: the skill to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skill: Option<String>,
    /// Task, map: the skill's input template. A map's may use `${item...}` and `${index}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Map: one reference to an array, e.g. `${input.orders}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// Map: elements in flight at once; 1..=40, default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Choice: the rules, tried in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<ChoiceRule>>,
    /// Choice: nodes that run when no rule holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
    /// Wait: seconds to wait (1..=31536000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// Wait: an RFC 3339 UTC timestamp (`2026-12-01T09:00:00Z`) or one reference to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Approval: what the approver is asked (templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Task, map: per-attempt timeout; approval: time to decide (default 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// Approval: the level (1-5) a decider's key must hold (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u8>,
    /// Approval: nodes that run only if nobody decides in time. Without them a timeout
    /// fails the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Vec<String>>,
    /// Task, map: retry policy (default 3 attempts, 1 s back-off doubling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Task, map: how to undo the node if the workflow fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<Compensation>,
}

/// When a node with several dependencies runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    /// Every dependency completed.
    #[default]
    All,
    /// At least one completed, the rest skipped.
    Any,
}

impl Join {
    fn is_all(&self) -> bool {
        *self == Self::All
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// Default approval timeout, seconds.
pub const DEFAULT_APPROVAL_TIMEOUT_S: u64 = 86_400;
/// Default map concurrency.
pub const DEFAULT_MAP_CONCURRENCY: u32 = 10;

impl NodeSpec {
    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry.clone().unwrap_or_default()
    }

    /// Map concurrency in force.
    pub fn concurrency(&self) -> u32 {
        self.max_concurrency.unwrap_or(DEFAULT_MAP_CONCURRENCY)
    }

    /// Approval timeout in force, seconds.
    pub fn approval_timeout_s(&self) -> u64 {
        self.timeout_s.unwrap_or(DEFAULT_APPROVAL_TIMEOUT_S)
    }

    /// Approval: the level a decider must hold (default 1).
    pub fn approval_level(&self) -> u8 {
        self.level.unwrap_or(1)
    }

    /// The input template (an empty object when absent).
    pub fn input_template(&self) -> Value {
        self.input.clone().unwrap_or_else(empty_object)
    }

    /// Branch names of a choice node, in rule order, then `"default"`.
    pub fn branch_name(&self, index: usize) -> String {
        let rules = self.choices.as_deref().unwrap_or_default();
        match rules.get(index) {
            Some(rule) => rule.name.clone().unwrap_or_else(|| index.to_string()),
            None => "default".to_owned(),
        }
    }
}

/// A spec that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// Format of a spec document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML (1.2, as JSON-compatible data).
    Yaml,
}

impl Format {
    /// Guesses the format from a file name or media type: YAML for `.yaml`, `.yml` and
    /// `yaml` media types, JSON otherwise.
    pub fn guess(name_or_media_type: &str) -> Self {
        let s = name_or_media_type.to_ascii_lowercase();
        if s.ends_with(".yaml") || s.ends_with(".yml") || s.contains("yaml") {
            Self::Yaml
        } else {
            Self::Json
        }
    }
}

/// Parses a spec document; errors say where (line and column for YAML, path for JSON).
pub fn parse(text: &str, format: Format) -> Result<WorkflowSpec, ParseError> {
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| ParseError(format!("workflow JSON: {e}"))),
        Format::Yaml => {
            // Through serde_json::Value first: the spec is JSON data, so YAML-only types
            // (tags, non-string keys) are refused rather than guessed.
            let value: Value = serde_yaml_ng::from_str(text).map_err(|e| ParseError(format!("workflow YAML: {e}")))?;
            serde_json::from_value(value).map_err(|e| ParseError(format!("workflow YAML: {e}")))
        }
    }
}
