//! Pass one's latest states, kept from run to run (`staging/states/{passes}/{pass}.bin`). Each
//! share of the keys is kept as the map it ended with and what was read of each key file, for the
//! key files it read in order; a later run whose key files begin with those same files (same keys,
//! same ETags) takes the map in and reads only the key files after them. A day with 30 days of
//! history behind it then reads that day's key file, not the history's. Like facts, a snapshot is
//! a cache: one that is missing, torn, from another build or for other files is not used.

use std::io::{BufRead, Write};

use sha2::Digest;

const MAGIC: &str = concat!("seedline latest states 1 ", env!("CARGO_PKG_VERSION"), "\n");

pub const PREFIX: &str = "staging/states/";

/// Where the shares of `passes` are kept: one directory per number of passes, so a run that
/// splits the keys otherwise never reads a share cut differently.
pub fn dir(passes: u64) -> String {
    format!("{PREFIX}{passes}/")
}

/// Where share `pass` of `passes` is kept.
pub fn key(passes: u64, pass: u64) -> String {
    format!("{}{pass}.bin", dir(passes))
}

/// The number of kept shares under `key`, when it is a share's key.
pub fn passes_of(key: &str) -> Option<u64> {
    key.strip_prefix(PREFIX)?.split('/').next()?.parse().ok()
}

/// How many passes to cut the keys into when memory needs at least `needed` and the shares kept
/// are cut in `kept`. The kept cut, while it is enough and not more than twice as many as needed:
/// the history then grows without cutting anew. Otherwise as few as needed, rounded up to a power
/// of two when there was a cut before (a history that outgrew it), so that it lasts until the
/// history doubles; a first run with none takes exactly what it needs.
pub fn passes(needed: u64, kept: Option<u64>) -> u64 {
    let needed = needed.max(1);
    match kept {
        Some(k) if needed <= k && k <= needed.saturating_mul(2) => k,
        Some(_) => needed.next_power_of_two(),
        None => needed,
    }
}

/// What pass one read of a key file, beside the map: kept so that it need not be read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRead {
    /// The export the key file was staged from, and its ETag then (the key file's first line).
    pub export_key: String,
    pub etag: String,
    /// Rows with a token (rows of the line file), and rows without.
    pub token_rows: u32,
    pub no_token: u64,
}

/// One latest state: a line's key (two halves) and its file and row.
pub type Entry = (u64, u64, u32, u32);

/// The digest of key files by key and ETag, in order, of every first `n` of them (`n` from 0 to
/// all): what a snapshot stands for, for each number of files it may have read.
pub fn prefix_digests<K: AsRef<str>, E: AsRef<str>>(
    files: impl IntoIterator<Item = (K, E)>,
) -> Vec<[u8; 32]> {
    let mut h = sha2::Sha256::new();
    let mut digests = vec![h.clone().finalize().into()];
    for (key, etag) in files {
        let (key, etag) = (key.as_ref(), etag.as_ref());
        h.update((key.len() as u64).to_le_bytes());
        h.update(key.as_bytes());
        h.update((etag.len() as u64).to_le_bytes());
        h.update(etag.as_bytes());
        digests.push(h.clone().finalize().into());
    }
    digests
}

/// Writes a snapshot of share `pass` of `passes` after the key files digested as `digest`.
pub fn write(
    out: &mut impl Write,
    passes: u64,
    pass: u64,
    digest: &[u8; 32],
    files: &[FileRead],
    entries: usize,
    each: impl IntoIterator<Item = Entry>,
) -> std::io::Result<()> {
    out.write_all(MAGIC.as_bytes())?;
    out.write_all(&passes.to_le_bytes())?;
    out.write_all(&pass.to_le_bytes())?;
    out.write_all(digest)?;
    out.write_all(&(files.len() as u64).to_le_bytes())?;
    for f in files {
        for s in [&f.export_key, &f.etag] {
            out.write_all(&(s.len() as u64).to_le_bytes())?;
            out.write_all(s.as_bytes())?;
        }
        out.write_all(&f.token_rows.to_le_bytes())?;
        out.write_all(&f.no_token.to_le_bytes())?;
    }
    out.write_all(&(entries as u64).to_le_bytes())?;
    let mut written = 0usize;
    for (k0, k1, file, row) in each {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&k0.to_le_bytes());
        b[8..16].copy_from_slice(&k1.to_le_bytes());
        b[16..20].copy_from_slice(&file.to_le_bytes());
        b[20..].copy_from_slice(&row.to_le_bytes());
        out.write_all(&b)?;
        written += 1;
    }
    if written != entries {
        return Err(std::io::Error::other(format!(
            "{written} latest states written, {entries} announced"
        )));
    }
    out.flush()
}

/// Reads a snapshot of share `pass` of `passes`: the key files it stands for, if `stands` takes
/// their count and digest, with every entry handed to `each`. `None` when it is not one (another
/// build, another share, torn), or `stands` refuses it; entries may have been handed out by then,
/// and the caller drops them.
pub fn read(
    input: &mut impl BufRead,
    passes: u64,
    pass: u64,
    stands: impl FnOnce(usize, &[u8; 32]) -> bool,
    mut each: impl FnMut(Entry),
) -> std::io::Result<Option<Vec<FileRead>>> {
    let mut magic = vec![0u8; MAGIC.len()];
    if !read_all(input, &mut magic)? || magic != MAGIC.as_bytes() {
        return Ok(None);
    }
    let (Some(p), Some(q)) = (u64_of(input)?, u64_of(input)?) else {
        return Ok(None);
    };
    let mut digest = [0u8; 32];
    if p != passes || q != pass || !read_all(input, &mut digest)? {
        return Ok(None);
    }
    let Some(n) = u64_of(input)?.and_then(|n| usize::try_from(n).ok()) else {
        return Ok(None);
    };
    if !stands(n, &digest) {
        return Ok(None);
    }
    let mut files = Vec::with_capacity(n);
    for _ in 0..n {
        let (Some(export_key), Some(etag)) = (str_of(input)?, str_of(input)?) else {
            return Ok(None);
        };
        let mut rows = [0u8; 4];
        if !read_all(input, &mut rows)? {
            return Ok(None);
        }
        let Some(no_token) = u64_of(input)? else {
            return Ok(None);
        };
        files.push(FileRead {
            export_key,
            etag,
            token_rows: u32::from_le_bytes(rows),
            no_token,
        });
    }
    let Some(entries) = u64_of(input)? else {
        return Ok(None);
    };
    let mut b = [0u8; 24];
    for _ in 0..entries {
        if !read_all(input, &mut b)? {
            return Ok(None);
        }
        let (k0, k1, file, row) = (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[8..16].try_into().unwrap_or_default()),
            u32::from_le_bytes(b[16..20].try_into().unwrap_or_default()),
            u32::from_le_bytes(b[20..].try_into().unwrap_or_default()),
        );
        // An entry must point into the files it stands for, at a row with a token.
        match files.get(file as usize) {
            Some(f) if row < f.token_rows => each((k0, k1, file, row)),
            _ => return Ok(None),
        }
    }
    // Nothing may follow: a longer object is not this snapshot.
    Ok(input.fill_buf()?.is_empty().then_some(files))
}

/// Fills `buf`; false when the input ends first.
fn read_all(input: &mut impl BufRead, buf: &mut [u8]) -> std::io::Result<bool> {
    match input.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

fn u64_of(input: &mut impl BufRead) -> std::io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    Ok(read_all(input, &mut b)?.then(|| u64::from_le_bytes(b)))
}

fn str_of(input: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let Some(len) = u64_of(input)?.and_then(|n| usize::try_from(n).ok()) else {
        return Ok(None);
    };
    // A key or an ETag is short: a huge length is a torn or foreign object, not an allocation.
    if len > 4096 {
        return Ok(None);
    }
    let mut b = vec![0u8; len];
    if !read_all(input, &mut b)? {
        return Ok(None);
    }
    Ok(String::from_utf8(b).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest of all of `files`.
    fn digest_of<const N: usize>(files: [(&str, &str); N]) -> [u8; 32] {
        *prefix_digests(files).last().unwrap()
    }

    fn sample() -> (Vec<FileRead>, Vec<Entry>) {
        let files = vec![
            FileRead {
                export_key: "exports/taobao/2025-06-01/a.csv".into(),
                etag: "\"e1\"".into(),
                token_rows: 3,
                no_token: 7,
            },
            FileRead {
                export_key: "exports/jd/2025-06-02/b.csv".into(),
                etag: "e2".into(),
                token_rows: 1,
                no_token: 0,
            },
        ];
        (files, vec![(1, 2, 0, 2), (u64::MAX, 5, 1, 0), (9, 9, 0, 0)])
    }

    fn encoded(files: &[FileRead], entries: &[Entry], digest: &[u8; 32]) -> Vec<u8> {
        let mut out = Vec::new();
        write(
            &mut out,
            4,
            1,
            digest,
            files,
            entries.len(),
            entries.iter().copied(),
        )
        .unwrap();
        out
    }

    #[test]
    fn a_kept_cut_lasts_while_it_is_enough_and_not_twice_too_many() {
        assert_eq!(passes(5, None), 5);
        assert_eq!(passes(0, None), 1);
        assert_eq!(passes(6, Some(5)), 8);
        assert_eq!(passes(8, Some(8)), 8);
        assert_eq!(passes(5, Some(8)), 8);
        assert_eq!(passes(4, Some(8)), 8);
        assert_eq!(passes(3, Some(8)), 4);
        assert_eq!(passes(9, Some(8)), 16);
        assert_eq!(passes(1, Some(1)), 1);
        assert_eq!(passes_of(&key(8, 3)), Some(8));
        assert_eq!(passes_of("staging/facts/x"), None);
    }

    #[test]
    fn a_snapshot_reads_back_as_written() {
        let (files, entries) = sample();
        let digest = digest_of([("k1", "t1"), ("k2", "t2")]);
        let bytes = encoded(&files, &entries, &digest);
        let mut got = Vec::new();
        let back = read(
            &mut bytes.as_slice(),
            4,
            1,
            |n, d| n == 2 && *d == digest,
            |e| got.push(e),
        )
        .unwrap();
        assert_eq!(back, Some(files));
        assert_eq!(got, entries);
    }

    #[test]
    fn a_snapshot_for_other_files_or_another_share_or_torn_is_not_used() {
        let (files, entries) = sample();
        let digest = digest_of([("k1", "t1"), ("k2", "t2")]);
        let bytes = encoded(&files, &entries, &digest);
        let read_as = |bytes: &[u8], passes, pass, want: [u8; 32]| {
            read(&mut &bytes[..], passes, pass, |_, d| *d == want, |_| {})
                .unwrap()
                .is_some()
        };
        assert!(read_as(&bytes, 4, 1, digest));
        // Another ETag of the same key file is another digest.
        assert!(!read_as(
            &bytes,
            4,
            1,
            digest_of([("k1", "t1"), ("k2", "t3")])
        ));
        assert!(!read_as(&bytes, 4, 2, digest));
        assert!(!read_as(&bytes, 8, 1, digest));
        for cut in [0, 10, MAGIC.len() + 20, bytes.len() - 1] {
            assert!(!read_as(&bytes[..cut], 4, 1, digest), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(!read_as(&longer, 4, 1, digest));
        // An entry pointing past its file's rows.
        let bad = encoded(&files, &[(1, 1, 1, 1)], &digest);
        assert!(!read_as(&bad, 4, 1, digest));
    }

    #[test]
    fn the_digest_is_of_keys_and_etags_in_order() {
        let a = digest_of([("k1", "t1"), ("k2", "t2")]);
        assert_ne!(a, digest_of([("k2", "t2"), ("k1", "t1")]));
        assert_ne!(a, digest_of([("k1", "t1k2"), ("", "t2")]));
        assert_ne!(a, digest_of([("k1", "t1")]));
        assert_eq!(a, digest_of([("k1", "t1"), ("k2", "t2")]));
        // Each first n of the files: the digest of those n alone.
        let all = prefix_digests([("k1", "t1"), ("k2", "t2"), ("k3", "t3")]);
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], digest_of::<0>([]));
        assert_eq!(all[1], digest_of([("k1", "t1")]));
        assert_eq!(all[2], a);
    }
}
