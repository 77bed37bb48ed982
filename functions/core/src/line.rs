//! The canonical order line every dialect is normalised into, and its staged form.
//!
//! Ingest stages each export as two files. The key file holds every row's line key, in row order,
//! with whether it carries a token: all that latest state needs of the four lines in five that came
//! through no link and can never be credited. The line file holds the rows with a token in full,
//! as CSV. Match reads the key files to find each line's latest state, then decodes only the rows
//! that are one.

use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::time::{format_timestamp, parse_timestamp};

/// A partner marketplace, as it appears in export keys (`exports/{marketplace}/…`).
///
/// Variants are in byte order of their names (`jd` < `taobao`), so sorting by the enum sorts reports
/// the way reports.md asks: strings compared byte by byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Marketplace {
    Jd,
    Taobao,
}

impl Marketplace {
    pub const ALL: [Marketplace; 2] = [Marketplace::Jd, Marketplace::Taobao];

    pub fn as_str(self) -> &'static str {
        match self {
            Marketplace::Taobao => "taobao",
            Marketplace::Jd => "jd",
        }
    }
}

impl fmt::Display for Marketplace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Marketplace {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "taobao" => Ok(Marketplace::Taobao),
            "jd" => Ok(Marketplace::Jd),
            other => Err(format!(
                "unknown marketplace {other:?} (expected taobao or jd)"
            )),
        }
    }
}

/// What an order status means for attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusClass {
    Paid,
    Unpaid,
    Closed,
}

impl StatusClass {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Paid => "paid",
            StatusClass::Unpaid => "unpaid",
            StatusClass::Closed => "closed",
        }
    }
}

impl FromStr for StatusClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "paid" => Ok(StatusClass::Paid),
            "unpaid" => Ok(StatusClass::Unpaid),
            "closed" => Ok(StatusClass::Closed),
            other => Err(format!("unknown status class {other:?}")),
        }
    }
}

/// One order line in its checked, canonical form. Holds no personal data: the buyer is a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub marketplace: Marketplace,
    pub line_id: String,
    pub order_id: String,
    pub shop_id: String,
    pub item_id: String,
    pub sku_code: String,
    pub title: String,
    pub quantity: u32,
    /// Paid amount in fen (JD: the order's 应付金额 shared out).
    pub paid_fen: i64,
    /// Effective refund in fen: capped at `paid_fen`, and all of it for a closed line that was paid.
    pub refund_fen: i64,
    pub status: String,
    pub status_class: StatusClass,
    pub created_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub buyer_hash: String,
    pub token: String,
    pub clicked_at: Option<NaiveDateTime>,
    /// The physical line of the export file it was read from (1-based).
    pub source_line: u64,
}

impl OrderLine {
    /// Paid and not merely "paid later": a payment time and a paid or closed status.
    pub fn is_paid(&self) -> bool {
        self.paid_at.is_some()
            && matches!(self.status_class, StatusClass::Paid | StatusClass::Closed)
    }

    pub fn net_fen(&self) -> i64 {
        self.paid_fen - self.refund_fen
    }
}

/// Column order of staged line files.
pub const STAGED_HEADER: [&str; 19] = [
    "marketplace",
    "line_id",
    "order_id",
    "shop_id",
    "item_id",
    "sku_code",
    "title",
    "quantity",
    "paid_fen",
    "refund_fen",
    "status",
    "status_class",
    "created_at",
    "paid_at",
    "buyer_hash",
    "token",
    "clicked_at",
    "source_line",
    "reserved",
];

/// The first line of a staged line file: where its lines came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedSource {
    pub export_key: String,
    pub etag: String,
}

/// A line's identity, (marketplace, line_id), as the first 128 bits of its SHA-256: 16 bytes per
/// line held instead of a string, and no crafted line id can make two lines one.
pub type LineKey = u128;

pub fn line_key(m: Marketplace, line_id: &[u8]) -> LineKey {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update([m as u8]);
    h.update(line_id);
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    u128::from_le_bytes(k)
}

/// One row of an export as the key file holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: LineKey,
    /// The row carries a token: it is the next row of the line file.
    pub token: bool,
    /// [`OrderLine::is_paid`].
    pub paid: bool,
    /// The physical line of the export (saturating at `u32::MAX`).
    pub source_line: u32,
}

/// Bytes per key record: the key (16, little-endian), flags (1), the source line (4, little-endian).
pub const KEY_RECORD_LEN: usize = 21;

impl KeyRecord {
    fn encode(&self) -> [u8; KEY_RECORD_LEN] {
        let mut b = [0u8; KEY_RECORD_LEN];
        b[..16].copy_from_slice(&self.key.to_le_bytes());
        b[16] = u8::from(self.token) | (u8::from(self.paid) << 1);
        b[17..].copy_from_slice(&self.source_line.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<KeyRecord> {
        let key = u128::from_le_bytes(b.get(..16)?.try_into().ok()?);
        let flags = *b.get(16)?;
        if flags > 3 {
            return None;
        }
        let source_line = u32::from_le_bytes(b.get(17..21)?.try_into().ok()?);
        Some(KeyRecord {
            key,
            token: flags & 1 == 1,
            paid: flags & 2 == 2,
            source_line,
        })
    }
}

/// Writes an export's staged files: the line file (a JSON source line, then CSV rows of
/// [`STAGED_HEADER`] for the rows with a token) and the key file (the same JSON source line, then a
/// [`KeyRecord`] for every row).
pub struct StagedWriter<W: Write, K: Write> {
    csv: csv::Writer<W>,
    keys: K,
}

impl<W: Write, K: Write> StagedWriter<W, K> {
    pub fn new(mut out: W, mut keys: K, source: &StagedSource) -> std::io::Result<Self> {
        for o in [&mut out as &mut dyn Write, &mut keys] {
            serde_json::to_writer(&mut *o, source)?;
            o.write_all(b"\n")?;
        }
        let mut csv = csv::WriterBuilder::new().from_writer(out);
        csv.write_record(STAGED_HEADER)?;
        Ok(StagedWriter { csv, keys })
    }

    pub fn write(&mut self, l: &OrderLine) -> std::io::Result<()> {
        let rec = KeyRecord {
            key: line_key(l.marketplace, l.line_id.as_bytes()),
            token: !l.token.is_empty(),
            paid: l.is_paid(),
            source_line: u32::try_from(l.source_line).unwrap_or(u32::MAX),
        };
        self.keys.write_all(&rec.encode())?;
        if !rec.token {
            return Ok(());
        }
        let (mut b1, mut b2, mut b3, mut b4) = (
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        );
        let qty = b1.format(l.quantity);
        let paid = b2.format(l.paid_fen);
        let refund = b3.format(l.refund_fen);
        let created = format_timestamp(&l.created_at);
        let paid_at = l.paid_at.as_ref().map(format_timestamp).unwrap_or_default();
        let clicked = l
            .clicked_at
            .as_ref()
            .map(format_timestamp)
            .unwrap_or_default();
        let src = b4.format(l.source_line);
        self.csv.write_record([
            l.marketplace.as_str(),
            &l.line_id,
            &l.order_id,
            &l.shop_id,
            &l.item_id,
            &l.sku_code,
            &l.title,
            qty,
            paid,
            refund,
            &l.status,
            l.status_class.as_str(),
            &created,
            &paid_at,
            &l.buyer_hash,
            &l.token,
            &clicked,
            src,
            "",
        ])?;
        Ok(())
    }

    /// Flushes both files and hands them back: (line file, key file).
    pub fn finish(self) -> std::io::Result<(W, K)> {
        let w = self.csv.into_inner().map_err(|e| e.into_error())?;
        Ok((w, self.keys))
    }
}

/// Reads a key file, calling `each` for every record in row order.
pub fn read_keys<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(KeyRecord),
) -> Result<StagedSource, StagedReadError> {
    let source = read_source(&mut input)?;
    let mut buf = vec![0u8; KEY_RECORD_LEN * 8192];
    let mut filled = 0;
    let mut n = 0u64;
    loop {
        let got = input.read(&mut buf[filled..])?;
        filled += got;
        let whole = filled - filled % KEY_RECORD_LEN;
        for rec in buf[..whole].chunks_exact(KEY_RECORD_LEN) {
            n += 1;
            each(KeyRecord::decode(rec).ok_or(StagedReadError::Invalid {
                record: n,
                why: "bad key record flags".into(),
            })?);
        }
        buf.copy_within(whole..filled, 0);
        filled -= whole;
        if got == 0 {
            break;
        }
    }
    if filled != 0 {
        return Err(StagedReadError::Invalid {
            record: n + 1,
            why: format!("key file ends inside a record ({filled} bytes)"),
        });
    }
    Ok(source)
}

fn read_source<R: BufRead>(input: &mut R) -> Result<StagedSource, StagedReadError> {
    let mut first = String::new();
    input.read_line(&mut first)?;
    serde_json::from_str(first.trim_end()).map_err(|e| StagedReadError::Invalid {
        record: 0,
        why: format!("source line: {e}"),
    })
}

/// A staged file that does not read back: seedline wrote it, so this is a bug or tampering.
#[derive(Debug, thiserror::Error)]
pub enum StagedReadError {
    #[error("reading staged lines: {0}")]
    Io(#[from] std::io::Error),
    #[error("staged lines: {0}")]
    Csv(#[from] csv::Error),
    #[error("staged lines, record {record}: {why}")]
    Invalid { record: u64, why: String },
}

/// A staged row as read: the cheap questions (its key, whether it can be credited) are answered
/// from the bytes; the whole line is decoded only when asked for.
pub struct StagedRow<'a> {
    rec: &'a csv::ByteRecord,
    n: u64,
}

impl StagedRow<'_> {
    fn field(&self, i: usize) -> &[u8] {
        self.rec.get(i).unwrap_or_default()
    }

    fn bad(&self, why: String) -> StagedReadError {
        StagedReadError::Invalid {
            record: self.n,
            why,
        }
    }

    pub fn marketplace(&self) -> Result<Marketplace, StagedReadError> {
        match self.field(0) {
            b"taobao" => Ok(Marketplace::Taobao),
            b"jd" => Ok(Marketplace::Jd),
            other => Err(self.bad(format!(
                "unknown marketplace {:?}",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    /// The row's place in the line file, from 0: the `n`th row with a token of its export.
    pub fn index(&self) -> u64 {
        self.n - 1
    }

    pub fn line_id(&self) -> &[u8] {
        self.field(1)
    }

    /// [`OrderLine::is_paid`], from the bytes.
    pub fn is_paid(&self) -> bool {
        !self.field(13).is_empty() && matches!(self.field(11), b"paid" | b"closed")
    }

    pub fn has_token(&self) -> bool {
        !self.field(15).is_empty()
    }

    /// The whole line.
    pub fn line(&self) -> Result<OrderLine, StagedReadError> {
        let text = |i: usize| -> Result<&str, StagedReadError> {
            std::str::from_utf8(self.field(i)).map_err(|e| self.bad(format!("field {i}: {e}")))
        };
        let opt_ts = |i: usize| -> Result<Option<NaiveDateTime>, StagedReadError> {
            let s = text(i)?;
            if s.is_empty() {
                Ok(None)
            } else {
                parse_timestamp(s).map(Some).map_err(|e| self.bad(e))
            }
        };
        Ok(OrderLine {
            marketplace: self.marketplace()?,
            line_id: text(1)?.to_string(),
            order_id: text(2)?.to_string(),
            shop_id: text(3)?.to_string(),
            item_id: text(4)?.to_string(),
            sku_code: text(5)?.to_string(),
            title: text(6)?.to_string(),
            quantity: text(7)?
                .parse()
                .map_err(|e| self.bad(format!("quantity: {e}")))?,
            paid_fen: text(8)?
                .parse()
                .map_err(|e| self.bad(format!("paid_fen: {e}")))?,
            refund_fen: text(9)?
                .parse()
                .map_err(|e| self.bad(format!("refund_fen: {e}")))?,
            status: text(10)?.to_string(),
            status_class: text(11)?.parse().map_err(|e| self.bad(e))?,
            created_at: parse_timestamp(text(12)?).map_err(|e| self.bad(e))?,
            paid_at: opt_ts(13)?,
            buyer_hash: text(14)?.to_string(),
            token: text(15)?.to_string(),
            clicked_at: opt_ts(16)?,
            source_line: text(17)?
                .parse()
                .map_err(|e| self.bad(format!("source_line: {e}")))?,
        })
    }
}

/// Reads a staged line file back, calling `each` for every row in file order.
pub fn read_staged_rows<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(StagedRow<'_>) -> Result<(), StagedReadError>,
) -> Result<StagedSource, StagedReadError> {
    let source = read_source(&mut input)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .buffer_capacity(1 << 16)
        .from_reader(input);
    let mut rec = csv::ByteRecord::new();
    let mut n = 0u64;
    while rdr.read_byte_record(&mut rec)? {
        n += 1;
        each(StagedRow { rec: &rec, n })?;
    }
    Ok(source)
}

/// Reads a staged line file back, calling `each` for every line in file order.
pub fn read_staged<R: BufRead>(
    input: R,
    mut each: impl FnMut(OrderLine),
) -> Result<StagedSource, StagedReadError> {
    read_staged_rows(input, |row| {
        each(row.line()?);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marketplaces_sort_as_their_names_do() {
        let mut names: Vec<&str> = Marketplace::ALL.iter().map(|m| m.as_str()).collect();
        let by_enum = names.clone();
        names.sort();
        assert_eq!(names, by_enum);
    }

    #[test]
    fn staged_lines_round_trip() {
        let line = OrderLine {
            marketplace: Marketplace::Jd,
            line_id: "3001/1002".into(),
            order_id: "3001".into(),
            shop_id: "100".into(),
            item_id: "1002".into(),
            sku_code: "".into(),
            title: "保湿面霜\n50ml, \"限定\"".into(),
            quantity: 2,
            paid_fen: 12345,
            refund_fen: 45,
            status: "完成".into(),
            status_class: StatusClass::Paid,
            created_at: parse_timestamp("2025-05-26 11:47:01").unwrap(),
            paid_at: Some(parse_timestamp("2025-05-26 18:27:01").unwrap()),
            buyer_hash: "ab".into(),
            token: "xhs_1".into(),
            clicked_at: None,
            source_line: 7,
        };
        let src = StagedSource {
            export_key: "exports/jd/2025-05-26/a.csv".into(),
            etag: "\"e\"".into(),
        };
        let no_token = OrderLine {
            line_id: "3001/1003".into(),
            token: String::new(),
            paid_at: None,
            source_line: 8,
            ..line.clone()
        };
        let mut w = StagedWriter::new(Vec::new(), Vec::new(), &src).unwrap();
        w.write(&line).unwrap();
        w.write(&no_token).unwrap();
        let (bytes, keys) = w.finish().unwrap();
        let mut back = Vec::new();
        let got_src = read_staged(&bytes[..], |l| back.push(l)).unwrap();
        assert_eq!(got_src, src);
        assert_eq!(
            back,
            vec![line],
            "only the line with a token is written in full"
        );
        let mut recs = Vec::new();
        assert_eq!(read_keys(&keys[..], |r| recs.push(r)).unwrap(), src);
        assert_eq!(
            recs,
            vec![
                KeyRecord {
                    key: line_key(Marketplace::Jd, b"3001/1002"),
                    token: true,
                    paid: true,
                    source_line: 7
                },
                KeyRecord {
                    key: line_key(Marketplace::Jd, b"3001/1003"),
                    token: false,
                    paid: false,
                    source_line: 8
                }
            ]
        );
        assert_ne!(
            line_key(Marketplace::Jd, b"1"),
            line_key(Marketplace::Taobao, b"1")
        );
        // A key file cut inside a record does not read back.
        let err = read_keys(&keys[..keys.len() - 3], |_| {}).unwrap_err();
        assert!(err.to_string().contains("ends inside a record"), "{err}");
    }
}
