//! What both kinds of report of reports.md share: the CSV writer, the manifest and latest.json.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attribution::ExportRef;
use crate::text::formula_guard;

/// The version of the report file layout, recorded in every manifest: 2 is statements and the
/// to-date report; 1 was one daily report with campaign-to-date columns.
pub const SCHEMA_VERSION: u32 = 2;

/// A rendered file: its bytes, its number of data rows and its SHA-256 (hashed once, here:
/// publish compares it with latest.json and writes it into the manifest and the pointer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub rows: u64,
    sha256: String,
}

impl Rendered {
    pub fn new(name: &'static str, bytes: Vec<u8>, rows: u64) -> Rendered {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Rendered {
            name,
            bytes,
            rows,
            sha256,
        }
    }

    /// Hex SHA-256 of the bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// Writes a report CSV: UTF-8 with a BOM, CRLF, every text cell guarded against formulas.
pub(crate) struct ReportCsv {
    w: csv::Writer<Vec<u8>>,
    rows: u64,
}

impl ReportCsv {
    pub(crate) fn new(header: &[&str]) -> Self {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(b"\xEF\xBB\xBF".to_vec());
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        ReportCsv { w, rows: 0 }
    }

    /// `cells` are (text, is_text): text cells get the formula guard, numbers are ours and need none.
    pub(crate) fn row(&mut self, cells: &[(&str, bool)]) {
        let guarded: Vec<std::borrow::Cow<'_, str>> = cells
            .iter()
            .map(|(c, text)| {
                if *text {
                    formula_guard(c)
                } else {
                    std::borrow::Cow::Borrowed(*c)
                }
            })
            .collect();
        let _ = self.w.write_record(guarded.iter().map(|c| c.as_bytes()));
        self.rows += 1;
    }

    pub(crate) fn finish(self, name: &'static str) -> Rendered {
        let bytes = self.w.into_inner().unwrap_or_default();
        Rendered::new(name, bytes, self.rows)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestCampaign {
    pub campaign_id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInputs {
    pub exports: Vec<ExportRef>,
    pub campaigns: Vec<ManifestCampaign>,
}

/// Which kind of report a version is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Statement,
    ToDate,
}

/// manifest.json of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    /// Absent in manifests of schema 1, which were all daily reports.
    #[serde(default = "statement_kind")]
    pub kind: Kind,
    pub brand_id: String,
    /// The report date of a statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// The newest report date run, of the to-date report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    pub generated_at: String,
    pub version: u64,
    pub supersedes: Option<u64>,
    pub files: Vec<ManifestFile>,
    pub inputs: ManifestInputs,
}

fn statement_kind() -> Kind {
    Kind::Statement
}

/// What a manifest says of the report besides its files: which report, built from what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    pub kind: Kind,
    pub brand_id: String,
    /// The report date, or `as_of`.
    pub date: chrono::NaiveDate,
    pub inputs: ManifestInputs,
}

impl Manifest {
    pub fn new(about: &About, files: &[Rendered], version: u64, generated_at: String) -> Manifest {
        let date = about.date.to_string();
        let (date, as_of) = match about.kind {
            Kind::Statement => (Some(date), None),
            Kind::ToDate => (None, Some(date)),
        };
        Manifest {
            schema_version: SCHEMA_VERSION,
            kind: about.kind,
            brand_id: about.brand_id.clone(),
            date,
            as_of,
            generated_at,
            version,
            supersedes: version.checked_sub(1).filter(|v| *v > 0),
            files: files
                .iter()
                .map(|f| ManifestFile {
                    name: f.name.to_string(),
                    bytes: f.bytes.len() as u64,
                    rows: f.rows,
                    sha256: f.sha256().to_string(),
                })
                .collect(),
            inputs: about.inputs.clone(),
        }
    }
}

/// latest.json: the one pointer a reader follows, written last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub version: u64,
    pub prefix: String,
    pub sha256: BTreeMap<String, String>,
}

impl Latest {
    /// True when every data file (`csvs`: the CSV files the version rule compares; changes.csv,
    /// the page and the manifest follow them) is exactly the one `self` points to, and `self`
    /// has no other data file (a version of the older layout had no funnel.csv, and ctd columns).
    pub fn same_content(&self, csvs: &[Rendered]) -> bool {
        let theirs = self
            .sha256
            .keys()
            .filter(|k| k.ends_with(".csv") && *k != "changes.csv")
            .count();
        csvs.len() == theirs
            && csvs
                .iter()
                .all(|f| self.sha256.get(f.name).is_some_and(|h| *h == f.sha256()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &'static str, body: &str) -> Rendered {
        Rendered::new(name, body.as_bytes().to_vec(), 0)
    }

    fn latest_of(files: &[Rendered]) -> Latest {
        Latest {
            version: 1,
            prefix: "reports/b/2025-05-20/v1/".into(),
            sha256: files
                .iter()
                .map(|f| (f.name.to_string(), f.sha256().to_string()))
                .chain([("manifest.json".to_string(), "m".to_string())])
                .collect(),
        }
    }

    /// The version rule: a new version only when a CSV file would differ; a page, a manifest or
    /// a changes.csv of its own is no change.
    #[test]
    fn a_version_changes_with_a_csv_file_only() {
        let v1 = [
            file("campaigns.csv", "a"),
            file("orders.csv", "c"),
            file("changes.csv", "old changes"),
            file("report.html", "x"),
        ];
        let latest = latest_of(&v1);
        assert!(latest.same_content(&v1[..2]));
        assert!(latest.same_content(&[file("campaigns.csv", "a"), file("orders.csv", "c")]));
        assert!(!latest.same_content(&[file("campaigns.csv", "a2"), file("orders.csv", "c")]));
        // One more data file than the version holds (the older layout had no funnel.csv).
        assert!(!latest.same_content(&[
            file("campaigns.csv", "a"),
            file("orders.csv", "c"),
            file("funnel.csv", "f"),
        ]));
    }

    #[test]
    fn a_schema_1_manifest_reads_as_a_statement() {
        let old = r#"{"schema_version":1,"brand_id":"b","date":"2025-05-20","generated_at":"t",
            "version":1,"supersedes":null,"files":[],"inputs":{"exports":[],"campaigns":[]}}"#;
        let m: Manifest = serde_json::from_str(old).unwrap();
        assert_eq!(m.kind, Kind::Statement);
        assert_eq!(m.date.as_deref(), Some("2025-05-20"));
    }
}
