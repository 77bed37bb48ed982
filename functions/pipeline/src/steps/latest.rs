//! Match's pass one, the latest state of a line (attribution.md): over the staged key files in
//! latest-state order, which row of which line file is each line's latest appearance.

use std::collections::HashMap;
use std::sync::Arc;

use seedline_core::attribution::ExportRef;
use seedline_core::line::{read_keys, KEY_RECORD_LEN};
use tokio::runtime::Handle;

use super::StepError;
use crate::layout::ExportKey;
use crate::store::{ObjectStore, StoreError};

/// A staged export's key file, as listed.
pub(crate) struct KeyFile {
    pub export: ExportKey,
    pub size: u64,
}

impl KeyFile {
    /// Its key records: one per row of its export, with a token or not.
    pub fn records(&self) -> u64 {
        self.size / KEY_RECORD_LEN as u64
    }
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

/// Key records a pass takes at most: a pass holds at most this many lines (24 bytes each, and the
/// map's slack), a worker per core runs one pass at a time, so memory for the latest state is
/// bounded whatever the number of lines.
pub(crate) const ROWS_PER_PASS: u64 = 2_000_000;

/// What pass one learnt of a staged export.
#[derive(Clone)]
pub(crate) struct Staged {
    pub export: ExportKey,
    pub source: ExportRef,
    /// Rows in its line file (rows with a token).
    pub token_rows: u32,
}

/// The latest states of the lines of some staged exports, as one bit per row of each line file.
pub(crate) struct Latest {
    pub staged: Vec<Staged>,
    pub wanted: Vec<Vec<u64>>,
    pub no_token: u64,
}

impl Latest {
    fn empty() -> Latest {
        Latest {
            staged: Vec::new(),
            wanted: Vec::new(),
            no_token: 0,
        }
    }

    /// Whether row `row` of file `file` is a line's latest state (never, for a file it does not see).
    pub fn is_wanted(&self, file: usize, row: usize) -> bool {
        self.wanted
            .get(file)
            .and_then(|w| w.get(row / 64))
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }

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
        for (mine, theirs) in self.wanted.iter_mut().zip(other.wanted) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m |= t;
            }
        }
        Ok(())
    }
}

/// Reads the key files in latest-state order once and marks, for each cut in `cuts` (a number of
/// files, ascending), the rows of `files[..cut]` that are a line's latest state among those files.
/// With more than `rows_per_pass` key records in all, the keys are split by their top bits into as
/// many passes as it takes, each reading the key files again and holding only its share of the lines.
pub(crate) fn latest_states(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    files: &[KeyFile],
    cuts: &[usize],
    rows_per_pass: u64,
) -> Result<Vec<Latest>, StepError> {
    let started = std::time::Instant::now();
    let records: u64 = files.iter().map(KeyFile::records).sum();
    let passes = records.div_ceil(rows_per_pass.max(1)).max(1);
    let results = super::on_every_core(
        usize::try_from(passes).unwrap_or(usize::MAX),
        || (None::<Vec<Latest>>, State::default()),
        |(mine, state), pass| {
            let ls = one_pass(handle, staging, files, cuts, pass as u64, passes, state)?;
            match mine {
                Some(m) => absorb_all(m, ls),
                None => {
                    *mine = Some(ls);
                    Ok(())
                }
            }
        },
    )?;
    let mut latest: Option<Vec<Latest>> = None;
    for (mine, _) in results {
        if let Some(ls) = mine {
            match &mut latest {
                Some(m) => absorb_all(m, ls)?,
                None => latest = Some(ls),
            }
        }
    }
    let latest = latest.unwrap_or_else(|| cuts.iter().map(|_| Latest::empty()).collect());
    tracing::info!(
        files = files.len(),
        cuts = cuts.len(),
        passes,
        keys_ms = started.elapsed().as_millis() as u64,
        "latest states found"
    );
    Ok(latest)
}

fn absorb_all(mine: &mut [Latest], theirs: Vec<Latest>) -> Result<(), StepError> {
    for (m, t) in mine.iter_mut().zip(theirs) {
        m.absorb(t)?;
    }
    Ok(())
}

/// One pass of [`latest_states`]: the lines whose key falls in share `pass` of `passes`.
fn one_pass(
    handle: &Handle,
    staging: &Arc<dyn ObjectStore>,
    files: &[KeyFile],
    cuts: &[usize],
    pass: u64,
    passes: u64,
    state: &mut State,
) -> Result<Vec<Latest>, StepError> {
    let mut seen = Latest {
        staged: Vec::with_capacity(files.len()),
        wanted: Vec::new(),
        no_token: 0,
    };
    let mut rows_of: Vec<u32> = Vec::with_capacity(files.len());
    let mut out = Vec::with_capacity(cuts.len());
    let mut cuts = cuts.iter().peekable();
    for (f, kf) in files.iter().enumerate() {
        while let Some(at) = cuts.next_if(|at| **at <= f) {
            out.push(snapshot(&seen, &rows_of, *at, state));
        }
        let key = kf.export.keys_key();
        let obj = handle
            .block_on(staging.get(&key))?
            .ok_or_else(|| super::vanished(&key))?;
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
        seen.no_token += no_token;
        rows_of.push(row);
        seen.staged.push(Staged {
            export: kf.export.clone(),
            source: ExportRef {
                key: source.export_key,
                etag: source.etag,
            },
            token_rows: row,
        });
    }
    for at in cuts {
        out.push(snapshot(&seen, &rows_of, *at, state));
    }
    tracing::debug!(
        pass,
        lines = state.len(),
        "latest states of a share of the keys"
    );
    state.clear();
    Ok(out)
}

/// The latest states among the first `at` files, while `state` holds those of exactly them.
fn snapshot(seen: &Latest, rows_of: &[u32], at: usize, state: &State) -> Latest {
    let at = at.min(seen.staged.len());
    let mut wanted: Vec<Vec<u64>> = rows_of[..at]
        .iter()
        .map(|r| vec![0u64; (*r as usize).div_ceil(64)])
        .collect();
    for (file, row) in state.values() {
        let (file, row) = (*file as usize, *row as usize);
        if let Some(w) = wanted.get_mut(file).and_then(|w| w.get_mut(row / 64)) {
            *w |= 1 << (row % 64);
        }
    }
    Latest {
        staged: seen.staged[..at].to_vec(),
        wanted,
        no_token: seen.no_token,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::local::LocalObjects;
    use seedline_core::line::{Marketplace, OrderLine, StagedSource, StagedWriter, StatusClass};

    pub(crate) fn line(id: u32, token: bool) -> OrderLine {
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
            paid_fen: seedline_core::money::Fen(100),
            refund_fen: seedline_core::money::Fen(0),
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
    pub(crate) fn stage(
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
        let all = [files.len()];
        let one = latest_states(&handle, &store, &files, &all, u64::MAX)
            .unwrap()
            .remove(0);
        // Day 1: rows with a token are L1, L2, L4, L1 (0..4); the second L1 is latest, L2 is not
        // (no token on day 2), L4 is not (day 3). Day 2: L3, L5 (0..2); L5 is not. Day 3: L4, L7, L8.
        assert_eq!(one.wanted, vec![vec![0b1000], vec![0b01], vec![0b111]]);
        assert_eq!(one.no_token, 4);
        assert_eq!(
            one.staged.iter().map(|s| s.token_rows).collect::<Vec<_>>(),
            [4, 2, 3]
        );
        for rows_per_pass in [1, 2, 5] {
            let many = latest_states(&handle, &store, &files, &all, rows_per_pass)
                .unwrap()
                .remove(0);
            assert_eq!(many.wanted, one.wanted, "{rows_per_pass} rows a pass");
            assert_eq!(many.no_token, one.no_token);
        }
        // One read for several cuts marks, at each, what reading only the files before it marks.
        let cuts = [0, 1, 1, 2, 3];
        for rows_per_pass in [u64::MAX, 2] {
            let at_cuts = latest_states(&handle, &store, &files, &cuts, rows_per_pass).unwrap();
            assert_eq!(at_cuts.len(), cuts.len());
            for (cut, got) in cuts.iter().zip(&at_cuts) {
                let alone = latest_states(&handle, &store, &files[..*cut], &[*cut], u64::MAX)
                    .unwrap()
                    .remove(0);
                assert_eq!(
                    got.wanted, alone.wanted,
                    "cut {cut}, {rows_per_pass} rows a pass"
                );
                assert_eq!(got.no_token, alone.no_token, "cut {cut}");
                assert_eq!(got.staged.len(), *cut);
            }
        }
        // Up to day 2: L4 and the second L1 on day 1 (L2 lost its token on day 2), L3 and L5 on day 2.
        assert_eq!(
            latest_states(&handle, &store, &files, &[2], u64::MAX).unwrap()[0].wanted,
            vec![vec![0b1100], vec![0b11]]
        );
    }
}
