//! Choice conditions: evaluated in Rust by the embedded executor and compiled to ASL
//! Choice rules for Step Functions, with the same meaning on both.
//!
//! A comparison is false (never an error) when its variable is missing or of another
//! type than its value, as Step Functions' typed comparisons are once guarded by
//! `IsPresent` and the type test that the compiler emits.

use crate::template::{references, Reference, Scope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (same type and value; `null` matches a present null).
    Eq,
    /// Not equal (also true when the variable is missing).
    Ne,
    /// Greater than (numbers, or strings lexicographically).
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// The variable is present (`value: true`) or absent (`value: false`).
    Exists,
}

/// A condition of a choice rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawCondition", into = "RawCondition")]
pub enum Condition {
    /// Every condition holds.
    All(Vec<Condition>),
    /// At least one holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// A variable compared with a constant.
    Compare {
        /// One reference, e.g. `${steps.check.output.total}`.
        var: String,
        /// The operator.
        op: Op,
        /// The constant.
        value: Value,
    },
}

impl utoipa::PartialSchema for Condition {
    /// The wire shape (`RawCondition`): one of its forms, nested by reference.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, SchemaType, Type};
        use utoipa::openapi::Ref;
        let nested = || Ref::from_schema_name("Condition");
        let ops = ["eq", "ne", "gt", "gte", "lt", "lte", "exists"];
        ObjectBuilder::new()
            .description(Some(SHAPES))
            .property("all", ArrayBuilder::new().items(nested()))
            .property("any", ArrayBuilder::new().items(nested()))
            .property("not", nested())
            .property("var", ObjectBuilder::new().schema_type(Type::String))
            .property("op", ObjectBuilder::new().schema_type(Type::String).enum_values(Some(ops)))
            .property("value", ObjectBuilder::new().schema_type(SchemaType::AnyValue))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl utoipa::ToSchema for Condition {}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    any: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not: Option<Box<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    var: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<Op>,
    // `value: null` is a value (compare with null), not an absent field.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    value: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

const SHAPES: &str = "a condition is {all: [...]}, {any: [...]}, {not: {...}} or {var: \"${...}\", op: eq|ne|gt|gte|lt|lte|exists, value: ...}";

impl TryFrom<RawCondition> for Condition {
    type Error = String;
    fn try_from(raw: RawCondition) -> Result<Self, String> {
        let compare = raw.var.is_some() || raw.op.is_some() || raw.value.is_some();
        let forms = [raw.all.is_some(), raw.any.is_some(), raw.not.is_some(), compare];
        if forms.iter().filter(|f| **f).count() != 1 {
            return Err(SHAPES.to_owned());
        }
        if let Some(all) = raw.all {
            return non_empty(all, "all").map(Self::All);
        }
        if let Some(any) = raw.any {
            return non_empty(any, "any").map(Self::Any);
        }
        if let Some(not) = raw.not {
            return Ok(Self::Not(not));
        }
        let (Some(var), Some(op), Some(value)) = (raw.var, raw.op, raw.value) else {
            return Err(format!("a comparison needs var, op and value; {SHAPES}"));
        };
        match references(&Value::String(var.clone())) {
            Ok(refs) if refs.len() == 1 && var.starts_with("${") && var.ends_with('}') => {
                if matches!(refs[0], Reference::Item(_) | Reference::Index) {
                    return Err(format!("condition var {var:?}: ${{item}} and ${{index}} exist only in map inputs"));
                }
                if matches!(refs[0], Reference::Secret(_)) {
                    return Err(format!("condition var {var:?}: a branch must not depend on a secret"));
                }
            }
            _ => {
                return Err(format!(
                    "condition var {var:?} must be exactly one reference such as \"${{steps.check.output.total}}\""
                ))
            }
        }
        let ok = match op {
            Op::Exists => value.is_boolean(),
            Op::Eq | Op::Ne => !value.is_array() && !value.is_object(),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => value.is_number() || value.is_string(),
        };
        if !ok {
            let want = match op {
                Op::Exists => "true or false",
                Op::Eq | Op::Ne => "a string, number, boolean or null",
                _ => "a number or a string",
            };
            return Err(format!("condition on {var:?}: value for {op:?} must be {want}"));
        }
        Ok(Self::Compare { var, op, value })
    }
}

fn non_empty(list: Vec<Condition>, what: &str) -> Result<Vec<Condition>, String> {
    if list.is_empty() {
        Err(format!("`{what}` needs at least one condition"))
    } else {
        Ok(list)
    }
}

impl From<Condition> for RawCondition {
    fn from(c: Condition) -> Self {
        match c {
            Condition::All(v) => Self { all: Some(v), ..Self::default() },
            Condition::Any(v) => Self { any: Some(v), ..Self::default() },
            Condition::Not(v) => Self { not: Some(v), ..Self::default() },
            Condition::Compare { var, op, value } => {
                Self { var: Some(var), op: Some(op), value: Some(value), ..Self::default() }
            }
        }
    }
}

fn lookup(var: &str, scope: &Scope<'_>) -> Option<Value> {
    crate::template::resolve(&Value::String(var.to_owned()), scope).ok()
}

fn ordering(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(actual: &Value, value: &Value) -> bool {
    match (actual, value) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(_), Value::String(_)) | (Value::Bool(_), Value::Bool(_)) | (Value::Null, Value::Null) => {
            actual == value
        }
        _ => false,
    }
}

impl Condition {
    /// Evaluates the condition against an execution's input and node outputs.
    pub fn eval(&self, scope: &Scope<'_>) -> bool {
        match self {
            Self::All(list) => list.iter().all(|c| c.eval(scope)),
            Self::Any(list) => list.iter().any(|c| c.eval(scope)),
            Self::Not(c) => !c.eval(scope),
            Self::Compare { var, op, value } => {
                let actual = lookup(var, scope);
                match op {
                    Op::Exists => actual.is_some() == value.as_bool().unwrap_or(true),
                    Op::Eq => actual.is_some_and(|a| equal(&a, value)),
                    Op::Ne => !actual.is_some_and(|a| equal(&a, value)),
                    Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                        let Some(ord) = actual.and_then(|a| ordering(&a, value)) else { return false };
                        match op {
                            Op::Gt => ord.is_gt(),
                            Op::Gte => ord.is_ge(),
                            Op::Lt => ord.is_lt(),
                            _ => ord.is_le(),
                        }
                    }
                }
            }
        }
    }

    /// Every reference the condition reads.
    pub fn references(&self) -> Vec<Reference> {
        match self {
            Self::All(list) | Self::Any(list) => list.iter().flat_map(Self::references).collect(),
            Self::Not(c) => c.references(),
            Self::Compare { var, .. } => references(&Value::String(var.clone())).unwrap_or_default(),
        }
    }

    /// The condition as an ASL Choice rule (JSONPath), without `Next`.
    pub fn to_asl(&self) -> Result<Value, String> {
        Ok(match self {
            Self::All(list) => json!({"And": list.iter().map(Self::to_asl).collect::<Result<Vec<_>, _>>()?}),
            Self::Any(list) => json!({"Or": list.iter().map(Self::to_asl).collect::<Result<Vec<_>, _>>()?}),
            Self::Not(c) => json!({"Not": c.to_asl()?}),
            Self::Compare { var, op, value } => {
                let refs = references(&Value::String(var.clone())).map_err(|e| e.to_string())?;
                let path = super::asl::json_path(refs.first().ok_or("no reference")?)?;
                let present = json!({"Variable": path, "IsPresent": true});
                let typed = |test: &str, cmp: &str, v: &Value| json!({"And": [present.clone(), {"Variable": path, test: true}, {"Variable": path, cmp: v}]});
                let eq = |v: &Value| match v {
                    Value::String(_) => typed("IsString", "StringEquals", v),
                    Value::Number(_) => typed("IsNumeric", "NumericEquals", v),
                    Value::Bool(_) => typed("IsBoolean", "BooleanEquals", v),
                    _ => json!({"And": [present.clone(), {"Variable": path, "IsNull": true}]}),
                };
                let ord = |suffix: &str| {
                    if value.is_number() {
                        typed("IsNumeric", &format!("Numeric{suffix}"), value)
                    } else {
                        typed("IsString", &format!("String{suffix}"), value)
                    }
                };
                match op {
                    Op::Exists => json!({"Variable": path, "IsPresent": value.as_bool().unwrap_or(true)}),
                    Op::Eq => eq(value),
                    Op::Ne => json!({"Not": eq(value)}),
                    Op::Gt => ord("GreaterThan"),
                    Op::Gte => ord("GreaterThanEquals"),
                    Op::Lt => ord("LessThan"),
                    Op::Lte => ord("LessThanEquals"),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cond(v: Value) -> Result<Condition, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn comparisons_are_typed_and_false_on_missing_variables() {
        let input = json!({"n": 5, "s": "b", "flag": true, "nothing": null});
        let outputs = BTreeMap::from([("a".to_owned(), json!({"total": 120}))]);
        let scope = Scope::new(&input, &outputs);
        let holds = |v: Value| cond(v).expect("valid").eval(&scope);
        assert!(holds(json!({"var": "${steps.a.output.total}", "op": "gt", "value": 100})));
        assert!(!holds(json!({"var": "${steps.a.output.total}", "op": "lt", "value": 100})));
        assert!(holds(json!({"var": "${input.n}", "op": "eq", "value": 5.0})));
        assert!(!holds(json!({"var": "${input.n}", "op": "eq", "value": "5"})));
        assert!(holds(json!({"var": "${input.s}", "op": "gte", "value": "a"})));
        assert!(!holds(json!({"var": "${input.missing}", "op": "gt", "value": 0})));
        assert!(holds(json!({"var": "${input.missing}", "op": "ne", "value": 0})));
        assert!(holds(json!({"var": "${input.missing}", "op": "exists", "value": false})));
        assert!(holds(json!({"var": "${input.nothing}", "op": "eq", "value": null})));
        assert!(holds(json!({"all": [{"var": "${input.flag}", "op": "eq", "value": true},
            {"not": {"var": "${input.n}", "op": "gt", "value": 9}}]})));
        assert!(holds(json!({"any": [{"var": "${input.n}", "op": "gt", "value": 9},
            {"var": "${input.s}", "op": "eq", "value": "b"}]})));
    }

    #[test]
    fn malformed_conditions_say_what_to_write() {
        assert!(cond(json!({"var": "${input.n}", "op": "gt"})).unwrap_err().contains("needs var, op and value"));
        assert!(cond(json!({"var": "input.n", "op": "gt", "value": 1})).unwrap_err().contains("exactly one reference"));
        assert!(cond(json!({"var": "${input.n}", "op": "gt", "value": true}))
            .unwrap_err()
            .contains("number or a string"));
        assert!(cond(json!({"all": []})).unwrap_err().contains("at least one"));
        assert!(cond(json!({"all": [], "var": "${input.n}"})).unwrap_err().contains("a condition is"));
        assert!(cond(json!({"var": "${item.x}", "op": "eq", "value": 1})).unwrap_err().contains("map inputs"));
    }
}
