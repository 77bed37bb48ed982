//! Normalising one export into canonical order lines and rejects, streaming and in bounded memory.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use crate::csvscan::{Batch, Record, Scanner};
use crate::decode::{self, gzip_message, OpenError, TextEncoding};
use crate::dialect::{map_header, Field, HeaderMap};
use crate::line::{Marketplace, OrderLine};
use crate::money::Fen;
use crate::pii::BuyerHasher;
use crate::time::DateCache;

/// How many non-blank rows may stand before the header row (5 preamble lines, then the header).
pub const HEADER_SEARCH_ROWS: usize = 6;

/// A row that was not kept, and why. Holds no personal data: only the line number and the order id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub line: u64,
    pub order_id: String,
    pub reason: String,
    pub detail: String,
}

/// Row counts of one export. `rows_in == rows_kept + rows_rejected`, always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub rows_in: u64,
    pub rows_kept: u64,
    pub rows_rejected: u64,
    /// Lines whose refund was above the paid amount and was capped at it (postage refunds).
    pub refunds_capped: u64,
    pub rejected_by_reason: BTreeMap<String, u64>,
}

/// What reading a whole export found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub counts: Counts,
    pub encoding: TextEncoding,
    pub gzip: bool,
    pub header_line: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file is not an export of the dialect, or cannot be decoded: rejected whole. Not retryable.
    #[error("file rejected: {0}")]
    FileRejected(String),
    /// Reading the source failed (network, disk). Retryable.
    #[error("reading the export failed: {0}")]
    Source(#[source] io::Error),
    /// Writing the normalised output failed. Retryable.
    #[error("writing normalised output failed: {0}")]
    Output(#[source] io::Error),
}

mod row;

pub use row::largest_remainder;
use row::{parse_row, parse_row_into, row_err, settle_refund, Parsed, Row, RowErr};

/// Stable reason codes of rejected rows.
pub mod reason {
    pub const FIELD_COUNT: &str = "field_count";
    pub const ROW_TOO_LONG: &str = "row_too_long";
    pub const ENCODING: &str = "encoding";
    pub const MISSING_FIELD: &str = "missing_field";
    pub const BAD_AMOUNT: &str = "bad_amount";
    pub const BAD_QUANTITY: &str = "bad_quantity";
    pub const BAD_TIMESTAMP: &str = "bad_timestamp";
    pub const UNKNOWN_STATUS: &str = "unknown_status";
    pub const PAID_WITHOUT_PAYMENT_TIME: &str = "paid_without_payment_time";
    pub const PAYABLE_MISMATCH: &str = "payable_mismatch";
}

struct Emitter<'a> {
    counts: Counts,
    on_line: &'a mut dyn FnMut(&OrderLine) -> io::Result<()>,
    on_reject: &'a mut dyn FnMut(&Reject) -> io::Result<()>,
}

impl Emitter<'_> {
    fn keep(&mut self, line: &OrderLine, capped: bool) -> Result<(), IngestError> {
        self.counts.rows_kept += 1;
        if capped {
            self.counts.refunds_capped += 1;
        }
        (self.on_line)(line).map_err(IngestError::Output)
    }

    fn reject(
        &mut self,
        line: u64,
        order_id: &str,
        reason: &str,
        detail: String,
    ) -> Result<(), IngestError> {
        self.counts.rows_rejected += 1;
        *self
            .counts
            .rejected_by_reason
            .entry(reason.to_string())
            .or_default() += 1;
        let r = Reject {
            line,
            order_id: order_id.to_string(),
            reason: reason.to_string(),
            detail,
        };
        (self.on_reject)(&r).map_err(IngestError::Output)
    }
}

/// The rows of one JD order, held until the order ends (a JD export keeps an order's rows together).
struct JdOrder {
    order_id: String,
    rows: Vec<(u64, Result<Parsed, RowErr>)>,
}

fn flush_jd(order: JdOrder, out: &mut Emitter<'_>) -> Result<(), IngestError> {
    let failure = order
        .rows
        .iter()
        .find_map(|(ln, r)| r.as_ref().err().map(|e| (*ln, e.clone())));
    let failure = failure.or_else(|| {
        let payables: Vec<Fen> = order
            .rows
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|p| p.amounts.payable))
            .collect();
        if payables.windows(2).any(|w| w[0] != w[1]) {
            Some((
                order.rows[0].0,
                row_err(
                    reason::PAYABLE_MISMATCH,
                    "the order's rows disagree on 应付金额",
                ),
            ))
        } else {
            None
        }
    });
    if let Some((bad_line, err)) = failure {
        let detail = format!(
            "order {} rejected whole: line {bad_line}: {}",
            order.order_id, err.detail
        );
        for (ln, _) in &order.rows {
            out.reject(*ln, &order.order_id, err.reason, detail.clone())?;
        }
        return Ok(());
    }
    let mut parsed: Vec<(u64, Parsed)> = order
        .rows
        .into_iter()
        .filter_map(|(ln, r)| r.ok().map(|p| (ln, p)))
        .collect();
    let payable = parsed.first().map_or(0, |(_, p)| p.amounts.payable.fen());
    let weights: Vec<i128> = parsed
        .iter()
        .map(|(_, p)| i128::from(p.amounts.unit_price.fen()) * i128::from(p.line.quantity))
        .collect();
    let shares = largest_remainder(payable, &weights);
    for ((_, p), share) in parsed.iter_mut().zip(shares) {
        p.line.paid_fen = Fen(share);
        let capped = settle_refund(&mut p.line, p.amounts.raw_refund);
        out.keep(&p.line, capped)?;
    }
    Ok(())
}

pub use crate::csvscan::MAX_ROW_BYTES;

enum Msg {
    Header {
        map: Box<HeaderMap>,
        header_line: u64,
        encoding: TextEncoding,
        gzip: bool,
    },
    Rows(Batch),
    /// The end of the file, or why reading stopped.
    End(Result<(), IngestError>),
}

/// The reading half of [`normalise`], on its own thread: decompression, decoding checks and
/// cutting records (lines counted, over-long rows cut, see [`crate::csvscan`]). Records go to the
/// other half in batches, which come back to be filled again; memory stays bounded by a few
/// batches of about 1 MiB each.
fn read_rows<R: Read + 'static>(
    raw: R,
    mkt: Marketplace,
    tx: &std::sync::mpsc::SyncSender<Msg>,
    recycled: &std::sync::mpsc::Receiver<Batch>,
) -> Result<(), IngestError> {
    let opened = decode::open(raw).map_err(|e| match e {
        OpenError::Source(e) => IngestError::Source(e),
        OpenError::Corrupt(m) => IngestError::FileRejected(m),
    })?;
    let encoding = opened.encoding;
    let gzip = opened.gzip;
    let failed = opened.source_flag();
    let mut scanner = Scanner::new(opened.reader);
    let read_error = |e: io::Error| -> IngestError {
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            return IngestError::Source(e);
        }
        if gzip {
            IngestError::FileRejected(gzip_message(&e))
        } else {
            IngestError::FileRejected(format!("unreadable: {e}"))
        }
    };
    let mut batch = Batch::default();

    // Find the header row among the first non-blank rows.
    let mut seen = 0usize;
    let mut more = true;
    let mut next = 0;
    let (map, header_line) = 'search: loop {
        while next < batch.len() {
            let Some((rec, line, cut)) = batch.get(next) else {
                break;
            };
            next += 1;
            seen += 1;
            let cells: Vec<String> = rec
                .iter()
                .map(|c| {
                    encoding
                        .decode(c)
                        .map(|s| s.into_owned())
                        .unwrap_or_default()
                })
                .collect();
            if let Some(map) = map_header(mkt, &cells).filter(|_| !cut) {
                break 'search (map, line);
            }
            if seen >= HEADER_SEARCH_ROWS {
                return Err(IngestError::FileRejected(format!(
                    "no {mkt} header row among the first {HEADER_SEARCH_ROWS} non-blank rows: not a {mkt} export"
                )));
            }
        }
        if !more {
            return Err(IngestError::FileRejected(format!(
                "no {mkt} header row found (the file has {seen} non-blank rows)"
            )));
        }
        more = scanner.fill(&mut batch).map_err(read_error)?;
        next = 0;
    };
    batch.skip(next);
    let header = Msg::Header {
        map: Box::new(map),
        header_line,
        encoding,
        gzip,
    };
    if tx.send(header).is_err() {
        return Ok(()); // the other half has stopped: nothing more to do
    }
    loop {
        if batch.len() > 0 {
            let next = recycled.try_recv().unwrap_or_default();
            if tx
                .send(Msg::Rows(std::mem::replace(&mut batch, next)))
                .is_err()
            {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
        more = scanner.fill(&mut batch).map_err(read_error)?;
    }
}

/// A row the parser did not see whole, or one of the wrong width, is a bad row on its own (in JD
/// it belongs to no order): rejected before its cells are read.
fn unreadable(row: &Row<'_>, cut: bool) -> Option<RowErr> {
    if cut {
        Some(row_err(
            reason::ROW_TOO_LONG,
            format!("the row is longer than {MAX_ROW_BYTES} bytes; it was not read whole"),
        ))
    } else if row.rec.len() != row.map.width {
        Some(row_err(
            reason::FIELD_COUNT,
            format!(
                "{} fields where the header has {}",
                row.rec.len(),
                row.map.width
            ),
        ))
    } else {
        None
    }
}

/// A readable Taobao row into `line`: whether its refund was capped, or why it is rejected (with
/// its order id, for the reject).
fn taobao_row(
    row: &Row<'_>,
    hasher: &BuyerHasher,
    line_no: u64,
    line: &mut OrderLine,
) -> Result<bool, (String, RowErr)> {
    match parse_row_into(row, hasher, line_no, line) {
        Ok(a) => Ok(settle_refund(line, a.raw_refund)),
        Err(e) => Err((row.get(Field::OrderId).unwrap_or_default().into_owned(), e)),
    }
}

/// The normalising half of [`normalise`]: checked rows to lines or rejects, JD orders held whole.
struct Rows<'a, 'h> {
    out: Emitter<'a>,
    /// The line every Taobao row is parsed into.
    scratch: OrderLine,
    pending: Option<JdOrder>,
    map: HeaderMap,
    encoding: TextEncoding,
    mkt: Marketplace,
    hasher: &'h BuyerHasher,
    dates: DateCache,
}

impl Rows<'_, '_> {
    /// One record; `text` is its bytes as text when they are UTF-8 (in a UTF-8 export).
    fn row(
        &mut self,
        rec: Record<'_>,
        text: Option<&str>,
        line_no: u64,
        cut: bool,
    ) -> Result<(), IngestError> {
        self.out.counts.rows_in += 1;
        let row = Row {
            rec,
            text,
            map: &self.map,
            enc: self.encoding,
            mkt: self.mkt,
            dates: &self.dates,
        };
        if let Some(e) = unreadable(&row, cut) {
            let order_id = row.get(Field::OrderId).unwrap_or_default();
            self.out.reject(line_no, &order_id, e.reason, e.detail)?;
            return Ok(());
        }
        match self.mkt {
            Marketplace::Taobao => {
                match taobao_row(&row, self.hasher, line_no, &mut self.scratch) {
                    Ok(capped) => self.out.keep(&self.scratch, capped)?,
                    Err((order_id, e)) => {
                        self.out.reject(line_no, &order_id, e.reason, e.detail)?
                    }
                }
            }
            Marketplace::Jd => {
                let order_id = match row.required(Field::OrderId) {
                    Ok(id) => id,
                    Err(e) => {
                        self.out.reject(
                            line_no,
                            "",
                            e.reason,
                            format!("{} (the row belongs to no order)", e.detail),
                        )?;
                        return Ok(());
                    }
                };
                let parsed = parse_row(&row, self.hasher, line_no);
                match &mut self.pending {
                    Some(o) if o.order_id == order_id => o.rows.push((line_no, parsed)),
                    _ => {
                        if let Some(done) = self.pending.take() {
                            flush_jd(done, &mut self.out)?;
                        }
                        self.pending = Some(JdOrder {
                            order_id: order_id.into_owned(),
                            rows: vec![(line_no, parsed)],
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// A batch's rows as text: each record's bytes when the export is UTF-8 and they are valid. UTF-8
/// is checked for the whole batch at once; a batch with a bad byte somewhere is checked row by
/// row, and only that row reads its cells one by one.
fn batch_texts<'b>(
    batch: &'b Batch,
    encoding: TextEncoding,
) -> impl Iterator<Item = (Record<'b>, Option<&'b str>, u64, bool)> + 'b {
    let text = match encoding {
        TextEncoding::Utf8 => batch.text(),
        TextEncoding::Gb18030 => None,
    };
    (0..batch.len()).filter_map(move |i| {
        let (rec, line_no, cut) = batch.get(i)?;
        let rec_text = match (encoding, text) {
            (TextEncoding::Gb18030, _) => None,
            (TextEncoding::Utf8, Some((base, t))) => rec.text_in(base, t),
            (TextEncoding::Utf8, None) => simdutf8::basic::from_utf8(rec.as_slice()).ok(),
        };
        Some((rec, rec_text, line_no, cut))
    })
}

/// Reads one export of marketplace `mkt` and hands every row to `on_line` or `on_reject`, in the
/// order of the file.
///
/// The input is streamed: memory stays bounded by a few batches of rows (each row at most
/// MAX_ROW_BYTES) and, in JD, the largest order. Reading and parsing run on a thread of their own,
/// normalising on the caller's: two cores busy for one export. (Normalising Taobao batches on two
/// threads more, results handed on in file order, was tried: on two cores it ran no faster, since
/// both were busy already, and cost more CPU.)
/// An `Err(FileRejected)` means the file is not an export of the dialect: what was handed out so far must be discarded.
pub fn normalise<R: Read + Send + 'static>(
    raw: R,
    mkt: Marketplace,
    hasher: &BuyerHasher,
    on_line: &mut dyn FnMut(&OrderLine) -> io::Result<()>,
    on_reject: &mut dyn FnMut(&Reject) -> io::Result<()>,
) -> Result<Summary, IngestError> {
    use std::sync::mpsc;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Msg>(1);
        let (recycle_tx, recycle_rx) = mpsc::channel::<Batch>();
        scope.spawn(move || {
            let result = read_rows(raw, mkt, &tx, &recycle_rx);
            let _ = tx.send(Msg::End(result));
        });
        let stopped =
            || IngestError::Source(io::Error::other("the export's reading thread stopped"));
        let (map, header_line, encoding, gzip) = match rx.recv().map_err(|_| stopped())? {
            Msg::Header {
                map,
                header_line,
                encoding,
                gzip,
            } => (map, header_line, encoding, gzip),
            Msg::End(Err(e)) => return Err(e),
            Msg::End(Ok(())) | Msg::Rows(_) => return Err(stopped()),
        };
        let mut rows = Rows {
            out: Emitter {
                counts: Counts::default(),
                on_line,
                on_reject,
            },
            pending: None,
            scratch: OrderLine::blank(mkt),
            map: *map,
            encoding,
            mkt,
            hasher,
            dates: DateCache::default(),
        };
        loop {
            match rx.recv().map_err(|_| stopped())? {
                Msg::Rows(mut batch) => {
                    for (rec, text, line_no, cut) in batch_texts(&batch, encoding) {
                        rows.row(rec, text, line_no, cut)?;
                    }
                    batch.clear();
                    let _ = recycle_tx.send(batch);
                }
                Msg::End(r) => {
                    r?;
                    break;
                }
                Msg::Header { .. } => return Err(stopped()),
            }
        }
        if let Some(done) = rows.pending.take() {
            flush_jd(done, &mut rows.out)?;
        }
        Ok(Summary {
            counts: rows.out.counts,
            encoding,
            gzip,
            header_line,
        })
    })
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
