//! seedline's pipeline: storage traits with S3, DynamoDB and local-directory implementations, and the
//! three steps (ingest, match, publish) over them. The Lambdas and the CLI both call [`steps`].

pub mod config;
pub mod layout;
pub mod ops;
pub mod steps;
pub mod store;
pub mod telemetry;

pub use config::Stores;
