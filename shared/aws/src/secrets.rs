//! Secrets in AWS Secrets Manager: the deployment's (`<prefix><name>`) and each tenant's
//! (`<prefix>tenants/<tenant>/<name>`), cached for a TTL so a busy worker does not call
//! the service on every step. Values are never logged.

use crate::dynamo::sdk_err;
use aos_core::TenantId;
use aos_runtime::ports::{SecretMeta, SecretStore, StoreResult, TenantSecrets};
use async_trait::async_trait;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Reads secret values by id, each kept for a TTL (a missing one is asked for again, so
/// one added later works at once).
struct CachedReader {
    client: Client,
    ttl: Duration,
    cache: Mutex<HashMap<String, (SecretString, Instant)>>,
}

impl CachedReader {
    fn new(client: Client, ttl: Duration) -> Self {
        Self { client, ttl, cache: Mutex::new(HashMap::new()) }
    }

    async fn read(&self, id: &str) -> StoreResult<Option<SecretString>> {
        if let Some((v, at)) = self.cache.lock().ok().and_then(|c| c.get(id).cloned()) {
            if at.elapsed() < self.ttl {
                return Ok(Some(v));
            }
        }
        let value = match self.client.get_secret_value().secret_id(id).send().await {
            Ok(v) => v.secret_string.map(SecretString::from),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => None,
            Err(e) => return Err(sdk_err(e)),
        };
        if let (Some(v), Ok(mut cache)) = (&value, self.cache.lock()) {
            cache.insert(id.to_owned(), (v.clone(), Instant::now()));
        }
        Ok(value)
    }

    fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.remove(id);
        }
    }
}

/// The deployment's secrets in Secrets Manager.
pub struct SecretsManagerSecrets {
    reader: CachedReader,
    prefix: String,
}

impl SecretsManagerSecrets {
    /// Reads `<prefix><name>`; values found are cached for `ttl`.
    pub fn new(client: Client, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self { reader: CachedReader::new(client, ttl), prefix: prefix.into() }
    }
}

#[async_trait]
impl SecretStore for SecretsManagerSecrets {
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretString>> {
        self.reader.read(&format!("{}{name}", self.prefix)).await
    }
}

/// Tenants' secrets in Secrets Manager, each `<prefix>tenants/<tenant id>/<name>`: a
/// path no deployment secret (`<prefix><name>`, names without '/') shares, so a tenant
/// reaches neither the deployment's secrets nor another tenant's. Values read are cached
/// for a short TTL: a changed value reaches warm workers within it.
pub struct SecretsManagerTenantSecrets {
    client: Client,
    reader: CachedReader,
    prefix: String,
}

impl SecretsManagerTenantSecrets {
    /// Under `<prefix>tenants/`, caching values for `ttl`.
    pub fn new(client: Client, prefix: impl Into<String>, ttl: Duration) -> Self {
        Self { reader: CachedReader::new(client.clone(), ttl), client, prefix: prefix.into() }
    }

    fn tenant_prefix(&self, tenant: &TenantId) -> String {
        format!("{}tenants/{tenant}/", self.prefix)
    }

    fn id(&self, tenant: &TenantId, name: &str) -> String {
        format!("{}{name}", self.tenant_prefix(tenant))
    }
}

fn ms(t: Option<&aws_sdk_secretsmanager::primitives::DateTime>) -> u64 {
    t.and_then(|t| u64::try_from(t.to_millis().ok()?).ok()).unwrap_or(0)
}

#[async_trait]
impl TenantSecrets for SecretsManagerTenantSecrets {
    async fn put(&self, tenant: &TenantId, name: &str, value: &SecretString, _now_ms: u64) -> StoreResult<bool> {
        let id = self.id(tenant, name);
        self.reader.forget(&id);
        let created = self
            .client
            .create_secret()
            .name(&id)
            .secret_string(value.expose_secret())
            .description("AOS tenant secret")
            .tags(Tag::builder().key("aos:tenant").value(tenant.as_str()).build())
            .send()
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_exists_exception()) => {
                self.client
                    .put_secret_value()
                    .secret_id(&id)
                    .secret_string(value.expose_secret())
                    .send()
                    .await
                    .map_err(sdk_err)?;
                Ok(false)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn get(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>> {
        self.reader.read(&self.id(tenant, name)).await
    }

    async fn list(&self, tenant: &TenantId) -> StoreResult<Vec<SecretMeta>> {
        let prefix = self.tenant_prefix(tenant);
        let filter = Filter::builder().key(FilterNameStringType::Name).values(&prefix).build();
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_secrets()
                .filters(filter.clone())
                .max_results(100)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for s in page.secret_list.unwrap_or_default() {
                // The service's name filter is a case-insensitive prefix: keep exact matches.
                let Some(name) = s.name.as_deref().and_then(|n| n.strip_prefix(&prefix)) else { continue };
                out.push(SecretMeta {
                    name: name.to_owned(),
                    created_at_ms: ms(s.created_date.as_ref()),
                    updated_at_ms: ms(s.last_changed_date.as_ref().or(s.created_date.as_ref())),
                });
            }
            match page.next_token {
                Some(t) if !t.is_empty() => next = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn delete(&self, tenant: &TenantId, name: &str) -> StoreResult<bool> {
        let id = self.id(tenant, name);
        self.reader.forget(&id);
        // Forced deletion answers success for a name that does not exist: ask first.
        match self.client.describe_secret().secret_id(&id).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => return Ok(false),
            Err(e) => return Err(sdk_err(e)),
        }
        // Without recovery, so that the name can be set again at once.
        match self.client.delete_secret().secret_id(&id).force_delete_without_recovery(true).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_not_found_exception()) => Ok(false),
            Err(e) => Err(sdk_err(e)),
        }
    }
}
