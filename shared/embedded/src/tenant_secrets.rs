//! Tenant secrets in the embedded database, sealed with XChaCha20-Poly1305 under a key
//! kept beside it (`<data-dir>/secrets.key`, mode 0600, made on first use; or
//! `AOS_SECRETS_KEY`, 32 bytes in base64). The database alone reveals names and times,
//! never values; each value is bound to its tenant and name, so a sealed value copied to
//! another row does not open.

use crate::db::{backend, exec, Db};
use aos_core::TenantId;
use aos_runtime::ports::{SecretMeta, StoreError, StoreResult, TenantSecrets};
use async_trait::async_trait;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rusqlite::{params, OptionalExtension};
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;
use std::sync::Arc;

/// The environment variable that supplies the sealing key instead of the key file.
pub const KEY_ENV: &str = "AOS_SECRETS_KEY";

/// Sealed tenant secrets over `db`.
pub struct EmbeddedSecrets {
    db: Arc<Db>,
    cipher: XChaCha20Poly1305,
}

fn key_error(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("tenant secrets key: {what}"))
}

/// The sealing key: `AOS_SECRETS_KEY`, else `<dir>/secrets.key`, made (32 random bytes)
/// if absent.
fn load_key(dir: &Path) -> StoreResult<[u8; 32]> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |raw: &str, from: &str| -> StoreResult<[u8; 32]> {
        let bytes = b64.decode(raw.trim()).map_err(|e| key_error(format!("{from} is not base64: {e}")))?;
        bytes.try_into().map_err(|_| key_error(format!("{from} must hold 32 bytes")))
    };
    if let Ok(raw) = std::env::var(KEY_ENV) {
        return decode(&raw, KEY_ENV);
    }
    let path = dir.join("secrets.key");
    match std::fs::read_to_string(&path) {
        Ok(raw) => return decode(&raw, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(key_error(format!("cannot read {}: {e}", path.display()))),
    }
    let key: [u8; 32] = rand::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let tmp = dir.join(format!("secrets.key.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = options.open(&tmp)?;
        f.write_all(b64.encode(key).as_bytes())?;
        f.sync_all()?;
        // Another process may have made one first: keep that one.
        std::fs::hard_link(&tmp, &path)
    };
    let made = write();
    let _ = std::fs::remove_file(&tmp);
    match made {
        Ok(()) => Ok(key),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_key(dir),
        Err(e) => Err(key_error(format!("cannot create {}: {e}", path.display()))),
    }
}

fn aad(tenant: &TenantId, name: &str) -> Vec<u8> {
    format!("aos-tenant-secret:v1:{tenant}:{name}").into_bytes()
}

impl EmbeddedSecrets {
    /// The store over `db`, sealing with the key of data directory `dir`.
    pub fn open(db: Arc<Db>, dir: &Path) -> StoreResult<Self> {
        let key = load_key(dir)?;
        Ok(Self { db, cipher: XChaCha20Poly1305::new(&key.into()) })
    }
}

#[async_trait]
impl TenantSecrets for EmbeddedSecrets {
    async fn put(&self, tenant: &TenantId, name: &str, value: &SecretString, now_ms: u64) -> StoreResult<bool> {
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload { msg: value.expose_secret().as_bytes(), aad: &aad(tenant, name) },
            )
            .map_err(|_| StoreError::Backend("cannot seal a secret".to_owned()))?;
        let (t, n, now) = (tenant.to_string(), name.to_owned(), i64::try_from(now_ms).unwrap_or(i64::MAX));
        self.db
            .write(true, move |c| {
                let existed: bool = c
                    .query_row("SELECT 1 FROM tenant_secrets WHERE tenant = ?1 AND name = ?2", params![t, n], |_| Ok(()))
                    .optional()
                    .map_err(|e| backend(&e))?
                    .is_some();
                exec(
                    c,
                    "INSERT INTO tenant_secrets (tenant, name, nonce, sealed, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT (tenant, name) DO UPDATE SET nonce = ?3, sealed = ?4, updated_at = ?5",
                    params![t, n, nonce.to_vec(), sealed, now],
                )
                .map_err(|e| backend(&e))?;
                Ok(!existed)
            })
            .await
    }

    async fn get(&self, tenant: &TenantId, name: &str) -> StoreResult<Option<SecretString>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self.db.read(|c| {
            c.query_row(
                "SELECT nonce, sealed FROM tenant_secrets WHERE tenant = ?1 AND name = ?2",
                params![tenant.as_str(), name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        let Some((nonce, sealed)) = row else { return Ok(None) };
        if nonce.len() != 24 {
            return Err(StoreError::Backend(format!("secret {name:?} has a malformed nonce")));
        }
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &sealed, aad: &aad(tenant, name) })
            .map_err(|_| {
                StoreError::Backend(format!(
                    "secret {name:?} does not open with this data directory's key (secrets.key or {KEY_ENV} changed?)"
                ))
            })?;
        let text =
            String::from_utf8(plain).map_err(|_| StoreError::Backend(format!("secret {name:?} is not UTF-8")))?;
        Ok(Some(SecretString::from(text)))
    }

    async fn list(&self, tenant: &TenantId) -> StoreResult<Vec<SecretMeta>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, created_at, updated_at FROM tenant_secrets WHERE tenant = ?1 ORDER BY name",
            )?;
            let rows = stmt.query_map(params![tenant.as_str()], |r| {
                Ok(SecretMeta {
                    name: r.get(0)?,
                    created_at_ms: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    updated_at_ms: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })?;
            rows.collect()
        })
    }

    async fn delete(&self, tenant: &TenantId, name: &str) -> StoreResult<bool> {
        let (t, n) = (tenant.to_string(), name.to_owned());
        self.db
            .write(true, move |c| {
                exec(c, "DELETE FROM tenant_secrets WHERE tenant = ?1 AND name = ?2", params![t, n])
                    .map(|k| k > 0)
                    .map_err(|e| backend(&e))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Durability;

    #[tokio::test]
    async fn values_are_sealed_per_tenant_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (TenantId::parse("ten_acme").expect("id"), TenantId::parse("ten_globex").expect("id"));
        {
            let db = Db::open(dir.path(), Durability::Full).expect("open");
            let s = EmbeddedSecrets::open(Arc::clone(&db), dir.path()).expect("key");
            assert!(s.put(&a, "TOKEN", &SecretString::from("hunter2-value"), 1).await.expect("put"));
            assert!(!s.put(&a, "TOKEN", &SecretString::from("hunter3-value"), 2).await.expect("put again"));
            assert_eq!(s.get(&a, "TOKEN").await.expect("get").expect("set").expose_secret(), "hunter3-value");
            assert!(s.get(&b, "TOKEN").await.expect("get").is_none(), "another tenant's secret is not visible");
            assert_eq!(
                s.list(&a).await.expect("list"),
                vec![SecretMeta { name: "TOKEN".into(), created_at_ms: 1, updated_at_ms: 2 }]
            );
            // A sealed value moved to another tenant's row does not open.
            db.write(true, |c| {
                exec(c, "INSERT INTO tenant_secrets SELECT 'ten_globex', name, nonce, sealed, created_at, updated_at FROM tenant_secrets WHERE tenant = 'ten_acme'", [])
                    .map_err(|e| backend(&e))
            })
            .await
            .expect("copy");
            assert!(s.get(&b, "TOKEN").await.is_err());
            db.close();
        }
        for file in ["aos.db", "aos.db-wal"] {
            let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
            assert!(!bytes.windows(13).any(|w| w == b"hunter3-value"), "{file} holds the value in the clear");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.key")).expect("key file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let db = Db::open(dir.path(), Durability::Full).expect("reopen");
        let s = EmbeddedSecrets::open(db, dir.path()).expect("key");
        assert_eq!(s.get(&a, "TOKEN").await.expect("get").expect("set").expose_secret(), "hunter3-value");
        assert!(s.delete(&a, "TOKEN").await.expect("delete"));
        assert!(!s.delete(&a, "TOKEN").await.expect("delete again"));
    }
}
