//! Credited lines on their way from match's pass two to report inputs, on disk in buckets by brand:
//! memory holds one bucket at a time, whatever the number of lines. Records are length-prefixed
//! binary (a line is written once and read once, by the same process, moments apart).

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use chrono::NaiveDate;
use seedline_core::attribution::codec::{
    put_date, put_line, put_str, take_date, take_line, take_str,
};
use seedline_core::attribution::{AttributedLine, Credit, Kept};
use seedline_core::wire::{put_record_with, read_record, take_str_ref};

use super::StepError;

/// One bucket's lines, by brand and report date.
pub type KeptLines = HashMap<(String, NaiveDate), Vec<AttributedLine>>;

pub struct Spill {
    _dir: tempfile::TempDir,
    paths: Vec<PathBuf>,
    /// Created on a bucket's first line: a small day touches few.
    files: Vec<Option<BufWriter<std::fs::File>>>,
    buf: Vec<u8>,
}

impl Spill {
    /// A 10M-line day credits about 1.4M lines: a bucket then holds about 11,000.
    pub const BUCKETS: usize = 128;

    pub fn new() -> Result<Spill, StepError> {
        let io = |e| StepError::io("creating spill files", true, e);
        let dir = tempfile::tempdir().map_err(io)?;
        let paths: Vec<_> = (0..Self::BUCKETS)
            .map(|i| dir.path().join(format!("{i}.bin")))
            .collect();
        let files = (0..Self::BUCKETS).map(|_| None).collect();
        Ok(Spill {
            _dir: dir,
            paths,
            files,
            buf: Vec::with_capacity(1024),
        })
    }

    /// FNV-1a: stable, so a brand's lines and its report targets meet in the same bucket.
    pub fn bucket(brand: &str) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in brand.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        (h % Self::BUCKETS as u64) as usize
    }

    /// Spills a credited line.
    pub fn write(&mut self, k: &Credit<'_>) -> std::io::Result<()> {
        self.buf.clear();
        put_record_with(&mut self.buf, |b| encode(k, b))?;
        let b = Self::bucket(k.brand_id);
        let f = match &mut self.files[b] {
            Some(f) => f,
            empty => empty.insert(BufWriter::with_capacity(
                16 << 10,
                std::fs::File::create(&self.paths[b])?,
            )),
        };
        f.write_all(&self.buf)
    }

    /// Flushes every bucket; then [`Spill::load`] reads them back.
    pub fn finish(&mut self) -> Result<(), StepError> {
        for f in self.files.iter_mut().flatten() {
            f.flush()
                .map_err(|e| StepError::io("writing spill files", true, e))?;
        }
        Ok(())
    }

    /// One bucket's lines of the brands and dates `wanted`, grouped by brand and date (the others
    /// are passed over without being decoded).
    pub fn load(
        &self,
        bucket: usize,
        wanted: impl Fn(&str, NaiveDate) -> bool,
    ) -> Result<KeptLines, StepError> {
        let io = |e| StepError::io("reading spill files", true, e);
        let mut kept = KeptLines::new();
        if self.files[bucket].is_none() {
            return Ok(kept);
        }
        let mut r = std::io::BufReader::with_capacity(
            64 << 10,
            std::fs::File::open(&self.paths[bucket]).map_err(io)?,
        );
        let mut body = Vec::new();
        while read_record(&mut r, &mut body).map_err(io)? {
            let mut head = &body[..];
            let wants = take_str_ref(&mut head)
                .zip(take_date(&mut head))
                .is_none_or(|(brand, date)| wanted(brand, date));
            if !wants {
                continue;
            }
            let k = decode(&body).ok_or_else(|| {
                io(std::io::Error::other(
                    "a spilled line does not read back (disk fault?)",
                ))
            })?;
            kept.entry((k.brand_id, k.date)).or_default().push(k.line);
        }
        Ok(kept)
    }
}

fn encode(k: &Credit<'_>, out: &mut Vec<u8>) {
    put_str(out, k.brand_id);
    put_date(out, k.date);
    put_line(out, &k.line);
}

fn decode(mut b: &[u8]) -> Option<Kept> {
    let rest = &mut b;
    let k = Kept {
        brand_id: take_str(rest)?,
        date: take_date(rest)?,
        line: take_line(rest)?,
    };
    rest.is_empty().then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedline_core::attribution::MatchKind;
    use seedline_core::campaign::LinkKind;
    use seedline_core::line::Marketplace;

    #[test]
    fn spilled_lines_read_back_by_brand_and_date() {
        let line = |brand: &str, day: u32, title: &str| Kept {
            brand_id: brand.into(),
            date: NaiveDate::from_ymd_opt(2025, 6, day).unwrap(),
            line: AttributedLine {
                campaign_id: "c1".into(),
                note_id: "n1".into(),
                link_kind: LinkKind::CommentLink,
                marketplace: Marketplace::Jd,
                shop_id: "s".into(),
                order_id: "o".into(),
                line_id: "o/1".into(),
                item_id: "1".into(),
                title: title.into(),
                quantity: 3,
                paid_fen: seedline_core::money::Fen(12_345),
                refund_fen: seedline_core::money::Fen(-7),
                paid_at: seedline_core::time::parse_timestamp("2025-06-01 23:59:59").unwrap(),
                buyer_hash: "ab".into(),
                match_kind: MatchKind::Halo,
                source_key: "exports/jd/2025-06-01/a.csv".into(),
            },
        };
        let mut spill = Spill::new().unwrap();
        let lines = [
            line("b1", 1, "面霜 \"50ml\""),
            line("b1", 2, ""),
            line("b2", 1, "x"),
            line("b1", 1, "second"),
        ];
        for k in &lines {
            spill.write(&k.as_credit()).unwrap();
        }
        spill.finish().unwrap();
        let mut back = KeptLines::new();
        for b in 0..Spill::BUCKETS {
            back.extend(spill.load(b, |_, _| true).unwrap());
        }
        let d1 = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        assert_eq!(
            back[&("b1".to_string(), d1)],
            vec![lines[0].line.clone(), lines[3].line.clone()]
        );
        assert_eq!(back[&("b2".to_string(), d1)], vec![lines[2].line.clone()]);
        assert_eq!(back.len(), 3);
        // Only what is asked for is read back.
        let b1 = Spill::bucket("b1");
        let only = spill.load(b1, |b, d| b == "b1" && d != d1).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[&("b1".to_string(), d1.succ_opt().unwrap())].len(), 1);
    }
}
