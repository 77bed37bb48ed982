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

/// Reads a staged line file back, calling `each` for every line in file order.
pub fn read_staged<R: BufRead>(
    mut input: R,
    mut each: impl FnMut(OrderLine),
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
        .from_reader(input);
    let mut rec = csv::StringRecord::new();
    let mut n = 0u64;
    while rdr.read_record(&mut rec)? {
        n += 1;
        let bad = |why: String| StagedReadError::Invalid { record: n, why };
        let f = |i: usize| rec.get(i).unwrap_or("");
        let opt_ts = |s: &str| -> Result<Option<NaiveDateTime>, String> {
            if s.is_empty() {
                Ok(None)
            } else {
                parse_timestamp(s).map(Some)
            }
        };
        let line = OrderLine {
            marketplace: f(0).parse().map_err(bad)?,
            line_id: f(1).to_string(),
            order_id: f(2).to_string(),
            shop_id: f(3).to_string(),
            item_id: f(4).to_string(),
            sku_code: f(5).to_string(),
            title: f(6).to_string(),
            quantity: f(7).parse().map_err(|e| bad(format!("quantity: {e}")))?,
            paid_fen: f(8).parse().map_err(|e| bad(format!("paid_fen: {e}")))?,
            refund_fen: f(9).parse().map_err(|e| bad(format!("refund_fen: {e}")))?,
            status: f(10).to_string(),
            status_class: f(11).parse().map_err(bad)?,
            created_at: parse_timestamp(f(12)).map_err(bad)?,
            paid_at: opt_ts(f(13)).map_err(bad)?,
            buyer_hash: f(14).to_string(),
            token: f(15).to_string(),
            clicked_at: opt_ts(f(16)).map_err(bad)?,
            source_line: f(17)
                .parse()
                .map_err(|e| bad(format!("source_line: {e}")))?,
        };
        each(line);
    }
    Ok(source)
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
