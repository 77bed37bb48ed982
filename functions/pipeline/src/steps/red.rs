//! RED note reports through the steps: ingest stages each export's kept rows (`staging/red/…`)
//! and its rejects; match reads them back into the latest figures of every (note, date).

use chrono::NaiveDate;
use seedline_core::catalog::Catalog;
use seedline_core::funnel::NoteFigures;
use seedline_core::ingest::{IngestError, Summary};
use seedline_core::red::{read_note_report, RedReject, RedRow};
use seedline_core::red_latest::{RedFile, RedLatest};

use super::StepError;
use crate::config::Stores;
use crate::layout::{self, ExportKey};
use crate::store::{Object, StoreError};

const STAGED_HEADER: [&str; 8] = [
    "line",
    "date",
    "note_id",
    "impressions",
    "clicks",
    "engagements",
    "link_clicks",
    "spend_fen",
];

/// What reading one RED export gave: its staged rows and rejects as CSV, or why it was rejected whole.
pub(super) struct Read {
    pub summary: Summary,
    pub rows: Vec<u8>,
    pub rejects: Vec<u8>,
}

/// Reads a RED export object (on a blocking thread) into its staged CSV files.
pub(super) async fn read_export(obj: Object) -> Result<Result<Read, String>, StepError> {
    let reader = crate::store::blocking_reader(obj.body, tokio::runtime::Handle::current());
    let result = tokio::task::spawn_blocking(move || -> Result<Read, IngestError> {
        let mut rows = csv::Writer::from_writer(Vec::new());
        let mut rejects = csv::Writer::from_writer(Vec::new());
        let out = |e: csv::Error| IngestError::Output(e.into());
        rows.write_record(STAGED_HEADER).map_err(out)?;
        rejects
            .write_record(["line", "note_id", "reason", "detail"])
            .map_err(out)?;
        let summary = read_note_report(
            reader,
            &mut |r: RedRow| {
                let f = r.figures;
                rows.write_record([
                    r.line.to_string(),
                    r.date.to_string(),
                    r.note_id,
                    f.impressions.to_string(),
                    f.clicks.to_string(),
                    f.engagements.to_string(),
                    f.link_clicks.to_string(),
                    f.spend_fen.fen().to_string(),
                ])
                .map_err(std::io::Error::from)
            },
            &mut |r: RedReject| {
                rejects
                    .write_record([&r.line.to_string(), &r.note_id, r.reason, &r.detail])
                    .map_err(std::io::Error::from)
            },
        )?;
        let done = |w: csv::Writer<Vec<u8>>| {
            w.into_inner()
                .map_err(|e| IngestError::Output(e.into_error()))
        };
        Ok(Read {
            summary,
            rows: done(rows)?,
            rejects: done(rejects)?,
        })
    })
    .await?;
    match result {
        Ok(r) => Ok(Ok(r)),
        Err(IngestError::FileRejected(why)) => Ok(Err(why)),
        Err(IngestError::Source(e)) => Err(StepError::io("reading a RED note report", true, e)),
        Err(IngestError::Output(e)) => Err(StepError::io("staging a RED note report", true, e)),
    }
}

/// Parses one staged RED file back into its rows.
fn parse_staged(
    key: &str,
    bytes: &[u8],
) -> Result<Vec<(NaiveDate, String, NoteFigures)>, StepError> {
    let bad = |why: String| StepError::Store(StoreError::Invalid(format!("{key}: {why}")));
    let mut rdr = csv::Reader::from_reader(bytes);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| bad(e.to_string()))?;
        let field = |i: usize| rec.get(i).unwrap_or_default();
        let num = |i: usize| {
            field(i)
                .parse::<u64>()
                .map_err(|e| bad(format!("column {i}: {e}")))
        };
        let date = seedline_core::time::parse_date(field(1)).map_err(bad)?;
        out.push((
            date,
            field(2).to_string(),
            NoteFigures {
                impressions: num(3)?,
                clicks: num(4)?,
                engagements: num(5)?,
                link_clicks: num(6)?,
                spend_fen: seedline_core::money::Fen(
                    field(7).parse().map_err(|e| bad(format!("spend: {e}")))?,
                ),
            },
        ));
    }
    Ok(out)
}

/// The RED figures match works from: the latest figures of every note the catalog holds, and how
/// many rows of the run date's exports name a note no campaign holds.
#[derive(Default)]
pub(super) struct RedFigures {
    pub latest: RedLatest,
    pub unknown_note: u64,
    /// ETag of each RED export read, by export key (the report inputs name them).
    pub etags: std::collections::HashMap<String, String>,
}

/// Reads every staged RED export (each one small: a row per note and day).
pub(super) async fn load(
    stores: &Stores,
    catalog: &Catalog,
    run_date: NaiveDate,
) -> Result<RedFigures, StepError> {
    let mut files = Vec::new();
    let mut unknown_note = 0;
    let mut etags = std::collections::HashMap::new();
    for o in stores.staging.list(layout::RED_PREFIX).await? {
        let Some(ek) = ExportKey::from_red_key(&o.key) else {
            continue;
        };
        let Some(bytes) = stores.staging.get_bytes(&o.key).await? else {
            continue; // replaced by a rejected version of its export since the listing
        };
        let mut rows = parse_staged(&o.key, &bytes)?;
        let before = rows.len();
        rows.retain(|(_, note, _)| catalog.note_owner(note).is_some());
        if ek.date == run_date {
            unknown_note += (before - rows.len()) as u64;
        }
        if let Some(b) = stores.staging.get_bytes(&ek.record_key()).await? {
            if let Ok(rec) = serde_json::from_slice::<super::record::IngestRecord>(&b) {
                etags.insert(ek.key(), rec.etag);
            }
        }
        files.push(RedFile::new(ek.date, ek.key(), rows));
    }
    Ok(RedFigures {
        latest: RedLatest::new(files),
        unknown_note,
        etags,
    })
}
