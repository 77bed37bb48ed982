//! The three pipeline steps, over the storage traits: the Lambdas and the CLI call these and nothing else.

use crate::store::StoreError;

mod facts;
pub mod ingest;
pub mod matching;
pub mod publish;
pub mod run;
mod spill;
mod states;

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

impl StepError {
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
