//! The blob port's embedded twin: one file per key under a directory, written to a
//! temporary file, fsynced and renamed into place, so a value is whole or absent.

use aos_runtime::ports::{BlobStore, StoreError, StoreResult};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// Values as files under `root`.
pub struct FileBlobs {
    root: PathBuf,
}

fn io(what: &str, e: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("blobs: {what}: {e}"))
}

impl FileBlobs {
    /// Files under `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file of `key`: keys are `/`-separated names, none of them empty, `.` or `..`.
    fn path(&self, key: &str) -> StoreResult<PathBuf> {
        let bad = key.split('/').any(|p| p.is_empty() || p == "." || p == ".." || p.contains('\\'));
        if bad || key.starts_with('/') {
            return Err(StoreError::Backend(format!("blobs: {key:?} is not a valid key")));
        }
        Ok(self.root.join(key))
    }
}

fn write_durably(path: &Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().expect("keys have a parent directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn remove_under(dir: &Path, root: &Path, prefix: &str, removed: &mut u64) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
        if path.is_dir() {
            // Only directories that can hold keys under the prefix.
            if prefix.starts_with(&format!("{rel}/")) || rel.starts_with(prefix) {
                remove_under(&path, root, prefix, removed)?;
                let _ = std::fs::remove_dir(&path);
            }
        } else if rel.starts_with(prefix) {
            std::fs::remove_file(&path)?;
            *removed += 1;
        }
    }
    Ok(())
}

#[async_trait]
impl BlobStore for FileBlobs {
    async fn put(&self, key: &str, body: Vec<u8>) -> StoreResult<()> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || write_durably(&path, &body))
            .await
            .map_err(|e| StoreError::Backend(format!("blobs: {e}")))?
            .map_err(|e| io("write", &e))
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let path = self.path(key)?;
        let read = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(|e| StoreError::Backend(format!("blobs: {e}")))?;
        match read {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> StoreResult<u64> {
        let (root, prefix) = (self.root.clone(), prefix.to_owned());
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            remove_under(&root, &root, &prefix, &mut removed).map(|()| removed)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("blobs: {e}")))?
        .map_err(|e| io("delete", &e))
    }
}
