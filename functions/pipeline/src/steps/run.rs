//! A daily run: ingest a day's exports, match, publish. The CLI's `run`; in AWS the state machine does the same.

use chrono::NaiveDate;
use seedline_core::line::Marketplace;
use seedline_core::pii::BuyerHasher;

use super::ingest::{ingest_object, IngestResult};
use super::matching::{match_orders, MatchOutcome};
use super::publish::{publish_report, PublishOutcome};
use super::StepError;
use crate::config::Stores;
use crate::layout;

#[derive(Debug, Clone)]
pub struct DayRun {
    pub date: NaiveDate,
    pub ingested: Vec<IngestResult>,
    /// Marketplaces with no export object for the day: reported, never taken as a day without sales.
    pub missing_exports: Vec<Marketplace>,
    pub matched: MatchOutcome,
    pub published: Vec<PublishOutcome>,
}

/// The export objects of one day, every marketplace, sorted by key.
pub async fn day_exports(
    stores: &Stores,
    date: NaiveDate,
) -> Result<(Vec<String>, Vec<Marketplace>), StepError> {
    let mut keys = Vec::new();
    let mut missing = Vec::new();
    for m in Marketplace::ALL {
        let found: Vec<String> = stores
            .exports
            .list(&layout::exports_prefix(m, date))
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        if found.is_empty() {
            tracing::warn!(marketplace = %m, run_date = %date, "no export for this marketplace and day");
            missing.push(m);
        }
        keys.extend(found);
    }
    Ok((keys, missing))
}

pub async fn run_day(
    stores: &Stores,
    hasher: &BuyerHasher,
    date: NaiveDate,
    lookback_days: u32,
) -> Result<DayRun, StepError> {
    let (keys, missing_exports) = day_exports(stores, date).await?;
    let mut ingested = Vec::with_capacity(keys.len());
    for key in &keys {
        ingested.push(ingest_object(stores, hasher, key).await?);
    }
    let matched = match_orders(stores, date, lookback_days).await?;
    let mut published = Vec::with_capacity(matched.changed.len());
    for bd in &matched.changed {
        published.push(publish_report(stores, &bd.brand_id, bd.date).await?);
    }
    Ok(DayRun {
        date,
        ingested,
        missing_exports,
        matched,
        published,
    })
}
