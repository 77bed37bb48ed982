//! The three pipeline steps, over the storage traits: the Lambdas and the CLI call these and nothing else.

use crate::config::Stores;
use crate::layout::{self, ExportKey};
use crate::store::StoreError;

pub mod cache;
mod decide;
pub mod ingest;
mod inputs;
mod latest;
pub mod matching;
pub mod publish;
mod record;
mod red;
pub mod run;
mod spill;
mod target;

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request itself is wrong (a bad key, a missing input): retrying will not help.
    #[error("{0}")]
    BadInput(String),
    /// Reading the export or writing local scratch files failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        retryable: bool,
        #[source]
        source: std::io::Error,
    },
    #[error("a worker task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The error type a Lambda reports for a failure worth trying again (a timeout, throttling, a 5xx):
/// the state machine's Retry names it, and only it.
pub const RETRYABLE: &str = "Seedline.Retryable";
/// The error type of a failure that fails the same way every time (bad input): never retried.
pub const NOT_RETRYABLE: &str = "Seedline.NotRetryable";

impl StepError {
    /// [`RETRYABLE`] or [`NOT_RETRYABLE`], as the Lambda reports it.
    pub fn error_type(&self) -> &'static str {
        if self.is_retryable() {
            RETRYABLE
        } else {
            NOT_RETRYABLE
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            StepError::Store(e) => e.is_retryable(),
            StepError::Io { retryable, .. } => *retryable,
            StepError::BadInput(_) => false,
            StepError::Task(_) => true,
        }
    }

    fn io(context: impl Into<String>, retryable: bool, source: std::io::Error) -> Self {
        StepError::Io {
            context: context.into(),
            retryable,
            source,
        }
    }
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Runs `work` for every task in `0..tasks` on a worker per core, each taking the next task when
/// it is done with one and folding into an accumulator of its own (from `init`); the accumulators,
/// once every task ran, or the first error.
pub(crate) fn on_every_core<T: Send>(
    tasks: usize,
    init: impl Fn() -> T + Sync,
    work: impl Fn(&mut T, usize) -> Result<(), StepError> + Sync,
) -> Result<Vec<T>, StepError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tasks.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = init();
                    loop {
                        let task = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if task >= tasks {
                            return Ok(mine);
                        }
                        work(&mut mine, task)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn vanished(key: &str) -> StepError {
    store_invalid(format!("staged file {key} vanished while matching"))
}

fn store_invalid(why: String) -> StepError {
    StepError::Store(StoreError::Invalid(why))
}

/// Exports whose staged lines are in an earlier format (ingested by an earlier seedline): match
/// refuses to run until they are staged again ([`crate::ops::restage`]), since it would miss their lines.
pub async fn stale_exports(stores: &Stores) -> Result<Vec<String>, StepError> {
    // One listing, no reads: an export staged in the earlier format has a version-1 line file.
    Ok(stores
        .staging
        .list(layout::LINES_PREFIX)
        .await?
        .iter()
        .filter_map(|o| ExportKey::from_v1_lines_key(&o.key))
        .map(|k| k.key())
        .collect())
}
