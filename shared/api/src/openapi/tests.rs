//! The document against the route table and the committed copy.

use super::*;
use serde_json::Value;

const COMMITTED: &str = include_str!("../../../../docs/openapi.json");

#[test]
fn the_committed_document_is_the_one_the_code_makes() {
    let made = document_json();
    if std::env::var_os("AOS_BLESS").is_some() {
        std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json"), &made).expect("write");
        return;
    }
    assert!(
        made == COMMITTED,
        "docs/openapi.json is stale: regenerate it with `aos openapi > docs/openapi.json` (or AOS_BLESS=1 cargo test -p aos-api openapi)"
    );
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Each link names an operation of the document, one of its path parameters, and a
/// field the answer it hangs on has (a required one), so a client can follow it.
#[test]
fn links_lead_to_operations_with_fields_the_answers_have() {
    let doc: Value = serde_json::from_str(&document_json()).expect("json");
    let ops: Vec<&Value> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().expect("item").values())
        .collect();
    let mut followed = 0;
    for op in &ops {
        for (status, answer) in op["responses"].as_object().expect("responses") {
            let Some(links) = answer.get("links").and_then(Value::as_object) else { continue };
            let schema = &answer["content"]["application/json"]["schema"]["$ref"];
            let name = schema.as_str().and_then(|r| r.rsplit('/').next()).expect("a named answer");
            let required = &doc["components"]["schemas"][name]["required"];
            for (link_name, link) in links {
                let target = ops.iter().find(|o| o["operationId"] == link["operationId"]);
                let target = target.unwrap_or_else(|| panic!("{link_name} leads to {}", link["operationId"]));
                for (param, expr) in link["parameters"].as_object().expect("parameters") {
                    assert!(
                        target["parameters"]
                            .as_array()
                            .expect("params")
                            .iter()
                            .any(|p| p["name"] == *param && p["in"] == "path"),
                        "{link_name}: {param} is a path parameter of {}",
                        link["operationId"]
                    );
                    let field = expr.as_str().and_then(|e| e.strip_prefix("$response.body#/")).expect("a body field");
                    assert!(
                        required.as_array().is_some_and(|r| r.iter().any(|f| f == field)),
                        "{link_name} on {status} {name}: {field} is always in the answer"
                    );
                    followed += 1;
                }
            }
        }
    }
    assert!(followed >= 24, "the create operations' answers link onwards ({followed} links)");
}

#[test]
fn every_route_is_described_with_its_errors_and_every_reference_resolves() {
    let doc: Value = serde_json::from_str(&document_json()).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut ids = std::collections::HashSet::new();
    for route in Route::ALL.into_iter().filter(|r| r.in_openapi()) {
        let (method, path) = route.method_and_path();
        let op = &doc["paths"][path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} is in the document");
        assert!(ids.insert(op["operationId"].as_str().expect("operationId").to_owned()), "{method} {path}: unique id");
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|k| k.starts_with('2')), "{method} {path} has a success answer");
        assert!(responses.contains_key("500"), "{method} {path} documents 500");
        if route.permission().is_some() {
            for status in ["401", "403", "429"] {
                let named = responses.get(status).and_then(|r| r["$ref"].as_str()).expect("documented");
                let r = &doc["components"]["responses"][named.rsplit('/').next().expect("name")];
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status} answers the error shape"
                );
                assert_eq!(r["headers"]["Retry-After"].is_object(), status == "429", "{status}: Retry-After");
            }
            let ok = responses.iter().find(|(k, _)| k.starts_with('2')).map(|(_, r)| r).expect("success");
            assert!(ok["headers"]["X-RateLimit-Limit"].is_object(), "{method} {path}: rate headers");
            assert!(op.get("security").is_none(), "{method} {path} takes the document's key schemes");
        } else {
            assert_eq!(op["security"], serde_json::json!([]), "{method} {path} needs no key");
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 50);
    for r in found {
        let mut at = &doc;
        for part in r.strip_prefix("#/").expect("a local reference").split('/') {
            at = &at[part];
        }
        assert!(at.is_object(), "{r} resolves");
    }
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let all: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all, "the spec's error codes are the table's");
}
