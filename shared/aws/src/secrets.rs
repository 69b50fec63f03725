//! Secrets from AWS Secrets Manager (`<prefix><name>`), cached for a TTL so a busy worker
//! does not call the service on every step. Values are never logged.

use crate::dynamo::sdk_err;
use aos_runtime::ports::{SecretStore, StoreResult};
use async_trait::async_trait;
use aws_sdk_secretsmanager::Client;
use secrecy::SecretString;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Secrets Manager behind the secrets port.
pub struct SecretsManagerSecrets {
    client: Client,
    prefix: String,
    ttl: Duration,
    cache: Mutex<HashMap<String, (SecretString, Instant)>>,
}

impl SecretsManagerSecrets {
    /// Reads `<prefix><name>`; values found are cached for `ttl` (a missing secret is
    /// asked for again, so one added by an operator works at once).
    pub fn new(client: Client, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self { client, prefix: prefix.into(), ttl, cache: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, name: &str) -> Option<SecretString> {
        let cache = self.cache.lock().ok()?;
        let (value, at) = cache.get(name)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }
}

#[async_trait]
impl SecretStore for SecretsManagerSecrets {
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretString>> {
        if let Some(hit) = self.cached(name) {
            return Ok(Some(hit));
        }
        let out = self.client.get_secret_value().secret_id(format!("{}{name}", self.prefix)).send().await;
        let value = match out {
            Ok(v) => v.secret_string.map(SecretString::from),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => None,
            Err(e) => return Err(sdk_err(e)),
        };
        if let (Some(v), Ok(mut cache)) = (&value, self.cache.lock()) {
            cache.insert(name.to_owned(), (v.clone(), Instant::now()));
        }
        Ok(value)
    }
}
