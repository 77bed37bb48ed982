//! The canonical order line every dialect is normalised into, and its staged CSV form.

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

/// Writes staged line files: a JSON source line, then CSV rows of [`STAGED_HEADER`].
pub struct StagedWriter<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> StagedWriter<W> {
    pub fn new(mut out: W, source: &StagedSource) -> std::io::Result<Self> {
        serde_json::to_writer(&mut out, source)?;
        out.write_all(b"\n")?;
        let mut csv = csv::WriterBuilder::new().from_writer(out);
        csv.write_record(STAGED_HEADER)?;
        Ok(StagedWriter { csv })
    }

    pub fn write(&mut self, l: &OrderLine) -> std::io::Result<()> {
        let qty = l.quantity.to_string();
        let paid = l.paid_fen.to_string();
        let refund = l.refund_fen.to_string();
        let created = format_timestamp(&l.created_at);
        let paid_at = l.paid_at.as_ref().map(format_timestamp).unwrap_or_default();
        let clicked = l
            .clicked_at
            .as_ref()
            .map(format_timestamp)
            .unwrap_or_default();
        let src = l.source_line.to_string();
        self.csv.write_record([
            l.marketplace.as_str(),
            &l.line_id,
            &l.order_id,
            &l.shop_id,
            &l.item_id,
            &l.sku_code,
            &l.title,
            &qty,
            &paid,
            &refund,
            &l.status,
            l.status_class.as_str(),
            &created,
            &paid_at,
            &l.buyer_hash,
            &l.token,
            &clicked,
            &src,
            "",
        ])?;
        Ok(())
    }

    pub fn finish(self) -> std::io::Result<W> {
        self.csv.into_inner().map_err(|e| e.into_error())
    }
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
    let mut first = String::new();
    input.read_line(&mut first)?;
    let source: StagedSource =
        serde_json::from_str(first.trim_end()).map_err(|e| StagedReadError::Invalid {
            record: 0,
            why: format!("source line: {e}"),
        })?;
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
        let mut w = StagedWriter::new(Vec::new(), &src).unwrap();
        w.write(&line).unwrap();
        let bytes = w.finish().unwrap();
        let mut back = Vec::new();
        let got_src = read_staged(&bytes[..], |l| back.push(l)).unwrap();
        assert_eq!(got_src, src);
        assert_eq!(back, vec![line]);
    }
}
