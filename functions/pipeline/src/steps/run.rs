//! A daily run: ingest a day's exports, match, publish. The CLI's `run`; in AWS the state machine does the same.

use chrono::NaiveDate;
use seedline_core::attribution::ExportRef;
use seedline_core::dialect::Dialect;
use seedline_core::line::Marketplace;
use seedline_core::pii::BuyerHasher;
use serde::{Deserialize, Serialize};

use super::ingest::{ingest_object, IngestResult};
use super::matching::{match_orders, MatchOutcome};
use super::publish::{publish, PublishOutcome, Target};
use super::StepError;
use crate::config::Stores;
use crate::layout;
use crate::store::ObjectMeta;

#[derive(Debug, Clone)]
pub struct DayRun {
    pub date: NaiveDate,
    pub ingested: Vec<IngestResult>,
    /// Marketplaces with no export object for the day: reported, never taken as a day without sales.
    pub missing_exports: Vec<Marketplace>,
    pub matched: MatchOutcome,
    pub published: Vec<PublishOutcome>,
    /// Wall time of each step, for operators and the benchmark.
    pub timings: StepTimings,
}

pub use crate::telemetry::StepTimings;
use crate::telemetry::Stopwatch;

/// What a finished day saw: its export objects and their ETags (`staging/days/{date}.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDone {
    pub date: NaiveDate,
    pub exports: Vec<ExportRef>,
}

/// The export objects of one day, per dialect (orders of each marketplace, RED note reports),
/// each list sorted by key.
pub async fn day_objects(
    stores: &Stores,
    date: NaiveDate,
) -> Result<Vec<(Dialect, Vec<ObjectMeta>)>, StepError> {
    let mut out = Vec::new();
    for m in Dialect::ALL {
        out.push((
            m,
            stores
                .exports
                .list(&layout::exports_prefix(m, date))
                .await?,
        ));
    }
    Ok(out)
}

/// The export objects of one day, every marketplace, sorted by key, the marketplaces without any
/// (each logged as a warning: a missing export is not a day without sales) and the bytes of all.
pub async fn day_exports(
    stores: &Stores,
    date: NaiveDate,
) -> Result<(Vec<ExportRef>, Vec<Marketplace>, u64), StepError> {
    let mut exports = Vec::new();
    let mut missing = Vec::new();
    let mut bytes = 0;
    for (d, found) in day_objects(stores, date).await? {
        match d.marketplace() {
            Some(m) if found.is_empty() => {
                tracing::info!(marketplace = %m, run_date = %date, "no export for this marketplace and day");
                missing.push(m);
            }
            None if found.is_empty() => {
                tracing::info!(run_date = %date, "no RED note report for this day: funnel figures stand as they are");
            }
            _ => {}
        }
        bytes += found.iter().map(|o| o.size).sum::<u64>();
        exports.extend(found.into_iter().map(|o| ExportRef {
            key: o.key,
            etag: o.etag,
        }));
    }
    Ok((exports, missing, bytes))
}

/// Reports published at once: rendering is CPU work, so a few at a time keep every core busy (in
/// AWS the state machine's map does the same across invocations).
const PUBLISH_CONCURRENCY: usize = 8;

/// Publishes every changed report, a few at a time; the outcomes in the order of `changed`.
async fn publish_all(
    stores: &Stores,
    changed: &[Target],
) -> Result<Vec<PublishOutcome>, StepError> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut out: Vec<Option<PublishOutcome>> = vec![None; changed.len()];
    let mut next = 0;
    loop {
        while next < changed.len() && tasks.len() < PUBLISH_CONCURRENCY {
            let (stores, job, i) = (stores.clone(), changed[next].clone(), next);
            tasks.spawn(async move { (i, publish(&stores, &job).await) });
            next += 1;
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let failed = match done {
            Ok((i, Ok(p))) => {
                out[i] = Some(p);
                continue;
            }
            Ok((_, Err(e))) => e,
            Err(e) => e.into(),
        };
        // Stop the rest before failing (publishing is safe to run again), so nothing of this step
        // goes on after it has returned.
        tasks.shutdown().await;
        return Err(failed);
    }
    Ok(out.into_iter().flatten().collect())
}

pub async fn run_day(
    stores: &Stores,
    hasher: &BuyerHasher,
    date: NaiveDate,
    lookback_days: u32,
) -> Result<DayRun, StepError> {
    run_day_with(stores, hasher, date, lookback_days, &|_| {}).await
}

/// [`run_day`], calling `on_ingested` after each export (for progress bars).
pub async fn run_day_with(
    stores: &Stores,
    hasher: &BuyerHasher,
    date: NaiveDate,
    lookback_days: u32,
    on_ingested: &(dyn Fn(&IngestResult) + Send + Sync),
) -> Result<DayRun, StepError> {
    let mut watch = Stopwatch::start();
    let (exports, missing_exports, export_bytes) = day_exports(stores, date).await?;
    let mut ingested = Vec::with_capacity(exports.len());
    for e in &exports {
        let r = ingest_object(stores, hasher, &e.key).await?;
        on_ingested(&r);
        ingested.push(r);
    }
    let (ingest, ingest_cpu) = watch.lap();
    let matched = match_orders(stores, date, lookback_days).await?;
    let (matching, matching_cpu) = watch.lap();
    // Statements first, then each brand's to-date report: a reader of the to-date report finds the
    // statements it sums already there.
    let statements: Vec<Target> = matched.statement_targets();
    let mut published = publish_all(stores, &statements).await?;
    let to_date: Vec<Target> = matched.to_date_targets();
    published.extend(publish_all(stores, &to_date).await?);
    let (publish, publish_cpu) = watch.lap();
    let timings = StepTimings {
        export_bytes,
        ingest,
        matching,
        publish,
        ingest_cpu,
        matching_cpu,
        publish_cpu,
    };
    let done = DayDone { date, exports };
    let bytes = serde_json::to_vec_pretty(&done).map_err(|e| StepError::BadInput(e.to_string()))?;
    stores
        .staging
        .put(&layout::day_done_key(date), bytes)
        .await?;
    Ok(DayRun {
        date,
        ingested,
        missing_exports,
        matched,
        published,
        timings,
    })
}
