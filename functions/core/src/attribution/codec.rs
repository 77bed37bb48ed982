//! The staged form of report inputs and of match's spill: length-prefixed binary, because a
//! big day has millions of credited lines and each is written once and read once.

use chrono::{DateTime, NaiveDate};

use super::{AttributedLine, LineRef, MatchKind, ReportInput};
use crate::campaign::LinkKind;
use crate::line::Marketplace;
use crate::money::Fen;

use crate::wire::take_array;
pub use crate::wire::{put_str, take, take_str};

pub fn put_date(out: &mut Vec<u8>, d: NaiveDate) {
    out.extend_from_slice(&d.to_epoch_days().to_le_bytes());
}

pub fn take_date(rest: &mut &[u8]) -> Option<NaiveDate> {
    NaiveDate::from_epoch_days(i32::from_le_bytes(take_array(rest)?))
}

pub fn put_line(out: &mut Vec<u8>, l: &LineRef<'_>) {
    for s in [
        l.campaign_id,
        l.note_id,
        l.shop_id,
        l.order_id,
        l.line_id,
        l.item_id,
        l.title,
        l.buyer_hash,
        l.source_key,
    ] {
        put_str(out, s);
    }
    out.push(match l.link_kind {
        LinkKind::AdLink => 0,
        LinkKind::CommentLink => 1,
    });
    out.push(l.marketplace as u8);
    out.push(match l.match_kind {
        MatchKind::Direct => 0,
        MatchKind::Halo => 1,
    });
    out.extend_from_slice(&l.quantity.to_le_bytes());
    out.extend_from_slice(&l.paid_fen.fen().to_le_bytes());
    out.extend_from_slice(&l.refund_fen.fen().to_le_bytes());
    out.extend_from_slice(&l.paid_at.and_utc().timestamp().to_le_bytes());
}

pub fn take_line(rest: &mut &[u8]) -> Option<AttributedLine> {
    let mut s = [(); 9].map(|_| String::new());
    for slot in &mut s {
        *slot = take_str(rest)?;
    }
    let [campaign_id, note_id, shop_id, order_id, line_id, item_id, title, buyer_hash, source_key] =
        s;
    let [kind, market, matched] = take_array(rest)?;
    Some(AttributedLine {
        campaign_id,
        note_id,
        link_kind: [LinkKind::AdLink, LinkKind::CommentLink]
            .get(usize::from(kind))
            .copied()?,
        marketplace: Marketplace::ALL.into_iter().find(|m| *m as u8 == market)?,
        shop_id,
        order_id,
        line_id,
        item_id,
        title,
        quantity: u32::from_le_bytes(take_array(rest)?),
        paid_fen: Fen(i64::from_le_bytes(take_array(rest)?)),
        refund_fen: Fen(i64::from_le_bytes(take_array(rest)?)),
        paid_at: DateTime::from_timestamp(i64::from_le_bytes(take_array(rest)?), 0)?.naive_utc(),
        buyer_hash,
        match_kind: [MatchKind::Direct, MatchKind::Halo]
            .get(usize::from(matched))
            .copied()?,
        source_key,
    })
}

/// A report input as staged: its JSON without the lines, a newline, the line count (u64),
/// then the lines.
pub fn encode_input(input: &ReportInput) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(&Head(input))?;
    out.push(b'\n');
    out.extend_from_slice(&(input.lines.len() as u64).to_le_bytes());
    out.reserve(input.lines.len() * 256);
    for l in &input.lines {
        put_line(&mut out, &l.as_ref());
    }
    Ok(out)
}

pub fn decode_input(bytes: &[u8]) -> Result<ReportInput, String> {
    let nl = bytes
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let mut input: ReportInput =
        serde_json::from_slice(&bytes[..nl]).map_err(|e| format!("header: {e}"))?;
    let mut rest = &bytes[nl + 1..];
    let n = take_array(&mut rest)
        .map(u64::from_le_bytes)
        .ok_or("no line count")?;
    let mut lines = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1 << 20));
    for i in 0..n {
        lines.push(take_line(&mut rest).ok_or_else(|| format!("line {i} does not read"))?);
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last line", rest.len()));
    }
    input.lines = lines;
    Ok(input)
}

/// A report input's JSON with its lines left out (they follow in binary).
struct Head<'a>(&'a ReportInput);

impl serde::Serialize for Head<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let i = self.0;
        let mut st = s.serialize_struct("ReportInput", 7)?;
        st.serialize_field("brand_id", &i.brand_id)?;
        st.serialize_field("brand_name", &i.brand_name)?;
        st.serialize_field("date", &i.date)?;
        st.serialize_field("campaigns", &i.campaigns)?;
        st.serialize_field("lines", &[] as &[AttributedLine])?;
        st.serialize_field("exports", &i.exports)?;
        st.serialize_field("red", &i.red)?;
        st.end()
    }
}
