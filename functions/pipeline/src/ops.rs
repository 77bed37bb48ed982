//! What operators ask of a pipeline: what a day did, its rejected rows, why a line was (not) credited,
//! and backfills that resume where they stopped. Everything is read from what the pipeline recorded.

use chrono::{Duration, NaiveDate};
use seedline_core::attribution::ExportRef;
use seedline_core::catalog::Catalog;
use seedline_core::ingest::Reject;
use seedline_core::line::{line_key, read_keys, read_staged, Marketplace, OrderLine};
use seedline_core::pii::BuyerHasher;
use seedline_core::report::Latest;
use serde::Serialize;

use crate::config::Stores;
use crate::layout::{self, ExportKey};
use crate::steps::ingest::{ingest_object, IngestRecord, IngestResult};
use crate::steps::matching::MatchOutcome;
use crate::steps::run::{day_exports, day_objects, run_day_with, DayDone, DayRun};
use crate::steps::StepError;
use crate::store::StoreError;

/// A brand's published report for a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedReport {
    pub brand_id: String,
    pub version: u64,
    pub prefix: String,
}

/// What the pipeline recorded of one day.
#[derive(Debug, Clone, Serialize)]
pub struct DayStatus {
    pub date: NaiveDate,
    /// Ingest records of the day's exports.
    pub files: Vec<IngestRecord>,
    /// Export objects of the day with no ingest record for their current ETag.
    pub not_ingested: Vec<String>,
    /// Marketplaces with no export object at all for the day.
    pub missing_exports: Vec<Marketplace>,
    /// The match record of the run for this day, when it ran.
    pub matched: Option<MatchOutcome>,
    /// Statements with this report date, by brand.
    pub reports: Vec<PublishedReport>,
    /// Every brand's to-date report as it stands now.
    pub to_date: Vec<PublishedReport>,
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StepError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Invalid(format!("{key}: {e}")).into())
}

pub async fn day_status(stores: &Stores, date: NaiveDate) -> Result<DayStatus, StepError> {
    let (exports, missing_exports, _) = day_exports(stores, date).await?;
    let mut files = Vec::new();
    let mut not_ingested = Vec::new();
    for e in &exports {
        let ek = ExportKey::parse(&e.key).map_err(StepError::BadInput)?;
        match stores.staging.get_bytes(&ek.record_key()).await? {
            Some(b) => {
                let rec: IngestRecord = decode(&ek.record_key(), &b)?;
                if rec.etag != e.etag {
                    not_ingested.push(e.key.clone());
                }
                files.push(rec);
            }
            None => not_ingested.push(e.key.clone()),
        }
    }
    let matched = match stores
        .staging
        .get_bytes(&layout::match_record_key(date))
        .await?
    {
        Some(b) => Some(decode(&layout::match_record_key(date), &b)?),
        None => None,
    };
    let (mut reports, mut to_date) = (Vec::new(), Vec::new());
    let (brands, _) = stores.campaigns.load_all().await?;
    for b in brands {
        for (key, out) in [
            (layout::latest_key(&b.brand_id, date), &mut reports),
            (layout::to_date_latest_key(&b.brand_id), &mut to_date),
        ] {
            if let Some(bytes) = stores.reports.get_bytes(&key).await? {
                let l: Latest = decode(&key, &bytes)?;
                out.push(PublishedReport {
                    brand_id: b.brand_id.clone(),
                    version: l.version,
                    prefix: l.prefix,
                });
            }
        }
    }
    Ok(DayStatus {
        date,
        files,
        not_ingested,
        missing_exports,
        matched,
        reports,
        to_date,
    })
}

/// One version of a report, as `seedline explain` tells it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStory {
    pub version: u64,
    pub prefix: String,
    pub generated_at: String,
    /// The to-date report's `as_of`.
    pub as_of: Option<String>,
    /// The rows of its changes.csv (file, change, key, field, before, after, source); empty for v1.
    pub changes: Vec<Vec<String>>,
}

/// Every version of a statement (`date`) or of the to-date report (`None`), oldest first, with
/// what each changed and why.
pub async fn report_history(
    stores: &Stores,
    brand: &str,
    date: Option<NaiveDate>,
) -> Result<Vec<VersionStory>, StepError> {
    let latest_key = match date {
        Some(d) => layout::latest_key(brand, d),
        None => layout::to_date_latest_key(brand),
    };
    let Some(bytes) = stores.reports.get_bytes(&latest_key).await? else {
        return Ok(Vec::new());
    };
    let latest: Latest = decode(&latest_key, &bytes)?;
    let mut out = Vec::new();
    for version in 1..=latest.version {
        let prefix = match date {
            Some(d) => layout::version_prefix(brand, d, version),
            None => layout::to_date_version_prefix(brand, version),
        };
        let key = format!("{prefix}manifest.json");
        let manifest: seedline_core::report::Manifest = match stores.reports.get_bytes(&key).await?
        {
            Some(b) => decode(&key, &b)?,
            None => continue,
        };
        let mut changes = Vec::new();
        if let Some(b) = stores
            .reports
            .get_bytes(&format!("{prefix}changes.csv"))
            .await?
        {
            let mut r = csv::ReaderBuilder::new()
                .from_reader(b.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&b));
            for rec in r.records() {
                let rec =
                    rec.map_err(|e| StoreError::Invalid(format!("{prefix}changes.csv: {e}")))?;
                changes.push(rec.iter().map(String::from).collect());
            }
        }
        out.push(VersionStory {
            version,
            prefix,
            generated_at: manifest.generated_at,
            as_of: manifest.as_of,
            changes,
        });
    }
    Ok(out)
}

/// A rejected row and the export it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    pub export_key: String,
    #[serde(flatten)]
    pub reject: Reject,
}

/// Every rejected row of a day's exports, by export key and line.
pub async fn day_rejects(stores: &Stores, date: NaiveDate) -> Result<Vec<RejectedRow>, StepError> {
    let mut out = Vec::new();
    for m in seedline_core::dialect::Dialect::ALL {
        let prefix = layout::rejects_prefix(m, date);
        for o in stores.staging.list(&prefix).await? {
            let name = o.key[prefix.len()..].trim_end_matches(".rejects.csv");
            let export_key = format!("exports/{m}/{date}/{name}");
            let bytes = stores.staging.get_bytes(&o.key).await?.unwrap_or_default();
            let mut rdr = csv::Reader::from_reader(&bytes[..]);
            for rec in rdr.records() {
                let rec = rec.map_err(|e| StoreError::Invalid(format!("{}: {e}", o.key)))?;
                let f = |i: usize| rec.get(i).unwrap_or_default().to_string();
                out.push(RejectedRow {
                    export_key: export_key.clone(),
                    reject: Reject {
                        line: f(0).parse().unwrap_or(0),
                        order_id: f(1),
                        reason: f(2),
                        detail: f(3),
                    },
                });
            }
        }
    }
    Ok(out)
}

/// One appearance of a line in a staged export.
#[derive(Debug, Clone)]
pub struct Appearance {
    pub export_key: String,
    pub export_line: u64,
    pub paid: bool,
    /// The row in full: staged only for rows with a token (the others can never be credited).
    pub line: Option<OrderLine>,
}

/// Why a line was or was not credited.
#[derive(Debug, Clone)]
pub struct Explanation {
    /// Every appearance, in latest-state order: the last one is the line's latest state.
    pub appearances: Vec<Appearance>,
    /// The rules, checked in order, against every campaign and brand on record.
    pub reasoning: Vec<String>,
}

impl Explanation {
    pub fn latest(&self) -> Option<&Appearance> {
        self.appearances.last()
    }
}

/// Finds every appearance of `(marketplace, line_id)` in staging and explains its latest state.
pub async fn explain_line(
    stores: &Stores,
    m: Marketplace,
    line_id: &str,
) -> Result<Option<Explanation>, StepError> {
    let mut files: Vec<ExportKey> = stores
        .staging
        .list(&format!("{}{m}/", layout::KEYS_PREFIX))
        .await?
        .iter()
        .filter_map(|o| ExportKey::from_keys_key(&o.key))
        .collect();
    files.sort_by_key(|k| (k.date, k.key()));
    let wanted = line_key(m, line_id.as_bytes());
    let mut appearances = Vec::new();
    for ek in files {
        let Some(obj) = stores.staging.get(&ek.keys_key()).await? else {
            continue;
        };
        let handle = tokio::runtime::Handle::current();
        let key = ek.keys_key();
        let hits = tokio::task::spawn_blocking(move || {
            let reader = crate::store::blocking_reader(obj.body, handle);
            let mut hits = Vec::new();
            read_keys(reader, |r| {
                if r.key == wanted {
                    hits.push(r);
                }
            })
            .map(|_| hits)
        })
        .await?
        .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
        if hits.is_empty() {
            continue;
        }
        let mut full = Vec::new();
        if hits.iter().any(|r| r.token) {
            if let Some(obj) = stores.staging.get(&ek.lines_key()).await? {
                let handle = tokio::runtime::Handle::current();
                let want = line_id.to_string();
                let key = ek.lines_key();
                full = tokio::task::spawn_blocking(move || {
                    let reader = crate::store::blocking_reader(obj.body, handle);
                    let mut found = Vec::new();
                    read_staged(reader, |l| {
                        if l.line_id == want {
                            found.push(l);
                        }
                    })
                    .map(|_| found)
                })
                .await?
                .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
            }
        }
        let mut full = full.into_iter();
        for r in hits {
            appearances.push(Appearance {
                export_key: ek.key(),
                export_line: u64::from(r.source_line),
                paid: r.paid,
                line: if r.token { full.next() } else { None },
            });
        }
    }
    let Some(last) = appearances.last() else {
        return Ok(None);
    };
    let reasoning = match &last.line {
        Some(latest) => {
            let (brands, campaigns) = stores.campaigns.load_all().await?;
            let catalog =
                Catalog::new(brands, campaigns).map_err(|e| StoreError::Invalid(e.to_string()))?;
            seedline_core::attribution::explain(&catalog, latest)
        }
        None => vec![format!(
            "{}: no tracking token in its latest appearance: came through no link, never considered",
            if last.paid { "paid" } else { "not paid" }
        )],
    };
    Ok(Some(Explanation {
        appearances,
        reasoning,
    }))
}

pub use crate::steps::stale_exports;

/// Stages again every export staged in an earlier format, and removes its old line file. Reports
/// are untouched: the next run's match brings them up to date.
pub async fn restage(
    stores: &Stores,
    hasher: &BuyerHasher,
    on_done: &(dyn Fn(&IngestResult) + Send + Sync),
) -> Result<Vec<IngestResult>, StepError> {
    let mut out = Vec::new();
    for key in stale_exports(stores).await? {
        let ek = ExportKey::parse(&key).map_err(StepError::BadInput)?;
        if stores.exports.head(&key).await?.is_none() {
            // The export itself is gone: its old staging goes too.
            stores.staging.delete(&ek.record_key()).await?;
            stores.staging.delete(&ek.rejects_key()).await?;
        } else {
            let r = ingest_object(stores, hasher, &key).await?;
            on_done(&r);
            out.push(r);
        }
        stores.staging.delete(&ek.v1_lines_key()).await?;
    }
    Ok(out)
}

/// What a backfill reports as it goes.
pub trait BackfillProgress: Send + Sync {
    /// Called once with the days to run and their export files.
    fn planned(&self, days: usize, files: u64, bytes: u64);
    fn file_done(&self, result: &IngestResult, bytes: u64);
    fn day_done(&self, date: NaiveDate, skipped: bool);
}

/// One day of a backfill: run, or skipped because it already finished on the same exports.
#[derive(Debug, Clone)]
pub enum BackfillDay {
    Ran(Box<DayRun>),
    Skipped(NaiveDate),
}

/// Runs `from ..= to` in date order. A day that already finished on exactly the exports it has now
/// (same keys and ETags) is skipped, so a backfill stopped half way and started again does only what is left.
pub async fn backfill(
    stores: &Stores,
    hasher: &BuyerHasher,
    from: NaiveDate,
    to: NaiveDate,
    lookback_days: u32,
    progress: &dyn BackfillProgress,
) -> Result<Vec<BackfillDay>, StepError> {
    if to < from {
        return Err(StepError::BadInput(format!(
            "--to {to} is before --from {from}"
        )));
    }
    let mut plan = Vec::new();
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut d = from;
    while d <= to {
        let mut sizes = std::collections::BTreeMap::new();
        let mut exports = Vec::new();
        for (_, found) in day_objects(stores, d).await? {
            for o in found {
                sizes.insert(o.key.clone(), o.size);
                exports.push(ExportRef {
                    key: o.key,
                    etag: o.etag,
                });
            }
        }
        let done: Option<DayDone> = match stores.staging.get_bytes(&layout::day_done_key(d)).await?
        {
            Some(b) => serde_json::from_slice(&b).ok(),
            None => None,
        };
        let finished = done.is_some_and(|done| done.exports == exports);
        if !finished {
            files += exports.len() as u64;
            bytes += sizes.values().sum::<u64>();
        }
        plan.push((d, finished, sizes));
        d += Duration::days(1);
    }
    progress.planned(plan.iter().filter(|p| !p.1).count(), files, bytes);
    let mut out = Vec::new();
    for (d, finished, sizes) in plan {
        if finished {
            progress.day_done(d, true);
            out.push(BackfillDay::Skipped(d));
            continue;
        }
        let on_file = |r: &IngestResult| {
            progress.file_done(r, sizes.get(&r.record.export_key).copied().unwrap_or(0));
        };
        let run = run_day_with(stores, hasher, d, lookback_days, &on_file).await?;
        progress.day_done(d, false);
        out.push(BackfillDay::Ran(Box::new(run)));
    }
    Ok(out)
}
