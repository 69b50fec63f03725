//! Large values in S3 (`AOS_BLOB_BUCKET`): what the DynamoDB run store keeps beside an
//! item that would be too big for it.

use crate::dynamo::sdk_err;
use aos_runtime::ports::{BlobStore, StoreResult};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

/// One bucket behind the blob port.
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    /// Keys in `bucket`.
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// An S3 client for `sdk`: path-style addressing when an endpoint is set (emulators
    /// serve buckets on paths, not on subdomains).
    pub fn client(sdk: &aws_config::SdkConfig) -> Client {
        Self::counted_client(sdk, None)
    }

    /// Like [`S3Blobs::client`], counting calls in `counter` if given.
    pub fn counted_client(sdk: &aws_config::SdkConfig, counter: Option<crate::CallCounter>) -> Client {
        let mut conf = aws_sdk_s3::config::Builder::from(sdk);
        if sdk.endpoint_url().is_some() {
            conf = conf.force_path_style(true);
        }
        if let Some(c) = counter {
            conf = conf.interceptor(c);
        }
        Client::from_conf(conf.build())
    }

    /// Creates the bucket unless it exists (emulators, first use, tests).
    pub async fn create_bucket(&self) -> StoreResult<()> {
        if self.client.head_bucket().bucket(&self.bucket).send().await.is_ok() {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk_err(e)),
        }
    }
}

#[async_trait]
impl BlobStore for S3Blobs {
    async fn put(&self, key: &str, body: Vec<u8>) -> StoreResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk_err)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(sdk_err)?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) =>
            {
                Ok(None)
            }
            Err(e) => Err(sdk_err(e)),
        }
    }

    async fn delete_prefix(&self, prefix: &str) -> StoreResult<u64> {
        let mut deleted = 0;
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(sdk_err)?;
            for object in page.contents.unwrap_or_default() {
                if let Some(key) = object.key {
                    self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(sdk_err)?;
                    deleted += 1;
                }
            }
            match page.next_continuation_token {
                Some(t) if page.is_truncated == Some(true) => token = Some(t),
                _ => return Ok(deleted),
            }
        }
    }
}
