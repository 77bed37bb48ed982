//! What match decided of one staged export, kept from run to run (`staging/facts/...`). A run takes
//! in the facts of every export whose latest lines, catalog reads and report dates are what they
//! were, and decides only the other exports' lines: a day with 30 days of history behind it then
//! decides that day's export, not the history's. Facts are a cache: one that is missing, does not
//! read or does not match is decided again, so a stale or torn one costs time, never a wrong report.

use chrono::NaiveDate;
use seedline_core::attribution::codec::{put_date, take_date};
use seedline_core::attribution::{Facts, LinesDigest, MatchStats};
use seedline_core::line::Marketplace;
use seedline_core::wire::{put_str, take, take_array, take_str};

/// Bumped with the seedline version: no facts from another build are taken in.
const MAGIC: &str = concat!("seedline facts 1 ", env!("CARGO_PKG_VERSION"), "\n");

/// A staged export's [`Facts`], what they were decided from, and the digests of its credited lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFacts {
    /// The export's ETag and its line file's rows with a token, as staged.
    pub etag: String,
    pub token_rows: u32,
    /// SHA-256 of which of those rows were latest states ([`wanted_digest`]).
    pub wanted: [u8; 32],
    /// The report dates kept (spilled, and counted in `with_lines` and `digests`).
    pub kept: (NaiveDate, NaiveDate),
    pub facts: Facts,
    /// [`LinesDigest`] of the credited lines of each brand and kept date.
    pub digests: Vec<(String, NaiveDate, LinesDigest)>,
}

/// Which rows of a line file are latest states, as a digest.
pub fn wanted_digest(bits: &[u64]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update((bits.len() as u64).to_le_bytes());
    for w in bits {
        h.update(w.to_le_bytes());
    }
    h.finalize().into()
}

impl FileFacts {
    /// Whether these facts stand for the file as it is now, for a match keeping `kept`: same
    /// export, same latest rows, and every kept date the file has credited lines on was kept then.
    pub fn stand_for(
        &self,
        etag: &str,
        token_rows: u32,
        wanted: &[u8; 32],
        kept: (NaiveDate, NaiveDate),
    ) -> bool {
        let covered = match self.facts.last_credited {
            Some(last) if last >= kept.0 => {
                self.kept.0 <= kept.0 && kept.1.min(last) <= self.kept.1
            }
            _ => true,
        };
        self.etag == etag && self.token_rows == token_rows && self.wanted == *wanted && covered
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.as_bytes().to_vec();
        put_str(&mut out, &self.etag);
        out.extend_from_slice(&self.token_rows.to_le_bytes());
        out.extend_from_slice(&self.wanted);
        put_date(&mut out, self.kept.0);
        put_date(&mut out, self.kept.1);
        let f = &self.facts;
        for n in [
            f.stats.lines,
            f.stats.not_paid,
            f.stats.no_token,
            f.stats.credited,
        ] {
            put_u64(&mut out, n);
        }
        put_u64(&mut out, f.stats.excluded.len() as u64);
        for (reason, n) in &f.stats.excluded {
            put_str(&mut out, reason);
            put_u64(&mut out, *n);
        }
        put_u64(&mut out, f.campaigns.len() as u64);
        for (id, fp) in &f.campaigns {
            put_str(&mut out, id);
            put_u64(&mut out, *fp);
        }
        put_u64(&mut out, f.unknown_tokens.len() as u64);
        for t in &f.unknown_tokens {
            put_str(&mut out, t);
        }
        put_u64(&mut out, f.daily.len() as u64);
        for (c, m, d, v) in &f.daily {
            out.extend_from_slice(&c.to_le_bytes());
            out.push(*m as u8);
            put_date(&mut out, *d);
            out.extend_from_slice(&v.to_le_bytes());
        }
        put_u64(&mut out, f.with_lines.len() as u64);
        for (b, d) in &f.with_lines {
            put_str(&mut out, b);
            put_date(&mut out, *d);
        }
        put_u64(&mut out, f.etags.len() as u64);
        for (k, e) in &f.etags {
            put_str(&mut out, k);
            put_str(&mut out, e);
        }
        match f.last_credited {
            Some(d) => {
                out.push(1);
                put_date(&mut out, d);
            }
            None => out.push(0),
        }
        put_u64(&mut out, self.digests.len() as u64);
        for (b, d, x) in &self.digests {
            put_str(&mut out, b);
            put_date(&mut out, *d);
            out.extend_from_slice(&x.bytes());
        }
        out
    }

    /// None when the bytes are not facts this seedline wrote whole.
    pub fn decode(bytes: &[u8]) -> Option<FileFacts> {
        let mut rest = bytes.strip_prefix(MAGIC.as_bytes())?;
        let r = &mut rest;
        let etag = take_str(r)?;
        let token_rows = u32::from_le_bytes(take_array(r)?);
        let wanted = take_array(r)?;
        let kept = (take_date(r)?, take_date(r)?);
        let mut stats = MatchStats {
            lines: take_u64(r)?,
            not_paid: take_u64(r)?,
            no_token: take_u64(r)?,
            credited: take_u64(r)?,
            ..MatchStats::default()
        };
        for _ in 0..take_u64(r)? {
            let reason = take_str(r)?;
            stats.excluded.insert(reason, take_u64(r)?);
        }
        let mut campaigns = Vec::new();
        for _ in 0..take_u64(r)? {
            campaigns.push((take_str(r)?, take_u64(r)?));
        }
        let mut unknown_tokens = Vec::new();
        for _ in 0..take_u64(r)? {
            unknown_tokens.push(take_str(r)?);
        }
        let mut daily = Vec::new();
        for _ in 0..take_u64(r)? {
            let c = u32::from_le_bytes(take_array(r)?);
            let m = *Marketplace::ALL.get(usize::from(take(r, 1)?[0]))?;
            let d = take_date(r)?;
            daily.push((c, m, d, i64::from_le_bytes(take_array(r)?)));
        }
        let mut with_lines = Vec::new();
        for _ in 0..take_u64(r)? {
            with_lines.push((take_str(r)?, take_date(r)?));
        }
        let mut etags = Vec::new();
        for _ in 0..take_u64(r)? {
            etags.push((take_str(r)?, take_str(r)?));
        }
        let last_credited = match take(r, 1)?[0] {
            1 => Some(take_date(r)?),
            _ => None,
        };
        let mut digests = Vec::new();
        for _ in 0..take_u64(r)? {
            let b = take_str(r)?;
            let d = take_date(r)?;
            digests.push((b, d, LinesDigest::from_bytes(take_array(r)?)));
        }
        if !rest.is_empty() {
            return None;
        }
        Some(FileFacts {
            etag,
            token_rows,
            wanted,
            kept,
            facts: Facts {
                stats,
                campaigns,
                unknown_tokens,
                daily,
                with_lines,
                etags,
                last_credited,
            },
            digests,
        })
    }
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn take_u64(rest: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(take_array(rest)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, day).unwrap()
    }

    fn sample() -> FileFacts {
        let mut digest = LinesDigest::default();
        digest.add(b"a line", "etag");
        FileFacts {
            etag: "e1".into(),
            token_rows: 7,
            wanted: wanted_digest(&[0b1011, 1 << 63]),
            kept: (d(1), d(10)),
            facts: Facts {
                stats: MatchStats {
                    lines: 7,
                    not_paid: 1,
                    no_token: 0,
                    credited: 4,
                    excluded: [("out_of_window".to_string(), 2)].into(),
                },
                campaigns: vec![("c-1".into(), 42), ("c-2".into(), u64::MAX)],
                unknown_tokens: vec!["xhs_gone".into()],
                daily: vec![
                    (0, Marketplace::Taobao, d(3), 1200),
                    (1, Marketplace::Jd, d(4), -5),
                ],
                with_lines: vec![("b-1".into(), d(3))],
                etags: vec![("exports/taobao/2025-06-03/a.csv".into(), "e1".into())],
                last_credited: Some(d(4)),
            },
            digests: vec![("b-1".into(), d(3), digest)],
        }
    }

    #[test]
    fn facts_read_back_and_nothing_torn_reads() {
        let f = sample();
        let bytes = f.encode();
        assert_eq!(FileFacts::decode(&bytes), Some(f));
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(FileFacts::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(FileFacts::decode(&longer), None);
        assert_eq!(FileFacts::decode(b"seedline facts 0 0.0.0\n"), None);
    }

    #[test]
    fn facts_stand_only_for_the_same_rows_and_covered_dates() {
        let f = sample();
        let w = f.wanted;
        assert!(f.stand_for("e1", 7, &w, (d(1), d(10))));
        // The range moved on: dates after the file's last credited line need nothing.
        assert!(f.stand_for("e1", 7, &w, (d(2), d(11))));
        assert!(f.stand_for("e1", 7, &w, (d(5), d(30))));
        // An older day re-run keeps dates the facts did not.
        assert!(!f.stand_for("e1", 7, &w, (d(1).pred_opt().unwrap(), d(10))));
        assert!(!f.stand_for("e2", 7, &w, (d(1), d(10))));
        assert!(!f.stand_for("e1", 8, &w, (d(1), d(10))));
        assert!(!f.stand_for("e1", 7, &wanted_digest(&[0b1011]), (d(1), d(10))));
        let narrow = FileFacts {
            kept: (d(1), d(3)),
            ..f.clone()
        };
        assert!(
            !narrow.stand_for("e1", 7, &w, (d(1), d(10))),
            "day 4 was not kept"
        );
    }
}
