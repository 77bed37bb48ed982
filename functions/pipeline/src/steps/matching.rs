//! match-orders: the latest state of every staged line, attributed, as report inputs per brand and date.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use seedline_core::attribution::{Attribution, ExportRef, MatchStats};
use seedline_core::campaign::Catalog;
use seedline_core::line::{read_staged_rows, Marketplace, OrderLine, StagedReadError};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

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

struct Changed {
    target: BrandDate,
    bytes: Vec<u8>,
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
        .list(layout::LINES_PREFIX)
        .await?
        .iter()
        .filter_map(|o| ExportKey::from_lines_key(&o.key))
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
    let (changed, stats) =
        tokio::task::spawn_blocking(move || plan.attribute(&handle, staging, &files, &catalog))
            .await??;

    for c in &changed {
        stores
            .staging
            .put(
                &layout::report_input_key(c.target.date, &c.target.brand_id),
                c.bytes.clone(),
            )
            .await?;
    }
    let outcome = MatchOutcome {
        date,
        from,
        to,
        changed: changed.into_iter().map(|c| c.target).collect(),
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

/// The latest state of a line, kept small when it cannot be credited: most lines came through no
/// link, and only their key is needed (a later appearance with a token must still override them).
enum Latest {
    NotPaid,
    NoToken,
    Candidate(Box<OrderLine>, usize),
}

/// A line's identity, (marketplace, line_id), as the first 128 bits of its SHA-256: 16 bytes per
/// line held instead of a string, and no crafted line id can make two lines one.
type LineKey = u128;

fn line_key(m: Marketplace, line_id: &[u8]) -> LineKey {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([m as u8]);
    h.update(line_id);
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    u128::from_le_bytes(k)
}

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

type State = HashMap<LineKey, Latest, std::hash::BuildHasherDefault<KeyHasher>>;

/// Reads one staged file into the latest state. Parsing, hashing keys and decoding creditable
/// lines run on a thread of their own; this one only applies the rows, in file order.
fn read_into<R: std::io::BufRead + Send>(
    reader: R,
    idx: usize,
    state: &mut State,
) -> Result<seedline_core::line::StagedSource, StagedReadError> {
    const BATCH: usize = 4096;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(LineKey, Latest)>>(4);
        let parser = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let src = read_staged_rows(reader, |row| {
                let key = line_key(row.marketplace()?, row.line_id());
                let latest = if !row.is_paid() {
                    Latest::NotPaid
                } else if !row.has_token() {
                    Latest::NoToken
                } else {
                    Latest::Candidate(Box::new(row.line()?), idx)
                };
                batch.push((key, latest));
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // A send fails only when this side stopped, which it does not before the end.
                    let _ = tx.send(full);
                }
                Ok(())
            })?;
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            Ok(src)
        });
        for batch in rx {
            for (key, latest) in batch {
                state.insert(key, latest);
            }
        }
        parser
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

struct Plan {
    from: NaiveDate,
    to: NaiveDate,
    lookback: Duration,
    run_dates: BTreeSet<NaiveDate>,
    published: HashMap<BrandDate, Vec<String>>,
}

impl Plan {
    /// Reads the staged files in latest-state order and attributes each report date once the exports
    /// it may see (dated up to X + lookback) are all applied.
    fn attribute(
        &self,
        handle: &Handle,
        staging: Arc<dyn ObjectStore>,
        files: &[ExportKey],
        catalog: &Catalog,
    ) -> Result<(Vec<Changed>, MatchStats), StepError> {
        let mut state: State = State::default();
        let mut sources: Vec<ExportRef> = Vec::new();
        let mut targets: Vec<NaiveDate> = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            targets.push(d);
            d += Duration::days(1);
        }
        let mut next = 0;
        let mut changed = Vec::new();
        let mut stats = MatchStats::default();
        for ek in files {
            let cut = targets[next..]
                .iter()
                .take_while(|x| **x + self.lookback < ek.date)
                .count();
            if cut > 0 {
                stats = self.evaluate(
                    &targets[next..next + cut],
                    &state,
                    &sources,
                    catalog,
                    &mut changed,
                );
                next += cut;
            }
            let key = ek.lines_key();
            let Some(obj) = handle.block_on(staging.get(&key))? else {
                return Err(StoreError::Invalid(format!(
                    "staged lines {key} vanished while matching"
                ))
                .into());
            };
            let reader = crate::store::blocking_reader(obj.body, handle.clone());
            let idx = sources.len();
            let src = read_into(reader, idx, &mut state)
                .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
            sources.push(ExportRef {
                key: src.export_key,
                etag: src.etag,
            });
        }
        if next < targets.len() {
            stats = self.evaluate(&targets[next..], &state, &sources, catalog, &mut changed);
        }
        Ok((changed, stats))
    }

    fn evaluate(
        &self,
        dates: &[NaiveDate],
        state: &State,
        sources: &[ExportRef],
        catalog: &Catalog,
        changed: &mut Vec<Changed>,
    ) -> MatchStats {
        let mut a = Attribution::new(catalog, dates.iter().copied());
        for latest in state.values() {
            match latest {
                Latest::Candidate(line, idx) => a.add(line, &sources[*idx]),
                Latest::NotPaid => {
                    a.stats.lines += 1;
                    a.stats.not_paid += 1;
                }
                Latest::NoToken => {
                    a.stats.lines += 1;
                    a.stats.no_token += 1;
                }
            }
        }
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
            for brand in brands {
                let input = a.report_input(&brand, x);
                let Ok(bytes) = serde_json::to_vec(&input) else {
                    continue;
                };
                let sha = sha256_hex(&bytes);
                let target = BrandDate {
                    brand_id: brand,
                    date: x,
                };
                let current = self
                    .published
                    .get(&target)
                    .is_some_and(|m| m.len() == 1 && m[0] == sha);
                if !current {
                    changed.push(Changed { target, bytes });
                }
            }
        }
        a.stats.clone()
    }
}
