//! The canonical order line every dialect is normalised into, and its staged form.
//!
//! Ingest stages each export as two files. The key file holds every row's line key, in row order,
//! with whether it carries a token: all that latest state needs of the four lines in five that came
//! through no link and can never be credited. The line file holds the rows with a token in full,
//! as length-prefixed binary records. Match reads the key files to find each line's latest state, then decodes only the rows
//! that are one.

use crate::money::Fen;
use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::wire::{put_str, take_array, take_str_ref};

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
    pub paid_fen: Fen,
    /// Effective refund in fen: capped at `paid_fen`, and all of it for a closed line that was paid.
    pub refund_fen: Fen,
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
    /// A line with nothing in it, to be filled.
    pub fn blank(marketplace: Marketplace) -> OrderLine {
        OrderLine {
            marketplace,
            line_id: String::new(),
            order_id: String::new(),
            shop_id: String::new(),
            item_id: String::new(),
            sku_code: String::new(),
            title: String::new(),
            quantity: 0,
            paid_fen: Fen::ZERO,
            refund_fen: Fen::ZERO,
            status: String::new(),
            status_class: StatusClass::Unpaid,
            created_at: NaiveDateTime::default(),
            paid_at: None,
            buyer_hash: String::new(),
            token: String::new(),
            clicked_at: None,
            source_line: 0,
        }
    }

    /// Paid and not merely "paid later": a payment time and a paid or closed status.
    pub fn is_paid(&self) -> bool {
        self.paid_at.is_some()
            && matches!(self.status_class, StatusClass::Paid | StatusClass::Closed)
    }

    pub fn net_fen(&self) -> Fen {
        self.paid_fen - self.refund_fen
    }
}

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

/// Writes an export's staged files: the line file (a JSON source line, then a length-prefixed
/// binary record of every row with a token) and the key file (the same JSON source line, then a
/// [`KeyRecord`] for every row).
pub struct StagedWriter<W: Write, K: Write> {
    lines: W,
    keys: K,
    buf: Vec<u8>,
}

impl<W: Write, K: Write> StagedWriter<W, K> {
    pub fn new(mut lines: W, mut keys: K, source: &StagedSource) -> std::io::Result<Self> {
        for o in [&mut lines as &mut dyn Write, &mut keys] {
            serde_json::to_writer(&mut *o, source)?;
            o.write_all(b"\n")?;
        }
        Ok(StagedWriter {
            lines,
            keys,
            buf: Vec::with_capacity(512),
        })
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
        self.buf.clear();
        crate::wire::put_record_with(&mut self.buf, |b| encode_line(l, b))?;
        self.lines.write_all(&self.buf)
    }

    /// Flushes both files and hands them back: (line file, key file).
    pub fn finish(mut self) -> std::io::Result<(W, K)> {
        self.lines.flush()?;
        self.keys.flush()?;
        Ok((self.lines, self.keys))
    }
}

fn put_time(out: &mut Vec<u8>, t: Option<NaiveDateTime>) {
    // i64::MIN stands for no time: no export timestamp is that far back.
    let secs = t.map_or(i64::MIN, |t| t.and_utc().timestamp());
    out.extend_from_slice(&secs.to_le_bytes());
}

fn encode_line(l: &OrderLine, out: &mut Vec<u8>) {
    out.push(l.marketplace as u8);
    out.push(match l.status_class {
        StatusClass::Paid => 0,
        StatusClass::Unpaid => 1,
        StatusClass::Closed => 2,
    });
    out.extend_from_slice(&l.quantity.to_le_bytes());
    out.extend_from_slice(&l.paid_fen.fen().to_le_bytes());
    out.extend_from_slice(&l.refund_fen.fen().to_le_bytes());
    out.extend_from_slice(&l.source_line.to_le_bytes());
    put_time(out, Some(l.created_at));
    put_time(out, l.paid_at);
    put_time(out, l.clicked_at);
    for s in [
        &l.line_id,
        &l.order_id,
        &l.shop_id,
        &l.item_id,
        &l.sku_code,
        &l.title,
        &l.status,
        &l.buyer_hash,
        &l.token,
    ] {
        put_str(out, s);
    }
}

fn take_time(rest: &mut &[u8]) -> Option<Option<NaiveDateTime>> {
    match i64::from_le_bytes(take_array(rest)?) {
        i64::MIN => Some(None),
        secs => Some(Some(chrono::DateTime::from_timestamp(secs, 0)?.naive_utc())),
    }
}

fn decode_line(b: &[u8]) -> Option<OrderLine> {
    let mut line = OrderLine::blank(Marketplace::Taobao);
    decode_line_into(b, &mut line)?;
    Some(line)
}

/// Decodes a record into `line`, reusing its strings' memory.
fn decode_line_into(mut b: &[u8], line: &mut OrderLine) -> Option<()> {
    let rest = &mut b;
    let [m, class] = take_array(rest)?;
    line.marketplace = Marketplace::ALL.into_iter().find(|x| *x as u8 == m)?;
    line.status_class = [StatusClass::Paid, StatusClass::Unpaid, StatusClass::Closed]
        .get(usize::from(class))
        .copied()?;
    line.quantity = u32::from_le_bytes(take_array(rest)?);
    line.paid_fen = Fen(i64::from_le_bytes(take_array(rest)?));
    line.refund_fen = Fen(i64::from_le_bytes(take_array(rest)?));
    line.source_line = u64::from_le_bytes(take_array(rest)?);
    line.created_at = take_time(rest)??;
    line.paid_at = take_time(rest)?;
    line.clicked_at = take_time(rest)?;
    for slot in [
        &mut line.line_id,
        &mut line.order_id,
        &mut line.shop_id,
        &mut line.item_id,
        &mut line.sku_code,
        &mut line.title,
        &mut line.status,
        &mut line.buyer_hash,
        &mut line.token,
    ] {
        slot.clear();
        slot.push_str(take_str_ref(rest)?);
    }
    rest.is_empty().then_some(())
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
    #[error("staged lines, record {record}: {why}")]
    Invalid { record: u64, why: String },
}

/// A staged row as read: decoded only when asked for.
pub struct StagedRow<'a> {
    body: &'a [u8],
    n: u64,
}

impl StagedRow<'_> {
    /// The row's place in the line file, from 0: the `n`th row with a token of its export.
    pub fn index(&self) -> u64 {
        self.n - 1
    }

    /// The record's bytes, for [`decode_staged`] elsewhere (another thread).
    pub fn body(&self) -> &[u8] {
        self.body
    }

    /// The whole line.
    pub fn line(&self) -> Result<OrderLine, StagedReadError> {
        decode_line(self.body).ok_or(StagedReadError::Invalid {
            record: self.n,
            why: "the record does not read as a line".into(),
        })
    }
}

/// A line from the bytes of a line-file record ([`StagedRow::body`]), into `line` (its strings'
/// memory reused: a thread decoding many lines allocates nothing once they have grown).
pub fn decode_staged_into(body: &[u8], line: &mut OrderLine) -> Result<(), StagedReadError> {
    decode_line_into(body, line).ok_or(StagedReadError::Invalid {
        record: 0,
        why: "a line record does not read as a line".into(),
    })
}

/// Reads a staged line file back, calling `each` for every row in file order.
pub fn read_staged_rows<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(StagedRow<'_>) -> Result<(), StagedReadError>,
) -> Result<StagedSource, StagedReadError> {
    let source = read_source(&mut input)?;
    let mut body = Vec::with_capacity(512);
    let mut n = 0u64;
    while crate::wire::read_record(&mut input, &mut body)? {
        n += 1;
        each(StagedRow { body: &body, n })?;
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
    use crate::time::parse_timestamp;

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
            paid_fen: Fen(12345),
            refund_fen: Fen(45),
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
        // Line and key files cut inside a record do not read back.
        for cut in [bytes.len() - 1, bytes.len() - 20] {
            assert!(read_staged(&bytes[..cut], |_| {}).is_err(), "cut at {cut}");
        }
        let err = read_keys(&keys[..keys.len() - 3], |_| {}).unwrap_err();
        assert!(err.to_string().contains("ends inside a record"), "{err}");
    }
}
