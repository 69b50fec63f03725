//! The answers a compiled policy set keeps: which of a step's changing facts each policy
//! reads ([`Reads`], found by walking its expression), the per-skill slice of policies
//! split by that ([`Slice`]), and each group's answers by the exact facts it read.

use crate::policy::{scope_of, Policies, StepFacts};

/// The facts of a step that differ from step to step of the same skill in the same
/// kind of run, and whether a policy reads them. A policy reading none of them says the
/// same of every such step, so its answer is kept (see [`Slice`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// The step's input (`context.input_text`, `context.input_bytes`).
    pub(crate) input: bool,
    /// The run's spend so far (`context.spent_cents`).
    pub(crate) spent: bool,
    /// Which run it is: the principal compared or used as a whole, or any entity named
    /// in a condition.
    pub(crate) run: bool,
}

impl Reads {
    pub(crate) fn any(self) -> bool {
        self.input || self.spent || self.run
    }

    pub(crate) fn union(self, other: Reads) -> Reads {
        Reads { input: self.input || other.input, spent: self.spent || other.spent, run: self.run || other.run }
    }

    /// What `policy` reads, conservatively: anything its text could depend on counts.
    pub(crate) fn of(policy: &cedar_policy::Policy) -> Reads {
        let all = Reads { input: true, spent: true, run: true };
        let Ok(json) = policy.to_json() else { return all };
        // A scope naming a principal (`==`, `in`, a slot) is about which run it is.
        let run =
            !matches!(json["principal"]["op"].as_str(), Some("All" | "is")) || json["principal"]["in"].is_object();
        let mut reads = Reads { run, ..Reads::default() };
        for condition in json["conditions"].as_array().into_iter().flatten() {
            reads.walk(&condition["body"]);
        }
        reads
    }

    pub(crate) fn walk(&mut self, node: &serde_json::Value) {
        use serde_json::Value;
        match node {
            Value::Object(map) => {
                // `context.attr`, `context["attr"]`, `context has attr`, the same of `principal`.
                for op in [".", "has"] {
                    if let Some(access) = map.get(op) {
                        if let (Some(var), Some(attr)) = (access["left"]["Var"].as_str(), access["attr"].as_str()) {
                            match var {
                                "context" => match attr {
                                    "input_text" | "input_bytes" => self.input = true,
                                    "spent_cents" => self.spent = true,
                                    _ => {}
                                },
                                "principal" | "resource" | "action" => {}
                                _ => *self = Reads { input: true, spent: true, run: true },
                            }
                            return;
                        }
                    }
                }
                match map.get("Var").and_then(Value::as_str) {
                    // The context as a whole: everything in it.
                    Some("context") => {
                        self.input = true;
                        self.spent = true;
                    }
                    Some("principal") => self.run = true,
                    _ => {}
                }
                // An entity named in a condition: a skill, the tenant or the action are
                // the same for every such step; any other could be the run.
                if let Some(entity) = map.get("__entity") {
                    if !matches!(entity["type"].as_str(), Some("AOS::Skill" | "AOS::Tenant" | "AOS::Action")) {
                        self.run = true;
                    }
                }
                if map.contains_key("Slot") {
                    self.run = true;
                }
                for value in map.values() {
                    self.walk(value);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| self.walk(v)),
            _ => {}
        }
    }
}

/// The policies that could apply to one skill's calls, in two groups: those that read
/// none of a step's changing facts ([`Reads`]) and the others. Each group's answer (the
/// policies that applied, the errors) is kept per the facts it reads, so a step whose
/// facts match a step judged before is judged by that answer: the same policies of the
/// same version over the same facts give the same answer, Cedar being deterministic.
#[derive(Debug)]
pub(crate) struct Slice {
    pub(crate) groups: Vec<Group>,
}

#[derive(Debug)]
pub(crate) struct Group {
    /// Its forbids and its permits.
    pub(crate) sets: [cedar_policy::PolicySet; 2],
    pub(crate) reads: Reads,
    /// Answers by the facts they were given (bounded: cleared when full).
    pub(crate) answers: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Judged>>>,
}

/// A group's answer for one step's facts.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    /// The ids of the policies that applied.
    pub(crate) applied: Vec<String>,
    /// Errors of policies that could not be evaluated.
    pub(crate) notes: Vec<String>,
}

/// How many answers a group keeps.
pub(crate) const ANSWERS_KEPT: usize = 4096;

impl Policies {
    /// The policies that could apply to calls of `skill`, grouped (see `sliced`).
    pub(crate) fn slice(&self, skill: &str) -> std::sync::Arc<Slice> {
        if let Some(s) = self.sliced.lock().expect("policy slices").get(skill) {
            return std::sync::Arc::clone(s);
        }
        let group = || Group {
            sets: [cedar_policy::PolicySet::new(), cedar_policy::PolicySet::new()],
            reads: Reads::default(),
            answers: Default::default(),
        };
        let (mut steady, mut changing) = (group(), group());
        for (side, set) in [&self.forbids, &self.permits].into_iter().enumerate() {
            for p in set.policies().filter(|p| scope_of(p, skill).0) {
                let reads = Reads::of(p);
                let group = if reads.any() { &mut changing } else { &mut steady };
                group.reads = group.reads.union(reads);
                group.sets[side].add(p.clone()).expect("ids are unique within a set");
            }
        }
        let groups = [steady, changing].into_iter().filter(|g| g.sets.iter().any(|s| !s.is_empty())).collect();
        let slice = std::sync::Arc::new(Slice { groups });
        let mut all = self.sliced.lock().expect("policy slices");
        // Bounded: skill names come from a registry, but never grow without end.
        if all.len() >= 1024 {
            all.clear();
        }
        all.insert(skill.to_owned(), std::sync::Arc::clone(&slice));
        slice
    }
}

/// Which of `sets` (a group's forbids and permits) apply to `request`: Cedar reports
/// every forbid that applies in a set of forbids, and every permit in a set of permits.
pub(crate) fn judge(
    sets: &[cedar_policy::PolicySet; 2],
    request: &cedar_policy::Request,
    entities: &cedar_policy::Entities,
) -> Judged {
    let authorizer = cedar_policy::Authorizer::new();
    let mut judged = Judged::default();
    for set in sets.iter().filter(|s| !s.is_empty()) {
        let response = authorizer.is_authorized(request, set, entities);
        for e in response.diagnostics().errors() {
            judged.notes.push(format!("a policy could not be evaluated and was skipped: {e}"));
        }
        judged.applied.extend(response.diagnostics().reason().map(ToString::to_string));
    }
    judged
}

/// The facts a group that reads `reads` is given, as the key of its answers: every fact
/// the schema offers, except the changing ones it does not read (the input by its
/// SHA-256). Every part is delimited, so two different sets of facts never share a key.
pub(crate) fn answer_key<'a>(f: &StepFacts, reads: Reads, input_text: impl Fn() -> &'a str) -> String {
    use std::fmt::Write;
    let secs = f.now_ms / 1000;
    let mut key = String::with_capacity(128);
    // Debug formatting quotes and escapes each string: no separator can be forged.
    let _ = write!(
        key,
        "{:?}{:?}{:?}{:?}{:?}{:?}{:?}{}:{}:{}:{}:{}:{}:{}",
        f.tenant,
        f.skill,
        f.idempotency,
        f.kind,
        f.host,
        f.workflow,
        f.plan,
        f.port,
        f.depth,
        f.agent,
        f.estimated_cents,
        (secs % 86_400) / 3600,
        (secs / 86_400 + 3) % 7,
        u8::from(reads.input) * 4 + u8::from(reads.spent) * 2 + u8::from(reads.run),
    );
    if reads.run {
        let _ = write!(key, "{:?}", f.run_id);
    }
    if reads.spent {
        let _ = write!(key, ":{}", f.spent_cents);
    }
    if reads.input {
        let _ = write!(key, ":{}", aos_core::determinism::sha256_hex(input_text().as_bytes()));
    }
    key
}
