//! match-orders: the latest state of every staged line, attributed, as the inputs of statements
//! (per brand and report date) and of to-date reports (per brand).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use seedline_core::attribution::{campaign_info, AttributedLine, Attribution, MatchStats};
use seedline_core::catalog::Catalog;
use seedline_core::funnel::NoteRed;
use seedline_core::line::{decode_staged_into, read_staged_rows, StagedReadError};
use seedline_core::to_date::{self, SCOPE_TAIL_DAYS};
use seedline_core::wire::{put_record, take_record};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::latest::{latest_states, KeyFile, Latest, ROWS_PER_PASS};
use super::spill::{KeptLines, Spill};
pub use super::target::{BrandDate, Target};
use super::{on_every_core, sha256_hex, vanished, StepError};
use crate::config::Stores;
use crate::layout::{self, ExportKey};
use crate::store::{ObjectStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchOutcome {
    pub date: NaiveDate,
    /// The report dates re-attributed.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The newest report date run so far: the to-date reports' `as_of`.
    #[serde(default)]
    pub as_of: Option<NaiveDate>,
    /// Statements whose content changed and need publishing.
    pub changed: Vec<BrandDate>,
    /// Where the same list is staged as a JSON array (for a Step Functions Distributed Map).
    pub changed_key: String,
    /// Brands whose to-date report changed.
    #[serde(default)]
    pub to_date_changed: Vec<String>,
    #[serde(default)]
    pub to_date_changed_key: String,
    pub files_read: usize,
    pub stats: MatchStats,
    /// Stored records this run set aside, each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub set_aside: Vec<String>,
    /// Brands whose reports this run held back (a campaign of theirs was set aside), with why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held: BTreeMap<String, String>,
}

impl MatchOutcome {
    /// The statements to publish, in the order of `changed`.
    pub fn statement_targets(&self) -> Vec<Target> {
        self.changed
            .iter()
            .cloned()
            .map(Target::Statement)
            .collect()
    }

    /// The to-date reports to publish: after the statements they sum.
    pub fn to_date_targets(&self) -> Vec<Target> {
        self.to_date_changed
            .iter()
            .map(|b| Target::ToDate {
                brand_id: b.clone(),
            })
            .collect()
    }
}

/// Attributes the report dates `date - lookback ..= max(date, latest run)` and stages what changed.
///
/// The range reaches past `date` only when a newer day already ran (an old day re-run): then every
/// statement a newer run made is brought up to date too, so days run in any order end in the same
/// reports. Report date X sees the exports dated up to X + lookback, as a run in date order would
/// have; the to-date report sees every export staged.
pub async fn match_orders(
    stores: &Stores,
    date: NaiveDate,
    lookback_days: u32,
) -> Result<MatchOutcome, StepError> {
    let started = std::time::Instant::now();
    let stale = super::stale_exports(stores).await?;
    if let Some(first) = stale.first() {
        return Err(StepError::BadInput(format!(
            "{} export(s) were staged by an earlier seedline ({first}{}): run `seedline restage` once \
             (it stages them again), then match again",
            stale.len(),
            if stale.len() > 1 { ", …" } else { "" }
        )));
    }
    let lookback = Duration::days(i64::from(lookback_days));
    let run_dates: BTreeSet<NaiveDate> = stores
        .staging
        .list(layout::RUNS_PREFIX)
        .await?
        .iter()
        .filter_map(|o| {
            let name = o
                .key
                .strip_prefix(layout::RUNS_PREFIX)?
                .strip_suffix(".json")?;
            seedline_core::time::parse_date(name).ok()
        })
        .chain([date])
        .collect();
    let from = date - lookback;
    let to = run_dates
        .iter()
        .next_back()
        .copied()
        .unwrap_or(date)
        .max(date);
    // The statements' campaigns, and every campaign in scope of the to-date reports on `to`.
    let catalog = stores
        .campaigns
        .load_for_range(from.min(to - Duration::days(SCOPE_TAIL_DAYS)), to)
        .await?;

    for e in catalog.refused() {
        tracing::error!(record = %e.record, field = %e.field, reason = %e.message, "stored record set aside");
    }
    // A held brand's reports would lack a campaign: none are published; every other brand's are.
    let set_aside: Vec<String> = catalog.refused().iter().map(|e| e.to_string()).collect();
    let held = catalog.held().clone();
    for (brand, why) in &held {
        tracing::error!(brand = %brand, reason = %why, "brand's reports held back");
    }
    let red = super::red::load(stores, &catalog, date).await?;
    let mut files: Vec<KeyFile> = stores
        .staging
        .list(layout::KEYS_PREFIX)
        .await?
        .into_iter()
        .filter_map(|o| {
            Some(KeyFile {
                export: ExportKey::from_keys_key(&o.key)?,
                size: o.size,
            })
        })
        .collect();
    // Latest state: later export date first wins, then the key that sorts last (byte order), then the later row.
    files.sort_by_key(|f| (f.export.date, f.export.key()));

    let mut published: HashMap<BrandDate, Vec<String>> = HashMap::new();
    let mut d = from;
    while d <= to {
        let prefix = layout::published_prefix(d);
        for o in stores.staging.list(&prefix).await? {
            if let Some((brand, sha)) = layout::parse_published(&o.key[prefix.len()..]) {
                published
                    .entry(BrandDate {
                        brand_id: brand.to_string(),
                        date: d,
                    })
                    .or_default()
                    .push(sha.to_string());
            }
        }
        d += Duration::days(1);
    }
    let mut to_date_published: HashMap<String, Vec<String>> = HashMap::new();
    for o in stores
        .staging
        .list(layout::TO_DATE_PUBLISHED_PREFIX)
        .await?
    {
        let rest = &o.key[layout::TO_DATE_PUBLISHED_PREFIX.len()..];
        if let Some((brand, sha)) = layout::parse_published(rest) {
            to_date_published
                .entry(brand.to_string())
                .or_default()
                .push(sha.to_string());
        }
    }
    let files_read = files.len();
    tracing::info!(
        campaigns = catalog.campaigns().len(),
        files = files_read,
        published = published.len(),
        planned_ms = started.elapsed().as_millis() as u64,
        "match planned"
    );
    let staging = stores.staging.clone();
    let handle = Handle::current();
    let plan = Plan {
        from,
        to,
        lookback,
        run_dates,
        published,
        to_date_published,
        red,
    };
    let mut found =
        tokio::task::spawn_blocking(move || plan.attribute(&handle, staging, &files, &catalog))
            .await??;
    found.changed.retain(|t| !held.contains_key(&t.brand_id));
    found.to_date_changed.retain(|b| !held.contains_key(b));
    found
        .changed
        .sort_by(|a, b| (a.date, &a.brand_id).cmp(&(b.date, &b.brand_id)));
    found.to_date_changed.sort();
    let outcome = MatchOutcome {
        date,
        from,
        to,
        as_of: Some(to),
        changed: found.changed,
        changed_key: layout::changed_list_key(date),
        to_date_changed: found.to_date_changed,
        to_date_changed_key: layout::to_date_changed_list_key(date),
        files_read,
        stats: found.stats,
        set_aside,
        held,
    };
    tracing::info!(
        run_date = %date,
        from = %from,
        to = %to,
        files_read,
        lines = outcome.stats.lines,
        credited = outcome.stats.credited,
        excluded = ?outcome.stats.excluded,
        changed = outcome.changed.len(),
        to_date_changed = outcome.to_date_changed.len(),
        unchanged_inputs = found.unchanged,
        "attributed"
    );
    // The lists the state machine's publish maps read (bare JSON arrays of publish targets), then
    // the record.
    for (key, list) in [
        (&outcome.changed_key, outcome.statement_targets()),
        (&outcome.to_date_changed_key, outcome.to_date_targets()),
    ] {
        let bytes = serde_json::to_vec(&list).map_err(|e| StepError::BadInput(e.to_string()))?;
        stores.staging.put(key, bytes).await?;
    }
    let record =
        serde_json::to_vec_pretty(&outcome).map_err(|e| StepError::BadInput(e.to_string()))?;
    stores
        .staging
        .put(&layout::match_record_key(date), record)
        .await?;
    stores
        .staging
        .put(&layout::run_key(date), b"{}".to_vec())
        .await?;
    Ok(outcome)
}

struct Plan {
    from: NaiveDate,
    to: NaiveDate,
    lookback: Duration,
    run_dates: BTreeSet<NaiveDate>,
    /// The published markers: the SHA-256 of the input each statement was last published from.
    published: HashMap<BrandDate, Vec<String>>,
    to_date_published: HashMap<String, Vec<String>>,
    red: super::red::RedFigures,
}

#[derive(Default)]
struct Found {
    changed: Vec<BrandDate>,
    to_date_changed: Vec<String>,
    /// Reports whose input is the one already published (the published markers' saving).
    unchanged: u64,
    stats: MatchStats,
}

/// What one evaluation builds from its spills, shared by the workers.
struct Building<'a, 'c> {
    a: &'a Attribution<'c>,
    spills: &'a [Spill],
    targets: &'a [BrandDate],
    catalog: &'c Catalog,
    /// Brands whose to-date report this evaluation builds, with the first date it counts.
    to_date: &'a HashMap<String, NaiveDate>,
    etags: &'a HashMap<String, String>,
    /// The RED figures of each statement, as of the exports its date sees.
    red_stmt: &'a HashMap<BrandDate, Vec<NoteRed>>,
    red: &'a super::red::RedFigures,
}

/// Whether the input with this SHA-256 is the one published (and the only marker: two mean a
/// publish was interrupted, and the report is built again).
fn is_published(markers: Option<&Vec<String>>, sha: &str) -> bool {
    markers.is_some_and(|m| m.len() == 1 && m[0] == sha)
}

impl Plan {
    /// The RED figures of every statement of `dates`: a note's latest figures of date X, as of the
    /// exports dated up to X + lookback, under the brand of the campaign that lists the note.
    fn red_of_statements(
        &self,
        dates: &[NaiveDate],
        catalog: &Catalog,
    ) -> HashMap<BrandDate, Vec<NoteRed>> {
        let mut out: HashMap<BrandDate, Vec<NoteRed>> = HashMap::new();
        for &x in dates {
            for note in self.red.latest.notes_on(x) {
                let (Some(c), Some((source, figures))) = (
                    catalog.note_owner(note),
                    self.red.latest.get(note, x, x + self.lookback),
                ) else {
                    continue;
                };
                out.entry(BrandDate {
                    brand_id: c.brand_id.clone(),
                    date: x,
                })
                .or_default()
                .push(NoteRed {
                    campaign_id: c.campaign_id.clone(),
                    note_id: note.to_string(),
                    figures: *figures,
                    source: source.to_string(),
                });
            }
        }
        for v in out.values_mut() {
            v.sort_by(|a, b| (&a.campaign_id, &a.note_id).cmp(&(&b.campaign_id, &b.note_id)));
        }
        out
    }

    /// Whenever the next file is dated past X + lookback, report date X is attributed before it
    /// (with the latest states of the files before it), so that it sees the exports a run in date
    /// order would have. The to-date reports are built by the evaluation over the files dated up to
    /// `as_of`: one dated later (staged by a run that died before it recorded its date) is not yet
    /// part of them.
    fn attribute(
        &self,
        handle: &Handle,
        staging: Arc<dyn ObjectStore>,
        files: &[KeyFile],
        catalog: &Catalog,
    ) -> Result<Found, StepError> {
        let mut targets: Vec<NaiveDate> = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            targets.push(d);
            d += Duration::days(1);
        }
        let mut next = 0;
        let mut found = Found::default();
        let to_date_at = files.partition_point(|f| f.export.date <= self.to);
        for i in 0..=files.len() {
            let last = i == files.len();
            let with_to_date = i == to_date_at;
            let cut = match files.get(i) {
                Some(f) => targets[next..]
                    .iter()
                    .take_while(|x| **x + self.lookback < f.export.date)
                    .count(),
                None => targets.len() - next,
            };
            if cut == 0 && !last && !with_to_date {
                continue;
            }
            let latest = latest_states(handle, &staging, &files[..i], ROWS_PER_PASS)?;
            let mut stats = self.evaluate(
                handle,
                &staging,
                &targets[next..next + cut],
                &latest,
                catalog,
                with_to_date,
                &mut found,
            )?;
            stats.no_token = latest.no_token;
            stats.unknown_note = self.red.unknown_note;
            found.stats = stats;
            next += cut;
        }
        Ok(found)
    }

    /// Pass two: decides the rows that are a latest state, spills the credited lines of the dates
    /// needed to disk by brand, then stages the input of every statement of `dates` (and, when
    /// `with_to_date`, every to-date report) whose content changed, one spill bucket at a time.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        dates: &[NaiveDate],
        latest: &Latest,
        catalog: &Catalog,
        with_to_date: bool,
        found: &mut Found,
    ) -> Result<MatchStats, StepError> {
        let started = std::time::Instant::now();
        let mut to_date: HashMap<String, NaiveDate> = HashMap::new();
        if with_to_date {
            for brand in to_date::brands_in_scope(catalog.campaigns(), self.to) {
                if catalog.brand(brand).is_none() {
                    continue;
                }
                let first = to_date::scope(catalog.campaigns_of(brand), brand, self.to)
                    .iter()
                    .map(|c| c.start)
                    .min();
                if let Some(first) = first {
                    to_date.insert(brand.to_string(), first);
                }
            }
        }
        let mut kept: BTreeSet<NaiveDate> = dates.iter().copied().collect();
        if let Some(first) = to_date.values().min().copied() {
            let mut d = first;
            while d <= self.to {
                kept.insert(d);
                d += Duration::days(1);
            }
        }
        let kept: Vec<NaiveDate> = kept.into_iter().collect();
        let red_stmt = self.red_of_statements(dates, catalog);
        let (a, spills) = decide(handle, staging, &kept, latest, catalog)?;
        let decided = started.elapsed();
        let mut targets: Vec<BrandDate> = Vec::new();
        for &x in dates {
            let mut brands: BTreeSet<String> = a.brands_with_lines(x).map(String::from).collect();
            // RED figures on the date make a statement too (reports.md).
            brands.extend(
                red_stmt
                    .keys()
                    .filter(|bd| bd.date == x)
                    .map(|bd| bd.brand_id.clone()),
            );
            if self.run_dates.contains(&x) {
                // A daily run publishes every brand with a live campaign, quiet days included.
                brands.extend(
                    catalog
                        .campaigns()
                        .iter()
                        .filter(|c| c.live_on(x))
                        .map(|c| c.brand_id.clone()),
                );
            }
            // A statement published before is brought up to date, even when its lines are gone.
            brands.extend(
                self.published
                    .keys()
                    .filter(|bd| bd.date == x && catalog.brand(&bd.brand_id).is_some())
                    .map(|bd| bd.brand_id.clone()),
            );
            targets.extend(
                brands
                    .into_iter()
                    .map(|brand_id| BrandDate { brand_id, date: x }),
            );
        }
        let etags: HashMap<String, String> = latest
            .staged
            .iter()
            .map(|s| (s.source.key.clone(), s.source.etag.clone()))
            .collect();
        let ctx = Building {
            a: &a,
            spills: &spills,
            targets: &targets,
            catalog,
            to_date: &to_date,
            etags: &etags,
            red_stmt: &red_stmt,
            red: &self.red,
        };
        // Buckets are independent: shared out over the cores (each input is serialised, hashed and written).
        for mine in on_every_core(Spill::BUCKETS, Found::default, |mine, bucket| {
            self.inputs_of_bucket(handle, staging, &ctx, bucket, mine)
        })? {
            found.changed.extend(mine.changed);
            found.to_date_changed.extend(mine.to_date_changed);
            found.unchanged += mine.unchanged;
        }
        tracing::info!(
            from = %dates.first().unwrap_or(&self.to),
            to = %dates.last().unwrap_or(&self.to),
            decide_ms = decided.as_millis() as u64,
            inputs_ms = (started.elapsed() - decided).as_millis() as u64,
            credited = a.stats.credited,
            statements = targets.len(),
            to_date = to_date.len(),
            "report dates attributed"
        );
        Ok(a.stats.clone())
    }

    /// Stages the input of each statement and to-date report of one spill bucket whose content changed.
    fn inputs_of_bucket(
        &self,
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
        let to_dates: Vec<(&String, &NaiveDate)> = ctx
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
        // To-date reports first, reading the lines; the statements then take them.
        let mut of_brand: HashMap<&str, Vec<(NaiveDate, &[AttributedLine])>> = HashMap::new();
        for ((b, d), lines) in &kept {
            of_brand.entry(b.as_str()).or_default().push((*d, lines));
        }
        for (brand, _) in to_dates {
            let input = self.to_date_input(ctx, brand, of_brand.get(brand.as_str()));
            let bytes = serde_json::to_vec(&input)
                .map_err(|e| StepError::io("encoding a to-date input", false, e.into()))?;
            if !is_published(self.to_date_published.get(brand), &sha256_hex(&bytes)) {
                handle.block_on(staging.put(&layout::to_date_input_key(brand), bytes))?;
                found.to_date_changed.push(brand.clone());
            } else {
                found.unchanged += 1;
            }
        }
        drop(of_brand);
        for target in mine {
            let lines = kept
                .remove(&(target.brand_id.clone(), target.date))
                .unwrap_or_default();
            let mut input = ctx
                .a
                .report_input_from(&target.brand_id, target.date, lines);
            if let Some(red) = ctx.red_stmt.get(target) {
                add_red(&mut input, red.clone(), ctx.catalog, &ctx.red.etags);
            }
            let bytes = seedline_core::attribution::codec::encode_input(&input)
                .map_err(|e| StepError::io("encoding a report input", false, e.into()))?;
            if !is_published(self.published.get(target), &sha256_hex(&bytes)) {
                handle.block_on(staging.put(
                    &layout::report_input_key(target.date, &target.brand_id),
                    bytes,
                ))?;
                found.changed.push(target.clone());
            } else {
                found.unchanged += 1;
            }
        }
        Ok(())
    }

    /// A brand's to-date input: its campaigns in scope on `to`, their RED figures, and its lines
    /// of every date from the first start.
    fn to_date_input(
        &self,
        ctx: &Building<'_, '_>,
        brand: &str,
        lines: Option<&Vec<(NaiveDate, &[AttributedLine])>>,
    ) -> to_date::ToDateInput {
        let name = ctx.catalog.brand(brand).map_or("", |b| b.name.as_str());
        let scope = to_date::scope(ctx.catalog.campaigns_of(brand), brand, self.to);
        let campaigns = scope
            .iter()
            .map(|c| campaign_info(ctx.catalog, c))
            .collect();
        let mut b = to_date::Builder::new(brand, name, self.to, campaigns);
        for c in scope {
            for n in &c.notes {
                for d in ctx.red.latest.dates_of(&n.note_id) {
                    if let Some((_, f)) = ctx.red.latest.get(&n.note_id, d, self.to) {
                        b.add_red(d, &c.campaign_id, f);
                    }
                }
            }
        }
        for (d, lines) in lines.into_iter().flatten() {
            for l in *lines {
                let etag = ctx.etags.get(&l.source_key).map_or("", String::as_str);
                b.add_line(*d, l, etag);
            }
        }
        b.finish()
    }
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

/// Pass two's deciding: the rows that are a latest state are read on this thread and handed in
/// batches to a worker per core, each deciding with an attribution of its own and writing the
/// credited lines of `dates` to its spill. Returns the workers' attributions merged, and the spills.
fn decide<'c>(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    dates: &[NaiveDate],
    latest: &Latest,
    catalog: &'c Catalog,
) -> Result<(Attribution<'c>, Vec<Spill>), StepError> {
    /// Length-prefixed line records of one file.
    struct Batch {
        file: usize,
        records: Vec<u8>,
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut spills = (0..workers)
        .map(|_| Spill::new())
        .collect::<Result<Vec<_>, _>>()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(workers * 2);
    // Shared by the workers and dropped with the last of them, so that the reader is never left
    // waiting on workers that stopped.
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let merged = std::thread::scope(|scope| {
        let handles: Vec<_> = spills
            .iter_mut()
            .map(|spill| {
                let rx = Arc::clone(&rx);
                scope.spawn(move || -> Result<Attribution<'c>, StepError> {
                    let mut a = Attribution::new(catalog, dates.iter().copied());
                    let mut line = seedline_core::line::OrderLine::blank(
                        seedline_core::line::Marketplace::Taobao,
                    );
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(batch) = next else { break };
                        let s = &latest.staged[batch.file];
                        let mut rest = &batch.records[..];
                        while let Some(body) = take_record(&mut rest) {
                            decode_staged_into(body, &mut line).map_err(|e| {
                                StoreError::Invalid(format!("{}: {e}", s.export.lines_key()))
                            })?;
                            if let Some(k) = a.decide(&line, &s.source) {
                                spill
                                    .write(&k)
                                    .map_err(|e| StepError::io("writing spill files", true, e))?;
                            }
                        }
                    }
                    spill.finish()?;
                    Ok(a)
                })
            })
            .collect();
        drop(rx);
        let read = read_wanted_rows(handle, staging, latest, |file, records| {
            tx.send(Batch { file, records }).is_ok()
        });
        drop(tx);
        let mut merged: Option<Attribution<'c>> = None;
        let mut failed = None;
        for h in handles {
            match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                Ok(a) => match &mut merged {
                    Some(m) => m.merge(a),
                    None => merged = Some(a),
                },
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        // A worker's error explains a reader that stopped sending.
        if let Some(e) = failed {
            return Err(e);
        }
        read?;
        Ok(merged.unwrap_or_else(|| Attribution::new(catalog, dates.iter().copied())))
    })?;
    Ok((merged, spills))
}

/// Reads every staged line file with a latest state in it and hands its wanted rows to `send` in
/// batches of length-prefixed records; stops when `send` says no one listens.
fn read_wanted_rows(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    latest: &Latest,
    send: impl Fn(usize, Vec<u8>) -> bool,
) -> Result<(), StepError> {
    const BATCH_BYTES: usize = 256 << 10;
    for (f, s) in latest.staged.iter().enumerate() {
        if latest.wanted[f].iter().all(|w| *w == 0) {
            continue;
        }
        let key = s.export.lines_key();
        let obj = handle
            .block_on(staging.get(&key))?
            .ok_or_else(|| vanished(&key))?;
        let reader = crate::store::blocking_reader(obj.body, handle.clone());
        let mut rows = 0u64;
        let mut records = Vec::with_capacity(BATCH_BYTES + 4096);
        let source = read_staged_rows(reader, |row| {
            rows += 1;
            if latest.is_wanted(f, row.index() as usize) {
                put_record(&mut records, row.body());
                if records.len() >= BATCH_BYTES {
                    let full =
                        std::mem::replace(&mut records, Vec::with_capacity(BATCH_BYTES + 4096));
                    if !send(f, full) {
                        return Err(StagedReadError::Invalid {
                            record: rows,
                            why: "the deciding threads stopped".into(),
                        });
                    }
                }
            }
            Ok(())
        })
        .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
        if !records.is_empty() {
            // A send fails only when every worker stopped; their error is the one told.
            send(f, records);
        }
        if source.etag != s.source.etag || rows != u64::from(s.token_rows) {
            return Err(StoreError::Invalid(format!(
                "{key} does not belong with {} (ingest of {} interrupted?): ingest it again",
                s.export.keys_key(),
                s.source.key
            ))
            .into());
        }
    }
    Ok(())
}
