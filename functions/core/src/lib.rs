//! seedline's core: pure functions over readers and iterators, with no AWS and no async.
//!
//! - [`ingest`]: the two export dialects of exports.md into canonical [`line::OrderLine`]s and rejects;
//! - [`ids`]: brand, campaign and note ids, checked once;
//! - [`campaign`]: brands and campaigns of campaigns.md, each record checked; [`catalog`] them all together;
//! - [`attribution`]: the rules of attribution.md, line by line;
//! - [`funnel`]: the funnel metrics of funnel.md;
//! - [`statement`], [`to_date`] and [`changes`]: the files of reports.md; [`html`] their pages;
//! - [`report`]: what both kinds of report share (CSV writer, manifest, latest.json).

pub mod attribution;
pub mod campaign;
pub mod catalog;
pub mod changes;
mod csvscan;
pub mod decode;
pub mod dialect;
pub mod funnel;
pub mod html;
pub mod ids;
pub mod ingest;
pub mod line;
pub mod money;
pub mod pii;
pub mod red;
pub mod red_latest;
pub mod report;
pub mod statement;
mod svg;
pub mod text;
pub mod time;
pub mod to_date;
#[path = "to_date_page.rs"]
pub mod to_date_page;
pub mod wire;

pub use chrono::{NaiveDate, NaiveDateTime};
