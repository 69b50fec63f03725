//! Validation: a spec becomes a [`Workflow`] only if it can run. Every error names the
//! node it concerns and what to fix.

use super::spec::{Join, NodeSpec, NodeType, WorkflowSpec};
use crate::template::{references, Reference};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Most nodes in one workflow.
pub const MAX_NODES: usize = 500;
/// Longest task timeout, seconds (the Lambda ceiling).
pub const MAX_TASK_TIMEOUT_S: u64 = 900;
/// Longest wait or approval, seconds (one year, the Step Functions ceiling).
pub const MAX_WAIT_S: u64 = 31_536_000;
/// Largest map concurrency.
pub const MAX_MAP_CONCURRENCY: u32 = 40;

/// An invalid workflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", node.as_ref().map(|n| format!("node {n:?}: ")).unwrap_or_default())]
pub struct WorkflowError {
    /// The node concerned, when there is one.
    pub node: Option<String>,
    /// What is wrong and what to fix.
    pub message: String,
}

fn err(node: &str, message: impl Into<String>) -> WorkflowError {
    WorkflowError { node: Some(node.to_owned()), message: message.into() }
}

fn wf_err(message: impl Into<String>) -> WorkflowError {
    WorkflowError { node: None, message: message.into() }
}

/// What validation needs to know about skills.
pub trait SkillCatalog {
    /// Checks that `skill` exists and, when the input is fully static, that it fits the
    /// skill's input schema. The error says what is wrong.
    fn check(&self, skill: &str, static_input: Option<&Value>) -> Result<(), String>;
}

/// A validated workflow: the spec plus its graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    spec: WorkflowSpec,
    index: BTreeMap<String, usize>,
    /// Dependencies of each node (explicit and implied by choice / approval targets).
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    order: Vec<usize>,
    /// Each node's place in `order`.
    rank: Vec<usize>,
    layer: Vec<usize>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_node_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// True when `s` is exactly one `${...}` reference.
pub(crate) fn single_reference(s: &str) -> Option<Reference> {
    let refs = references(&Value::String(s.to_owned())).ok()?;
    (refs.len() == 1 && s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1)
        .then(|| refs.into_iter().next())
        .flatten()
}

/// Parses an RFC 3339 UTC timestamp (`YYYY-MM-DDTHH:MM:SS[.fff]Z`) to ms since the epoch.
pub fn parse_timestamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u64>().ok();
    let (y, mo, d, h, mi, se) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &s[19..s.len() - 1];
    let ms = match frac {
        "" => 0,
        f if f.starts_with('.') && f.len() > 1 && f[1..].bytes().all(|c| c.is_ascii_digit()) => {
            format!("{:0<3}", &f[1..f.len().min(4)]).parse::<u64>().ok()?
        }
        _ => return None,
    };
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y2 / 400;
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

const FIELDS: &[&str] = &[
    "skill",
    "input",
    "items",
    "max_concurrency",
    "choices",
    "default",
    "seconds",
    "until",
    "prompt",
    "timeout_s",
    "on_timeout",
    "level",
    "retry",
    "compensate",
];

fn present(n: &NodeSpec) -> Vec<&'static str> {
    let flags = [
        n.skill.is_some(),
        n.input.is_some(),
        n.items.is_some(),
        n.max_concurrency.is_some(),
        n.choices.is_some(),
        n.default.is_some(),
        n.seconds.is_some(),
        n.until.is_some(),
        n.prompt.is_some(),
        n.timeout_s.is_some(),
        n.on_timeout.is_some(),
        n.level.is_some(),
        n.retry.is_some(),
        n.compensate.is_some(),
    ];
    FIELDS.iter().zip(flags).filter(|(_, f)| *f).map(|(name, _)| *name).collect()
}

fn allowed(kind: NodeType) -> &'static [&'static str] {
    match kind {
        NodeType::Task => &["skill", "input", "timeout_s", "retry", "compensate"],
        NodeType::Map => &["skill", "input", "items", "max_concurrency", "timeout_s", "retry", "compensate"],
        NodeType::Choice => &["choices", "default"],
        NodeType::Wait => &["seconds", "until"],
        NodeType::Approval => &["prompt", "timeout_s", "on_timeout", "level"],
    }
}

fn check_fields(n: &NodeSpec) -> Result<(), WorkflowError> {
    let allowed = allowed(n.kind);
    if let Some(extra) = present(n).into_iter().find(|f| !allowed.contains(f)) {
        return Err(err(
            &n.id,
            format!("field `{extra}` does not apply to a {} node (it takes: {})", n.kind.as_str(), allowed.join(", ")),
        ));
    }
    let need = |ok: bool, what: &str| if ok { Ok(()) } else { Err(err(&n.id, what.to_owned())) };
    match n.kind {
        NodeType::Task => need(n.skill.is_some(), "a task node needs `skill`")?,
        NodeType::Map => {
            need(n.skill.is_some(), "a map node needs `skill`")?;
            need(n.items.is_some(), "a map node needs `items`, one reference to an array such as \"${input.orders}\"")?;
            if let Some(c) = n.max_concurrency {
                need((1..=MAX_MAP_CONCURRENCY).contains(&c), "max_concurrency must be 1..=40")?;
            }
        }
        NodeType::Choice => {
            need(
                n.choices.as_ref().is_some_and(|c| !c.is_empty()),
                "a choice node needs at least one rule in `choices`",
            )?;
            let mut names = BTreeSet::new();
            for i in 0..=n.choices.as_ref().map_or(0, Vec::len) {
                let name = n.branch_name(i);
                need(!name.is_empty() && name.len() <= 64, "branch names must be 1-64 characters")?;
                need(names.insert(name), "branch names must be distinct (and not \"default\")")?;
            }
        }
        NodeType::Wait => {
            need(n.seconds.is_some() != n.until.is_some(), "a wait node needs exactly one of `seconds` or `until`")?;
            if let Some(s) = n.seconds {
                need((1..=MAX_WAIT_S).contains(&s), "seconds must be 1..=31536000")?;
            }
            if let Some(u) = &n.until {
                need(
                    single_reference(u).is_some() || parse_timestamp(u).is_some(),
                    "until must be an RFC 3339 UTC timestamp such as 2026-12-01T09:00:00Z, or one reference to one",
                )?;
            }
        }
        NodeType::Approval => {
            if let Some(t) = n.timeout_s {
                need((1..=MAX_WAIT_S).contains(&t), "an approval's timeout_s must be 1..=31536000")?;
            }
            if let Some(l) = n.level {
                need(
                    (1..=5).contains(&l),
                    "an approval's level must be 1..=5 (the approval level a decider's key holds)",
                )?;
            }
        }
    }
    if matches!(n.kind, NodeType::Task | NodeType::Map) {
        if let Some(t) = n.timeout_s {
            need((1..=MAX_TASK_TIMEOUT_S).contains(&t), "timeout_s must be 1..=900")?;
        }
        if let Some(r) = &n.retry {
            need((1..=10).contains(&r.max_attempts), "retry.max_attempts must be 1..=10")?;
            need((1..=3600).contains(&r.backoff_s), "retry.backoff_s must be 1..=3600")?;
        }
    }
    Ok(())
}

/// Targets that a gate (choice or approval) selects or deselects.
fn gate_targets(n: &NodeSpec) -> Vec<&String> {
    let mut out: Vec<&String> = Vec::new();
    for rule in n.choices.iter().flatten() {
        out.extend(&rule.next);
    }
    out.extend(n.default.iter().flatten());
    out.extend(n.on_timeout.iter().flatten());
    out
}

/// Branches of a gate by which `target` runs: `None` when the gate does not constrain
/// it (a plain dependent of a choice). Approvals have branches `approved` and `timed_out`.
pub(crate) fn selecting_branches(gate: &NodeSpec, target: &str) -> Option<BTreeSet<String>> {
    match gate.kind {
        NodeType::Choice => {
            let rules = gate.choices.as_deref().unwrap_or_default();
            let mut set = BTreeSet::new();
            for (i, rule) in rules.iter().enumerate() {
                if rule.next.iter().any(|t| t == target) {
                    set.insert(gate.branch_name(i));
                }
            }
            if gate.default.iter().flatten().any(|t| t == target) {
                set.insert("default".to_owned());
            }
            (!set.is_empty()).then_some(set)
        }
        NodeType::Approval => {
            let on_timeout = gate.on_timeout.iter().flatten().any(|t| t == target);
            Some(BTreeSet::from([if on_timeout { "timed_out" } else { "approved" }.to_owned()]))
        }
        _ => None,
    }
}

/// The nodes a node's references may name: its ancestors (and, for its compensation,
/// itself), worked out on the first reference to a node.
struct Visible<'a> {
    workflow: &'a Workflow,
    node: usize,
    itself: bool,
    set: std::cell::OnceCell<BTreeSet<usize>>,
}

impl Visible<'_> {
    fn contains(&self, j: usize) -> bool {
        (self.itself && j == self.node) || self.set.get_or_init(|| self.workflow.ancestors(self.node)).contains(&j)
    }
}

impl Workflow {
    /// Validates `spec`.
    pub fn new(spec: WorkflowSpec, skills: &dyn SkillCatalog) -> Result<Self, WorkflowError> {
        if !valid_name(&spec.name) {
            return Err(wf_err(format!("name {:?} must be 1-64 of a-z, 0-9, '-', '_'", spec.name)));
        }
        if spec.nodes.is_empty() || spec.nodes.len() > MAX_NODES {
            return Err(wf_err(format!("a workflow needs 1..={MAX_NODES} nodes, got {}", spec.nodes.len())));
        }
        let mut index = BTreeMap::new();
        for (i, n) in spec.nodes.iter().enumerate() {
            if !valid_node_id(&n.id) {
                return Err(err(&n.id, "node ids must be 1-64 of A-Z, a-z, 0-9, '_'"));
            }
            if index.insert(n.id.clone(), i).is_some() {
                return Err(err(&n.id, "duplicate node id"));
            }
            check_fields(n)?;
        }
        let count = spec.nodes.len();
        let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); count];
        for (i, n) in spec.nodes.iter().enumerate() {
            for d in &n.depends_on {
                let j = *index.get(d).ok_or_else(|| err(&n.id, format!("depends_on names unknown node {d:?}")))?;
                if j == i {
                    return Err(err(&n.id, "a node cannot depend on itself"));
                }
                deps[i].insert(j);
            }
            for t in gate_targets(n) {
                let j = *index.get(t).ok_or_else(|| err(&n.id, format!("branch target {t:?} is not a node")))?;
                if j == i {
                    return Err(err(&n.id, "a node cannot be its own branch target"));
                }
                deps[j].insert(i);
            }
        }
        let deps: Vec<Vec<usize>> = deps.into_iter().map(|d| d.into_iter().collect()).collect();
        if let Some(cycle) = find_cycle(&deps) {
            let names: Vec<&str> = cycle.iter().map(|&i| spec.nodes[i].id.as_str()).collect();
            return Err(WorkflowError {
                node: Some(names[0].to_owned()),
                message: format!("dependency cycle {}; remove one of these dependencies", names.join(" -> ")),
            });
        }
        let mut dependents = vec![Vec::new(); count];
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                dependents[j].push(i);
            }
        }
        let order = canonical_order(&deps, &dependents);
        let mut layer = vec![0; count];
        for &i in &order {
            layer[i] = deps[i].iter().map(|&d| layer[d] + 1).max().unwrap_or(0);
        }
        let mut rank = vec![0; count];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r;
        }
        let wf = Self { spec, index, deps, dependents, order, rank, layer };
        wf.check_references()?;
        wf.check_skills(skills)?;
        wf.check_reachable()?;
        Ok(wf)
    }

    /// The spec.
    pub fn spec(&self) -> &WorkflowSpec {
        &self.spec
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.spec.nodes.len()
    }

    /// Always false for a validated workflow.
    pub fn is_empty(&self) -> bool {
        self.spec.nodes.is_empty()
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &NodeSpec {
        &self.spec.nodes[i]
    }

    /// Index of the node with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Dependencies of node `i`.
    pub fn deps(&self, i: usize) -> &[usize] {
        &self.deps[i]
    }

    /// Nodes that depend on node `i`.
    pub fn dependents(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }

    /// Topological order, ties broken by position in the spec. Both executors use it:
    /// compensation runs in its reverse, so the order is the same on every backend.
    pub fn canonical_order(&self) -> &[usize] {
        &self.order
    }

    /// Place of node `i` in [`Workflow::canonical_order`].
    pub fn rank(&self, i: usize) -> usize {
        self.rank[i]
    }

    /// Depth of node `i`: 0 for roots, else one more than its deepest dependency.
    pub fn layer(&self, i: usize) -> usize {
        self.layer[i]
    }

    /// Nodes by layer, each layer in canonical order.
    pub fn layers(&self) -> Vec<Vec<usize>> {
        let depth = self.layer.iter().max().map_or(0, |m| m + 1);
        let mut out = vec![Vec::new(); depth];
        for &i in &self.order {
            out[self.layer[i]].push(i);
        }
        out
    }

    fn ancestors(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<usize> = self.deps[i].clone();
        while let Some(j) = stack.pop() {
            if seen.insert(j) {
                stack.extend(&self.deps[j]);
            }
        }
        seen
    }

    fn check_refs_in(
        &self,
        node: &NodeSpec,
        what: &str,
        value: &Value,
        visible: &Visible<'_>,
        item_ok: bool,
    ) -> Result<(), WorkflowError> {
        let refs = references(value).map_err(|e| err(&node.id, format!("{what}: {e}")))?;
        for r in refs {
            match r {
                Reference::StepOutput(target, _) => {
                    let j = self
                        .position(&target)
                        .ok_or_else(|| err(&node.id, format!("{what} references unknown node {target:?}")))?;
                    if !visible.contains(j) {
                        return Err(err(
                            &node.id,
                            format!(
                                "{what} references node {target:?}, which it does not depend on; add it to depends_on"
                            ),
                        ));
                    }
                }
                Reference::Item(_) | Reference::Index if !item_ok => {
                    return Err(err(
                        &node.id,
                        format!("{what}: ${{item}} and ${{index}} exist only in a map node's input"),
                    ));
                }
                Reference::Secret(name) => {
                    return Err(err(
                        &node.id,
                        format!("{what} references ${{secrets.{name}}}: workflow nodes cannot resolve secret references yet; name the secret in the skill's own field (webhook_send `secret`, slack_send `webhook_secret`) or use a run"),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_references(&self) -> Result<(), WorkflowError> {
        for (i, n) in self.spec.nodes.iter().enumerate() {
            // What the node's references may name: its ancestors, worked out only for a
            // node that names another (a chain's would cost O(nodes) each).
            let ancestors = Visible { workflow: self, node: i, itself: false, set: std::cell::OnceCell::new() };
            if let Some(input) = &n.input {
                self.check_refs_in(n, "input", input, &ancestors, n.kind == NodeType::Map)?;
            }
            if let Some(items) = &n.items {
                match single_reference(items) {
                    Some(Reference::Input(_) | Reference::StepOutput(..)) => {}
                    _ => {
                        return Err(err(
                            &n.id,
                            "items must be exactly one reference to an array, such as \"${input.orders}\"",
                        ))
                    }
                }
                self.check_refs_in(n, "items", &Value::String(items.clone()), &ancestors, false)?;
            }
            for (what, text) in [("prompt", &n.prompt), ("until", &n.until)] {
                if let Some(t) = text {
                    self.check_refs_in(n, what, &Value::String(t.clone()), &ancestors, false)?;
                }
            }
            for rule in n.choices.iter().flatten() {
                for r in rule.when.references() {
                    let v = match r {
                        Reference::StepOutput(id, _) => format!("${{steps.{id}.output}}"),
                        _ => continue,
                    };
                    self.check_refs_in(n, "condition", &Value::String(v), &ancestors, false)?;
                }
            }
            if let Some(c) = &n.compensate {
                let visible = Visible { itself: true, ..ancestors };
                self.check_refs_in(n, "compensate.input", &c.input, &visible, false)?;
            }
        }
        if let Some(output) = &self.spec.output {
            let refs = references(output).map_err(|e| wf_err(format!("output: {e}")))?;
            for r in refs {
                match r {
                    Reference::StepOutput(t, _) if self.position(&t).is_none() => {
                        return Err(wf_err(format!("output references unknown node {t:?}")))
                    }
                    Reference::Item(_) | Reference::Index => {
                        return Err(wf_err("output: ${item} and ${index} exist only in a map node's input"))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn check_skills(&self, skills: &dyn SkillCatalog) -> Result<(), WorkflowError> {
        for n in &self.spec.nodes {
            let static_input = |v: &Value| references(v).ok().filter(Vec::is_empty).map(|_| v.clone());
            if let Some(skill) = &n.skill {
                let input = n.input_template();
                skills.check(skill, static_input(&input).as_ref()).map_err(|e| err(&n.id, e))?;
            }
            if let Some(c) = &n.compensate {
                skills
                    .check(&c.skill, static_input(&c.input).as_ref())
                    .map_err(|e| err(&n.id, format!("compensate: {e}")))?;
            }
        }
        Ok(())
    }

    /// A node is unreachable when no outcome of the choices and approvals above it lets
    /// it run: with `join: all` it needs every dependency, so two dependencies that only
    /// run on different branches of one choice can never both complete.
    fn check_reachable(&self) -> Result<(), WorkflowError> {
        type Constraints = BTreeMap<usize, BTreeSet<String>>;
        let mut cons: Vec<Constraints> = vec![Constraints::new(); self.len()];
        for &i in &self.order {
            let node = self.node(i);
            let per_dep: Vec<Constraints> = self.deps[i]
                .iter()
                .map(|&d| {
                    let mut c = cons[d].clone();
                    if let Some(branches) = selecting_branches(self.node(d), &node.id) {
                        merge_all(&mut c, d, branches);
                    }
                    c
                })
                .collect();
            let mut mine = Constraints::new();
            match node.join {
                Join::All => {
                    for c in per_dep {
                        for (gate, set) in c {
                            merge_all(&mut mine, gate, set);
                        }
                    }
                }
                Join::Any => {
                    if let Some(first) = per_dep.first() {
                        for gate in first.keys() {
                            if per_dep.iter().all(|c| c.contains_key(gate)) {
                                let union = per_dep.iter().flat_map(|c| c[gate].iter().cloned()).collect();
                                mine.insert(*gate, union);
                            }
                        }
                    }
                }
            }
            if let Some((gate, _)) = mine.iter().find(|(_, set)| set.is_empty()) {
                return Err(err(
                    &node.id,
                    format!(
                        "unreachable: it needs dependencies that run on different branches of {:?}; use `join: any` or move it",
                        self.node(*gate).id
                    ),
                ));
            }
            cons[i] = mine;
        }
        Ok(())
    }
}

fn merge_all(c: &mut BTreeMap<usize, BTreeSet<String>>, gate: usize, set: BTreeSet<String>) {
    match c.get_mut(&gate) {
        Some(existing) => existing.retain(|b| set.contains(b)),
        None => {
            c.insert(gate, set);
        }
    }
}

fn find_cycle(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    // Iterative DFS with colours; on a back edge, the stack from the target is the cycle.
    let mut colour = vec![0u8; deps.len()];
    for start in 0..deps.len() {
        if colour[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&d) = deps[node].get(*next) {
                *next += 1;
                match colour[d] {
                    0 => {
                        colour[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|&(n, _)| n == d).unwrap_or(0);
                        // The stack walks dependencies; print the cycle in run order.
                        let mut cycle: Vec<usize> = stack[from..].iter().map(|&(n, _)| n).collect();
                        cycle.reverse();
                        // Start at the node that comes first in the spec.
                        let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                        cycle.rotate_left(first);
                        cycle.push(cycle[0]);
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    None
}

fn canonical_order(deps: &[Vec<usize>], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut missing: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut ready: BTreeSet<usize> = (0..deps.len()).filter(|&i| missing[i] == 0).collect();
    let mut out = Vec::with_capacity(deps.len());
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for &j in &dependents[i] {
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.insert(j);
            }
        }
    }
    out
}
