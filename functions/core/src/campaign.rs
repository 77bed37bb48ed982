//! Brands, campaigns, notes and links (campaigns.md), checked once on the way in.

use crate::money::Fen;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::line::Marketplace;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Brand {
    pub brand_id: String,
    pub name: String,
    pub shops: BTreeMap<Marketplace, Vec<String>>,
}

impl Brand {
    pub fn owns_shop(&self, m: Marketplace, shop_id: &str) -> bool {
        self.shops
            .get(&m)
            .is_some_and(|s| s.iter().any(|x| x == shop_id))
    }
}

/// In byte order of the names (`ad_link` < `comment_link`), like [`Marketplace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    AdLink,
    CommentLink,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::AdLink => "ad_link",
            LinkKind::CommentLink => "comment_link",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub token: String,
    pub kind: LinkKind,
    pub marketplace: Marketplace,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub note_id: String,
    /// The note's title on RED, shown beside its id on pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    pub campaign_id: String,
    pub brand_id: String,
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub window_days: u32,
    pub spend_fen: Fen,
    pub items: BTreeMap<Marketplace, Vec<String>>,
    pub notes: Vec<Note>,
}

impl Campaign {
    /// The last date a payment can be credited: `end + window_days`.
    pub fn active_until(&self) -> NaiveDate {
        self.end + Duration::days(i64::from(self.window_days))
    }

    /// Live on `d`: within `start ..= end + window_days`.
    pub fn live_on(&self, d: NaiveDate) -> bool {
        self.start <= d && d <= self.active_until()
    }

    pub fn promotes(&self, m: Marketplace, item_id: &str) -> bool {
        self.items
            .get(&m)
            .is_some_and(|s| s.iter().any(|x| x == item_id))
    }

    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.notes
            .iter()
            .flat_map(|n| n.links.iter().map(|l| l.token.as_str()))
    }

    /// A content version: the first 64 bits of SHA-256 over the canonical JSON record.
    pub fn version(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(&Sha256::digest(&bytes)[..8])
    }
}

/// A refused record: which one, which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordError {
    /// Where the record came from (`campaigns.jsonl:3`), or its id.
    pub record: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.record, self.message)
        } else {
            write!(
                f,
                "{}: field `{}`: {}",
                self.record, self.field, self.message
            )
        }
    }
}

/// A brand or campaign record read from JSON lines, before cross-record checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Brand(Brand),
    Campaign(Campaign),
}

pub(crate) fn rec_err(record: &str, field: &str, message: impl Into<String>) -> RecordError {
    RecordError {
        record: record.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// A brand or campaign id (campaigns.md): the rule is [`crate::ids::BrandId`]'s.
pub fn check_key_id(id: &str) -> Result<(), String> {
    crate::ids::BrandId::parse(id)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A RED note id (campaigns.md): the rule is [`crate::ids::NoteId`]'s.
pub fn check_note_id(id: &str) -> Result<(), String> {
    crate::ids::NoteId::parse(id)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Deserialises a record, naming the field that failed by its path (`notes[0].links[0].kind`)
/// and saying what would be accepted.
fn record_from<T: serde::de::DeserializeOwned>(
    label: &str,
    value: serde_json::Value,
) -> Result<T, RecordError> {
    let raw = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let path = if path == "." { String::new() } else { path };
        let join = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            }
        };
        let quoted = inner.split('`').nth(1).unwrap_or("");
        if inner.starts_with("missing field") {
            return rec_err(label, &join(quoted), "is missing");
        }
        if inner.starts_with("unknown field") {
            return rec_err(
                label,
                &join(quoted),
                format!("is not a field of this record ({inner})"),
            );
        }
        let pointer: String = path
            .split('.')
            .flat_map(|seg| seg.split('['))
            .map(|seg| format!("/{}", seg.trim_end_matches(']')))
            .collect();
        let got = raw
            .pointer(&pointer)
            .map_or_else(String::new, |v| v.to_string());
        let last = path.rsplit(['.', '[']).next().unwrap_or("");
        let message = match last {
            "start" | "end" => {
                format!("{got} is not a date: expected YYYY-MM-DD, a day that exists")
            }
            "kind" => format!("{got} is not a link kind: expected \"ad_link\" or \"comment_link\""),
            "marketplace" => format!("{got} is not a marketplace: expected \"taobao\" or \"jd\""),
            "window_days" => {
                format!("{got} is not a number of days: expected a whole number 1..90")
            }
            "spend_fen" => {
                format!("{got} is not an amount in fen: expected a whole number of at least 0")
            }
            _ if got.is_empty() => inner,
            _ => format!("{got}: {inner}"),
        };
        rec_err(label, &path, message)
    })
}

/// Parses one JSON line into a brand or a campaign (a campaign has `campaign_id`) and checks its
/// own fields, ids included: what `campaigns load` accepts.
pub fn parse_record(origin: &str, json: &str) -> Result<Record, RecordError> {
    let r = parse_stored(origin, json)?;
    match &r {
        Record::Brand(b) => check_key_id(&b.brand_id)
            .map_err(|m| rec_err(&format!("{origin} (brand {})", b.brand_id), "brand_id", m))?,
        Record::Campaign(c) => {
            check_campaign_ids(&format!("{origin} (campaign {})", c.campaign_id), c)?
        }
    }
    Ok(r)
}

/// A record as stored: its shape and fields checked, its ids not (a table written by an older
/// seedline may hold ids the rule now refuses: [`Catalog::for_run`] sets those aside).
pub fn parse_stored(origin: &str, json: &str) -> Result<Record, RecordError> {
    // A well-formed record parses straight into its type (a catalog holds tens of thousands); only
    // one that does not takes the slower road below, which names the field that failed.
    if let Ok(c) = serde_json::from_str::<Campaign>(json) {
        check_campaign(&format!("{origin} (campaign {})", c.campaign_id), &c)?;
        return Ok(Record::Campaign(c));
    }
    if let Ok(b) = serde_json::from_str::<Brand>(json) {
        if !b.brand_id.is_empty() {
            return Ok(Record::Brand(b));
        }
    }
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| rec_err(origin, "", format!("not valid JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| rec_err(origin, "", "a record must be a JSON object"))?;
    if let Some(id) = obj.get("campaign_id") {
        let label = format!("{origin} (campaign {})", id.as_str().unwrap_or("?"));
        let c: Campaign = record_from(&label, value)?;
        check_campaign(&label, &c)?;
        Ok(Record::Campaign(c))
    } else {
        let label = format!(
            "{origin} (brand {})",
            obj.get("brand_id").and_then(|v| v.as_str()).unwrap_or("?")
        );
        let b: Brand = record_from(&label, value)?;
        if b.brand_id.is_empty() {
            return Err(rec_err(&label, "brand_id", "must not be empty"));
        }
        Ok(Record::Brand(b))
    }
}

/// The ids of a campaign record against campaigns.md's rule.
pub fn check_campaign_ids(label: &str, c: &Campaign) -> Result<(), RecordError> {
    check_key_id(&c.campaign_id).map_err(|m| rec_err(label, "campaign_id", m))?;
    check_key_id(&c.brand_id).map_err(|m| rec_err(label, "brand_id", m))?;
    for (i, n) in c.notes.iter().enumerate() {
        check_note_id(&n.note_id).map_err(|m| rec_err(label, &format!("notes[{i}].note_id"), m))?;
    }
    Ok(())
}

fn check_campaign(label: &str, c: &Campaign) -> Result<(), RecordError> {
    if c.campaign_id.trim().is_empty() {
        return Err(rec_err(label, "campaign_id", "must not be empty"));
    }
    if c.brand_id.trim().is_empty() {
        return Err(rec_err(label, "brand_id", "must not be empty"));
    }
    if c.end < c.start {
        return Err(rec_err(
            label,
            "end",
            format!("ends {} before it starts {}", c.end, c.start),
        ));
    }
    if !(1..=90).contains(&c.window_days) {
        return Err(rec_err(
            label,
            "window_days",
            format!("must be 1..90, got {}", c.window_days),
        ));
    }
    if c.spend_fen < Fen::ZERO {
        return Err(rec_err(
            label,
            "spend_fen",
            format!("must not be negative, got {}", c.spend_fen.fen()),
        ));
    }
    let mut seen = BTreeSet::new();
    for n in &c.notes {
        if n.note_id.trim().is_empty() {
            return Err(rec_err(label, "notes.note_id", "must not be empty"));
        }
        for l in &n.links {
            if l.token.trim().is_empty() {
                return Err(rec_err(label, "notes.links.token", "must not be empty"));
            }
            if !seen.insert(l.token.as_str()) {
                return Err(rec_err(
                    label,
                    "notes.links.token",
                    format!("token {} is used twice", l.token),
                ));
            }
        }
    }
    Ok(())
}

/// Parses a JSON-lines text (blank lines skipped), naming each record by `file:line`.
pub fn parse_jsonl(file: &str, text: &str) -> Result<Vec<Record>, RecordError> {
    Ok(parse_jsonl_located(file, text)?
        .into_iter()
        .map(|(_, r)| r)
        .collect())
}

/// [`parse_jsonl`], each record with where it came from (`campaigns.jsonl:3`), so that a refusal
/// of the records as a whole (an unknown brand, a shared token) can name the line.
pub fn parse_jsonl_located(file: &str, text: &str) -> Result<Vec<(String, Record)>, RecordError> {
    let mut out = Vec::new();
    for (n, line) in jsonl_records(text, 0) {
        let at = format!("{file}:{n}");
        let r = parse_record(&at, line)?;
        out.push((at, r));
    }
    Ok(out)
}

/// The non-blank lines of a JSON-lines text, trimmed and without a BOM, each with its line
/// number; the text's first line is line `before + 1`.
fn jsonl_records(text: &str, before: usize) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(move |(i, line)| {
        let line = line.trim().trim_start_matches('\u{feff}');
        (!line.is_empty()).then_some((before + i + 1, line))
    })
}

/// [`parse_jsonl`] of a stored file: ids are checked per run ([`Catalog::for_run`]), not here.
pub fn parse_stored_jsonl(file: &str, text: &str) -> Result<Vec<Record>, RecordError> {
    // A catalog of 20,000 campaigns is about 20 MB of JSON, read by every match: one share of the
    // lines per core. Shares are joined in order, and the first failing line in the file wins.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    parse_in_shares(file, text, &line_shares(text, workers, 1 << 20))
}

fn parse_in_shares(
    file: &str,
    text: &str,
    shares: &[(usize, usize)],
) -> Result<Vec<Record>, RecordError> {
    if shares.len() == 1 {
        return parse_share(file, text, 0);
    }
    let parsed: Vec<Result<Vec<Record>, RecordError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .iter()
            .map(|&(start, end)| {
                scope.spawn(move || {
                    let before = memchr::memchr_iter(b'\n', &text.as_bytes()[..start]).count();
                    parse_share(file, &text[start..end], before)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::new();
    for share in parsed {
        out.extend(share?);
    }
    Ok(out)
}

/// The records of `text`, whose first line is line `before + 1` of `file`.
fn parse_share(file: &str, text: &str, before: usize) -> Result<Vec<Record>, RecordError> {
    jsonl_records(text, before)
        .map(|(n, line)| parse_stored(&format!("{file}:{n}"), line))
        .collect()
}

/// `text` cut into at most `n` byte ranges of whole lines, each at least `min` bytes but the last.
fn line_shares(text: &str, n: usize, min: usize) -> Vec<(usize, usize)> {
    let size = text.len().div_ceil(n.max(1)).max(min).max(1);
    let mut shares = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let end = match text.as_bytes().get(start + size..) {
            Some(rest) => memchr::memchr(b'\n', rest).map_or(text.len(), |i| start + size + i + 1),
            None => text.len(),
        };
        shares.push((start, end));
        start = end;
    }
    if shares.is_empty() {
        shares.push((0, 0));
    }
    shares
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::catalog::Catalog;

    pub(crate) const BRAND: &str = r#"{"brand_id": "b-shuihua", "name": "水花川行", "shops": {"taobao": ["57301234"], "jd": ["10023456"]}}"#;
    pub(crate) const CAMPAIGN: &str = r#"{"campaign_id": "c-2025-618-face", "brand_id": "b-shuihua", "name": "全脸盘 618 种草",
 "start": "2025-05-07", "end": "2025-06-18", "window_days": 15, "spend_fen": 12000000,
 "items": {"taobao": ["712345678901"], "jd": ["100012345678"]},
 "notes": [{"note_id": "664f1c2a000000001e02b3c4",
            "links": [{"token": "xhs_k3j2h1g0f9e8", "kind": "ad_link", "marketplace": "taobao"},
                      {"token": "xhs_p0o9i8u7y6t5", "kind": "comment_link", "marketplace": "jd"}]}]}"#;

    pub(crate) fn one_line(s: &str) -> String {
        s.replace('\n', " ")
    }

    pub(crate) fn campaign_with(edit: impl Fn(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(CAMPAIGN).unwrap();
        edit(&mut v);
        v.to_string()
    }

    #[test]
    fn the_spec_examples_parse() {
        let recs = parse_jsonl("x.jsonl", &format!("{BRAND}\n\n{}\n", one_line(CAMPAIGN))).unwrap();
        let Record::Campaign(c) = &recs[1] else {
            panic!("campaign expected")
        };
        assert_eq!(c.window_days, 15);
        assert_eq!(
            c.active_until(),
            NaiveDate::from_ymd_opt(2025, 7, 3).unwrap()
        );
        assert!(c.promotes(Marketplace::Jd, "100012345678"));
        assert!(!c.promotes(Marketplace::Taobao, "100012345678"));
        let Record::Brand(b) = &recs[0] else {
            panic!("brand expected")
        };
        let cat = Catalog::new(vec![b.clone()], vec![c.clone()]).unwrap();
        let r = cat.resolve("xhs_p0o9i8u7y6t5").unwrap();
        assert_eq!(r.campaign.campaign_id, "c-2025-618-face");
        assert_eq!(r.note.note_id, "664f1c2a000000001e02b3c4");
        assert_eq!(r.link.kind, LinkKind::CommentLink);
        assert_eq!(r.brand.brand_id, "b-shuihua");
        assert!(cat.resolve("xhs_nope").is_none());
        // Rule 2's question answered by the token alone.
        let on = |t, m| {
            cat.resolve_on(t, m)
                .map(|l| l.link.token.as_str())
                .map_err(|e| e.map(|(m, c)| (m, c.campaign_id.as_str())))
        };
        assert_eq!(
            on("xhs_p0o9i8u7y6t5", Marketplace::Jd),
            Ok("xhs_p0o9i8u7y6t5")
        );
        assert_eq!(
            on("xhs_p0o9i8u7y6t5", Marketplace::Taobao),
            Err(Some((Marketplace::Jd, "c-2025-618-face")))
        );
        assert_eq!(on("xhs_nope", Marketplace::Jd), Err(None));
        // The packed shops and items answer as the brand and the campaign do.
        for (token, m) in [
            ("xhs_p0o9i8u7y6t5", Marketplace::Jd),
            ("xhs_k3j2h1g0f9e8", Marketplace::Taobao),
        ] {
            let l = cat.resolve(token).unwrap();
            for id in ["57301234", "10023456", "712345678901", "100012345678", ""] {
                assert_eq!(l.owns_shop(id), b.owns_shop(m, id), "{token} shop {id}");
                assert_eq!(l.promotes(id), c.promotes(m, id), "{token} item {id}");
            }
        }
    }

    #[test]
    fn bad_records_name_the_record_and_the_field() {
        let cases: Vec<(String, &str)> = vec![
            (campaign_with(|v| v["end"] = "2025-05-01".into()), "end"),
            (
                campaign_with(|v| v["window_days"] = 0.into()),
                "window_days",
            ),
            (
                campaign_with(|v| v["window_days"] = 91.into()),
                "window_days",
            ),
            (campaign_with(|v| v["spend_fen"] = (-1).into()), "spend_fen"),
            (
                campaign_with(|v| drop(v.as_object_mut().unwrap().remove("start"))),
                "start",
            ),
            (
                campaign_with(|v| v["notes"][0]["links"][0]["kind"] = "banner".into()),
                "",
            ),
        ];
        for (json, field) in cases {
            let e = parse_record("campaigns.jsonl:7", &json).unwrap_err();
            assert!(e.record.contains("campaigns.jsonl:7"), "{e}");
            assert!(e.record.contains("c-2025-618-face"), "{e}");
            if !field.is_empty() {
                assert_eq!(e.field, field, "{e}");
            }
        }
    }

    /// Parsed in shares, the records come in file order and a bad line is named by its own number.
    #[test]
    fn stored_records_parse_in_shares_in_order() {
        let campaign = |i: usize| {
            campaign_with(|v| {
                v["campaign_id"] = format!("c-{i}").into();
                v["notes"][0]["note_id"] = format!("n-{i}").into();
            })
        };
        let lines: Vec<String> = std::iter::once(BRAND.to_string())
            .chain((0..40).map(campaign))
            .collect();
        let text = format!("\u{feff}{}\r\n\n", lines.join("\r\n"));
        let ids = |recs: Vec<Record>| -> Vec<String> {
            recs.into_iter()
                .map(|r| match r {
                    Record::Campaign(c) => c.campaign_id,
                    Record::Brand(b) => b.brand_id,
                })
                .collect()
        };
        let whole = ids(parse_in_shares("f", &text, &[(0, text.len())]).unwrap());
        assert_eq!(whole.len(), 41);
        for n in [2, 3, 7, 100] {
            let shares = line_shares(&text, n, 64);
            assert!(shares.len() > 1 && shares.len() <= n, "{n}: {shares:?}");
            assert_eq!(shares.last().unwrap().1, text.len());
            assert!(shares.windows(2).all(|w| w[0].1 == w[1].0));
            assert_eq!(ids(parse_in_shares("f", &text, &shares).unwrap()), whole);
        }
        assert_eq!(line_shares("", 2, 1), vec![(0, 0)]);
        assert_eq!(line_shares("ab", 2, 64), vec![(0, 2)]);
        // Line 31 (the 30th campaign) is bad; so is line 36: the first one is named.
        let mut bad = lines.clone();
        bad[30] = campaign_with(|v| v["window_days"] = 0.into());
        bad[35] = "{".to_string();
        let text = bad.join("\n");
        let e = parse_in_shares("f", &text, &line_shares(&text, 4, 64)).unwrap_err();
        assert!(e.record.starts_with("f:31 "), "{e}");
        assert_eq!(e.field, "window_days");
    }

    #[test]
    fn versions_follow_content() {
        let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
            panic!()
        };
        let mut d = c.clone();
        assert_eq!(c.version(), d.version());
        d.spend_fen += Fen(1);
        assert_ne!(c.version(), d.version());
    }
}
