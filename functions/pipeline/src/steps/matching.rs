//! match-orders: the latest state of every staged line, attributed, as report inputs per brand and date.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use seedline_core::attribution::{Attribution, ExportRef, MatchStats};
use seedline_core::campaign::Catalog;
use seedline_core::line::{read_keys, read_staged_rows, LineKey, OrderLine, StagedReadError};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::spill::Spill;
use super::{sha256_hex, StepError};
use crate::config::Stores;
use crate::layout::{self, ExportKey};
use crate::store::{ObjectStore, StoreError};

/// One brand's report for one date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BrandDate {
    pub brand_id: String,
    pub date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchOutcome {
    pub date: NaiveDate,
    /// The report dates re-attributed.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Reports whose content changed and need publishing.
    pub changed: Vec<BrandDate>,
    /// Where the same list is staged as a JSON array (for a Step Functions Distributed Map).
    pub changed_key: String,
    pub files_read: usize,
    pub stats: MatchStats,
}

/// Attributes the report dates `date - lookback ..= max(date, latest run)` and stages what changed.
///
/// The range reaches past `date` only when a newer day already ran (an old day re-run): then every
/// report a newer run made is brought up to date too, so days run in any order end in the same reports.
/// Report date X sees the exports dated up to X + lookback, as a run in date order would have.
pub async fn match_orders(
    stores: &Stores,
    date: NaiveDate,
    lookback_days: u32,
) -> Result<MatchOutcome, StepError> {
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
    let catalog = stores.campaigns.load_for_range(from, to).await?;

    let mut files: Vec<ExportKey> = stores
        .staging
        .list(layout::KEYS_PREFIX)
        .await?
        .iter()
        .filter_map(|o| ExportKey::from_keys_key(&o.key))
        .collect();
    // Latest state: later export date first wins, then the key that sorts last (byte order), then the later row.
    files.sort_by_key(|k| (k.date, k.key()));

    let mut published: HashMap<BrandDate, Vec<String>> = HashMap::new();
    let mut d = from;
    while d <= to {
        let prefix = layout::published_prefix(d);
        for o in stores.staging.list(&prefix).await? {
            if let Some((brand, sha)) = o.key[prefix.len()..].split_once('/') {
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

    let files_read = files.len();
    let staging = stores.staging.clone();
    let handle = Handle::current();
    let plan = Plan {
        from,
        to,
        lookback,
        run_dates,
        published,
    };
    let (mut changed, stats) =
        tokio::task::spawn_blocking(move || plan.attribute(&handle, staging, &files, &catalog))
            .await??;
    changed.sort_by(|a, b| (a.date, &a.brand_id).cmp(&(b.date, &b.brand_id)));
    let outcome = MatchOutcome {
        date,
        from,
        to,
        changed,
        changed_key: layout::changed_list_key(date),
        files_read,
        stats,
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
        "attributed"
    );
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

/// Where a line's latest state is: the file (its index in latest-state order) in the high 32 bits,
/// its row in that file's line file in the low 32.
type Position = u64;

/// The key is already a uniform hash: use its low bits as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, k: u128) {
        self.0 = k as u64;
    }
}

/// The latest state of every line that can be credited, as a position: 24 bytes a line, and only
/// lines whose latest appearance carries a token are held.
type State = HashMap<LineKey, Position, std::hash::BuildHasherDefault<KeyHasher>>;

/// What pass one learnt of a staged export.
struct Staged {
    export: ExportKey,
    source: ExportRef,
    /// Rows in its line file (rows with a token).
    token_rows: u32,
}

struct Plan {
    from: NaiveDate,
    to: NaiveDate,
    lookback: Duration,
    run_dates: BTreeSet<NaiveDate>,
    published: HashMap<BrandDate, Vec<String>>,
}

impl Plan {
    /// Pass one reads the key files in latest-state order into the latest state; whenever the next
    /// file is dated past X + lookback, report date X is attributed first (pass two), so that it
    /// sees the exports a run in date order would have.
    fn attribute(
        &self,
        handle: &Handle,
        staging: Arc<dyn ObjectStore>,
        files: &[ExportKey],
        catalog: &Catalog,
    ) -> Result<(Vec<BrandDate>, MatchStats), StepError> {
        let mut state = State::default();
        let mut staged: Vec<Staged> = Vec::with_capacity(files.len());
        let mut targets: Vec<NaiveDate> = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            targets.push(d);
            d += Duration::days(1);
        }
        let mut next = 0;
        let mut changed = Vec::new();
        let mut stats = MatchStats::default();
        let mut no_token = 0u64;
        let started = std::time::Instant::now();
        for ek in files {
            let cut = targets[next..]
                .iter()
                .take_while(|x| **x + self.lookback < ek.date)
                .count();
            if cut > 0 {
                stats = self.evaluate(
                    handle,
                    &staging,
                    &targets[next..next + cut],
                    &state,
                    &staged,
                    catalog,
                    &mut changed,
                )?;
                next += cut;
            }
            let key = ek.keys_key();
            let obj = handle
                .block_on(staging.get(&key))?
                .ok_or_else(|| vanished(&key))?;
            let reader = crate::store::blocking_reader(obj.body, handle.clone());
            let file = u64::try_from(staged.len()).unwrap_or(u64::MAX) << 32;
            let mut row: u32 = 0;
            let source = read_keys(reader, |r| {
                if r.token {
                    state.insert(r.key, file | u64::from(row));
                    row += 1;
                } else {
                    state.remove(&r.key);
                    no_token += 1;
                }
            })
            .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
            staged.push(Staged {
                export: ek.clone(),
                source: ExportRef {
                    key: source.export_key,
                    etag: source.etag,
                },
                token_rows: row,
            });
        }
        tracing::info!(
            files = staged.len(),
            latest_with_token = state.len(),
            keys_ms = started.elapsed().as_millis() as u64,
            "latest states found"
        );
        if next < targets.len() {
            stats = self.evaluate(
                handle,
                &staging,
                &targets[next..],
                &state,
                &staged,
                catalog,
                &mut changed,
            )?;
        }
        stats.no_token = no_token;
        Ok((changed, stats))
    }

    /// Pass two: decodes the rows that are a latest state, attributes them, spills the credited
    /// lines of `dates` to disk by brand, then stages the report input of every brand and date
    /// whose content changed, one spill bucket at a time.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        dates: &[NaiveDate],
        state: &State,
        staged: &[Staged],
        catalog: &Catalog,
        changed: &mut Vec<BrandDate>,
    ) -> Result<MatchStats, StepError> {
        let mut wanted: Vec<Vec<u64>> = staged
            .iter()
            .map(|s| vec![0u64; (s.token_rows as usize).div_ceil(64)])
            .collect();
        for pos in state.values() {
            let (file, row) = ((pos >> 32) as usize, (pos & 0xffff_ffff) as usize);
            wanted[file][row / 64] |= 1 << (row % 64);
        }
        let started = std::time::Instant::now();
        let mut a = Attribution::new(catalog, dates.iter().copied());
        let mut spill = Spill::new()?;
        for (s, bits) in staged.iter().zip(&wanted) {
            if bits.iter().all(|w| *w == 0) {
                continue;
            }
            let key = s.export.lines_key();
            let obj = handle
                .block_on(staging.get(&key))?
                .ok_or_else(|| vanished(&key))?;
            let reader = crate::store::blocking_reader(obj.body, handle.clone());
            let (source, rows) = decode_wanted(reader, bits, |line| {
                if let Some(k) = a.decide(line, &s.source) {
                    spill.write(&k)?;
                }
                Ok(())
            })
            .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
            if source.etag != s.source.etag || rows != u64::from(s.token_rows) {
                return Err(StoreError::Invalid(format!(
                    "{key} does not belong with {} (ingest of {} interrupted?): ingest it again",
                    s.export.keys_key(),
                    s.source.key
                ))
                .into());
            }
        }

        let decided = started.elapsed();
        let mut targets: Vec<BrandDate> = Vec::new();
        for &x in dates {
            let mut brands: BTreeSet<String> = a.brands_with_lines(x).map(String::from).collect();
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
        spill.finish()?;
        for bucket in 0..Spill::BUCKETS {
            let kept = spill.load(bucket)?;
            for target in targets
                .iter()
                .filter(|t| Spill::bucket(&t.brand_id) == bucket)
            {
                let key = (target.brand_id.clone(), target.date);
                let lines = kept.get(&key).cloned().unwrap_or_default();
                let previous = target
                    .date
                    .pred_opt()
                    .and_then(|p| kept.get(&(target.brand_id.clone(), p)))
                    .map(Vec::as_slice);
                let input = a.report_input_from(&target.brand_id, target.date, lines, previous);
                let bytes = serde_json::to_vec(&input)
                    .map_err(|e| StepError::io("encoding a report input", false, e.into()))?;
                let sha = sha256_hex(&bytes);
                let current = self
                    .published
                    .get(target)
                    .is_some_and(|m| m.len() == 1 && m[0] == sha);
                if !current {
                    handle.block_on(staging.put(
                        &layout::report_input_key(target.date, &target.brand_id),
                        bytes,
                    ))?;
                    changed.push(target.clone());
                }
            }
        }
        tracing::info!(
            from = %dates[0],
            to = %dates[dates.len() - 1],
            decide_ms = decided.as_millis() as u64,
            inputs_ms = (started.elapsed() - decided).as_millis() as u64,
            credited = a.stats.credited,
            "report dates attributed"
        );
        Ok(a.stats.clone())
    }
}

/// Reads a line file, decoding the rows whose bit is set in `wanted` on a thread of its own and
/// handing them to `each` on this one, in file order. Returns the file's source and its row count.
fn decode_wanted<R: std::io::BufRead + Send>(
    reader: R,
    wanted: &[u64],
    mut each: impl FnMut(OrderLine) -> Result<(), StagedReadError>,
) -> Result<(seedline_core::line::StagedSource, u64), StagedReadError> {
    const BATCH: usize = 1024;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<OrderLine>>(4);
        let parser = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut rows = 0u64;
            let src = read_staged_rows(reader, |row| {
                rows += 1;
                let i = row.index() as usize;
                if wanted.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0) {
                    batch.push(row.line()?);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        // Fails only when the receiving side stopped on an error of its own.
                        if tx.send(full).is_err() {
                            return Err(StagedReadError::Invalid {
                                record: rows,
                                why: "stopped".into(),
                            });
                        }
                    }
                }
                Ok(())
            });
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            src.map(|src| (src, rows))
        });
        let mut failed = None;
        for batch in rx {
            for line in batch {
                if let Err(e) = each(line) {
                    failed = Some(e);
                    break;
                }
            }
            if failed.is_some() {
                break;
            }
        }
        let parsed = parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match failed {
            Some(e) => Err(e),
            None => parsed,
        }
    })
}

fn vanished(key: &str) -> StepError {
    StoreError::Invalid(format!("staged file {key} vanished while matching")).into()
}
