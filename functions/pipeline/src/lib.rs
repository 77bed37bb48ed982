//! seedline's pipeline: storage traits with S3, DynamoDB and local-directory implementations, and the
//! three steps (ingest, match, publish) over them. The Lambdas and the CLI both call [`steps`].

pub mod config;
pub mod layout;
pub mod ops;
pub mod steps;
pub mod store;
pub mod telemetry;

pub use config::Stores;

/// The allocator of every binary that links the pipeline (the CLI and the three Lambdas): match and
/// publish build and drop millions of short strings, which mimalloc frees faster than glibc's malloc
/// (docs/performance.md, 2026-12-07). Built without transparent huge pages (`no_thp`): the same time,
/// a fifth less peak memory (docs/performance.md, 2026-12-08).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
