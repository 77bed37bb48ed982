//! Configuration, read once from the environment, and the stores it names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use seedline_core::pii::BuyerHasher;

use crate::store::dynamo::DynamoCampaigns;
use crate::store::local::{LocalCampaigns, LocalObjects};
use crate::store::s3::S3Objects;
use crate::store::{CampaignStore, ObjectStore};

pub const BUYER_KEY_VAR: &str = "SEEDLINE_BUYER_KEY";
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{BUYER_KEY_VAR} is not set: seedline hashes buyer account names with a secret key and will not start without one (e.g. `export {BUYER_KEY_VAR}=$(openssl rand -hex 32)`)")]
    MissingBuyerKey,
    #[error("{BUYER_KEY_VAR}: {0}")]
    BadBuyerKey(#[from] seedline_core::pii::KeyError),
    #[error("{0} is not set: {1}")]
    Missing(&'static str, &'static str),
    #[error("{0}")]
    Invalid(String),
}

/// The buyer hash key from `SEEDLINE_BUYER_KEY`; a run without it refuses to start.
pub fn buyer_hasher_from_env() -> Result<BuyerHasher, ConfigError> {
    let key = std::env::var(BUYER_KEY_VAR).map_err(|_| ConfigError::MissingBuyerKey)?;
    if key.is_empty() {
        return Err(ConfigError::MissingBuyerKey);
    }
    Ok(BuyerHasher::new(key.as_bytes())?)
}

/// `SEEDLINE_LOOKBACK_DAYS`, 30 when unset.
pub fn lookback_from_env() -> Result<u32, ConfigError> {
    match std::env::var("SEEDLINE_LOOKBACK_DAYS") {
        Ok(v) => v.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "SEEDLINE_LOOKBACK_DAYS={v:?} is not a number of days"
            ))
        }),
        Err(_) => Ok(DEFAULT_LOOKBACK_DAYS),
    }
}

/// The three buckets and the campaign table a run uses, and whether it trusts its cache.
#[derive(Debug, Clone)]
pub struct Stores {
    pub exports: Arc<dyn ObjectStore>,
    pub staging: Arc<dyn ObjectStore>,
    pub reports: Arc<dyn ObjectStore>,
    pub campaigns: Arc<dyn CampaignStore>,
    /// The cache boundary's switch (`steps/cache.rs`).
    pub cache: Cache,
}

/// Whether match trusts the published markers (`On`, the default) or reads none (`Off`:
/// `seedline --no-cache`, or `SEEDLINE_CACHE=off` for the Lambdas).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Cache {
    #[default]
    On,
    Off,
}

impl Cache {
    /// `SEEDLINE_CACHE`: `on` (or unset) or `off`.
    pub fn from_env() -> Result<Cache, ConfigError> {
        match std::env::var("SEEDLINE_CACHE").as_deref() {
            Err(_) | Ok("on") | Ok("") => Ok(Cache::On),
            Ok("off") => Ok(Cache::Off),
            Ok(other) => Err(ConfigError::Invalid(format!(
                "SEEDLINE_CACHE={other:?}: expected \"on\" or \"off\""
            ))),
        }
    }
}

impl Stores {
    /// The embedded default: everything in one local directory.
    pub fn local(dir: &Path) -> Stores {
        let objects = Arc::new(LocalObjects::new(dir));
        Stores {
            exports: objects.clone(),
            staging: objects.clone(),
            reports: objects,
            campaigns: Arc::new(LocalCampaigns::new(dir)),
            cache: Cache::On,
        }
    }

    /// S3 buckets and a DynamoDB table named by the environment (see [`AwsSettings`]).
    pub fn aws(clients: &AwsClients, s: &AwsSettings) -> Stores {
        let bucket =
            |b: &str| Arc::new(S3Objects::new(clients.s3.clone(), b)) as Arc<dyn ObjectStore>;
        Stores {
            exports: bucket(&s.exports_bucket),
            staging: bucket(&s.staging_bucket),
            reports: bucket(&s.reports_bucket),
            campaigns: Arc::new(DynamoCampaigns::new(clients.dynamodb.clone(), &s.table)),
            cache: Cache::On,
        }
    }
}

/// Names of the AWS resources, from `SEEDLINE_EXPORTS_BUCKET`, `SEEDLINE_STAGING_BUCKET` (default: the
/// exports bucket), `SEEDLINE_REPORTS_BUCKET` and `SEEDLINE_TABLE`.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub exports_bucket: String,
    pub staging_bucket: String,
    pub reports_bucket: String,
    pub table: String,
}

impl AwsSettings {
    pub fn from_env() -> Result<AwsSettings, ConfigError> {
        let var = |n: &'static str, what: &'static str| {
            std::env::var(n).map_err(|_| ConfigError::Missing(n, what))
        };
        let exports_bucket = var(
            "SEEDLINE_EXPORTS_BUCKET",
            "the bucket the marketplaces drop exports into",
        )?;
        let staging_bucket =
            std::env::var("SEEDLINE_STAGING_BUCKET").unwrap_or_else(|_| exports_bucket.clone());
        Ok(AwsSettings {
            staging_bucket,
            reports_bucket: var(
                "SEEDLINE_REPORTS_BUCKET",
                "the bucket brands download reports from",
            )?,
            table: var(
                "SEEDLINE_TABLE",
                "the DynamoDB table of brands and campaigns",
            )?,
            exports_bucket,
        })
    }
}

/// SDK clients, built once per process.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

/// SDK attempts per call when neither `AWS_MAX_ATTEMPTS` nor `AWS_RETRY_MODE` says otherwise: the
/// SDK's standard mode (exponential backoff with jitter, throttling and 5xx and dropped connections
/// retried), with a little more patience than its default of 3 for a nightly batch.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl AwsClients {
    /// Clients from the standard AWS environment. With `AWS_ENDPOINT_URL` set (a local server such as
    /// moto), S3 uses path-style addressing so that bucket names need no DNS.
    pub async fn from_env() -> AwsClients {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
            && std::env::var_os("AWS_RETRY_MODE").is_none()
        {
            loader = loader.retry_config(
                aws_config::retry::RetryConfig::standard().with_max_attempts(DEFAULT_MAX_ATTEMPTS),
            );
        }
        AwsClients::from_sdk_config(&loader.load().await)
    }

    /// Clients from a loaded SDK configuration (its endpoint, credentials, retry and timeout settings).
    pub fn from_sdk_config(shared: &aws_config::SdkConfig) -> AwsClients {
        let s3_conf = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(shared.endpoint_url().is_some())
            .build();
        AwsClients {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            dynamodb: aws_sdk_dynamodb::Client::new(shared),
        }
    }
}

/// A data directory given on the command line, checked to exist.
pub fn data_dir(p: &Path) -> Result<PathBuf, ConfigError> {
    if !p.is_dir() {
        return Err(ConfigError::Invalid(format!(
            "data directory {} does not exist",
            p.display()
        )));
    }
    Ok(p.to_path_buf())
}
