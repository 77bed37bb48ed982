//! Objects in an S3 bucket (or any S3 API: moto server, MinIO).

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;

use super::{Body, Object, ObjectMeta, ObjectStore, Precondition, StoreError};

/// An AWS SDK error with its full context in the message, keeping the SDK error as its source.
#[derive(Debug)]
pub struct SdkFailure {
    message: String,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl std::fmt::Display for SdkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SdkFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Whether an SDK call that failed (after the SDK's own retries) may succeed later.
pub fn retryable<E>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status >= 500 || status == 429
        }
        _ => false,
    }
}

/// Turns an SDK error into a [`StoreError`], classifying it.
pub fn sdk_error<E>(
    op: &'static str,
    target: impl Into<String>,
    e: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let retry = retryable(&e);
    let message = DisplayErrorContext(&e).to_string();
    StoreError::backend(
        op,
        target,
        retry,
        SdkFailure {
            message,
            source: Box::new(e),
        },
    )
}

#[derive(Debug, Clone)]
pub struct S3Objects {
    client: Client,
    bucket: String,
}

impl S3Objects {
    /// Creates the bucket: `Ok(false)` when this account already has it.
    pub async fn create_bucket(&self) -> Result<bool, StoreError> {
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("create bucket", self.describe(), e)),
        }
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Objects {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn target(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

#[async_trait]
impl ObjectStore for S3Objects {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Object {
                etag: out.e_tag().unwrap_or_default().to_string(),
                body: Body::Stream(Box::new(out.body.into_async_read())),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(sdk_error("get", self.target(key), e)),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                etag: out.e_tag().unwrap_or_default().to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_error("head", self.target(key), e)),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| sdk_error("put", self.target(key), e))?;
        Ok(())
    }

    async fn put_all(&self, items: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        let mut puts = tokio::task::JoinSet::new();
        for (key, body) in items {
            let me = self.clone();
            puts.spawn(async move { me.put(&key, body).await });
        }
        // The first failure is told; the other uploads are stopped with the set.
        while let Some(done) = puts.join_next().await {
            done.map_err(|e| StoreError::backend("put", self.target(""), false, e))??;
        }
        Ok(())
    }

    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition<'_>,
    ) -> Result<bool, StoreError> {
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body));
        let req = match cond {
            Precondition::Absent => req.if_none_match("*"),
            Precondition::Etag(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            // 412: the condition failed; 409: a concurrent conditional write to the key won.
            Err(SdkError::ServiceError(e)) if matches!(e.raw().status().as_u16(), 409 | 412) => {
                Ok(false)
            }
            Err(e) => Err(sdk_error("put", self.target(key), e)),
        }
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<(), StoreError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StoreError::backend("read", path.display().to_string(), false, e))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(|e| sdk_error("put", self.target(key), e))?;
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("list", self.target(prefix), e))?;
            for o in page.contents() {
                out.push(ObjectMeta {
                    key: o.key().unwrap_or_default().to_string(),
                    etag: o.e_tag().unwrap_or_default().to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error("delete", self.target(key), e))?;
        Ok(())
    }

    async fn delete_all(&self, keys: Vec<String>) -> Result<(), StoreError> {
        // DeleteObjects takes at most 1,000 keys a request.
        for chunk in keys.chunks(1000) {
            let invalid = |e| StoreError::Invalid(format!("a delete of {} keys: {e}", chunk.len()));
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(invalid)?;
            let out = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| sdk_error("delete", self.target(&chunk[0]), e))?;
            // Quiet mode answers only the keys that failed.
            if let Some(e) = out.errors().first() {
                let key = e.key().unwrap_or_default();
                let why = format!(
                    "{} of {} keys not deleted: {}",
                    out.errors().len(),
                    chunk.len(),
                    e.message().or(e.code()).unwrap_or("no reason given")
                );
                let retry = e
                    .code()
                    .is_some_and(|c| c == "InternalError" || c == "SlowDown");
                return Err(StoreError::backend("delete", self.target(key), retry, why));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| StoreError::Invalid(format!("a link valid for {expires_in:?}: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| sdk_error("presign", self.target(key), e))?;
        Ok(req.uri().to_string())
    }
}
