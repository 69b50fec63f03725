//! Deterministic building blocks: per-step seeds, canonical JSON, content hashes and
//! reproducible retry back-off. All of them give the same answer on every machine.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The seed of step `index` of a run: the first 16 hex digits of
/// `SHA-256("{base_seed}:{index}")` read as a `u64`.
///
/// Replays of a run see the same seeds, so any randomness a skill draws from its seed
/// is reproduced.
pub fn step_seed(base_seed: u64, index: u32) -> u64 {
    let digest = Sha256::digest(format!("{base_seed}:{index}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Seed of a labelled child of a seed (a workflow node's run): the first 8 bytes of
/// `SHA-256("{base_seed}:{label}")`, the same scheme as [`step_seed`].
pub fn labelled_seed(base_seed: u64, label: &str) -> u64 {
    let digest = Sha256::digest(format!("{base_seed}:{label}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Canonical JSON: object keys sorted by byte order, no whitespace, arrays in order,
/// strings escaped as `serde_json` does, nulls kept. Independent of how the map type
/// orders keys, so hashes never depend on insertion order.
pub fn canonical_json(value: &Value) -> String {
    String::from_utf8(canonical_bytes(value)).expect("serde_json writes UTF-8")
}

/// [`canonical_json`] as bytes (what a hash takes, without a UTF-8 check).
fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

/// Appends the canonical JSON of `value` to `out`. Strings and numbers are written by
/// `serde_json`'s compact writer (what `Value`'s `Display` uses), so the bytes are the
/// same as they always were; nothing is cloned or formatted through `fmt`.
fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

/// Appends one string, number, bool or null as compact JSON.
fn write_scalar<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, value).expect("a scalar serializes into memory");
}

/// The canonical JSON of an object written field by field, for a hot hash that would
/// otherwise build a `Value` only to write it: the same bytes as [`canonical_json`] of
/// that object, provided the fields come in byte order of their keys (checked in debug
/// builds).
pub struct CanonicalObject {
    out: Vec<u8>,
    last: Option<&'static str>,
}

impl CanonicalObject {
    /// An empty object.
    pub fn new() -> Self {
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        Self { out, last: None }
    }

    fn key(&mut self, key: &'static str) {
        debug_assert!(self.last.is_none_or(|last| last < key), "canonical keys in order: {key} after {:?}", self.last);
        if self.last.is_some() {
            self.out.push(b',');
        }
        self.last = Some(key);
        write_scalar(key, &mut self.out);
        self.out.push(b':');
    }

    /// A string, number, bool or null field.
    #[must_use]
    pub fn scalar<T: serde::Serialize + ?Sized>(mut self, key: &'static str, value: &T) -> Self {
        self.key(key);
        write_scalar(value, &mut self.out);
        self
    }

    /// A field holding any JSON value, written canonically.
    #[must_use]
    pub fn value(mut self, key: &'static str, value: &Value) -> Self {
        self.key(key);
        write_canonical(value, &mut self.out);
        self
    }

    /// The object's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }

    /// SHA-256 of the object's bytes, as [`content_hash`] gives it.
    pub fn hash(self) -> String {
        sha256_hex(&self.finish())
    }
}

impl Default for CanonicalObject {
    fn default() -> Self {
        Self::new()
    }
}

/// SHA-256 of the canonical JSON of `value`, as 64 lower-case hex digits.
pub fn content_hash(value: &Value) -> String {
    sha256_hex(&canonical_bytes(value))
}

/// SHA-256 of raw bytes, as 64 lower-case hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    // Into a buffer of its own: `hex::encode` builds its string a `char` at a time, which
    // cost more than the digest itself (a step takes several of these hashes).
    let mut out = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(bytes), &mut out).expect("64 digits for 32 bytes");
    String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
}

/// Retry back-off for `attempt` (1 = the first retry): `base * 2^(attempt-1)`, capped,
/// scaled by a jitter factor in `[0.5, 1.0)` derived from `HMAC-SHA256(seed, attempt)`.
/// The same seed and attempt always give the same delay.
pub fn backoff(seed: u64, attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(cap);
    let mut mac = Hmac::<Sha256>::new_from_slice(&seed.to_be_bytes()).expect("any key length");
    mac.update(&attempt.to_be_bytes());
    let tag = mac.finalize().into_bytes();
    let r = f64::from(u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]])) / f64::from(u32::MAX);
    capped.mul_f64(0.5 + r * 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_seeds_match_the_published_vectors() {
        assert_eq!(format!("{:016x}", step_seed(12345, 0)), "d7ddd7ff20274897");
        assert_eq!(format!("{:016x}", step_seed(12345, 1)), "accc83ff00006ba9");
        assert_eq!(format!("{:016x}", step_seed(42, 0)), "547345cae1cef372");
        assert_eq!(format!("{:016x}", step_seed(42, 2)), "cdf56f9773da76b6");
    }

    #[test]
    fn an_object_written_field_by_field_is_its_canonical_json() {
        let written = CanonicalObject::new()
            .value("a", &json!({"d": [3, {"z": null, "y": "é"}], "c": true}))
            .scalar("b", &1)
            .scalar("c", "x\"y");
        let object = json!({"c": "x\"y", "b": 1, "a": {"d": [3, {"z": null, "y": "é"}], "c": true}});
        assert_eq!(String::from_utf8(written.finish()).expect("utf-8"), canonical_json(&object));
        assert_eq!(CanonicalObject::new().scalar("b", &1).hash(), content_hash(&json!({"b": 1})));
        assert_eq!(CanonicalObject::new().finish(), b"{}");
    }

    /// Stored hashes, chain links and key hashes are these digits: they must stay the
    /// standard lower-case hex of SHA-256 (FIPS 180-2's test vectors).
    #[test]
    fn a_hash_is_the_lower_case_hex_of_its_sha256() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    /// Keys out of byte order would not be canonical: debug builds refuse them.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "canonical keys in order")]
    fn fields_out_of_key_order_are_refused() {
        let _ = CanonicalObject::new().scalar("b", &1).scalar("a", &2);
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let a = json!({"b": 1, "a": {"d": [3, {"z": null, "y": "é"}], "c": true}});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":true,"d":[3,{"y":"é","z":null}]},"b":1}"#);
        let b: Value =
            serde_json::from_str(r#"{ "a" : {"c":true, "d":[3,{"z":null,"y":"é"}]}, "b":1 }"#).expect("json");
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(content_hash(&a), content_hash(&json!({"b": 2})));
    }

    #[test]
    fn backoff_is_reproducible_growing_and_capped() {
        let base = Duration::from_millis(200);
        let cap = Duration::from_secs(10);
        assert_eq!(backoff(7, 1, base, cap), backoff(7, 1, base, cap));
        let first = backoff(7, 1, base, cap);
        assert!(first >= Duration::from_millis(100) && first < base);
        let late = backoff(7, 30, base, cap);
        assert!(late >= Duration::from_secs(5) && late < cap);
    }
}
