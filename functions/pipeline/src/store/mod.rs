//! Small traits at the edge: objects (S3 or a local directory) and campaigns (DynamoDB or JSON-lines files).

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use seedline_core::campaign::{Brand, Campaign};
use seedline_core::catalog::Catalog;
use tokio::io::AsyncRead;

pub mod dynamo;
pub mod local;
pub mod s3;

/// A storage failure. `retryable` says whether trying again may succeed (throttling, 5xx, network).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {target}: {source}")]
    Backend {
        op: &'static str,
        target: String,
        retryable: bool,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Stored data that does not read as what it should be (a bad campaigns file, say).
    #[error("{0}")]
    Invalid(String),
    /// A write refused by a condition: a token already used by another campaign.
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    pub fn backend(
        op: &'static str,
        target: impl Into<String>,
        retryable: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Backend {
            op,
            target: target.into(),
            retryable,
            source: source.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// What a listing or a head says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// An object being read: its ETag and a streamed body (never read whole).
pub struct Object {
    pub etag: String,
    pub body: Body,
}

/// An object's bytes, to be read once.
pub enum Body {
    /// A stream from the network (S3).
    Stream(Box<dyn AsyncRead + Send + Unpin>),
    /// A file of the local directory: the parsers, which run on blocking threads, read it
    /// directly, with no hop to the async side and no copy through its buffers.
    File(std::fs::File),
}

impl Body {
    /// The bytes as an async stream.
    pub fn into_async(self) -> Box<dyn AsyncRead + Send + Unpin> {
        match self {
            Body::Stream(s) => s,
            Body::File(f) => Box::new(tokio::fs::File::from_std(f)),
        }
    }
}

/// An object body read from blocking code (the parsers run on a blocking thread). A stream's
/// reads are gathered 1 MiB at a time: each read through the bridge is a round trip to the async
/// side, which at the csv crate's 8 KiB dominated ingest. A local file is read as it is, 256 KiB
/// at a time (reads at least that large go straight to the caller's buffer).
pub fn blocking_reader(
    body: Body,
    handle: tokio::runtime::Handle,
) -> Box<dyn std::io::BufRead + Send> {
    match body {
        Body::Stream(s) => Box::new(std::io::BufReader::with_capacity(
            1 << 20,
            tokio_util::io::SyncIoBridge::new_with_handle(s, handle),
        )),
        Body::File(f) => Box::new(std::io::BufReader::with_capacity(1 << 18, f)),
    }
}

/// What a conditional write requires of the object already under its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition<'a> {
    /// No object under the key: create-only (S3 `If-None-Match: *`).
    Absent,
    /// The object under the key still has this ETag: compare-and-swap (S3 `If-Match`).
    Etag(&'a str),
}

/// One bucket, or one local directory standing in for it.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    async fn get(&self, key: &str) -> Result<Option<Object>, StoreError>;
    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, StoreError>;
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError>;
    /// Writes only when `cond` holds, atomically with the check. `Ok(false)`: it did not hold (or a
    /// concurrent conditional write won) and nothing was written; the caller reads again and decides.
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        cond: Precondition<'_>,
    ) -> Result<bool, StoreError>;
    /// Writes several objects no reader is pointed to yet (a report version's files, before its
    /// latest.json), in no set order (S3: at once; the local directory: in one hop to the blocking
    /// pool). Each is whole when the call returns, but one may be seen part-written meanwhile; an
    /// object already there is replaced as [`ObjectStore::put`] would.
    async fn put_all(&self, items: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        for (key, body) in items {
            self.put(&key, body).await?;
        }
        Ok(())
    }
    /// Uploads a local file without holding it in memory.
    async fn put_file(&self, key: &str, path: &Path) -> Result<(), StoreError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    async fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Deletes several objects, each as [`ObjectStore::delete`] would (S3: a thousand keys a
    /// request).
    async fn delete_all(&self, keys: Vec<String>) -> Result<(), StoreError> {
        for key in keys {
            self.delete(&key).await?;
        }
        Ok(())
    }
    /// A name for logs and messages (`s3://bucket` or a directory).
    fn describe(&self) -> String;

    /// Where a brand downloads the object from: a presigned GET URL valid for `expires_in` (S3), or
    /// the file's path (a local directory).
    async fn download_link(&self, key: &str, expires_in: Duration) -> Result<String, StoreError>;

    /// Reads a small object whole.
    async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_bytes_etag(key).await?.map(|(bytes, _)| bytes))
    }

    /// Reads a small object whole, with the ETag of what was read (for a conditional write after).
    async fn get_bytes_etag(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        use tokio::io::AsyncReadExt;
        let Some(obj) = self.get(key).await? else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        obj.body
            .into_async()
            .read_to_end(&mut buf)
            .await
            .map_err(|e| StoreError::backend("read", key, true, e))?;
        Ok(Some((buf, obj.etag)))
    }
}

/// What a load of brands and campaigns did, or would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaveSummary {
    pub brands: usize,
    pub campaigns: usize,
}

/// Where brands and campaigns live.
/// What `save` writes must meet campaigns.md's id rule: checked by both stores before any write.
pub(crate) fn check_new_ids(
    brands: &[seedline_core::campaign::Brand],
    campaigns: &[seedline_core::campaign::Campaign],
) -> Result<(), StoreError> {
    for b in brands {
        seedline_core::campaign::check_key_id(&b.brand_id).map_err(|m| {
            StoreError::Invalid(format!("brand {}: field `brand_id`: {m}", b.brand_id))
        })?;
    }
    for c in campaigns {
        seedline_core::campaign::check_campaign_ids(&format!("campaign {}", c.campaign_id), c)
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    Ok(())
}

#[async_trait]
pub trait CampaignStore: Send + Sync + fmt::Debug {
    /// Every brand and campaign, checked as a whole. A run needs them all: a note's RED figures
    /// count on any date, in or out of its campaign's flight (funnel.md), and a token of any
    /// campaign is known (attribution.md). Requests grow with campaigns, never with orders.
    async fn load_catalog(&self) -> Result<Catalog, StoreError> {
        let (brands, campaigns) = self.load_all().await?;
        Catalog::for_run(brands, campaigns)
            .map(|(c, _)| c)
            .map_err(|e| StoreError::Invalid(e.to_string()))
    }
    /// Every brand and campaign, as stored.
    async fn load_all(&self) -> Result<(Vec<Brand>, Vec<Campaign>), StoreError>;
    /// Writes brands and campaigns, each campaign with its links atomically. The records were validated
    /// together with what is stored; a token held by another campaign is refused by the store itself.
    async fn save(
        &self,
        brands: &[Brand],
        campaigns: &[Campaign],
    ) -> Result<SaveSummary, StoreError>;
    fn describe(&self) -> String;
}
