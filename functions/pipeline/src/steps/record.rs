//! What ingest records of each export (`staging/ingest/…`), read back by match and status.

use chrono::NaiveDate;
use seedline_core::dialect::Dialect;
use seedline_core::ingest::Counts;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileOutcome {
    Ingested,
    Rejected,
}

/// What ingest recorded of one export, in `staging/ingest/…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestRecord {
    pub export_key: String,
    pub etag: String,
    /// `taobao`, `jd` or `xhs` (records of an earlier seedline call it `marketplace`).
    #[serde(alias = "marketplace")]
    pub dialect: Dialect,
    pub export_date: NaiveDate,
    pub outcome: FileOutcome,
    /// Why the file was rejected whole.
    pub reason: Option<String>,
    pub encoding: Option<String>,
    pub gzip: bool,
    pub counts: Counts,
    pub lines_key: Option<String>,
    /// Absent in records of an earlier staging format: such an export is ingested again.
    #[serde(default)]
    pub keys_key: Option<String>,
    pub rejects_key: Option<String>,
    pub ingested_at: String,
}
