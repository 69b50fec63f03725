//! Tenants' policies in Cedar, and how a step is judged by them.
//!
//! A policy set is Cedar text validated against [`SCHEMA`]. Each policy may carry
//! annotations: `@id("name")` (how decisions name it), `@category("SAFETY")` (one of
//! SAFETY, PRIVACY, OPERATIONAL, ROUTING, CUSTOM; default CUSTOM), `@reason("…")` (what a
//! decision says), and on a `forbid` `@approval("3")`: instead of denying, the step waits
//! for a person deciding at that level (1-5), for `@timeout("seconds")` (default a day);
//! with `@escalate("4")`, a request nobody decided in time goes to that higher level for
//! another timeout before it expires.
//!
//! Precedence, as the seed's policy layer has it: the highest category with a policy that
//! applies to the step decides; within it deny > require approval > allow (the highest
//! level asked wins). When no policy applies, the tenant's default decides: allow (the
//! default) or deny.

use crate::answers::{answer_key, judge, Slice, ANSWERS_KEPT};
use crate::api::{about_api, api_schema_parsed, forbids_every_operation};
use crate::located::{located, position, statement_starts};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// How long a person has to decide an approval a policy asks for, unless its `@timeout`
/// says (seconds; a day, as for workflow approval nodes).
pub const DEFAULT_APPROVAL_TIMEOUT_S: u64 = 86_400;
/// The longest `@timeout` (30 days).
pub const MAX_APPROVAL_TIMEOUT_S: u64 = 30 * 86_400;

/// The Cedar schema policies are validated against.
pub const SCHEMA: &str = include_str!("schema.cedarschema");

/// A policy's category, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    /// Harm to people or systems (priority 100).
    Safety,
    /// Personal data (90).
    Privacy,
    /// How the tenant runs things: spend, hours, targets (50).
    Operational,
    /// Where work goes (30).
    Routing,
    /// Anything else (10).
    Custom,
}

impl Category {
    /// Highest first.
    pub const ALL: [Category; 5] =
        [Category::Safety, Category::Privacy, Category::Operational, Category::Routing, Category::Custom];

    /// Its name in annotations (`SAFETY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Safety => "SAFETY",
            Category::Privacy => "PRIVACY",
            Category::Operational => "OPERATIONAL",
            Category::Routing => "ROUTING",
            Category::Custom => "CUSTOM",
        }
    }

    /// The seed's priority (100 … 10).
    pub fn priority(self) -> u8 {
        match self {
            Category::Safety => 100,
            Category::Privacy => 90,
            Category::Operational => 50,
            Category::Routing => 30,
            Category::Custom => 10,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What happens when no policy applies to a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultDecision {
    /// The step runs (the default: skills the plan names run unless a policy forbids).
    #[default]
    Allow,
    /// The step is refused (deny by default).
    Deny,
}

/// A policy set that does not compile: where and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PolicyError {
    /// 1-based line of the problem (1 when the error has no position).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and, where Cedar says it, how to fix it.
    pub message: String,
}

/// One policy as decisions name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Meta {
    pub(crate) name: String,
    pub(crate) category: Category,
    /// `Some(level)`: a forbid that asks for approval instead of denying.
    pub(crate) approval: Option<u8>,
    /// How long a person has to decide, seconds (approvals only).
    pub(crate) timeout_s: Option<u64>,
    /// The level a request nobody decided in time escalates to (approvals only).
    pub(crate) escalate: Option<u8>,
    /// Where its requests' signed webhooks go (approvals only).
    pub(crate) notify: Option<String>,
    pub(crate) reason: Option<String>,
    pub(crate) permit: bool,
}

/// A validated policy set, ready to judge steps.
#[derive(Debug, Clone)]
pub struct Policies {
    /// The forbids and the permits, apart: Cedar reports every forbid that applies in a
    /// set of forbids, and every permit in a set of permits, so two evaluations find
    /// every policy that applies, whatever its category.
    pub(crate) forbids: cedar_policy::PolicySet,
    pub(crate) permits: cedar_policy::PolicySet,
    /// Per skill, the forbids and permits whose scope can match its calls (a policy
    /// scoped to another skill cannot apply), built on first use: a step is judged only
    /// by the policies that could concern it, and, where the facts they read are those
    /// of a step judged before, by that step's answer (see [`Slice`]).
    pub(crate) sliced: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Slice>>>>,
    /// The policies about API operations: forbids, permits.
    pub(crate) api: [cedar_policy::PolicySet; 2],
    /// Runs' and skills' entities as Cedar has them (see `entities`).
    pub(crate) entities:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<cedar_policy::Entities>>>>,
    pub(crate) meta: std::collections::BTreeMap<String, Meta>,
    pub(crate) names: Names,
    pub(crate) default: DefaultDecision,
    pub(crate) count: usize,
}

/// The schema's names, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) tenant: cedar_policy::EntityTypeName,
    pub(crate) run: cedar_policy::EntityTypeName,
    pub(crate) skill: cedar_policy::EntityTypeName,
    pub(crate) call: cedar_policy::EntityUid,
}

impl Names {
    fn new() -> Self {
        let name = |n: &str| cedar_policy::EntityTypeName::from_str(n).expect("a valid type name");
        Self {
            tenant: name("AOS::Tenant"),
            run: name("AOS::Run"),
            skill: name("AOS::Skill"),
            call: cedar_policy::EntityUid::from_str(r#"AOS::Action::"call""#).expect("a valid action"),
        }
    }
}

/// The step a decision is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepFacts {
    /// The run's tenant.
    pub tenant: String,
    /// The run.
    pub run_id: String,
    /// 0 for a top-level run.
    pub depth: u32,
    /// Whether the run is an agent's.
    pub agent: bool,
    /// The workflow the run is a node of ("" when none).
    pub workflow: String,
    /// The skill called.
    pub skill: String,
    /// Its idempotency class (`pure`, `idempotent`, `keyed`, `non_idempotent`).
    pub idempotency: String,
    /// `plan_step`, `workflow_node`, `compensation`, `planner_step` or `child_run`.
    pub kind: String,
    /// The outbound target host ("" when none) and port (0).
    pub host: String,
    /// Port of the target.
    pub port: u16,
    /// The resolved input.
    pub input: serde_json::Value,
    /// Spent so far by the run, cents.
    pub spent_cents: i64,
    /// This step's estimate, cents.
    pub estimated_cents: i64,
    /// Now, ms since the epoch.
    pub now_ms: u64,
    /// The tenant's plan.
    pub plan: String,
}

/// What the policies say of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// It runs.
    Allow,
    /// It fails with `ERR_POLICY_VIOLATION`.
    Deny,
    /// It waits for a person at the evaluation's approval level.
    RequiresApproval,
}

/// A policy that applied and did not allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Violation {
    /// The policy (`@id`, or Cedar's `policyN`).
    pub policy: String,
    /// Its category.
    pub category: Category,
    /// `deny` or `requires_approval`.
    pub effect: Decision,
    /// Its `@reason`, or a sentence naming it.
    pub message: String,
}

/// The answer for one step, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evaluation {
    /// The decision.
    pub decision: Decision,
    /// Why, one line per policy that decided (or the default).
    pub reasons: Vec<String>,
    /// The level an approval needs (when the decision asks for one).
    pub approval_level_required: Option<u8>,
    /// How long a person has to decide, seconds (when the decision asks for an approval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout_s: Option<u64>,
    /// The level an undecided request escalates to at its timeout (when a policy says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<u8>,
    /// Where the approval's signed webhooks go (the asking policies' `@notify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// The policies that applied and did not allow.
    pub violations: Vec<Violation>,
    /// The category that decided (`None`: the default did).
    pub deciding_category: Option<Category>,
}

impl Evaluation {
    /// A decision no policy made (the default, a refusal to judge): reasons only.
    pub(crate) fn plain(decision: Decision, reasons: Vec<String>) -> Self {
        Self {
            decision,
            reasons,
            approval_level_required: None,
            approval_timeout_s: None,
            escalate_to: None,
            notify: Vec::new(),
            violations: Vec::new(),
            deciding_category: None,
        }
    }
}

fn schema() -> cedar_policy::Schema {
    let (schema, _warnings) =
        cedar_policy::Schema::from_cedarschema_str(SCHEMA).expect("the published schema is valid Cedar");
    schema
}

/// Whether `policy` forbids every call, whoever and whatever: no scope, no condition.
fn forbids_everything(policy: &cedar_policy::Policy) -> bool {
    if policy.effect() != cedar_policy::Effect::Forbid || policy.annotation("approval").is_some() {
        return false;
    }
    let Ok(json) = policy.to_json() else { return false };
    let all = |k: &str| json[k]["op"] == "All";
    all("principal") && all("action") && all("resource") && json["conditions"].as_array().is_none_or(Vec::is_empty)
}

/// Whether `policy`'s scope can match calls of `skill` (its resource: any, or that
/// skill; any other constraint counts as matching), and whether it has no condition.
pub(crate) fn scope_of(policy: &cedar_policy::Policy, skill: &str) -> (bool, bool) {
    let Ok(json) = policy.to_json() else { return (true, false) };
    let resource = &json["resource"];
    let matches = match resource["op"].as_str() {
        Some("==") => resource["entity"]["type"] != "AOS::Skill" || resource["entity"]["id"] == skill,
        _ => true,
    };
    let principal_any = json["principal"]["op"] == "All";
    let action_any = json["action"]["op"] == "All" || json["action"]["op"] == "==";
    let unconditional = principal_any
        && action_any
        && matches!(resource["op"].as_str(), Some("All" | "=="))
        && json["conditions"].as_array().is_none_or(Vec::is_empty);
    (matches, unconditional)
}

impl Policies {
    /// Whether every call of `skill` is certainly refused, whatever its input, run or
    /// time: a forbid (not an approval) with no condition covers it and no policy of a
    /// higher category could apply to it — or nothing could allow it under deny by
    /// default. A planner is not offered such skills.
    pub fn never_allows(&self, skill: &str) -> bool {
        let mut denied_at: Option<u8> = None;
        let mut highest_other: Option<u8> = None;
        let mut permit_could_apply = false;
        for policy in self.forbids.policies().chain(self.permits.policies()) {
            let Some(meta) = self.meta.get(&policy.id().to_string()) else { continue };
            let (matches, unconditional) = scope_of(policy, skill);
            if !matches {
                continue;
            }
            let rank = meta.category.priority();
            if !meta.permit && meta.approval.is_none() && unconditional {
                denied_at = denied_at.max(Some(rank));
            } else {
                highest_other = highest_other.max(Some(rank));
                permit_could_apply |= meta.permit;
            }
        }
        match denied_at {
            // A policy of a higher category could decide otherwise.
            Some(rank) => highest_other.is_none_or(|other| other < rank),
            None => self.default == DefaultDecision::Deny && !permit_could_apply,
        }
    }

    /// Compiles a tenant's policy text: parsed, every annotation checked, validated
    /// against [`SCHEMA`] (strictly: a typo in an attribute is an error, not a policy
    /// that never applies). A policy that forbids everything is refused unless
    /// `allow_deny_all`.
    pub fn compile(text: &str, default: DefaultDecision, allow_deny_all: bool) -> Result<Self, PolicyError> {
        let set = cedar_policy::PolicySet::from_str(text).map_err(|e| located(text, &e))?;
        let starts = statement_starts(text);
        let at_policy = |policy: &cedar_policy::Policy, message: String| {
            // Cedar names the policies of a text policy0, policy1, … in order.
            let n: Option<usize> = policy.id().to_string().strip_prefix("policy").and_then(|n| n.parse().ok());
            let offset = n.and_then(|n| starts.get(n).copied()).unwrap_or(0);
            let (line, column) = position(text, offset);
            PolicyError { line, column, message }
        };
        // Steps' policies and API operations' policies, each validated against its schema.
        let (mut of_steps, mut of_api) = (cedar_policy::PolicySet::new(), cedar_policy::PolicySet::new());
        for policy in set.policies() {
            let api = about_api(policy).map_err(|m| at_policy(policy, m))?;
            let side = if api { &mut of_api } else { &mut of_steps };
            side.add(policy.clone()).map_err(|e| at_policy(policy, e.to_string()))?;
        }
        for (part, schema) in [(&of_steps, schema()), (&of_api, api_schema_parsed().clone())] {
            let validation = cedar_policy::Validator::new(schema).validate(part, cedar_policy::ValidationMode::Strict);
            let first = validation.validation_errors().next().map(|e| located(text, e));
            if let Some(e) = first {
                return Err(e);
            }
        }
        let (mut forbids, mut permits) = (cedar_policy::PolicySet::new(), cedar_policy::PolicySet::new());
        let mut api = [cedar_policy::PolicySet::new(), cedar_policy::PolicySet::new()];
        let mut meta = std::collections::BTreeMap::new();
        let mut count = 0;
        for policy in set.policies() {
            count += 1;
            let at = |message: String| at_policy(policy, message);
            let is_api = of_api.policy(policy.id()).is_some();
            if is_api {
                if let Some(key) =
                    ["approval", "timeout", "escalate", "notify"].into_iter().find(|k| policy.annotation(k).is_some())
                {
                    return Err(at(format!("@{key} goes on a policy about steps: an API request does not wait for an approval, it is allowed or refused")));
                }
                if !allow_deny_all && forbids_every_operation(policy) {
                    return Err(at("this policy forbids every API operation of every key (admin keys keep policies.apply and policies.list, to undo it); apply it with allow_deny_all (--allow-deny-all) if that is what you mean".to_owned()));
                }
            }
            for (key, _) in policy.annotations() {
                if !matches!(key, "id" | "category" | "approval" | "timeout" | "escalate" | "notify" | "reason") {
                    return Err(at(format!(
                        "unknown annotation @{key}: AOS reads @id, @category, @approval, @timeout, @escalate, @notify and @reason"
                    )));
                }
            }
            let category = match policy.annotation("category") {
                None => Category::Custom,
                Some(c) => Category::parse(c).ok_or_else(|| {
                    at(format!("@category({c:?}) is not a category: SAFETY, PRIVACY, OPERATIONAL, ROUTING or CUSTOM"))
                })?,
            };
            let permit = policy.effect() == cedar_policy::Effect::Permit;
            let approval = match policy.annotation("approval") {
                None => None,
                Some(_) if permit => {
                    return Err(at("@approval goes on a forbid: the step waits instead of being denied".to_owned()))
                }
                Some(l) => Some(
                    l.parse::<u8>()
                        .ok()
                        .filter(|l| (1..=5).contains(l))
                        .ok_or_else(|| at(format!("@approval({l:?}) must be a level from \"1\" to \"5\"")))?,
                ),
            };
            let timeout_s = match (policy.annotation("timeout"), approval) {
                (None, _) => None,
                (Some(_), None) => {
                    return Err(at("@timeout goes with @approval: it is how long a person has to decide".to_owned()))
                }
                (Some(t), Some(_)) => Some(t.parse::<u64>().ok().filter(|t| (1..=MAX_APPROVAL_TIMEOUT_S).contains(t)).ok_or_else(
                    || at(format!("@timeout({t:?}) must be a number of seconds from \"1\" to \"{MAX_APPROVAL_TIMEOUT_S}\" (30 days)")),
                )?),
            };
            let escalate = match (policy.annotation("escalate"), approval) {
                (None, _) => None,
                (Some(_), None) => {
                    return Err(at(
                        "@escalate goes with @approval: it is the level an undecided request goes to".to_owned()
                    ))
                }
                (Some(e), Some(level)) => {
                    Some(e.parse::<u8>().ok().filter(|e| *e > level && *e <= 5).ok_or_else(|| {
                        at(format!("@escalate({e:?}) must be a level above the @approval level {level}, at most \"5\""))
                    })?)
                }
            };
            if !allow_deny_all && forbids_everything(policy) {
                return Err(at("this policy forbids every step of every run; apply it with allow_deny_all (--allow-deny-all) if that is what you mean".to_owned()));
            }
            let notify = match (policy.annotation("notify"), approval) {
                (None, _) => None,
                (Some(_), None) => {
                    return Err(at("@notify goes with @approval: it is where the approval's webhooks go".to_owned()))
                }
                (Some(u), Some(_)) => {
                    let ok = u.len() <= 2048
                        && url::Url::parse(u)
                            .is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
                    if !ok {
                        return Err(at(format!("@notify({u:?}) must be an http or https URL of at most 2048 bytes")));
                    }
                    Some(u.to_owned())
                }
            };
            let name = policy.annotation("id").map_or_else(|| policy.id().to_string(), str::to_owned);
            let reason = policy.annotation("reason").map(str::to_owned);
            meta.insert(
                policy.id().to_string(),
                Meta { name, category, approval, timeout_s, escalate, notify, reason, permit },
            );
            let slot = match (is_api, permit) {
                (true, p) => &mut api[usize::from(p)],
                (false, true) => &mut permits,
                (false, false) => &mut forbids,
            };
            slot.add(policy.clone()).map_err(|e| at(e.to_string()))?;
        }
        Ok(Self {
            forbids,
            permits,
            sliced: Default::default(),
            entities: Default::default(),
            api,
            meta,
            names: Names::new(),
            default,
            count,
        })
    }

    /// How many policies the set holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the set holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The set's default decision.
    pub fn default_decision(&self) -> DefaultDecision {
        self.default
    }

    /// Judges one step. An input the schema refuses (it cannot: facts are typed) or an
    /// evaluation error inside a policy counts that policy as not applying, and says so
    /// in the reasons.
    pub fn evaluate(&self, facts: &StepFacts) -> Evaluation {
        if self.count == 0 {
            return self.by_default(Vec::new());
        }
        let slice = self.slice(&facts.skill);
        // Built on the first group that has no answer for these facts, at most once.
        let mut built: Option<Result<(cedar_policy::Request, std::sync::Arc<cedar_policy::Entities>), String>> = None;
        let input_text = std::cell::OnceCell::new();
        let input_text = || input_text.get_or_init(|| aos_core::determinism::canonical_json(&facts.input)).as_str();
        let mut notes = Vec::new();
        let mut applied: Vec<&Meta> = Vec::new();
        for group in &slice.groups {
            let key = answer_key(facts, group.reads, input_text);
            let known = group.answers.lock().expect("policy answers").get(&key).cloned();
            let judged = match known {
                Some(judged) => judged,
                None => {
                    let (request, entities) = match built.get_or_insert_with(|| {
                        self.request(facts, input_text().to_owned(), None).map_err(|e| e.to_string())
                    }) {
                        Ok(r) => r,
                        Err(e) => return self.undescribable(e),
                    };
                    let judged = std::sync::Arc::new(judge(&group.sets, request, entities));
                    let mut answers = group.answers.lock().expect("policy answers");
                    if answers.len() >= ANSWERS_KEPT {
                        answers.clear();
                    }
                    answers.insert(key, std::sync::Arc::clone(&judged));
                    judged
                }
            };
            notes.extend(judged.notes.iter().cloned());
            applied.extend(judged.applied.iter().filter_map(|id| self.meta.get(id)));
        }
        // The highest category with a policy that applies decides.
        if let Some(top) = applied.iter().map(|m| m.category).max_by_key(|c| c.priority()) {
            let deciding: Vec<&Meta> = applied.into_iter().filter(|m| m.category == top).collect();
            return self.decided(top, &deciding, notes);
        }
        self.by_default(notes)
    }

    /// A step the policies could not be given: refused, never let by.
    pub(crate) fn undescribable(&self, e: &str) -> Evaluation {
        Evaluation::plain(Decision::Deny, vec![format!("the step could not be described to the policies: {e}")])
    }

    /// The tenant's default decision, when no policy applies.
    fn by_default(&self, mut notes: Vec<String>) -> Evaluation {
        let (decision, line) = match self.default {
            DefaultDecision::Allow => (Decision::Allow, "no policy applies; the tenant's default allows"),
            DefaultDecision::Deny => (Decision::Deny, "no policy allows this step and the tenant denies by default"),
        };
        notes.insert(0, line.to_owned());
        Evaluation::plain(decision, notes)
    }

    /// The decision of `category`, whose policies `applied` applied: deny > approval >
    /// allow.
    pub(crate) fn decided(&self, category: Category, applied: &[&Meta], mut notes: Vec<String>) -> Evaluation {
        let said = |m: &Meta| m.reason.clone().unwrap_or_else(|| format!("policy {} applies", m.name));
        let forbids: Vec<&&Meta> = applied.iter().filter(|m| !m.permit).collect();
        let deny = forbids.iter().any(|m| m.approval.is_none());
        let level = forbids.iter().filter_map(|m| m.approval).max();
        let asking = || forbids.iter().filter(|m| m.approval.is_some());
        // The shortest time any of them gives, and the highest escalation any asks for.
        let timeout = asking().map(|m| m.timeout_s.unwrap_or(DEFAULT_APPROVAL_TIMEOUT_S)).min();
        let escalate_to = asking().filter_map(|m| m.escalate).max().filter(|e| level.is_some_and(|l| *e > l));
        let mut notify: Vec<String> = asking().filter_map(|m| m.notify.clone()).collect();
        notify.sort();
        notify.dedup();
        let decision = if deny {
            Decision::Deny
        } else if level.is_some() {
            Decision::RequiresApproval
        } else {
            Decision::Allow
        };
        let violations = forbids
            .iter()
            .map(|m| Violation {
                policy: m.name.clone(),
                category,
                effect: if m.approval.is_some() { Decision::RequiresApproval } else { Decision::Deny },
                message: said(m),
            })
            .collect();
        let mut reasons: Vec<String> =
            applied.iter().map(|m| format!("{} ({}): {}", m.name, category.as_str(), said(m))).collect();
        reasons.append(&mut notes);
        Evaluation {
            decision,
            reasons,
            approval_level_required: (decision == Decision::RequiresApproval).then_some(level).flatten(),
            approval_timeout_s: (decision == Decision::RequiresApproval).then_some(timeout).flatten(),
            escalate_to: (decision == Decision::RequiresApproval).then_some(escalate_to).flatten(),
            notify: if decision == Decision::RequiresApproval { notify } else { Vec::new() },
            violations,
            deciding_category: Some(category),
        }
    }

    /// The step as a Cedar request and its entities. Built directly from typed facts
    /// (not from JSON checked against the schema again): the policies were validated
    /// against the schema, and the facts have its types by construction.
    fn request(
        &self,
        f: &StepFacts,
        input_text: String,
        schema: Option<&cedar_policy::Schema>,
    ) -> Result<(cedar_policy::Request, std::sync::Arc<cedar_policy::Entities>), Box<dyn std::error::Error>> {
        use cedar_policy::RestrictedExpression as X;
        let entities = self.entities(f, schema)?;
        let long = |v: i64| X::new_long(v);
        let secs = f.now_ms / 1000;
        let days = secs / 86_400;
        let as_long = |v: u64| long(i64::try_from(v).unwrap_or(i64::MAX));
        let context = cedar_policy::Context::from_pairs([
            ("kind".to_owned(), X::new_string(f.kind.clone())),
            ("host".to_owned(), X::new_string(f.host.clone())),
            ("port".to_owned(), long(i64::from(f.port))),
            ("input_bytes".to_owned(), as_long(input_text.len() as u64)),
            ("input_text".to_owned(), X::new_string(input_text)),
            ("spent_cents".to_owned(), long(f.spent_cents)),
            ("estimated_cents".to_owned(), long(f.estimated_cents)),
            ("hour_utc".to_owned(), as_long((secs % 86_400) / 3600)),
            // 1970-01-01 was a Thursday (4).
            ("weekday".to_owned(), as_long((days + 3) % 7 + 1)),
            ("plan".to_owned(), X::new_string(f.plan.clone())),
        ])?;
        let (principal, resource) = (self.uid(&self.names.run, &f.run_id), self.uid(&self.names.skill, &f.skill));
        let request = cedar_policy::Request::new(principal, self.names.call.clone(), resource, context, schema)?;
        Ok((request, entities))
    }

    /// The run (in its tenant) and the skill as Cedar entities: the same for every step
    /// of a run calling one skill, so kept (their hierarchy is computed once).
    fn entities(
        &self,
        f: &StepFacts,
        schema: Option<&cedar_policy::Schema>,
    ) -> Result<std::sync::Arc<cedar_policy::Entities>, Box<dyn std::error::Error>> {
        use cedar_policy::{Entity, RestrictedExpression as X};
        let key = format!(
            "{:?}{:?}{}:{}{:?}{:?}{:?}",
            f.tenant, f.run_id, f.depth, f.agent, f.workflow, f.skill, f.idempotency
        );
        if schema.is_none() {
            if let Some(kept) = self.entities.lock().expect("policy entities").get(&key) {
                return Ok(std::sync::Arc::clone(kept));
            }
        }
        let n = &self.names;
        let tenant = self.uid(&n.tenant, &f.tenant);
        let run = Entity::new(
            self.uid(&n.run, &f.run_id),
            [
                ("depth".to_owned(), X::new_long(i64::from(f.depth))),
                ("agent".to_owned(), X::new_bool(f.agent)),
                ("workflow".to_owned(), X::new_string(f.workflow.clone())),
            ]
            .into(),
            [tenant.clone()].into(),
        )?;
        let skill = Entity::new(
            self.uid(&n.skill, &f.skill),
            [("idempotency".to_owned(), X::new_string(f.idempotency.clone()))].into(),
            [].into(),
        )?;
        let entities =
            std::sync::Arc::new(cedar_policy::Entities::from_entities([Entity::with_uid(tenant), run, skill], schema)?);
        if schema.is_none() {
            let mut kept = self.entities.lock().expect("policy entities");
            if kept.len() >= ANSWERS_KEPT {
                kept.clear();
            }
            kept.insert(key, std::sync::Arc::clone(&entities));
        }
        Ok(entities)
    }

    pub(crate) fn uid(&self, t: &cedar_policy::EntityTypeName, id: &str) -> cedar_policy::EntityUid {
        cedar_policy::EntityUid::from_type_name_and_id(t.clone(), cedar_policy::EntityId::new(id))
    }
}

#[cfg(test)]
impl Policies {
    /// Whether the request built from `facts` is one the published schema accepts (what
    /// `evaluate` skips checking each time).
    pub(crate) fn request_fits_the_schema(&self, facts: &StepFacts) -> Result<(), String> {
        let text = aos_core::determinism::canonical_json(&facts.input);
        self.request(facts, text, Some(&schema())).map(|_| ()).map_err(|e| e.to_string())
    }
}
