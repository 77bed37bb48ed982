//! match-orders: the latest state of every staged line, attributed, as report inputs per brand and date.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use seedline_core::attribution::codec::{put_date, take_date};
use seedline_core::attribution::{
    Attribution, DayTotals, ExportRef, Fingerprints, LinesDigest, MatchStats,
};
use seedline_core::campaign::Catalog;
use seedline_core::line::{
    decode_staged_into, read_keys, read_staged_rows, StagedReadError, KEY_RECORD_LEN,
};
use seedline_core::wire::{put_record, put_str, take, take_array, take_record, take_str};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::facts::{self, FileFacts};
use super::spill::{self, Spill};
use super::states;
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
    let started = std::time::Instant::now();
    let stale = crate::ops::stale_exports(stores).await?;
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
    let listed = started.elapsed();
    let catalog = stores.campaigns.load_for_range(from, to).await?;
    let loaded = started.elapsed();

    let mut files: Vec<KeyFile> = stores
        .staging
        .list(layout::KEYS_PREFIX)
        .await?
        .into_iter()
        .filter_map(|o| {
            Some(KeyFile {
                export: ExportKey::from_keys_key(&o.key)?,
                size: o.size,
                etag: o.etag,
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

    let known = load_known(stores).await?;
    let files_read = files.len();
    // What comes before any line is read: on a long history, listing markers and reading the
    // digests grow with the number of reports kept, the catalog with the campaigns.
    tracing::info!(
        campaigns = catalog.campaigns().len(),
        files = files_read,
        published = published.len(),
        known = known.len(),
        runs_ms = listed.as_millis() as u64,
        catalog_ms = (loaded - listed).as_millis() as u64,
        listings_ms = (started.elapsed() - loaded).as_millis() as u64,
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
        known,
    };
    let (mut changed, stats, known) = tokio::task::spawn_blocking(move || {
        let (changed, stats, learnt) = plan.attribute(&handle, staging, &files, &catalog)?;
        // What this run learnt, and what earlier runs learnt of dates it did not attribute (an
        // older day re-run may want them), back to one lookback before its range.
        let mut known = plan.known;
        known.retain(|bd, _| bd.date + plan.lookback >= plan.from);
        known.extend(learnt);
        Ok::<_, StepError>((changed, stats, known))
    })
    .await??;
    stores
        .staging
        .put(layout::INPUT_DIGESTS_KEY, encode_known(&known))
        .await?;
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

/// A staged export's key file, as listed.
pub(crate) struct KeyFile {
    pub export: ExportKey,
    pub size: u64,
    pub etag: String,
}

/// A line key held in the latest-state map: 8-byte aligned, so an entry with its position is 24 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key(u64, u64);

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.0);
    }
}

/// The key is already a uniform hash: its low bits are used as they are.
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
    fn write_u64(&mut self, k: u64) {
        self.0 = k;
    }
}

/// Lines whose latest appearance carries a token, by key: where that appearance is (the file's
/// index in latest-state order, and its row in the file's line file).
type State = HashMap<Key, (u32, u32), std::hash::BuildHasherDefault<KeyHasher>>;

/// Key records a pass of [`latest_states`] takes at most: a pass holds at most this many lines
/// (24 bytes each, and the map's slack), a worker per core runs one pass at a time, so memory for
/// the latest state is bounded whatever the number of lines.
const ROWS_PER_PASS: u64 = 2_000_000;

/// What pass one learnt of a staged export.
struct Staged {
    export: ExportKey,
    source: ExportRef,
    /// Rows in its line file (rows with a token).
    token_rows: u32,
}

/// The latest states of the lines of some staged exports, as one bit per row of each line file.
struct Latest {
    staged: Vec<Staged>,
    wanted: Vec<Vec<u64>>,
    no_token: u64,
    /// Key files read, over all passes (the others were carried from an earlier run).
    key_files_read: usize,
}

/// Pass one: reads the key files in latest-state order and marks, in each line file, the rows that
/// are a line's latest state. Memory is bounded by design: with more than [`ROWS_PER_PASS`] key
/// records in all, the keys are split by their top bits into as many passes as it takes, each
/// reading the key files again and holding only its share of the lines.
fn latest_states(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    files: &[KeyFile],
    rows_per_pass: u64,
) -> Result<Latest, StepError> {
    let started = std::time::Instant::now();
    let records: u64 = files.iter().map(|f| f.size / KEY_RECORD_LEN as u64).sum();
    // The shares kept between runs ([`states`]) stay cut the same way while the history grows.
    let kept = handle.block_on(staging.list(states::PREFIX))?;
    let passes = states::passes(
        records.div_ceil(rows_per_pass.max(1)),
        kept.iter().filter_map(|o| states::passes_of(&o.key)).max(),
    );
    // What a kept share stands for, for each number of key files it may have read.
    let digests = states::prefix_digests(files.iter().map(|f| (f.export.keys_key(), &f.etag)));
    // Passes are independent: a worker per core takes them one at a time.
    let results = on_every_core(
        usize::try_from(passes).unwrap_or(usize::MAX),
        || (None::<Latest>, State::default()),
        |(mine, state), pass| {
            let l = one_pass(handle, staging, files, &digests, pass as u64, passes, state)?;
            match mine {
                Some(m) => m.absorb(l),
                None => {
                    *mine = Some(l);
                    Ok(())
                }
            }
        },
    )?;
    let mut latest: Option<Latest> = None;
    for (mine, _) in results {
        if let Some(l) = mine {
            match &mut latest {
                Some(m) => m.absorb(l)?,
                None => latest = Some(l),
            }
        }
    }
    let latest = latest.unwrap_or(Latest {
        staged: Vec::new(),
        wanted: Vec::new(),
        no_token: 0,
        key_files_read: 0,
    });
    // Shares kept for another number of passes are cut otherwise: no run reads them again.
    let kept_here = states::dir(passes);
    for o in kept {
        if !o.key.starts_with(&kept_here) {
            handle.block_on(staging.delete(&o.key))?;
        }
    }
    tracing::info!(
        files = files.len(),
        passes,
        key_files_read = latest.key_files_read,
        keys_ms = started.elapsed().as_millis() as u64,
        "latest states found"
    );
    Ok(latest)
}

impl Latest {
    /// Takes in the rows another pass marked (its share of the keys) over the same files.
    fn absorb(&mut self, other: Latest) -> Result<(), StepError> {
        for (i, (mine, theirs)) in self.staged.iter().zip(&other.staged).enumerate() {
            if mine.source.etag != theirs.source.etag || mine.token_rows != theirs.token_rows {
                return Err(StoreError::Invalid(format!(
                    "{} changed while matching (ingested again?): run match again",
                    self.staged[i].export.keys_key()
                ))
                .into());
            }
        }
        self.key_files_read += other.key_files_read;
        for (mine, theirs) in self.wanted.iter_mut().zip(other.wanted) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m |= t;
            }
        }
        Ok(())
    }
}

/// One pass of [`latest_states`]: the lines whose key falls in share `pass` of `passes`. The share
/// kept by an earlier run ([`states`]) is taken in when the key files begin with the ones it read
/// (`digests[n]`: [`states::prefix_digests`] of `files`), and only the key files after them are
/// read; the share is kept again when any was.
fn one_pass(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    files: &[KeyFile],
    digests: &[[u8; 32]],
    pass: u64,
    passes: u64,
    state: &mut State,
) -> Result<Latest, StepError> {
    let snapshot = states::key(passes, pass);
    let mut reads = carried_states(handle, staging, &snapshot, digests, pass, passes, state)?;
    let carried = reads.len();
    for (f, kf) in files.iter().enumerate().skip(carried) {
        let key = kf.export.keys_key();
        let obj = handle
            .block_on(staging.get(&key))?
            .ok_or_else(|| vanished(&key))?;
        let reader = crate::store::blocking_reader(obj.body, handle.clone());
        let file = u32::try_from(f).unwrap_or(u32::MAX);
        let (mut row, mut no_token) = (0u32, 0u64);
        let source = read_keys(reader, |r| {
            let k = Key(r.key as u64, (r.key >> 64) as u64);
            let mine = passes == 1 || ((k.1 >> 32) * passes) >> 32 == pass;
            if r.token {
                if mine {
                    state.insert(k, (file, row));
                }
                row += 1;
            } else {
                no_token += 1;
                if mine {
                    state.remove(&k);
                }
            }
        })
        .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
        reads.push(states::FileRead {
            export_key: source.export_key,
            etag: source.etag,
            token_rows: row,
            no_token,
        });
    }
    if carried < files.len() {
        let tmp = tempfile::NamedTempFile::new()
            .map_err(|e| StepError::io("writing latest states", true, e))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 18, tmp.as_file());
        states::write(
            &mut out,
            passes,
            pass,
            &digests[files.len()],
            &reads,
            state.len(),
            state.iter().map(|(k, (f, r))| (k.0, k.1, *f, *r)),
        )
        .map_err(|e| StepError::io("writing latest states", true, e))?;
        drop(out);
        handle.block_on(staging.put_file(&snapshot, tmp.path()))?;
    }
    let mut latest = Latest {
        staged: Vec::with_capacity(files.len()),
        wanted: Vec::with_capacity(files.len()),
        no_token: 0,
        key_files_read: files.len() - carried,
    };
    for (kf, r) in files.iter().zip(reads) {
        latest
            .wanted
            .push(vec![0u64; (r.token_rows as usize).div_ceil(64)]);
        latest.no_token += r.no_token;
        latest.staged.push(Staged {
            export: kf.export.clone(),
            source: ExportRef {
                key: r.export_key,
                etag: r.etag,
            },
            token_rows: r.token_rows,
        });
    }
    for (file, row) in state.values() {
        let (file, row) = (*file as usize, *row as usize);
        if let Some(w) = latest.wanted[file].get_mut(row / 64) {
            *w |= 1 << (row % 64);
        }
    }
    tracing::debug!(
        pass,
        lines = state.len(),
        key_files_carried = carried,
        key_files_read = files.len() - carried,
        "latest states of a share of the keys"
    );
    state.clear();
    Ok(latest)
}

/// Fills `state` from the share kept at `snapshot` when it stands for the first key files (their
/// `digests`), and returns what was read of each of those; otherwise leaves `state` empty.
fn carried_states(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    snapshot: &str,
    digests: &[[u8; 32]],
    pass: u64,
    passes: u64,
    state: &mut State,
) -> Result<Vec<states::FileRead>, StepError> {
    let Some(obj) = handle.block_on(staging.get(snapshot))? else {
        return Ok(Vec::new());
    };
    let mut reader = crate::store::blocking_reader(obj.body, handle.clone());
    let stands = |n: usize, digest: &[u8; 32]| digests.get(n) == Some(digest);
    let read = states::read(&mut reader, passes, pass, stands, |(k0, k1, f, r)| {
        state.insert(Key(k0, k1), (f, r));
    })
    .map_err(|e| StepError::io("reading latest states", true, e))?;
    match read {
        Some(reads) => Ok(reads),
        None => {
            tracing::info!(
                snapshot,
                "latest states kept do not stand for these key files; reading them all"
            );
            state.clear();
            Ok(Vec::new())
        }
    }
}

struct Plan {
    from: NaiveDate,
    to: NaiveDate,
    lookback: Duration,
    run_dates: BTreeSet<NaiveDate>,
    published: HashMap<BrandDate, Vec<String>>,
    /// What earlier matches learnt of report inputs ([`Known`]).
    known: Known,
}

/// Of each report input match built: the digest of everything it was built from
/// ([`Attribution::input_digests`]), the SHA-256 of its encoding and the totals of its own lines
/// (what the next day's report shows as the day before). Each entry is a fact whenever it was
/// recorded (that digest comes to that input), so a stale file, or one a twin run overwrote, costs
/// builds, never a wrong report: a report is skipped only when its digest is known and the input it
/// comes to is the one published.
type Known = HashMap<BrandDate, KnownInput>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct KnownInput {
    digest: [u8; 32],
    sha: String,
    /// [`DayTotals::of`] the input's lines; `None` when it has none.
    totals: Option<DayTotals>,
}

const KNOWN_MAGIC: &[u8] = b"seedline input digests 2\n";

fn encode_known(known: &Known) -> Vec<u8> {
    let mut out = KNOWN_MAGIC.to_vec();
    let mut entries: Vec<_> = known.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (bd, k) in entries {
        put_str(&mut out, &bd.brand_id);
        put_date(&mut out, bd.date);
        out.extend_from_slice(&k.digest);
        put_str(&mut out, &k.sha);
        match &k.totals {
            None => out.push(0),
            Some(t) => {
                out.push(1);
                for n in [t.orders, t.buyers] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
                for n in [t.net_gmv_fen, t.refund_fen, t.halo_net_gmv_fen] {
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
        }
    }
    out
}

fn decode_known(bytes: &[u8]) -> Option<Known> {
    let mut rest = bytes.strip_prefix(KNOWN_MAGIC)?;
    let mut known = Known::new();
    while !rest.is_empty() {
        let brand_id = take_str(&mut rest)?;
        let date = take_date(&mut rest)?;
        let digest: [u8; 32] = take(&mut rest, 32)?.try_into().ok()?;
        let sha = take_str(&mut rest)?;
        let totals = match take_array::<1>(&mut rest)? {
            [0] => None,
            [1] => Some(DayTotals {
                orders: u64::from_le_bytes(take_array(&mut rest)?),
                buyers: u64::from_le_bytes(take_array(&mut rest)?),
                net_gmv_fen: i64::from_le_bytes(take_array(&mut rest)?),
                refund_fen: i64::from_le_bytes(take_array(&mut rest)?),
                halo_net_gmv_fen: i64::from_le_bytes(take_array(&mut rest)?),
            }),
            _ => return None,
        };
        known.insert(
            BrandDate { brand_id, date },
            KnownInput {
                digest,
                sha,
                totals,
            },
        );
    }
    Some(known)
}

/// The digests earlier matches recorded; none when there is no file or it does not read (then
/// every report input is built, as on a first run).
async fn load_known(stores: &Stores) -> Result<Known, StepError> {
    let Some(bytes) = stores.staging.get_bytes(layout::INPUT_DIGESTS_KEY).await? else {
        return Ok(Known::new());
    };
    Ok(decode_known(&bytes).unwrap_or_else(|| {
        tracing::warn!(
            key = layout::INPUT_DIGESTS_KEY,
            bytes = bytes.len(),
            "report input digests do not read; building every report input"
        );
        Known::new()
    }))
}

impl Plan {
    /// Whenever the next file is dated past X + lookback, report date X is attributed before it
    /// (with the latest states of the files before it), so that it sees the exports a run in date
    /// order would have.
    fn attribute(
        &self,
        handle: &Handle,
        staging: Arc<dyn ObjectStore>,
        files: &[KeyFile],
        catalog: &Catalog,
    ) -> Result<(Vec<BrandDate>, MatchStats, Known), StepError> {
        let mut targets: Vec<NaiveDate> = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            targets.push(d);
            d += Duration::days(1);
        }
        let mut next = 0;
        let mut changed = Vec::new();
        let mut learnt = Known::new();
        let mut stats = MatchStats::default();
        for i in 0..=files.len() {
            let cut = match files.get(i) {
                Some(f) => targets[next..]
                    .iter()
                    .take_while(|x| **x + self.lookback < f.export.date)
                    .count(),
                None => targets.len() - next,
            };
            if cut == 0 {
                continue;
            }
            let latest = latest_states(handle, &staging, &files[..i], ROWS_PER_PASS)?;
            stats = self.evaluate(
                handle,
                &staging,
                &targets[next..next + cut],
                &latest,
                catalog,
                &mut changed,
                &mut learnt,
            )?;
            stats.no_token = latest.no_token;
            next += cut;
        }
        Ok((changed, stats, learnt))
    }

    /// Pass two, the deciding half, for the staged exports `only`: the rows that are a latest state
    /// are read on this thread and handed in batches to a worker per spill, each deciding with an
    /// attribution per export and writing to its spill. Returns, per export of `only` (in order),
    /// what it decided and the digests of its credited lines, the workers' shares merged.
    #[allow(clippy::too_many_arguments)]
    fn decide_files<'c>(
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        dates: &[NaiveDate],
        latest: &Latest,
        catalog: &'c Catalog,
        only: &[usize],
        spills: &mut [Spill],
    ) -> Result<Vec<(Attribution<'c>, spill::Digests)>, StepError> {
        /// Length-prefixed line records of one file (by its place in `only`).
        struct Batch {
            file: usize,
            records: Vec<u8>,
        }
        const BATCH_BYTES: usize = 256 << 10;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(spills.len() * 2);
        // Shared by the workers and dropped with the last of them, so that the reader is never left
        // waiting on workers that stopped.
        let rx = Arc::new(std::sync::Mutex::new(rx));
        std::thread::scope(|scope| {
            let handles: Vec<_> = spills
                .iter_mut()
                .map(|spill| {
                    let rx = Arc::clone(&rx);
                    scope.spawn(move || -> Result<Vec<_>, StepError> {
                        let mut mine: Vec<Option<(Attribution<'c>, spill::Digests)>> =
                            (0..only.len()).map(|_| None).collect();
                        let mut line = seedline_core::line::OrderLine::blank(
                            seedline_core::line::Marketplace::Taobao,
                        );
                        loop {
                            let next = match rx.lock() {
                                Ok(r) => r.recv(),
                                Err(_) => break,
                            };
                            let Ok(batch) = next else { break };
                            let s = &latest.staged[only[batch.file]];
                            let (a, digests) = mine[batch.file].get_or_insert_with(|| {
                                (
                                    Attribution::new(catalog, dates.iter().copied()),
                                    spill::Digests::default(),
                                )
                            });
                            let mut rest = &batch.records[..];
                            while let Some(body) = take_record(&mut rest) {
                                decode_staged_into(body, &mut line).map_err(|e| {
                                    StoreError::Invalid(format!("{}: {e}", s.export.lines_key()))
                                })?;
                                if let Some(k) = a.decide(&line, &s.source) {
                                    spill.write(&k, &s.source.etag, digests).map_err(|e| {
                                        StepError::io("writing spill files", true, e)
                                    })?;
                                }
                            }
                        }
                        spill.finish()?;
                        Ok(mine)
                    })
                })
                .collect();
            drop(rx);
            let read = (|| -> Result<(), StepError> {
                for (pos, &f) in only.iter().enumerate() {
                    let (s, bits) = (&latest.staged[f], &latest.wanted[f]);
                    if bits.iter().all(|w| *w == 0) {
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
                        let i = row.index() as usize;
                        if bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0) {
                            let body = row.body();
                            put_record(&mut records, body);
                            if records.len() >= BATCH_BYTES {
                                let full = std::mem::replace(
                                    &mut records,
                                    Vec::with_capacity(BATCH_BYTES + 4096),
                                );
                                tx.send(Batch {
                                    file: pos,
                                    records: full,
                                })
                                .map_err(|_| {
                                    StagedReadError::Invalid {
                                        record: rows,
                                        why: "the deciding threads stopped".into(),
                                    }
                                })?;
                            }
                        }
                        Ok(())
                    })
                    .map_err(|e| StoreError::Invalid(format!("{key}: {e}")))?;
                    if !records.is_empty() {
                        // A send fails only when every worker stopped; their error is the one told.
                        let _ = tx.send(Batch { file: pos, records });
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
            })();
            drop(tx);
            let mut merged: Vec<Option<(Attribution<'c>, spill::Digests)>> =
                (0..only.len()).map(|_| None).collect();
            let mut failed = None;
            for h in handles {
                match h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                    Ok(theirs) => {
                        for (m, t) in merged.iter_mut().zip(theirs) {
                            match (m.as_mut(), t) {
                                (Some((a, d)), Some((ta, td))) => {
                                    a.merge(ta);
                                    merge_digests(d, td);
                                }
                                (None, t) => *m = t,
                                (Some(_), None) => {}
                            }
                        }
                    }
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            read?;
            Ok(merged
                .into_iter()
                .map(|m| {
                    m.unwrap_or_else(|| {
                        (
                            Attribution::new(catalog, dates.iter().copied()),
                            spill::Digests::default(),
                        )
                    })
                })
                .collect())
        })
    }

    /// Pass two's deciding, export by export: an export whose [`FileFacts`] stand (same latest
    /// rows, same campaigns read, its kept dates covered) is taken in from them; the others are
    /// decided, and their facts written for the next run. Returns the attribution, the spills (the
    /// decided exports' credited lines), the digests of every export's credited lines by brand and
    /// date, and the exports taken from their facts with the brands and dates they have lines on.
    #[allow(clippy::type_complexity)]
    fn decide_or_reuse<'c>(
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        dates: &[NaiveDate],
        latest: &Latest,
        catalog: &'c Catalog,
    ) -> Result<
        (
            Attribution<'c>,
            Vec<Spill>,
            spill::Digests,
            Vec<(usize, Vec<(String, NaiveDate)>)>,
        ),
        StepError,
    > {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut spills = (0..workers)
            .map(|_| Spill::new())
            .collect::<Result<Vec<_>, _>>()?;
        let fingerprints = Fingerprints::new(catalog);
        let mut a = Attribution::new(catalog, dates.iter().copied());
        // No dates, nothing kept: an empty range no facts cover.
        let kept = a.kept_range().unwrap_or((NaiveDate::MAX, NaiveDate::MIN));
        let mut lines = spill::Digests::default();
        // Facts that stand are taken in as they are read: only the brands and dates each export
        // has lines on are kept (to tell which must be decided again for the inputs built).
        let mut reused = Vec::new();
        let mut fresh = Vec::new();
        for (f, (s, bits)) in latest.staged.iter().zip(&latest.wanted).enumerate() {
            if bits.iter().all(|w| *w == 0) {
                continue;
            }
            let wanted = facts::wanted_digest(bits);
            let stored = handle
                .block_on(staging.get_bytes(&s.export.facts_key()))?
                .and_then(|b| FileFacts::decode(&b));
            match stored {
                Some(ff)
                    if ff.stand_for(&s.source.etag, s.token_rows, &wanted, kept)
                        && a.facts_hold(&ff.facts, &fingerprints) =>
                {
                    a.absorb(&ff.facts, &fingerprints);
                    let mut has_lines = Vec::new();
                    for (b, d, x) in ff.digests {
                        if kept.0 <= d && d <= kept.1 {
                            fold_digest(&mut lines, &b, d, &x);
                            has_lines.push((b, d));
                        }
                    }
                    reused.push((f, has_lines));
                }
                _ => fresh.push((f, wanted)),
            }
        }
        // A few exports a call: each keeps an attribution of its own per worker until its facts
        // are written, so memory stays bounded however many exports are decided, and reading one
        // export overlaps deciding the one before.
        const EXPORTS_A_CALL: usize = 4;
        for chunk in fresh.chunks(EXPORTS_A_CALL) {
            let only: Vec<usize> = chunk.iter().map(|(f, _)| *f).collect();
            let decided =
                Self::decide_files(handle, staging, dates, latest, catalog, &only, &mut spills)?;
            for ((f, wanted), (one, of_file)) in chunk.iter().zip(decided) {
                let mut digests: Vec<(String, NaiveDate, LinesDigest)> = of_file
                    .into_iter()
                    .flat_map(|(b, days)| days.into_iter().map(move |(d, x)| (b.clone(), d, x)))
                    .collect();
                digests.sort_unstable_by(|x, y| (&x.0, x.1).cmp(&(&y.0, y.1)));
                let s = &latest.staged[*f];
                let ff = FileFacts {
                    etag: s.source.etag.clone(),
                    token_rows: s.token_rows,
                    wanted: *wanted,
                    kept,
                    facts: one.facts(&fingerprints),
                    digests,
                };
                handle.block_on(staging.put(&s.export.facts_key(), ff.encode()))?;
                for (b, d, x) in &ff.digests {
                    fold_digest(&mut lines, b, *d, x);
                }
                a.merge(one);
            }
        }
        Ok((a, spills, lines, reused))
    }

    /// Pass two: decodes the rows that are a latest state, attributes them, spills the credited
    /// lines of `dates` to disk by brand, then stages the report input of every brand and date
    /// whose content changed, one spill bucket at a time. A report whose digest says it comes to
    /// the input already published is not built at all.
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        dates: &[NaiveDate],
        latest: &Latest,
        catalog: &Catalog,
        changed: &mut Vec<BrandDate>,
        learnt: &mut Known,
    ) -> Result<MatchStats, StepError> {
        let started = std::time::Instant::now();
        let (a, mut spills, lines, reused) =
            Self::decide_or_reuse(handle, staging, dates, latest, catalog)?;
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
        let wanted = targets.len();
        let (mut build, unchanged) = self.unless_known(&a, &lines, targets, learnt);
        let skipped = wanted - build.len();
        // The inputs built need the credited lines of their date and the totals of the day
        // before's. Lines of exports taken in from their facts are decided again (into the spills;
        // what they count is in already); the day before's totals come from its input when that is
        // unchanged, so a day with history does not decide yesterday's export again for them.
        let needed: HashSet<(&str, NaiveDate)> = build
            .iter()
            .flat_map(|(t, _)| {
                let before = t
                    .date
                    .pred_opt()
                    .filter(|_| day_before(&unchanged, t).is_none());
                [Some(t.date), before]
                    .into_iter()
                    .flatten()
                    .map(|d| (t.brand_id.as_str(), d))
            })
            .collect();
        let day_before_known = build
            .iter()
            .filter(|(t, _)| day_before(&unchanged, t).is_some())
            .count();
        let again: Vec<usize> = reused
            .iter()
            .filter(|(_, has)| has.iter().any(|(b, d)| needed.contains(&(b.as_str(), *d))))
            .map(|(f, _)| *f)
            .collect();
        if !again.is_empty() {
            Self::decide_files(handle, staging, dates, latest, catalog, &again, &mut spills)?;
        }
        // Latest date first: a report takes its date's lines and reads the day before's, which
        // its own report takes next.
        build.sort_by_key(|t| std::cmp::Reverse(t.0.date));
        // Buckets are independent: shared out over the cores (each report is serialised, hashed and written).
        let (a, spills, build, unchanged) = (&a, &spills, &build, &unchanged);
        for (mine, facts) in on_every_core(
            Spill::BUCKETS,
            || (Vec::new(), Vec::new()),
            |(mine, facts), bucket| {
                let ctx = Building {
                    a,
                    spills,
                    targets: build,
                    unchanged,
                };
                self.inputs_of_bucket(handle, staging, &ctx, bucket, mine, facts)
            },
        )? {
            changed.extend(mine);
            learnt.extend(facts);
        }
        tracing::info!(
            from = %dates[0],
            to = %dates[dates.len() - 1],
            decide_ms = decided.as_millis() as u64,
            exports_taken_from_facts = reused.len(),
            decided_again_for_lines = again.len(),
            day_before_known,
            inputs_ms = (started.elapsed() - decided).as_millis() as u64,
            credited = a.stats.credited,
            built = build.len(),
            known_unchanged = skipped,
            "report dates attributed"
        );
        Ok(a.stats.clone())
    }

    /// Whether the report input with this SHA-256 is the one published for `target` (and the only
    /// marker there: two mean a publish was interrupted, and the report is built again).
    fn is_published(&self, target: &BrandDate, sha: &str) -> bool {
        self.published
            .get(target)
            .is_some_and(|m| m.len() == 1 && m[0] == sha)
    }

    /// The targets whose input must be built, each with its digest; a target whose digest is known
    /// to come to the input published for it is recorded in `learnt` and left out, and returned
    /// with the totals of its lines (for the next day's report built).
    fn unless_known(
        &self,
        a: &Attribution<'_>,
        lines: &spill::Digests,
        targets: Vec<BrandDate>,
        learnt: &mut Known,
    ) -> (Vec<(BrandDate, [u8; 32])>, Unchanged) {
        let mut by_brand: BTreeMap<&str, Vec<NaiveDate>> = BTreeMap::new();
        for t in &targets {
            by_brand.entry(&t.brand_id).or_default().push(t.date);
        }
        let mut digests: HashMap<(&str, NaiveDate), [u8; 32]> = HashMap::new();
        for (brand, dates) in &by_brand {
            let of_brand = lines.get(*brand);
            let sums = a.input_digests(brand, dates, |d| {
                of_brand
                    .and_then(|m| m.get(&d))
                    .copied()
                    .unwrap_or_default()
            });
            digests.extend(dates.iter().zip(sums).map(|(d, x)| ((*brand, *d), x)));
        }
        let mut build = Vec::new();
        let mut unchanged = Unchanged::new();
        for t in &targets {
            let digest = digests[&(t.brand_id.as_str(), t.date)];
            match self.known.get(t) {
                Some(k) if k.digest == digest && self.is_published(t, &k.sha) => {
                    unchanged.insert((t.brand_id.clone(), t.date), k.totals.clone());
                    learnt.insert(t.clone(), k.clone());
                }
                _ => build.push((t.clone(), digest)),
            }
        }
        (build, unchanged)
    }

    /// Stages the report input of each target of one spill bucket whose content changed, and
    /// records in `facts` what each input built came to.
    fn inputs_of_bucket(
        &self,
        handle: &Handle,
        staging: &Arc<dyn ObjectStore>,
        ctx: &Building<'_, '_>,
        bucket: usize,
        changed: &mut Vec<BrandDate>,
        facts: &mut Vec<(BrandDate, KnownInput)>,
    ) -> Result<(), StepError> {
        let Building {
            a,
            spills,
            targets,
            unchanged,
        } = ctx;
        let mine: Vec<&(BrandDate, [u8; 32])> = targets
            .iter()
            .filter(|t| Spill::bucket(&t.0.brand_id) == bucket)
            .collect();
        if mine.is_empty() {
            return Ok(());
        }
        let before_of = |t: &BrandDate| day_before(unchanged, t);
        // The lines of each target's date and of the day before, unless that one is unchanged.
        let mut wanted: HashMap<&str, BTreeSet<NaiveDate>> = HashMap::new();
        for (t, _) in &mine {
            let days = wanted.entry(&t.brand_id).or_default();
            days.insert(t.date);
            if before_of(t).is_none() {
                days.extend(t.date.pred_opt());
            }
        }
        let mut kept = spill::KeptLines::new();
        for s in spills.iter() {
            let lines = s.load(bucket, |brand, d| {
                wanted.get(brand).is_some_and(|days| days.contains(&d))
            })?;
            for (k, lines) in lines {
                kept.entry(k).or_default().extend(lines);
            }
        }
        for (target, digest) in mine {
            let key = (target.brand_id.clone(), target.date);
            let lines = kept.remove(&key).unwrap_or_default();
            let previous = match before_of(target) {
                Some(totals) => totals.clone(),
                None => target
                    .date
                    .pred_opt()
                    .and_then(|p| kept.get(&(target.brand_id.clone(), p)))
                    .map(|l| DayTotals::of(l)),
            };
            let input = a.report_input_from(&target.brand_id, target.date, lines, previous);
            let totals = (!input.lines.is_empty()).then(|| DayTotals::of(&input.lines));
            let bytes = seedline_core::attribution::codec::encode_input(&input)
                .map_err(|e| StepError::io("encoding a report input", false, e.into()))?;
            let sha = sha256_hex(&bytes);
            if !self.is_published(target, &sha) {
                handle.block_on(staging.put(
                    &layout::report_input_key(target.date, &target.brand_id),
                    bytes,
                ))?;
                changed.push(target.clone());
            }
            facts.push((
                target.clone(),
                KnownInput {
                    digest: *digest,
                    sha,
                    totals,
                },
            ));
        }
        Ok(())
    }
}

/// The unchanged report inputs of one evaluation, by brand and date, with the totals of their lines.
type Unchanged = HashMap<(String, NaiveDate), Option<DayTotals>>;

/// The totals of the day before `t`'s input, when that input is unchanged (the day-on-day change of
/// `t`'s report, without its lines); `None` when it is not among `unchanged`.
fn day_before<'u>(unchanged: &'u Unchanged, t: &BrandDate) -> Option<&'u Option<DayTotals>> {
    unchanged.get(&(t.brand_id.clone(), t.date.pred_opt()?))
}

/// What building the report inputs of one evaluation reads, shared by the workers.
struct Building<'a, 'c> {
    a: &'a Attribution<'c>,
    spills: &'a [Spill],
    targets: &'a [(BrandDate, [u8; 32])],
    unchanged: &'a Unchanged,
}

/// Runs `work` for every task in `0..tasks` on a worker per core, each taking the next task when
/// it is done with one and folding into an accumulator of its own (from `init`); the accumulators,
/// once every task ran, or the first error.
fn on_every_core<T: Send>(
    tasks: usize,
    init: impl Fn() -> T + Sync,
    work: impl Fn(&mut T, usize) -> Result<(), StepError> + Sync,
) -> Result<Vec<T>, StepError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tasks.max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = init();
                    loop {
                        let task = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if task >= tasks {
                            return Ok(mine);
                        }
                        work(&mut mine, task)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Adds one brand and date's digest of credited lines into `into`.
fn fold_digest(into: &mut spill::Digests, brand: &str, d: NaiveDate, x: &LinesDigest) {
    let days = match into.get_mut(brand) {
        Some(days) => days,
        None => into.entry(brand.to_string()).or_default(),
    };
    days.entry(d).or_default().merge(x);
}

fn merge_digests(into: &mut spill::Digests, from: spill::Digests) {
    for (brand, days) in from {
        for (d, x) in days {
            fold_digest(into, &brand, d, &x);
        }
    }
}

fn vanished(key: &str) -> StepError {
    StoreError::Invalid(format!("staged file {key} vanished while matching")).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::local::LocalObjects;
    use seedline_core::line::{Marketplace, OrderLine, StagedSource, StagedWriter, StatusClass};

    fn line(id: u32, token: bool) -> OrderLine {
        let t = seedline_core::time::parse_timestamp("2025-06-01 10:00:00").unwrap();
        OrderLine {
            marketplace: Marketplace::Taobao,
            line_id: format!("L{id}"),
            order_id: format!("O{id}"),
            shop_id: "s".into(),
            item_id: "i".into(),
            sku_code: String::new(),
            title: String::new(),
            quantity: 1,
            paid_fen: 100,
            refund_fen: 0,
            status: "交易成功".into(),
            status_class: StatusClass::Paid,
            created_at: t,
            paid_at: Some(t),
            buyer_hash: String::new(),
            token: if token { "tk".into() } else { String::new() },
            clicked_at: None,
            source_line: u64::from(id) + 2,
        }
    }

    /// Stages `lines` as the export of 2025-06-0{day + 1} (ETag `e{day}`): its key file as listed.
    fn stage(
        rt: &tokio::runtime::Runtime,
        store: &Arc<dyn ObjectStore>,
        day: usize,
        lines: impl IntoIterator<Item = OrderLine>,
    ) -> KeyFile {
        let ek = ExportKey::parse(&format!("exports/taobao/2025-06-0{}/a.csv", day + 1)).unwrap();
        let src = StagedSource {
            export_key: ek.key(),
            etag: format!("e{day}"),
        };
        let mut w = StagedWriter::new(Vec::new(), Vec::new(), &src).unwrap();
        for l in lines {
            w.write(&l).unwrap();
        }
        let (lines, keys) = w.finish().unwrap();
        rt.block_on(store.put(&ek.lines_key(), lines)).unwrap();
        rt.block_on(store.put(&ek.keys_key(), keys)).unwrap();
        let listed = rt.block_on(store.list(&ek.keys_key())).unwrap();
        KeyFile {
            export: ek,
            size: listed[0].size,
            etag: listed[0].etag.clone(),
        }
    }

    /// However many passes pass one takes, it marks the same rows: the last appearance of each line
    /// with a token, and nothing for a line whose last appearance has none.
    #[test]
    fn latest_states_are_the_same_in_one_pass_or_many() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjects::new(dir.path()));
        let days: [&[(u32, bool)]; 3] = [
            &[(1, true), (2, true), (3, false), (4, true), (1, true)],
            &[(2, false), (3, true), (5, true), (6, false)],
            &[(4, true), (7, true), (5, false), (8, true)],
        ];
        let files: Vec<_> = days
            .iter()
            .enumerate()
            .map(|(d, rows)| stage(&rt, &store, d, rows.iter().map(|(id, t)| line(*id, *t))))
            .collect();
        let handle = rt.handle().clone();
        let one = latest_states(&handle, &store, &files, u64::MAX).unwrap();
        // Day 1: rows with a token are L1, L2, L4, L1 (0..4); the second L1 is latest, L2 is not
        // (no token on day 2), L4 is not (day 3). Day 2: L3, L5 (0..2); L5 is not. Day 3: L4, L7, L8.
        assert_eq!(one.wanted, vec![vec![0b1000], vec![0b01], vec![0b111]]);
        assert_eq!(one.no_token, 4);
        assert_eq!(
            one.staged.iter().map(|s| s.token_rows).collect::<Vec<_>>(),
            [4, 2, 3]
        );
        for rows_per_pass in [1, 2, 5] {
            let many = latest_states(&handle, &store, &files, rows_per_pass).unwrap();
            assert_eq!(many.wanted, one.wanted, "{rows_per_pass} rows a pass");
            assert_eq!(many.no_token, one.no_token);
        }
    }
    /// Latest states carried from an earlier run are those read afresh: after more exports come
    /// (only their key files are read), and after an export is staged again (its own key file and
    /// those after it are read again, for a snapshot no longer stands).
    #[test]
    fn latest_states_carried_from_an_earlier_run_are_those_read_afresh() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjects::new(dir.path()));
        let handle = rt.handle().clone();
        let days: Vec<Vec<(u32, bool)>> = vec![
            (0..40).map(|i| (i, i % 3 != 0)).collect(),
            (30..70).map(|i| (i, i % 4 != 0)).collect(),
            // Restates lines of both days before, with and without a token.
            (0..20).map(|i| (i * 3, i % 2 == 0)).collect(),
            (60..90).map(|i| (i, true)).collect(),
        ];
        let mut files: Vec<KeyFile> = days
            .iter()
            .enumerate()
            .map(|(d, rows)| stage(&rt, &store, d, rows.iter().map(|(id, t)| line(*id, *t))))
            .collect();
        let afresh = |files: &[KeyFile], rows_per_pass| {
            let _ = std::fs::remove_dir_all(dir.path().join("staging/states"));
            latest_states(&handle, &store, files, rows_per_pass).unwrap()
        };
        let shares_kept = |passes: u64| {
            let left = rt.block_on(store.list(states::PREFIX)).unwrap();
            assert!(
                left.iter().all(|o| o.key.starts_with(&states::dir(passes))),
                "shares cut otherwise left: {:?}",
                left.iter().map(|o| &o.key).collect::<Vec<_>>()
            );
            left.len() as u64
        };
        // Rows a pass, and the passes the first two days' cut lasts into all four days with: the
        // first day alone is cut in as many as it needs (1, 1 and 3), the first two outgrow that
        // and are cut in a power of two (1, 2 and 8), which still serves all four.
        for (rows_per_pass, passes) in [(u64::MAX, 1), (75, 2), (20, 8)] {
            let fresh = afresh(&files, rows_per_pass);
            afresh(&files[..1], rows_per_pass);
            latest_states(&handle, &store, &files[..2], rows_per_pass).unwrap();
            assert_eq!(shares_kept(passes), passes, "{rows_per_pass} rows a pass");
            let carried = latest_states(&handle, &store, &files, rows_per_pass).unwrap();
            assert_eq!(shares_kept(passes), passes, "{rows_per_pass} rows a pass");
            assert_eq!(
                carried.key_files_read,
                2 * passes as usize,
                "{rows_per_pass} rows a pass"
            );
            assert_eq!(carried.wanted, fresh.wanted, "{rows_per_pass} rows a pass");
            assert_eq!(carried.no_token, fresh.no_token);
            let staged = |l: &Latest| {
                l.staged
                    .iter()
                    .map(|s| (s.export.key(), s.source.clone(), s.token_rows))
                    .collect::<Vec<_>>()
            };
            assert_eq!(staged(&carried), staged(&fresh));
            // Nothing new: nothing read.
            let again = latest_states(&handle, &store, &files, rows_per_pass).unwrap();
            assert_eq!(again.key_files_read, 0);
            assert_eq!(again.wanted, fresh.wanted);
        }
        // Day 2 staged again with other rows: its snapshot no longer stands.
        latest_states(&handle, &store, &files, u64::MAX).unwrap();
        files[1] = stage(&rt, &store, 1, (30..70).map(|i| line(i, i % 5 != 0)));
        let carried = latest_states(&handle, &store, &files, u64::MAX).unwrap();
        assert_eq!(carried.key_files_read, files.len());
        let fresh = afresh(&files, u64::MAX);
        assert_eq!(carried.wanted, fresh.wanted);
        assert_eq!(carried.no_token, fresh.no_token);
        // Outgrown (one pass kept, nine needed): cut anew in sixteen, and the one share removed
        // rather than left to pile up.
        latest_states(&handle, &store, &files, 17).unwrap();
        assert_eq!(shares_kept(16), 16);
    }

    /// Deciding several exports in one call hands each its own share: the same facts and digests,
    /// export by export, as deciding each alone.
    #[test]
    fn exports_decided_together_keep_their_own_facts() {
        use seedline_core::campaign::{parse_record, Record};
        let rt = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalObjects::new(dir.path()));
        let brand = r#"{"brand_id": "b", "name": "B", "shops": {"taobao": ["s"]}}"#;
        let campaign = r#"{"campaign_id": "c", "brand_id": "b", "name": "C", "start": "2025-05-01",
            "end": "2025-07-01", "window_days": 7, "spend_fen": 100, "items": {"taobao": ["i"]},
            "notes": [{"note_id": "n", "links": [{"token": "tk", "kind": "ad_link", "marketplace": "taobao"}]}]}"#;
        let (Ok(Record::Brand(b)), Ok(Record::Campaign(c))) =
            (parse_record("b", brand), parse_record("c", campaign))
        else {
            panic!("fixtures")
        };
        let catalog = Catalog::new(vec![b], vec![c]).unwrap();
        // Many rows a file, more than there are files, each file its own amounts.
        let files: Vec<_> = (0..3u32)
            .map(|d| {
                let lines = (0..(200 + 50 * d)).map(move |id| {
                    let mut l = line(d * 1000 + id, true);
                    l.paid_fen = i64::from(100 + d * 7 + id);
                    if id % 5 == 0 {
                        l.item_id = "other".into();
                    }
                    l
                });
                stage(&rt, &store, d as usize, lines)
            })
            .collect();
        let handle = rt.handle().clone();
        let latest = latest_states(&handle, &store, &files, u64::MAX).unwrap();
        let dates: Vec<NaiveDate> = (1..=3)
            .map(|d| NaiveDate::from_ymd_opt(2025, 6, d).unwrap())
            .collect();
        let fp = Fingerprints::new(&catalog);
        let mut spills = vec![Spill::new().unwrap(), Spill::new().unwrap()];
        let together = Plan::decide_files(
            &handle,
            &store,
            &dates,
            &latest,
            &catalog,
            &[0, 1, 2],
            &mut spills,
        )
        .unwrap();
        assert_eq!(together.len(), 3);
        for (f, (a, digests)) in together.iter().enumerate() {
            let mut one = vec![Spill::new().unwrap(), Spill::new().unwrap()];
            let alone =
                Plan::decide_files(&handle, &store, &dates, &latest, &catalog, &[f], &mut one)
                    .unwrap();
            assert_eq!(a.facts(&fp), alone[0].0.facts(&fp), "export {f}");
            assert_eq!(digests, &alone[0].1, "export {f}");
            assert_eq!(a.stats.credited, u64::from(200 + 50 * f as u32));
        }
    }

    /// The input digests file keeps each entry whole, totals or none, and a file of an older
    /// layout, or one cut short, does not read (every input is then built, as on a first run).
    #[test]
    fn known_inputs_round_trip_and_torn_ones_do_not_read() {
        let bd = |b: &str, d: &str| BrandDate {
            brand_id: b.into(),
            date: seedline_core::time::parse_date(d).unwrap(),
        };
        let mut known = Known::new();
        known.insert(
            bd("b1", "2025-06-01"),
            KnownInput {
                digest: [7; 32],
                sha: "ab".repeat(32),
                totals: Some(DayTotals {
                    orders: 3,
                    net_gmv_fen: -5,
                    refund_fen: 9,
                    buyers: 2,
                    halo_net_gmv_fen: 11,
                }),
            },
        );
        known.insert(
            bd("b2", "2025-06-02"),
            KnownInput {
                digest: [1; 32],
                sha: "cd".repeat(32),
                totals: None,
            },
        );
        let bytes = encode_known(&known);
        assert_eq!(decode_known(&bytes), Some(known));
        for cut in [1, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(decode_known(&bytes[..cut]), None, "cut at {cut}");
        }
        let older = [
            b"seedline input digests 1\n".as_slice(),
            &bytes[KNOWN_MAGIC.len()..],
        ]
        .concat();
        assert_eq!(decode_known(&older), None);
    }
}
