//! The inputs of reports, one spill bucket at a time: each statement's and each to-date report's
//! lines, RED figures and campaigns, encoded and staged when they differ from the published one.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use seedline_core::attribution::{campaign_info, AttributedLine, Attribution, MatchStats};
use seedline_core::catalog::Catalog;
use seedline_core::funnel::NoteRed;
use seedline_core::to_date;
use tokio::runtime::Handle;

use super::cache::Published;
use super::spill::{KeptLines, Spill};
use super::target::BrandDate;
use super::StepError;
use crate::layout;
use crate::store::ObjectStore;
use seedline_core::ids::BrandId;

#[derive(Default)]
pub(super) struct Found {
    pub changed: Vec<BrandDate>,
    pub to_date_changed: Vec<BrandId>,
    /// Reports whose input is the one already published (the published markers' saving).
    pub unchanged: u64,
    pub stats: MatchStats,
}

/// What one evaluation builds from its spills, shared by the workers.
pub(super) struct Building<'a, 'c> {
    pub a: &'a Attribution<'c>,
    pub spills: &'a [Spill],
    pub targets: &'a [BrandDate],
    pub catalog: &'c Catalog,
    /// Brands whose to-date report this evaluation builds, with the first date it counts.
    pub to_date: &'a HashMap<BrandId, NaiveDate>,
    pub etags: &'a HashMap<String, String>,
    /// The RED figures of each statement, as of the exports its date sees.
    pub red_stmt: &'a HashMap<BrandDate, Vec<NoteRed>>,
    pub red: &'a super::red::RedFigures,
    /// The newest date run: the to-date reports' `as_of`.
    pub to: NaiveDate,
    /// What the cache says was published.
    pub published: &'a Published,
}

pub(super) fn inputs_of_bucket(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    ctx: &Building<'_, '_>,
    bucket: usize,
    found: &mut Found,
) -> Result<(), StepError> {
    let mine: Vec<&BrandDate> = ctx
        .targets
        .iter()
        .filter(|t| Spill::bucket(&t.brand_id) == bucket)
        .collect();
    let to_dates: Vec<(&BrandId, &NaiveDate)> = ctx
        .to_date
        .iter()
        .filter(|(b, _)| Spill::bucket(b) == bucket)
        .collect();
    if mine.is_empty() && to_dates.is_empty() {
        return Ok(());
    }
    let mut wanted: HashMap<&str, BTreeSet<NaiveDate>> = HashMap::new();
    for t in &mine {
        wanted.entry(&t.brand_id).or_default().insert(t.date);
    }
    let mut kept = load_bucket(ctx.spills, bucket, |brand, d| {
        wanted.get(brand).is_some_and(|days| days.contains(&d))
            || ctx.to_date.get(brand).is_some_and(|first| *first <= d)
    })?;
    // The markers of the reports whose changed input is staged: they name an input no longer
    // current, and go in one delete at the end, so publish only adds its own (cache.rs).
    let mut stale: Vec<String> = Vec::new();
    // To-date reports first, reading the lines; the statements then take them.
    let mut of_brand: HashMap<&str, Vec<(NaiveDate, &[AttributedLine])>> = HashMap::new();
    for ((b, d), lines) in &kept {
        of_brand.entry(b.as_str()).or_default().push((*d, lines));
    }
    for (brand, _) in to_dates {
        let input = to_date_input(ctx, brand, of_brand.get(brand.as_str()));
        let bytes = serde_json::to_vec(&input)
            .map_err(|e| StepError::io("encoding a to-date input", false, e.into()))?;
        if !ctx.published.has_to_date(brand, &bytes) {
            handle.block_on(staging.put(&layout::to_date_input_key(brand), bytes))?;
            stale.extend(ctx.published.to_date_markers(brand).map(str::to_string));
            found.to_date_changed.push(brand.clone());
        } else {
            found.unchanged += 1;
        }
    }
    drop(of_brand);
    for target in mine {
        let lines = kept
            .remove(&(target.brand_id.to_string(), target.date))
            .unwrap_or_default();
        let mut input = ctx
            .a
            .report_input_from(&target.brand_id, target.date, lines);
        if let Some(red) = ctx.red_stmt.get(target) {
            add_red(&mut input, red.clone(), ctx.catalog, &ctx.red.etags);
        }
        let bytes = seedline_core::attribution::codec::encode_input(&input)
            .map_err(|e| StepError::io("encoding a report input", false, e.into()))?;
        if !ctx.published.has_statement(target, &bytes) {
            handle.block_on(staging.put(
                &layout::report_input_key(target.date, &target.brand_id),
                bytes,
            ))?;
            stale.extend(ctx.published.statement_markers(target).map(str::to_string));
            found.changed.push(target.clone());
        } else {
            found.unchanged += 1;
        }
    }
    if !stale.is_empty() {
        handle.block_on(staging.delete_all(stale))?;
    }
    Ok(())
}

/// A brand's to-date input: its campaigns in scope on `to`, their RED figures, and its lines
/// of every date from the first start.
fn to_date_input(
    ctx: &Building<'_, '_>,
    brand: &str,
    lines: Option<&Vec<(NaiveDate, &[AttributedLine])>>,
) -> to_date::ToDateInput {
    let name = ctx.catalog.brand(brand).map_or("", |b| b.name.as_str());
    let scope = to_date::scope(ctx.catalog.campaigns_of(brand), brand, ctx.to);
    let campaigns = scope
        .iter()
        .map(|c| campaign_info(ctx.catalog, c))
        .collect();
    let mut b = to_date::Builder::new(brand, name, ctx.to, campaigns);
    for c in scope {
        for n in &c.notes {
            for d in ctx.red.latest.dates_of(&n.note_id) {
                if let Some((_, f)) = ctx.red.latest.get(&n.note_id, d, ctx.to) {
                    b.add_red(d, &c.campaign_id, f);
                }
            }
        }
    }
    for (d, lines) in lines.into_iter().flatten() {
        for l in *lines {
            let etag = if b.lacks_export(&l.source_key) {
                ctx.etags.get(&l.source_key).map_or("", String::as_str)
            } else {
                ""
            };
            b.add_line(*d, l, etag);
        }
    }
    b.finish()
}

/// A statement's RED figures into its input: the campaigns they belong to and the exports they
/// come from are named beside the lines'.
fn add_red(
    input: &mut seedline_core::attribution::ReportInput,
    red: Vec<NoteRed>,
    catalog: &Catalog,
    etags: &HashMap<String, String>,
) {
    for r in &red {
        if !input
            .campaigns
            .iter()
            .any(|c| c.campaign_id == r.campaign_id)
        {
            // The note's owner is the figures' campaign (red_of_statements): found by index.
            if let Some(c) = catalog.note_owner(&r.note_id) {
                input.campaigns.push(campaign_info(catalog, c));
            }
        }
        if !input.exports.iter().any(|e| e.key == r.source) {
            input.exports.push(seedline_core::attribution::ExportRef {
                key: r.source.clone(),
                etag: etags.get(&r.source).cloned().unwrap_or_default(),
            });
        }
    }
    input
        .campaigns
        .sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
    input.exports.sort_by(|a, b| a.key.cmp(&b.key));
    input.red = red;
}

/// One bucket's lines of every spill, of the brands and dates `wanted`.
fn load_bucket(
    spills: &[Spill],
    bucket: usize,
    wanted: impl Fn(&str, NaiveDate) -> bool,
) -> Result<KeptLines, StepError> {
    let mut kept = KeptLines::new();
    for s in spills {
        for (k, lines) in s.load(bucket, &wanted)? {
            kept.entry(k).or_default().extend(lines);
        }
    }
    Ok(kept)
}
