//! Local secrets: `AOS_SECRET_<NAME>` environment variables first, then a JSON object
//! file (`<data-dir>/secrets.json` by default) mapping names to values.

use aos_runtime::ports::{SecretStore, StoreError, StoreResult};
use async_trait::async_trait;
use secrecy::SecretString;
use std::path::PathBuf;

/// Secrets from the environment and a local file. Values are never logged.
pub struct LocalSecrets {
    file: Option<PathBuf>,
}

impl LocalSecrets {
    /// Reads `file` (if given and present) on each lookup, so edits apply without a restart.
    pub fn new(file: Option<PathBuf>) -> Self {
        Self { file }
    }

    fn env_name(name: &str) -> String {
        let upper: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        format!("AOS_SECRET_{upper}")
    }
}

#[async_trait]
impl SecretStore for LocalSecrets {
    async fn secret(&self, name: &str) -> StoreResult<Option<SecretString>> {
        if let Ok(v) = std::env::var(Self::env_name(name)) {
            return Ok(Some(SecretString::from(v)));
        }
        let Some(path) = &self.file else {
            return Ok(None);
        };
        let raw = match std::fs::read_to_string(path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Backend(format!("cannot read {}: {e}", path.display()))),
        };
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&raw)
            .map_err(|e| StoreError::Backend(format!("{} is not a JSON object of strings: {e}", path.display())))?;
        Ok(map.get(name).and_then(|v| v.as_str()).map(|s| SecretString::from(s.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[tokio::test]
    async fn secrets_come_from_the_file_and_missing_ones_are_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("secrets.json");
        std::fs::write(&file, r#"{"webhook_key": "s3cr3t"}"#).expect("write");
        let s = LocalSecrets::new(Some(file));
        let got = s.secret("webhook_key").await.expect("read").expect("present");
        assert_eq!(got.expose_secret(), "s3cr3t");
        assert!(s.secret("absent").await.expect("read").is_none());
        assert!(!format!("{got:?}").contains("s3cr3t"), "debug output must not reveal the secret");
    }
}
