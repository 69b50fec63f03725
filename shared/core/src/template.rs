//! Step input templates: a step's input may reference the run input and the outputs of
//! earlier steps with `${input.path}` or `${steps.<id>.output.path}`.
//!
//! A string that is exactly one reference is replaced by the referenced value, keeping
//! its JSON type; references inside longer strings are interpolated as text (strings
//! as-is, other values as canonical JSON). `$${` writes a literal `${`. A reference that
//! names nothing is an error, never left in place.
//!
//! `${secrets.NAME}` names one of the tenant's secrets. Only the step worker resolves it,
//! from the authored step input, just before the skill runs (so a secret's value is never
//! written anywhere, and data that happens to contain `${secrets.…}` is never resolved).

use crate::determinism::canonical_json;
use serde_json::Value;
use std::collections::BTreeMap;

/// A reference that could not be parsed or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without a closing `}` or with an unknown root.
    #[error("malformed reference {0:?}: use ${{input.field}} or ${{steps.<id>.output.field}}")]
    Malformed(String),
    /// The reference names a step or field that does not exist.
    #[error("reference {0:?} names nothing: {1}")]
    Unresolved(String, String),
}

/// One parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `${input...}`: a path into the run input.
    Input(Vec<String>),
    /// `${steps.<id>.output...}`: a path into an earlier step's output.
    StepOutput(String, Vec<String>),
    /// `${item...}`: a path into the current element of a workflow map node.
    Item(Vec<String>),
    /// `${index}`: the position of that element.
    Index,
    /// `${secrets.NAME}`: one of the tenant's secrets.
    Secret(String),
}

/// Whether `name` may name a secret: 1 to 128 ASCII letters, digits, `_` and `-`,
/// starting with a letter.
pub fn valid_secret_name(name: &str) -> bool {
    name.len() <= 128
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_reference(expr: &str) -> Result<Reference, TemplateError> {
    let malformed = || TemplateError::Malformed(format!("${{{expr}}}"));
    let mut parts = expr.split('.').map(str::trim);
    let parts_vec: Vec<&str> = parts.by_ref().collect();
    if parts_vec.iter().any(|p| p.is_empty()) {
        return Err(malformed());
    }
    match parts_vec.as_slice() {
        ["input", rest @ ..] => Ok(Reference::Input(rest.iter().map(|s| (*s).to_owned()).collect())),
        ["steps", id, "output", rest @ ..] => {
            Ok(Reference::StepOutput((*id).to_owned(), rest.iter().map(|s| (*s).to_owned()).collect()))
        }
        ["item", rest @ ..] => Ok(Reference::Item(rest.iter().map(|s| (*s).to_owned()).collect())),
        ["index"] => Ok(Reference::Index),
        ["secrets", name] if valid_secret_name(name) => Ok(Reference::Secret((*name).to_owned())),
        ["secrets", ..] => Err(TemplateError::Malformed(format!(
            "${{{expr}}}: a secret reference is ${{secrets.NAME}}, NAME being letters, digits, '_' and '-'"
        ))),
        _ => Err(malformed()),
    }
}

enum Piece<'a> {
    Text(&'a str),
    Ref(&'a str),
}

fn split_pieces(s: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(pos) = rest.find("${") {
        if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
            pieces.push(Piece::Text(&rest[..pos - 1]));
            pieces.push(Piece::Text("${"));
            rest = &rest[pos + 2..];
            continue;
        }
        pieces.push(Piece::Text(&rest[..pos]));
        let after = &rest[pos + 2..];
        let end = after.find('}').ok_or_else(|| TemplateError::Malformed(rest[pos..].chars().take(60).collect()))?;
        pieces.push(Piece::Ref(&after[..end]));
        rest = &after[end + 1..];
    }
    pieces.push(Piece::Text(rest));
    pieces.retain(|p| !matches!(p, Piece::Text("")));
    Ok(pieces)
}

/// Every reference in `value`, in document order. Fails on a malformed one.
pub fn references(value: &Value) -> Result<Vec<Reference>, TemplateError> {
    let mut out = Vec::new();
    collect(value, &mut out)?;
    Ok(out)
}

fn collect(value: &Value, out: &mut Vec<Reference>) -> Result<(), TemplateError> {
    match value {
        Value::String(s) => {
            for p in split_pieces(s)? {
                if let Piece::Ref(expr) = p {
                    out.push(parse_reference(expr)?);
                }
            }
        }
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, out))?,
        Value::Object(map) => map.values().try_for_each(|v| collect(v, out))?,
        _ => {}
    }
    Ok(())
}

/// The outputs of completed steps (or workflow nodes), by id.
pub trait Outputs {
    /// The output of the completed step `id`.
    fn output(&self, id: &str) -> Option<&Value>;
}

impl Outputs for BTreeMap<String, Value> {
    fn output(&self, id: &str) -> Option<&Value> {
        self.get(id)
    }
}

/// What references resolve against.
pub struct Scope<'a> {
    /// The run input.
    pub input: &'a Value,
    /// Outputs of completed steps, by step id.
    pub outputs: &'a dyn Outputs,
    /// The current element and its index, inside a workflow map node.
    pub item: Option<(&'a Value, &'a Value)>,
    /// The tenant's secrets the value references, by name (string values); `None` where
    /// secrets are not resolved (anywhere but the step worker).
    pub secrets: Option<&'a BTreeMap<String, Value>>,
}

impl<'a> Scope<'a> {
    /// A scope of an input and step outputs (no map element, secrets left in place).
    pub fn new(input: &'a Value, outputs: &'a dyn Outputs) -> Self {
        Self { input, outputs, item: None, secrets: None }
    }
}

fn walk<'v>(mut v: &'v Value, path: &[String], expr: &str) -> Result<&'v Value, TemplateError> {
    for seg in path {
        let next = match v {
            Value::Object(m) => m.get(seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        v = next.ok_or_else(|| TemplateError::Unresolved(format!("${{{expr}}}"), format!("no field {seg:?}")))?;
    }
    Ok(v)
}

fn lookup<'a>(expr: &str, scope: &Scope<'a>) -> Result<&'a Value, TemplateError> {
    match parse_reference(expr)? {
        Reference::Input(path) => walk(scope.input, &path, expr),
        Reference::StepOutput(id, path) => {
            let out = scope.outputs.output(&id).ok_or_else(|| {
                TemplateError::Unresolved(format!("${{{expr}}}"), format!("no completed step {id:?}"))
            })?;
            walk(out, &path, expr)
        }
        Reference::Item(path) => {
            let (item, _) = scope.item.ok_or_else(|| no_item(expr))?;
            walk(item, &path, expr)
        }
        Reference::Index => scope.item.map(|(_, index)| index).ok_or_else(|| no_item(expr)),
        Reference::Secret(name) => match scope.secrets {
            Some(secrets) => secrets
                .get(&name)
                .ok_or_else(|| TemplateError::Unresolved(format!("${{{expr}}}"), format!("no secret {name:?}"))),
            None => Err(TemplateError::Unresolved(
                format!("${{{expr}}}"),
                "secrets are resolved in run steps only".to_owned(),
            )),
        },
    }
}

fn no_item(expr: &str) -> TemplateError {
    TemplateError::Unresolved(format!("${{{expr}}}"), "only a map node's input has an item".to_owned())
}

/// Resolves every reference in `value` against `scope`.
pub fn resolve(value: &Value, scope: &Scope<'_>) -> Result<Value, TemplateError> {
    Ok(match value {
        Value::String(s) => {
            let pieces = split_pieces(s)?;
            match pieces.as_slice() {
                [Piece::Ref(expr)] => lookup(expr, scope)?.clone(),
                _ => {
                    let mut out = String::new();
                    for p in pieces {
                        match p {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Ref(expr) => match lookup(expr, scope)? {
                                Value::String(s) => out.push_str(s),
                                other => out.push_str(&canonical_json(other)),
                            },
                        }
                    }
                    Value::String(out)
                }
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, scope)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), resolve(v, scope)?))).collect::<Result<_, TemplateError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_references_keep_their_type_and_inline_ones_interpolate() {
        let input = json!({"user": {"name": "ada", "ids": [4, 5]}});
        let mut outputs = BTreeMap::new();
        outputs.insert("fetch".to_owned(), json!({"status": 200, "body": {"price": 7}}));
        let scope = Scope::new(&input, &outputs);
        let tpl = json!({
            "ids": "${input.user.ids}",
            "second": "${input.user.ids.1}",
            "price": "${steps.fetch.output.body.price}",
            "msg": "hi ${input.user.name}, got ${steps.fetch.output.body}",
            "literal": "costs $${input}",
        });
        let out = resolve(&tpl, &scope).expect("resolves");
        assert_eq!(out["ids"], json!([4, 5]));
        assert_eq!(out["second"], json!(5));
        assert_eq!(out["price"], json!(7));
        assert_eq!(out["msg"], json!("hi ada, got {\"price\":7}"));
        assert_eq!(out["literal"], json!("costs ${input}"));
    }

    #[test]
    fn references_to_nothing_are_errors_not_literals() {
        let input = json!({});
        let outputs: BTreeMap<String, Value> = BTreeMap::new();
        let scope = Scope::new(&input, &outputs);
        assert!(matches!(resolve(&json!("${input.missing}"), &scope), Err(TemplateError::Unresolved(..))));
        assert!(matches!(resolve(&json!("${steps.x.output}"), &scope), Err(TemplateError::Unresolved(..))));
        assert!(matches!(resolve(&json!("${nope}"), &scope), Err(TemplateError::Malformed(..))));
        assert!(matches!(resolve(&json!("${input"), &scope), Err(TemplateError::Malformed(..))));
        assert!(matches!(resolve(&json!("${item.x}"), &scope), Err(TemplateError::Unresolved(..))));
        let (item, index) = (json!({"x": 3}), json!(7));
        let scope = Scope { item: Some((&item, &index)), ..Scope::new(&input, &outputs) };
        assert_eq!(resolve(&json!({"x": "${item.x}", "at": "${index}"}), &scope), Ok(json!({"x": 3, "at": 7})));
    }

    #[test]
    fn secret_references_resolve_only_where_secrets_are_given() {
        let (input, outputs) = (json!({"user": "ada"}), BTreeMap::<String, Value>::new());
        let tpl = json!({"auth": "Bearer ${secrets.API_TOKEN}", "raw": "${secrets.API_TOKEN}", "who": "${input.user}"});
        assert_eq!(references(&tpl).expect("parses")[0], Reference::Secret("API_TOKEN".to_owned()));
        assert!(matches!(resolve(&tpl, &Scope::new(&input, &outputs)), Err(TemplateError::Unresolved(..))));
        let secrets = BTreeMap::from([("API_TOKEN".to_owned(), json!("t0k"))]);
        let scope = Scope { secrets: Some(&secrets), ..Scope::new(&input, &outputs) };
        assert_eq!(resolve(&tpl, &scope), Ok(json!({"auth": "Bearer t0k", "raw": "t0k", "who": "ada"})));
        assert!(matches!(resolve(&json!("${secrets.OTHER}"), &scope), Err(TemplateError::Unresolved(..))));
        for bad in ["${secrets}", "${secrets.a.b}", "${secrets.1x}", "${secrets.a b}"] {
            assert!(matches!(references(&json!(bad)), Err(TemplateError::Malformed(_))), "{bad}");
        }
        // Data that contains a reference is data: resolving never parses substituted values.
        let outputs = BTreeMap::from([("fetch".to_owned(), json!("${secrets.API_TOKEN}"))]);
        let scope = Scope { secrets: Some(&secrets), ..Scope::new(&input, &outputs) };
        assert_eq!(resolve(&json!("got ${steps.fetch.output}"), &scope), Ok(json!("got ${secrets.API_TOKEN}")));
    }
}
