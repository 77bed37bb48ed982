//! RED note reports (the `xhs` dialect of funnel.md): 聚光's daily note or creative reports into
//! checked rows of (report date, note, figures), every row kept or rejected with its line and reason.
//!
//! Framing and encoding are those of order exports ([`crate::decode`], [`crate::csvscan`]); these
//! files are small (a row per note and day), so they are read on one thread.

use std::borrow::Cow;
use std::io::{self, Read};

use chrono::NaiveDate;

use crate::csvscan::{Batch, Record, Scanner};
use crate::decode::{self, gzip_message, OpenError};
use crate::funnel::NoteFigures;
use crate::ingest::{reason, Counts, IngestError, Summary, HEADER_SEARCH_ROWS, MAX_ROW_BYTES};
use crate::money::Fen;
use crate::money::{parse_amount, parse_grouped_integer};
use crate::text::{clean_field, clean_header};

/// Reason codes of rejected RED rows, beside the shared ones of [`crate::ingest::reason`].
pub mod red_reason {
    pub const BAD_COUNT: &str = "bad_count";
    pub const BAD_DATE: &str = "bad_date";
}

/// A kept row: one plan's or creative's figures of a note on a report date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedRow {
    pub line: u64,
    pub date: NaiveDate,
    pub note_id: String,
    pub figures: NoteFigures,
}

/// A rejected row, with the note id when it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedReject {
    pub line: u64,
    pub note_id: String,
    pub reason: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Date,
    NoteId,
    Impressions,
    Clicks,
    Engagements,
    LinkClicks,
    Spend,
}

/// The columns of funnel.md: names (the first listed that the header holds wins), required or not.
const COLUMNS: [(Col, &[&str], bool); 7] = [
    (Col::Date, &["日期", "时间", "数据日期"], true),
    (Col::NoteId, &["笔记ID", "笔记id", "笔记 ID"], true),
    (Col::Impressions, &["展现量", "曝光量"], true),
    (Col::Clicks, &["点击量", "点击数"], true),
    (Col::Engagements, &["互动量", "互动数"], false),
    (Col::LinkClicks, &["组件点击量", "组件点击数"], false),
    (Col::Spend, &["消费", "花费", "消耗"], true),
];

const TOTALS: [&str; 3] = ["合计", "总计", "汇总"];

/// Where each column stands in the header row, and how many fields a row has.
#[derive(Debug, Clone)]
struct Header {
    pos: [Option<usize>; 7],
    width: usize,
}

impl Col {
    fn name(self) -> &'static str {
        COLUMNS[self as usize].1[0]
    }
}

impl Header {
    /// The header of a note report, when `cells` holds every required column.
    fn find(cells: &[String]) -> Option<Header> {
        let cleaned: Vec<&str> = cells.iter().map(|c| clean_header(c)).collect();
        let mut pos = [None; 7];
        for (i, (_, names, required)) in COLUMNS.iter().enumerate() {
            pos[i] = names
                .iter()
                .find_map(|n| cleaned.iter().position(|c| c == n));
            if *required && pos[i].is_none() {
                return None;
            }
        }
        Some(Header {
            pos,
            width: cells.len(),
        })
    }

    fn of(&self, c: Col) -> Option<usize> {
        self.pos[c as usize]
    }
}

fn required_names() -> String {
    COLUMNS
        .iter()
        .filter(|(_, _, r)| *r)
        .map(|(_, names, _)| names[0])
        .collect::<Vec<_>>()
        .join(", ")
}

/// A report date: `2025-05-28`, `2025/5/28` or `20250528`.
pub fn parse_report_date(raw: &str) -> Result<NaiveDate, String> {
    let bad = || format!("bad date {raw:?}: expected 2025-05-28, 2025/5/28 or 20250528");
    let num = |s: &str, min: usize, max: usize| -> Option<u32> {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, m, d) = if raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_digit()) {
        (
            num(&raw[..4], 4, 4),
            num(&raw[4..6], 2, 2),
            num(&raw[6..], 2, 2),
        )
    } else {
        let (sep, min) = if raw.contains('/') {
            ('/', 1)
        } else {
            ('-', 2)
        };
        let mut parts = raw.split(sep);
        let (y, m, d) = (parts.next(), parts.next(), parts.next());
        if parts.next().is_some() {
            return Err(bad());
        }
        (
            y.and_then(|s| num(s, 4, 4)),
            m.and_then(|s| num(s, min, 2)),
            d.and_then(|s| num(s, min, 2)),
        )
    };
    let (Some(y), Some(m), Some(d)) = (y, m, d) else {
        return Err(bad());
    };
    NaiveDate::from_ymd_opt(i32::try_from(y).map_err(|_| bad())?, m, d)
        .ok_or_else(|| format!("bad date {raw:?}: no such day"))
}

/// A count: a whole number of at least 0, thousands commas allowed; empty or `-` is 0.
pub fn parse_count(raw: &str) -> Result<u64, String> {
    if raw.is_empty() || raw == "-" {
        return Ok(0);
    }
    parse_grouped_integer(raw)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("bad count {raw:?}: expected a whole number of at least 0"))
}

/// Spend: an amount of exports.md in fen; empty or `-` is 0.
pub fn parse_spend(raw: &str) -> Result<Fen, String> {
    if raw.is_empty() || raw == "-" {
        return Ok(Fen::ZERO);
    }
    parse_amount(raw).map_err(|e| e.to_string())
}

struct Cells<'a> {
    rec: Record<'a>,
    enc: decode::TextEncoding,
}

impl<'a> Cells<'a> {
    /// The cleaned cell at `pos`: empty when absent, `Err` when its bytes do not decode.
    fn at(&self, pos: Option<usize>) -> Result<Cow<'a, str>, ()> {
        let Some(bytes) = pos.and_then(|p| self.rec.get(p)) else {
            return Ok(Cow::Borrowed(""));
        };
        match self.enc.decode(bytes).ok_or(())? {
            Cow::Borrowed(s) => Ok(Cow::Borrowed(clean_field(s))),
            Cow::Owned(s) => Ok(Cow::Owned(clean_field(&s).to_string())),
        }
    }

    /// A totals row: its date cell, or its first non-empty cell, says 合计, 总计 or 汇总.
    fn is_totals(&self, h: &Header) -> bool {
        let is = |c: &str| TOTALS.contains(&c);
        if self.at(h.of(Col::Date)).is_ok_and(|c| is(&c)) {
            return true;
        }
        (0..self.rec.len())
            .map(|i| self.at(Some(i)))
            .find(|c| c.as_ref().map_or(true, |c| !c.is_empty()))
            .is_some_and(|c| c.is_ok_and(|c| is(&c)))
    }
}

/// One readable row into a [`RedRow`], or why not (with the note id when there is one).
fn parse_row(cells: &Cells<'_>, h: &Header, line: u64) -> Result<RedRow, RedReject> {
    let reject = |note_id: &str, reason: &'static str, detail: String| RedReject {
        line,
        note_id: note_id.to_string(),
        reason,
        detail,
    };
    let get = |c: Col| {
        cells.at(h.of(c)).map_err(|()| {
            reject(
                "",
                reason::ENCODING,
                format!("the {} cell is not {}", c.name(), cells.enc.as_str()),
            )
        })
    };
    let note_id = get(Col::NoteId)?;
    let note = note_id.as_ref();
    if note.is_empty() {
        return Err(reject(
            note,
            reason::MISSING_FIELD,
            "笔记ID is empty".into(),
        ));
    }
    let date_cell = get(Col::Date)?;
    let date = parse_report_date(&date_cell).map_err(|e| reject(note, red_reason::BAD_DATE, e))?;
    let count = |c: Col| -> Result<u64, RedReject> {
        parse_count(&get(c)?)
            .map_err(|e| reject(note, red_reason::BAD_COUNT, format!("{}: {e}", c.name())))
    };
    let figures = NoteFigures {
        impressions: count(Col::Impressions)?,
        clicks: count(Col::Clicks)?,
        engagements: count(Col::Engagements)?,
        link_clicks: count(Col::LinkClicks)?,
        spend_fen: parse_spend(&get(Col::Spend)?).map_err(|e| {
            reject(
                note,
                reason::BAD_AMOUNT,
                format!("{}: {e}", Col::Spend.name()),
            )
        })?,
    };
    Ok(RedRow {
        line,
        date,
        note_id: note.to_string(),
        figures,
    })
}

/// Reads one RED note report and hands every row to `on_row` or `on_reject`, in file order.
///
/// `Err(FileRejected)` means the file is not a note report (no header with the required columns
/// among the first non-blank rows) or does not decode: whatever was handed out must be discarded.
pub fn read_note_report<R: Read + 'static>(
    raw: R,
    on_row: &mut dyn FnMut(RedRow) -> io::Result<()>,
    on_reject: &mut dyn FnMut(RedReject) -> io::Result<()>,
) -> Result<Summary, IngestError> {
    let opened = decode::open(raw).map_err(|e| match e {
        OpenError::Source(e) => IngestError::Source(e),
        OpenError::Corrupt(m) => IngestError::FileRejected(m),
    })?;
    let (enc, gzip, failed) = (opened.encoding, opened.gzip, opened.source_flag());
    let read_error = |e: io::Error| {
        if failed.load(std::sync::atomic::Ordering::Relaxed) {
            IngestError::Source(e)
        } else if gzip {
            IngestError::FileRejected(gzip_message(&e))
        } else {
            IngestError::FileRejected(format!("unreadable: {e}"))
        }
    };
    let mut scanner = Scanner::new(opened.reader);
    let mut batch = Batch::default();
    let mut header: Option<(Header, u64)> = None;
    let mut seen = 0usize;
    let mut counts = Counts::default();
    let out = |r: io::Result<()>| r.map_err(IngestError::Output);
    loop {
        let more = scanner.fill(&mut batch).map_err(read_error)?;
        for i in 0..batch.len() {
            let Some((rec, line, cut)) = batch.get(i) else {
                continue;
            };
            let Some((h, _)) = &header else {
                seen += 1;
                let cells: Vec<String> = rec
                    .iter()
                    .map(|c| enc.decode(c).map(Cow::into_owned).unwrap_or_default())
                    .collect();
                if let Some(h) = Header::find(&cells).filter(|_| !cut) {
                    header = Some((h, line));
                } else if seen >= HEADER_SEARCH_ROWS {
                    return Err(IngestError::FileRejected(format!(
                        "no RED note report header ({}) among the first {HEADER_SEARCH_ROWS} \
                         non-blank rows: not a note report with a daily breakdown",
                        required_names()
                    )));
                }
                continue;
            };
            let cells = Cells { rec, enc };
            if !cut && cells.is_totals(h) {
                continue;
            }
            counts.rows_in += 1;
            let result = if cut {
                Err(RedReject {
                    line,
                    note_id: String::new(),
                    reason: reason::ROW_TOO_LONG,
                    detail: format!(
                        "the row is longer than {MAX_ROW_BYTES} bytes; it was not read whole"
                    ),
                })
            } else if rec.len() != h.width {
                Err(RedReject {
                    line,
                    note_id: cells.at(h.of(Col::NoteId)).unwrap_or_default().into_owned(),
                    reason: reason::FIELD_COUNT,
                    detail: format!("{} fields where the header has {}", rec.len(), h.width),
                })
            } else {
                parse_row(&cells, h, line)
            };
            match result {
                Ok(row) => {
                    counts.rows_kept += 1;
                    out(on_row(row))?;
                }
                Err(r) => {
                    counts.rows_rejected += 1;
                    *counts
                        .rejected_by_reason
                        .entry(r.reason.into())
                        .or_default() += 1;
                    out(on_reject(r))?;
                }
            }
        }
        if !more {
            break;
        }
    }
    let Some((_, header_line)) = header else {
        return Err(IngestError::FileRejected(format!(
            "no RED note report header ({}) in the file's {seen} non-blank rows: not a note report \
             with a daily breakdown",
            required_names()
        )));
    };
    Ok(Summary {
        counts,
        encoding: enc,
        gzip,
        header_line,
    })
}

#[cfg(test)]
#[path = "red_tests.rs"]
mod tests;
