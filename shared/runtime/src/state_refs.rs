//! Large values in a Step Functions state document. Every task's message carries the
//! whole state (the execution input and every node's output so far), and Step Functions
//! and SQS take 256 KB: a node output over [`INLINE_MAX_BYTES`] of JSON travels as a
//! reference to the blob store instead, with its top-level scalar fields kept beside it
//! so that a `Choice` on them still reads them. The worker reads references back before
//! it resolves a node's input; the API before it shows an execution.

use crate::ports::{BlobStore, StoreError};
use aos_core::{ExecutionId, TenantId};
use serde_json::{json, Map, Value};

/// Outputs longer than this (JSON bytes) travel as references.
pub const INLINE_MAX_BYTES: usize = 8 * 1024;
/// The field that marks a reference.
pub const REF_FIELD: &str = "$aos_blob";
/// Scalar fields up to this long (JSON bytes) are kept beside a reference.
const KEPT_SCALAR_BYTES: usize = 256;

/// `value` as it may travel in the state: itself when small, else a reference to it.
pub async fn stash(
    blobs: Option<&dyn BlobStore>,
    tenant: &TenantId,
    execution: &ExecutionId,
    value: &Value,
) -> Result<Value, StoreError> {
    let json = serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))?;
    if json.len() <= INLINE_MAX_BYTES {
        return Ok(value.clone());
    }
    let blobs = blobs.ok_or_else(|| {
        StoreError::Backend(format!(
            "an output of {} bytes needs the blob bucket (AOS_BLOB_BUCKET) to travel through Step Functions",
            json.len()
        ))
    })?;
    use sha2::Digest as _;
    let key = format!("{tenant}/executions/{execution}/{}.json", hex::encode(sha2::Sha256::digest(json.as_bytes())));
    let bytes = json.len();
    blobs.put(&key, json.into_bytes()).await?;
    let mut kept = Map::new();
    if let Value::Object(fields) = value {
        for (k, v) in fields {
            let scalar = matches!(v, Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_));
            if scalar && v.to_string().len() <= KEPT_SCALAR_BYTES {
                kept.insert(k.clone(), v.clone());
            }
        }
    }
    kept.insert(REF_FIELD.to_owned(), json!({"key": key, "bytes": bytes}));
    Ok(Value::Object(kept))
}

fn collect(v: &Value, path: &mut String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(key) = m.get(REF_FIELD).and_then(|r| r["key"].as_str()) {
                out.push((path.clone(), key.to_owned()));
                return;
            }
            for (k, child) in m {
                let len = path.len();
                path.push('/');
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                collect(child, path, out);
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                collect(child, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// `value` with every reference in it replaced by what it refers to. A reference outside
/// the tenant's own prefix is refused.
pub async fn hydrate(blobs: Option<&dyn BlobStore>, tenant: &TenantId, value: &mut Value) -> Result<(), StoreError> {
    let mut refs = Vec::new();
    collect(value, &mut String::new(), &mut refs);
    if refs.is_empty() {
        return Ok(());
    }
    let blobs =
        blobs.ok_or_else(|| StoreError::Backend("a state holds a reference, but no blob store is set".to_owned()))?;
    for (pointer, key) in refs {
        if !key.starts_with(&format!("{tenant}/")) {
            return Err(StoreError::Backend(format!("a state references another tenant's value: {key}")));
        }
        let body = blobs.get(&key).await?.ok_or_else(|| StoreError::Backend(format!("value {key} is missing")))?;
        let full: Value =
            serde_json::from_slice(&body).map_err(|e| StoreError::Backend(format!("value {key}: {e}")))?;
        match value.pointer_mut(&pointer) {
            Some(slot) => *slot = full,
            None if pointer.is_empty() => *value = full,
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::collections::HashMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Memory(Mutex<HashMap<String, Vec<u8>>>);

    #[async_trait]
    impl BlobStore for Memory {
        async fn put(&self, key: &str, body: Vec<u8>) -> crate::ports::StoreResult<()> {
            self.0.lock().expect("lock").insert(key.to_owned(), body);
            Ok(())
        }
        async fn get(&self, key: &str) -> crate::ports::StoreResult<Option<Vec<u8>>> {
            Ok(self.0.lock().expect("lock").get(key).cloned())
        }
        async fn delete_prefix(&self, _prefix: &str) -> crate::ports::StoreResult<u64> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn large_values_travel_as_references_with_their_small_scalars_and_come_back_whole() {
        let blobs = Memory::default();
        let (t, e) = (TenantId::parse("ten_a").expect("id"), ExecutionId::parse("exe_1").expect("id"));
        let small = json!({"total": 3});
        assert_eq!(stash(Some(&blobs), &t, &e, &small).await.expect("stash"), small, "small values stay inline");
        let big = json!({"total": 7, "ok": true, "rows": vec!["x".repeat(100); 200], "note": "y".repeat(300)});
        let r = stash(Some(&blobs), &t, &e, &big).await.expect("stash");
        assert_eq!((r["total"].clone(), r["ok"].clone()), (json!(7), json!(true)), "scalars a choice may read");
        assert!(r.get("rows").is_none() && r.get("note").is_none(), "nothing large stays");
        assert!(serde_json::to_string(&r).expect("json").len() < 512);
        let mut doc = json!({"steps": {"a": {"status": "completed", "output": r.clone()}, "m": {"output": [r.clone(), small.clone()]}}});
        hydrate(Some(&blobs), &t, &mut doc).await.expect("hydrate");
        assert_eq!(doc["steps"]["a"]["output"], big);
        assert_eq!(doc["steps"]["m"]["output"], json!([big, small]), "inside arrays too (map outputs)");
        let mut foreign = r;
        assert!(
            hydrate(Some(&blobs), &TenantId::parse("ten_b").expect("id"), &mut foreign).await.is_err(),
            "not another tenant's"
        );
        assert!(stash(None, &t, &e, &big).await.is_err(), "no store, no large value");
    }
}
