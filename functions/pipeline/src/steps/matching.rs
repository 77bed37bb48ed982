//! match-orders: the latest state of every staged line, attributed, as the inputs of statements
//! (per brand and report date) and of to-date reports (per brand).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use seedline_core::attribution::{Attribution, MatchStats};
use seedline_core::catalog::Catalog;
use seedline_core::funnel::NoteRed;
use seedline_core::to_date;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::cache::Published;
use super::decide::{decide, View};
use super::inputs::{self, Building, Found};
use super::latest::{latest_states, KeyFile, Latest, ROWS_PER_PASS};
use super::spill::Spill;
pub use super::target::{BrandDate, Target};
use super::{on_every_core, StepError};
use crate::config::Stores;
use crate::layout::{self, ExportKey};
use crate::store::ObjectStore;
use seedline_core::ids::BrandId;

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
    pub to_date_changed: Vec<BrandId>,
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
    let catalog = stores.campaigns.load_catalog().await?;

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

    let brands: Vec<&BrandId> = catalog.brand_ids().collect();
    let published = Published::load(stores, from, to, &brands).await?;
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
        red,
    };
    let mut found =
        tokio::task::spawn_blocking(move || plan.attribute(&handle, staging, &files, &catalog))
            .await??;
    found
        .changed
        .retain(|t| !held.contains_key(t.brand_id.as_str()));
    found
        .to_date_changed
        .retain(|b| !held.contains_key(b.as_str()));
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

/// Cuts evaluated together share one read of the files, and each holds the latest states of the
/// files it sees, a bit per row: a group of them holds at most this many bytes of those.
const CUT_BITMAPS_BYTES: u64 = 64 << 20;

/// The cuts at `ats` (ascending) in groups, in order, each group's bitmaps within `budget` bytes
/// (a cut on its own may be over it); `records_before[i]` is the rows of the first `i` files.
fn cut_groups(ats: &[usize], records_before: &[u64], budget: u64) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, at) in ats.iter().enumerate() {
        let b = records_before.get(*at).copied().unwrap_or(0).div_ceil(8);
        if i > start && bytes + b > budget {
            groups.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += b;
    }
    groups.push(start..ats.len());
    groups
}

/// One evaluation of report dates: they see the files before `at`; with `with_to_date`, so do the
/// to-date reports it builds.
struct Cut<'t> {
    at: usize,
    dates: &'t [NaiveDate],
    with_to_date: bool,
}

/// What an evaluation keeps lines for: the brands whose to-date report it builds (with the first
/// date each counts) and every report date it needs.
struct Keep {
    to_date: HashMap<BrandId, NaiveDate>,
    dates: Vec<NaiveDate>,
}

struct Plan {
    from: NaiveDate,
    to: NaiveDate,
    lookback: Duration,
    run_dates: BTreeSet<NaiveDate>,
    /// What the cache says was published.
    published: Published,
    red: super::red::RedFigures,
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
                let Some(brand_id) = catalog.brand_id(&c.brand_id).cloned() else {
                    continue;
                };
                out.entry(BrandDate { brand_id, date: x })
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
    /// part of them. The evaluations come from one read of the key files and one of the line files
    /// (or one per group of them, when their bitmaps would hold more than [`CUT_BITMAPS_BYTES`]).
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
        let mut cuts: Vec<Cut<'_>> = Vec::new();
        let mut next = 0;
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
            cuts.push(Cut {
                at: i,
                dates: &targets[next..next + cut],
                with_to_date,
            });
            next += cut;
        }
        let records_before: Vec<u64> = std::iter::once(0)
            .chain(files.iter().scan(0, |n, f| {
                *n += f.records();
                Some(*n)
            }))
            .collect();
        let ats: Vec<usize> = cuts.iter().map(|c| c.at).collect();
        let mut found = Found::default();
        for group in cut_groups(&ats, &records_before, CUT_BITMAPS_BYTES) {
            let last_group = group.end == cuts.len();
            let cuts = &cuts[group.clone()];
            let latests = latest_states(handle, &staging, files, &ats[group], ROWS_PER_PASS)?;
            let keeps: Vec<Keep> = cuts.iter().map(|c| self.keep(c, catalog)).collect();
            let views: Vec<View<'_>> = latests
                .iter()
                .zip(&keeps)
                .map(|(latest, k)| View {
                    latest,
                    dates: &k.dates,
                })
                .collect();
            let started = std::time::Instant::now();
            let decided = decide(handle, &staging, &views, catalog, last_group)?;
            tracing::info!(
                evaluations = cuts.len(),
                decide_ms = started.elapsed().as_millis() as u64,
                "latest states decided"
            );
            for (((cut, latest), keep), (a, spills)) in
                cuts.iter().zip(&latests).zip(&keeps).zip(decided)
            {
                let mut stats = self.evaluate(
                    handle, &staging, cut.dates, latest, catalog, keep, &a, &spills, &mut found,
                )?;
                stats.no_token = latest.no_token;
                stats.unknown_note = self.red.unknown_note;
                found.stats = stats;
            }
        }
        Ok(found)
    }

    /// The brands whose to-date report an evaluation builds, and the report dates it needs.
    fn keep(&self, cut: &Cut<'_>, catalog: &Catalog) -> Keep {
        let mut to_date: HashMap<BrandId, NaiveDate> = HashMap::new();
        if cut.with_to_date {
            for brand in to_date::brands_in_scope(catalog.campaigns(), self.to) {
                let Some(id) = catalog.brand_id(brand).cloned() else {
                    continue;
                };
                let first = to_date::scope(catalog.campaigns_of(brand), brand, self.to)
                    .iter()
                    .map(|c| c.start)
                    .min();
                if let Some(first) = first {
                    to_date.insert(id, first);
                }
            }
        }
        let mut dates: BTreeSet<NaiveDate> = cut.dates.iter().copied().collect();
        if let Some(first) = to_date.values().min().copied() {
            let mut d = first;
            while d <= self.to {
                dates.insert(d);
                d += Duration::days(1);
            }
        }
        Keep {
            to_date,
            dates: dates.into_iter().collect(),
        }
    }

    /// Stages the input of every statement of `dates` (and, with `keep`'s to-date reports, of
    /// those) whose content changed, from what pass two decided and spilled for them, one spill
    /// bucket at a time.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        dates: &[NaiveDate],
        latest: &Latest,
        catalog: &Catalog,
        keep: &Keep,
        a: &Attribution<'_>,
        spills: &[Spill],
        found: &mut Found,
    ) -> Result<MatchStats, StepError> {
        let started = std::time::Instant::now();
        let to_date = &keep.to_date;
        let red_stmt = self.red_of_statements(dates, catalog);
        let mut targets: Vec<BrandDate> = Vec::new();
        for &x in dates {
            let mut brands: BTreeSet<&str> = a.brands_with_lines(x).collect();
            // RED figures on the date make a statement too (reports.md).
            brands.extend(
                red_stmt
                    .keys()
                    .filter(|bd| bd.date == x)
                    .map(|bd| bd.brand_id.as_str()),
            );
            if self.run_dates.contains(&x) {
                // A daily run publishes every brand with a live campaign, quiet days included.
                brands.extend(
                    catalog
                        .campaigns()
                        .iter()
                        .filter(|c| c.live_on(x))
                        .map(|c| c.brand_id.as_str()),
                );
            }
            // A statement published before is brought up to date, even when its lines are gone.
            brands.extend(
                self.published
                    .statements_of(x)
                    .filter(|bd| catalog.brand(&bd.brand_id).is_some())
                    .map(|bd| bd.brand_id.as_str()),
            );
            targets.extend(brands.into_iter().filter_map(|b| {
                Some(BrandDate {
                    brand_id: catalog.brand_id(b)?.clone(),
                    date: x,
                })
            }));
        }
        let etags: HashMap<String, String> = latest
            .staged
            .iter()
            .map(|s| (s.source.key.clone(), s.source.etag.clone()))
            .collect();
        let ctx = Building {
            a,
            spills,
            targets: &targets,
            catalog,
            to_date,
            etags: &etags,
            red_stmt: &red_stmt,
            red: &self.red,
            to: self.to,
            published: &self.published,
        };
        // Buckets are independent: shared out over the cores (each input is serialised, hashed and written).
        for mine in on_every_core(Spill::BUCKETS, Found::default, |mine, bucket| {
            inputs::inputs_of_bucket(handle, staging, &ctx, bucket, mine)
        })? {
            found.changed.extend(mine.changed);
            found.to_date_changed.extend(mine.to_date_changed);
            found.unchanged += mine.unchanged;
        }
        tracing::info!(
            from = %dates.first().unwrap_or(&self.to),
            to = %dates.last().unwrap_or(&self.to),
            inputs_ms = started.elapsed().as_millis() as u64,
            credited = a.stats.credited,
            statements = targets.len(),
            to_date = to_date.len(),
            "report dates attributed"
        );
        Ok(a.stats.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::cut_groups;

    /// Groups follow the cuts in order, cover each once, and keep within the budget unless a cut
    /// alone is over it.
    #[test]
    fn cuts_are_grouped_in_order_within_the_bitmaps_budget() {
        // Files of 80 rows: a cut after n files holds 10·n bytes of bitmaps.
        let before: Vec<u64> = (0..=6).map(|n| n * 80).collect();
        let ats = [1, 2, 3, 6];
        assert_eq!(cut_groups(&ats, &before, u64::MAX), vec![0..4]);
        // 10 + 20 + 30 = 60 fit in 60; 60 alone is a group.
        assert_eq!(cut_groups(&ats, &before, 60), vec![0..3, 3..4]);
        assert_eq!(cut_groups(&ats, &before, 30), vec![0..2, 2..3, 3..4]);
        assert_eq!(cut_groups(&ats, &before, 1), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(cut_groups(&[0], &before, 1), vec![0..1]);
    }
}
