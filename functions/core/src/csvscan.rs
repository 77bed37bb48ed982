//! CSV records cut straight out of the bytes read, for [`crate::ingest`].
//!
//! It reads what the csv crate reads with its defaults (`,` between fields, `"` quotes doubled to
//! escape, `\r`, `\n` or `\r\n` ending a record, blank lines skipped, rows of any width), and a
//! property test holds it to the csv crate's records. It exists because ingest is per-byte work:
//! the csv crate steps a state machine through every byte and copies every record, then seedline's
//! own pass counted physical lines and cut over-long rows. Here one pass finds the bytes that
//! matter (`,` `"` `\r` `\n`) sixteen at a time, counts lines and cuts rows as it goes, and a field is
//! a range of the buffer the bytes were read into (a quoted field with escapes is rewritten in
//! place): nothing is copied but the odd record that straddles two reads.

use std::io::{self, Read};

/// The longest row seedline reads. An order row is well under 4 KiB; a longer one is malformed or
/// hostile. Its first MAX_ROW_BYTES go to the parser, the rest is dropped unread, and the row is
/// rejected (`row_too_long`): memory stays bounded whatever a file holds.
pub const MAX_ROW_BYTES: u64 = 1 << 20;
const MAX_ROW: usize = MAX_ROW_BYTES as usize;

/// How many bytes a batch reads at a time.
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// One record of a [`Batch`]: where its bytes are and which field bounds are its own.
#[derive(Clone, Copy, Debug)]
struct Meta {
    start: usize,
    len: u32,
    first_field: u32,
    fields: u32,
    line: u64,
    cut: bool,
}

/// Records read together: the bytes they were read from and each field's bounds within its record.
#[derive(Default)]
pub(crate) struct Batch {
    /// Bytes read; only `..filled` hold this batch's data (the rest is scratch kept between uses).
    data: Vec<u8>,
    filled: usize,
    /// Field bounds, relative to their record's start.
    bounds: Vec<(u32, u32)>,
    recs: Vec<Meta>,
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        self.recs.len()
    }

    /// Record `i`, its physical line (1-based) and whether it was cut at the row limit.
    pub(crate) fn get(&self, i: usize) -> Option<(Record<'_>, u64, bool)> {
        let m = self.recs.get(i)?;
        let bytes = self.data.get(m.start..m.start + m.len as usize)?;
        let first = m.first_field as usize;
        let bounds = self.bounds.get(first..first + m.fields as usize)?;
        Some((
            Record {
                start: m.start,
                bytes,
                bounds,
            },
            m.line,
            m.cut,
        ))
    }

    /// The bytes of all the batch's records as UTF-8 text, checked at once (one check of 1 MiB
    /// costs far less than thousands of checks of a row each): where the text starts, and the text.
    /// None when any byte of them is not UTF-8.
    pub(crate) fn text(&self) -> Option<(usize, &str)> {
        let (first, last) = (self.recs.first()?, self.recs.last()?);
        let bytes = self.data.get(first.start..last.start + last.len as usize)?;
        simdutf8::basic::from_utf8(bytes)
            .ok()
            .map(|t| (first.start, t))
    }

    /// Drops records `..n` (a header found on the reading thread and what stood before it).
    pub(crate) fn skip(&mut self, n: usize) {
        self.recs.drain(..n.min(self.recs.len()));
    }

    /// Empties the batch for reuse; a batch that grew for one long row gives its memory back.
    pub(crate) fn clear(&mut self) {
        self.recs.clear();
        self.filled = 0;
        if self.data.capacity() > BATCH_BYTES + BATCH_BYTES / 4 {
            self.data = Vec::new();
        }
        if self.bounds.capacity() > 1 << 16 {
            self.bounds = Vec::new();
        } else {
            self.bounds.clear();
        }
    }
}

/// One CSV record: its bytes (after unescaping) and its fields as ranges of them.
#[derive(Clone, Copy)]
pub(crate) struct Record<'a> {
    /// Where the record starts in its batch.
    start: usize,
    bytes: &'a [u8],
    bounds: &'a [(u32, u32)],
}

impl<'a> Record<'a> {
    pub(crate) fn len(&self) -> usize {
        self.bounds.len()
    }

    /// The record's bytes: each field is a range of them, and what lies between fields is ASCII.
    pub(crate) fn as_slice(&self) -> &'a [u8] {
        self.bytes
    }

    /// The record's bytes as text, cut from its batch's [`Batch::text`] (which starts at `base`).
    /// Records start and end beside ASCII bytes, so the cut falls between characters.
    pub(crate) fn text_in(&self, base: usize, text: &'a str) -> Option<&'a str> {
        let from = self.start.checked_sub(base)?;
        text.get(from..from + self.bytes.len())
    }

    pub(crate) fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        self.bounds.get(i).map(|&(s, e)| s as usize..e as usize)
    }

    pub(crate) fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.range(i).and_then(|r| self.bytes.get(r))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = self.bytes;
        self.bounds
            .iter()
            .map(move |&(s, e)| bytes.get(s as usize..e as usize).unwrap_or_default())
    }
}

mod specials;

#[cfg(test)]
use specials::block;
use specials::Specials;

/// The parser's place in a row that is being skipped (the rest of a row cut at the limit), kept
/// from one read to the next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Skip {
    /// Not in quotes; `field_start` when the next byte starts a field.
    Unquoted {
        field_start: bool,
    },
    Quoted,
    /// A `"` inside quotes was the last byte read: the next one decides.
    QuoteInQuoted,
}

/// Reads records from `inner` a batch at a time.
pub(crate) struct Scanner<R> {
    inner: R,
    /// The start of a record that the last read cut off, to begin the next batch with.
    carry: Vec<u8>,
    /// `\n` bytes before the first byte not yet parsed: physical lines, whatever quotes hold.
    newlines: u64,
    /// Inside a row cut at the limit, whose rest is being dropped.
    skip: Option<Skip>,
    eof: bool,
}

fn is_term(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Where the parser stands inside a record.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Between records: line breaks are skipped.
    StartRecord,
    /// In a field that is not quoted (or at a field's start): `,` ends it, a line break ends the record.
    Unquoted,
    /// Inside quotes: only `"` matters.
    Quoted,
    /// After a `"` inside quotes, at `at`: closing, or the first of an escaped pair.
    QuoteInQuoted { at: usize },
}

/// The fields of the records being parsed.
struct Fields<'b> {
    bounds: &'b mut Vec<(u32, u32)>,
    /// Fields whose raw bytes must be rewritten (quotes removed): index into `bounds`, and where
    /// the field's bytes start in the batch.
    rewrite: Vec<(usize, usize)>,
}

impl Fields<'_> {
    #[inline(always)]
    fn push(&mut self, rec_start: usize, s: usize, e: usize, rewrite: bool) {
        if rewrite {
            self.rewrite.push((self.bounds.len(), s));
        }
        self.bounds
            .push(((s - rec_start) as u32, (e - rec_start) as u32));
    }

    /// A quoted field whose closing quote is at `at` and which ends at `end`: its inside, or its
    /// raw bytes to rewrite when it had escapes or bytes after the closing quote.
    fn push_quoted(
        &mut self,
        rec_start: usize,
        start: usize,
        at: usize,
        end: usize,
        escaped: bool,
    ) {
        if at + 1 == end && !escaped {
            self.push(rec_start, start + 1, at, false);
        } else {
            self.push(rec_start, start, end, true);
        }
    }
}

/// Drops the rest of a cut row from `data`: the position after its end, or the state to go on
/// from when it runs past `data`. Counts the `\n` it passes.
fn skip_rest(data: &[u8], from: Skip, newlines: &mut u64) -> Result<usize, Skip> {
    #[derive(Clone, Copy)]
    enum S {
        Unquoted { field_start: usize },
        Quoted,
        QuoteInQuoted { after: usize },
    }
    let mut st = match from {
        Skip::Unquoted { field_start: true } => S::Unquoted { field_start: 0 },
        Skip::Unquoted { field_start: false } => S::Unquoted {
            field_start: usize::MAX,
        },
        Skip::Quoted => S::Quoted,
        Skip::QuoteInQuoted => S::QuoteInQuoted { after: 0 },
    };
    for p in Specials::new(data, 0, data.len()) {
        let b = data[p];
        if b == b'\n' {
            *newlines += 1;
        }
        if let S::QuoteInQuoted { after } = st {
            if p == after && b == b'"' {
                st = S::Quoted;
                continue;
            }
            st = S::Unquoted {
                field_start: usize::MAX,
            };
        }
        match st {
            S::Quoted => {
                if b == b'"' {
                    st = S::QuoteInQuoted { after: p + 1 };
                }
            }
            S::Unquoted { field_start } => match b {
                b'\n' | b'\r' => return Ok(p + 1),
                b',' => st = S::Unquoted { field_start: p + 1 },
                _ => {
                    if p == field_start {
                        st = S::Quoted;
                    }
                }
            },
            S::QuoteInQuoted { .. } => {}
        }
    }
    Err(match st {
        S::Quoted => Skip::Quoted,
        S::QuoteInQuoted { after } if after == data.len() => Skip::QuoteInQuoted,
        S::QuoteInQuoted { .. } => Skip::Unquoted { field_start: false },
        S::Unquoted { field_start } => Skip::Unquoted {
            field_start: field_start == data.len(),
        },
    })
}

impl<R: Read> Scanner<R> {
    pub(crate) fn new(inner: R) -> Scanner<R> {
        Scanner {
            inner,
            carry: Vec::new(),
            newlines: 0,
            skip: None,
            eof: false,
        }
    }

    /// Fills `batch` with the next records (after clearing it). False once the input is used up
    /// (the batch may still hold the last records).
    pub(crate) fn fill(&mut self, batch: &mut Batch) -> io::Result<bool> {
        batch.clear();
        loop {
            if self.eof && self.carry.is_empty() {
                return Ok(false);
            }
            let carried = self.carry.len();
            let target = BATCH_BYTES.max(carried + BATCH_BYTES / 2);
            if batch.data.len() < target {
                batch.data.resize(target, 0);
            }
            batch.data[..carried].copy_from_slice(&self.carry);
            self.carry.clear();
            let mut filled = carried;
            while !self.eof && filled < target {
                match self.inner.read(&mut batch.data[filled..target]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            batch.filled = filled;
            let start = match self.skip {
                Some(from) => match skip_rest(&batch.data[..filled], from, &mut self.newlines) {
                    Ok(end) => {
                        self.skip = None;
                        end
                    }
                    Err(state) => {
                        self.skip = Some(state);
                        continue; // the whole read was the cut row's: read on
                    }
                },
                None => 0,
            };
            self.parse(batch, start);
            let done = self.eof && self.carry.is_empty();
            if !batch.recs.is_empty() || done {
                return Ok(!done);
            }
        }
    }

    /// Parses the records of `batch.data[start..filled]`; a record the read cut off goes to
    /// `carry`, the rest of a row cut at the limit is skipped.
    // The cut macro's bookkeeping is not read again when it cuts the last record of the read.
    #[allow(unused_assignments)]
    fn parse(&mut self, batch: &mut Batch, start: usize) {
        let filled = batch.filled;
        let eof = self.eof;
        let data = &batch.data[..filled];
        let mut fields = Fields {
            bounds: &mut batch.bounds,
            rewrite: Vec::new(),
        };
        let recs = &mut batch.recs;
        let mut nl = self.newlines;
        let mut sp = Specials::new(data, start, filled);
        let mut state = State::StartRecord;
        // Between records: where the next one may start.
        let mut cursor = start;
        let mut rec_start = start;
        let mut rec_line = 0u64;
        let mut field_start = start;
        let mut first_field = fields.bounds.len();
        // The field in progress had an escaped quote, or bytes after its closing quote.
        let mut escaped = false;

        macro_rules! begin_record {
            ($at:expr) => {{
                rec_start = $at;
                field_start = $at;
                rec_line = nl + 1;
                first_field = fields.bounds.len();
                escaped = false;
                state = State::Unquoted;
            }};
        }
        macro_rules! end_record {
            ($end:expr, $cut:expr) => {{
                let end: usize = $end;
                recs.push(Meta {
                    start: rec_start,
                    len: (end - rec_start) as u32,
                    first_field: first_field as u32,
                    fields: (fields.bounds.len() - first_field) as u32,
                    line: rec_line,
                    cut: $cut,
                });
                state = State::StartRecord;
            }};
        }
        // Cuts the record in progress at the row limit, as the end of the input would end it, and
        // skips the rest of the row from there: true when the row ended within `data`.
        macro_rules! cut {
            () => {{
                let limit = rec_start + MAX_ROW;
                let from = match state {
                    State::Unquoted => {
                        fields.push(rec_start, field_start, limit, escaped);
                        Skip::Unquoted {
                            field_start: field_start == limit,
                        }
                    }
                    State::Quoted => {
                        fields.push(rec_start, field_start, limit, true);
                        Skip::Quoted
                    }
                    State::QuoteInQuoted { at } => {
                        fields.push_quoted(rec_start, field_start, at, limit, escaped);
                        if at + 1 == limit {
                            Skip::QuoteInQuoted
                        } else {
                            Skip::Unquoted { field_start: false }
                        }
                    }
                    State::StartRecord => Skip::Unquoted { field_start: true },
                };
                end_record!(limit, true);
                match skip_rest(&data[limit..], from, &mut nl) {
                    Ok(end) => {
                        cursor = limit + end;
                        sp = Specials::new(data, cursor, filled);
                        true
                    }
                    Err(state) => {
                        if !eof {
                            self.skip = Some(state);
                        }
                        cursor = filled;
                        false
                    }
                }
            }};
        }

        while let Some(p) = sp.next() {
            let b = data[p];
            if state == State::StartRecord {
                if p > cursor {
                    begin_record!(cursor);
                } else if is_term(b) {
                    if b == b'\n' {
                        nl += 1;
                    }
                    cursor = p + 1;
                    continue;
                } else {
                    begin_record!(p);
                }
            }
            // A record that runs past the row limit is cut there (one of exactly the limit is not).
            let limit = rec_start + MAX_ROW;
            if p >= limit && !(p == limit && is_term(b) && state != State::Quoted) {
                if cut!() {
                    continue;
                }
                break;
            }
            // The field in progress ends here as a quoted field (None: it goes on, or is unquoted).
            let mut quoted_end = None;
            if let State::QuoteInQuoted { at } = state {
                if p == at + 1 && b == b'"' {
                    escaped = true;
                    state = State::Quoted;
                    continue;
                }
                if p == at + 1 {
                    quoted_end = Some(at);
                } else {
                    // Bytes after the closing quote: they belong to the field, which goes on unquoted.
                    escaped = true;
                }
                state = State::Unquoted;
            }
            match state {
                State::Unquoted => match b {
                    b',' | b'\n' | b'\r' => {
                        match quoted_end {
                            Some(at) => fields.push_quoted(rec_start, field_start, at, p, escaped),
                            None => fields.push(rec_start, field_start, p, escaped),
                        }
                        if b == b',' {
                            field_start = p + 1;
                            escaped = false;
                        } else {
                            if b == b'\n' {
                                nl += 1;
                            }
                            end_record!(p, false);
                            cursor = p + 1;
                        }
                    }
                    _ => {
                        if p == field_start {
                            state = State::Quoted;
                        }
                    }
                },
                State::Quoted => match b {
                    b'"' => {
                        if p + 1 == filled && !eof {
                            break; // the next byte decides: read on
                        }
                        state = State::QuoteInQuoted { at: p };
                    }
                    b'\n' => nl += 1,
                    _ => {}
                },
                State::StartRecord | State::QuoteInQuoted { .. } => {}
            }
        }
        // The bytes ran out (or a quote at the very end waits for the next read).
        if state == State::StartRecord && cursor < filled && self.skip.is_none() {
            begin_record!(cursor);
        }
        if state != State::StartRecord {
            if filled - rec_start > MAX_ROW {
                cut!();
            } else if eof {
                match state {
                    State::Unquoted => fields.push(rec_start, field_start, filled, escaped),
                    State::Quoted => fields.push(rec_start, field_start, filled, true),
                    State::QuoteInQuoted { at } => {
                        fields.push_quoted(rec_start, field_start, at, filled, escaped)
                    }
                    State::StartRecord => {}
                }
                end_record!(filled, false);
            } else {
                // Cut off by the read: parsed again from its start with the next read.
                fields.bounds.truncate(first_field);
                fields.rewrite.retain(|&(i, _)| i < first_field);
                nl = rec_line - 1;
                self.carry.extend_from_slice(&data[rec_start..filled]);
            }
        }
        self.newlines = nl;
        let rewrite = std::mem::take(&mut fields.rewrite);
        for (i, at) in rewrite {
            let (s, e) = batch.bounds[i];
            let len = unescape_in_place(&mut batch.data[at..at + (e - s) as usize]);
            batch.bounds[i].1 = s + len as u32;
        }
        // Blank lines are no rows (the csv crate reads one as a record of one empty field).
        let (data, bounds) = (&batch.data, &batch.bounds);
        batch.recs.retain(|m| {
            let first = m.first_field as usize;
            m.fields > 1
                || !bounds[first..first + m.fields as usize]
                    .iter()
                    .all(|&(s, e)| {
                        data[m.start + s as usize..m.start + e as usize]
                            .iter()
                            .all(u8::is_ascii_whitespace)
                    })
        });
    }
}

/// Rewrites a field's raw bytes (`"…"` with doubled quotes, perhaps bytes after the closing one, or
/// an unquoted field) as its contents, from the start; returns the contents' length. What is left
/// is blanked with spaces.
fn unescape_in_place(raw: &mut [u8]) -> usize {
    if raw.first() != Some(&b'"') {
        return raw.len();
    }
    let mut w = 0;
    let mut r = 1;
    let mut quoted = true;
    while r < raw.len() {
        let b = raw[r];
        if quoted && b == b'"' {
            if raw.get(r + 1) == Some(&b'"') {
                raw[w] = b'"';
                w += 1;
                r += 2;
                continue;
            }
            quoted = false;
            r += 1;
            continue;
        }
        raw[w] = b;
        w += 1;
        r += 1;
    }
    for b in &mut raw[w..] {
        *b = b' ';
    }
    w
}

#[cfg(test)]
#[path = "csvscan_tests.rs"]
mod tests;
