//! seedline's core: pure functions over readers and iterators, with no AWS and no async.
//!
//! - [`ingest`]: the two export dialects of exports.md into canonical [`line::OrderLine`]s and rejects;
//! - [`campaign`]: brands and campaigns of campaigns.md, checked;
//! - [`attribution`]: the matcher and metrics of attribution.md;
//! - [`report`] and [`html`]: the files of reports.md.

pub mod attribution;
pub mod campaign;
mod csvscan;
pub mod decode;
pub mod dialect;
pub mod html;
pub mod ingest;
pub mod line;
pub mod money;
pub mod pii;
pub mod report;
mod svg;
pub mod text;
pub mod time;
pub mod wire;

pub use chrono::{NaiveDate, NaiveDateTime};
