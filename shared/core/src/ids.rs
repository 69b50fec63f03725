//! Tenant-scoped identifiers.
//!
//! Every record in AOS is keyed by its tenant first; ids are opaque strings with a
//! type prefix so that a run id can never be mistaken for a key id in logs or routes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An id string failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} id {value:?}: {reason}")]
pub struct IdError {
    kind: &'static str,
    value: String,
    reason: &'static str,
}

fn check(kind: &'static str, value: &str, prefix: &str) -> Result<(), IdError> {
    let err = |reason| IdError { kind, value: value.chars().take(80).collect(), reason };
    if !value.starts_with(prefix) {
        return Err(err("wrong prefix"));
    }
    if value.len() > 64 || value.len() <= prefix.len() {
        return Err(err("length must be 1..=64 after the prefix"));
    }
    let ok = value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(err("only a-z, 0-9, '_' and '-' are allowed"))
    }
}

/// The API description of an id: its prefix, then 1-64 characters of a-z, 0-9, '_', '-'
/// in all (what [`check`] accepts).
fn id_schema(kind: &str, prefix: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(format!("A {kind} id: `{prefix}` and lower-case letters, digits, '_' or '-'.")))
        .pattern(Some(format!("^{prefix}[a-z0-9_-]+$")))
        .max_length(Some(64))
        .into()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this type starts with.
            pub const PREFIX: &'static str = $prefix;

            /// Parses and validates an id; fails on a wrong prefix, length or character.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check($kind, &value, $prefix)?;
                Ok(Self(value))
            }

            /// Builds an id from a random or unique suffix (lower-case hex, as produced
            /// by the runtime's id generator). Fails if the suffix is not valid.
            pub fn from_suffix(suffix: &str) -> Result<Self, IdError> {
                Self::parse(format!("{}{}", $prefix, suffix))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema($kind, $prefix)
            }
        }

        impl utoipa::ToSchema for $name {}

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

id_type!(
    /// A tenant: the owner of every run, key and stored value.
    TenantId, "tenant", "ten_"
);
id_type!(
    /// A run: one execution of a plan for one tenant.
    RunId, "run", "run_"
);
id_type!(
    /// An API key's public id (the secret part is never stored).
    ApiKeyId, "api key", "key_"
);
id_type!(
    /// A workflow execution: one run of one version of a workflow.
    ExecutionId, "execution", "exe_"
);
id_type!(
    /// A pending or decided human approval of a workflow node.
    ApprovalId, "approval", "apr_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_json_and_reject_bad_input() {
        let id = RunId::parse("run_0190abcd").expect("valid");
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, "\"run_0190abcd\"");
        let back: RunId = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, id);
        assert!(RunId::parse("ten_0190abcd").is_err());
        assert!(RunId::parse("run_").is_err());
        assert!(RunId::parse("run_ABC").is_err());
        assert!(serde_json::from_str::<TenantId>("\"run_x\"").is_err());
    }
}
