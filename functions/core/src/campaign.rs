//! Brands, campaigns, notes and links (campaigns.md), checked once on the way in.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
    pub spend_fen: i64,
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

    /// True when the flight plus window touches `from ..= to`.
    pub fn touches(&self, from: NaiveDate, to: NaiveDate) -> bool {
        self.start <= to && self.active_until() >= from
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

fn rec_err(record: &str, field: &str, message: impl Into<String>) -> RecordError {
    RecordError {
        record: record.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// A brand or campaign id (campaigns.md): it names folders and object keys.
pub fn check_key_id(id: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not an id: use 1 to 64 ASCII letters, digits, '-', '_' or '.', not beginning with '.'"
        ))
    }
}

/// A RED note id (campaigns.md): 1 to 64 ASCII letters and digits.
pub fn check_note_id(id: &str) -> Result<(), String> {
    if (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a note id: use 1 to 64 ASCII letters and digits (RED's 24-character id)"
        ))
    }
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
    if c.spend_fen < 0 {
        return Err(rec_err(
            label,
            "spend_fen",
            format!("must not be negative, got {}", c.spend_fen),
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
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        let at = format!("{file}:{}", i + 1);
        let r = parse_record(&at, line)?;
        out.push((at, r));
    }
    Ok(out)
}

/// [`parse_jsonl`] of a stored file: ids are checked per run ([`Catalog::for_run`]), not here.
pub fn parse_stored_jsonl(file: &str, text: &str) -> Result<Vec<Record>, RecordError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if !line.is_empty() {
            out.push(parse_stored(&format!("{file}:{}", i + 1), line)?);
        }
    }
    Ok(out)
}

/// Where a token leads, with what the first rules ask of it: looked up for every line with a
/// token, so one entry answers the marketplace and brand questions without visiting the campaign,
/// its note and its brand (each far from the others in a big catalog's memory).
#[derive(Debug, Clone, Copy)]
struct LinkRef {
    campaign: u32,
    note: u32,
    link: u32,
    /// The campaign's brand, by its place in [`Catalog::brands`].
    brand: u32,
    marketplace: Marketplace,
    /// The brand's shops and the campaign's items on the link's marketplace, in [`Catalog::packed`].
    shops: u32,
    items: u32,
}

/// A token's link with its campaign, note and the campaign's brand.
#[derive(Debug, Clone, Copy)]
pub struct Linked<'c> {
    pub campaign: &'c Campaign,
    pub note: &'c Note,
    pub link: &'c Link,
    pub brand: &'c Brand,
    shops: &'c Packed,
    items: &'c Packed,
}

impl Linked<'_> {
    /// [`Brand::owns_shop`] on the link's marketplace.
    pub fn owns_shop(&self, shop_id: &str) -> bool {
        self.shops.contains(shop_id)
    }

    /// [`Campaign::promotes`] on the link's marketplace.
    pub fn promotes(&self, item_id: &str) -> bool {
        self.items.contains(item_id)
    }
}

/// Strings in one allocation, each behind its length: a membership test reads one run of memory,
/// not a map node, a vector and a heap block per string (a brand's shops and a campaign's items are
/// asked about for every line with a token).
#[derive(Debug, Clone, Default)]
struct Packed(Box<[u8]>);

impl Packed {
    fn of<'a>(strings: impl IntoIterator<Item = &'a String>) -> Packed {
        let mut out = Vec::new();
        for s in strings {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Packed(out.into_boxed_slice())
    }

    fn contains(&self, s: &str) -> bool {
        let mut rest = &self.0[..];
        while let Some((len, tail)) = rest.split_first_chunk::<8>() {
            let n = usize::try_from(u64::from_le_bytes(*len)).unwrap_or(usize::MAX);
            let Some((x, after)) = tail.split_at_checked(n) else {
                return false;
            };
            if x == s.as_bytes() {
                return true;
            }
            rest = after;
        }
        false
    }
}

/// Brands and campaigns checked as a whole: every campaign's brand exists and every token is unique.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Sorted by id.
    brands: Vec<Brand>,
    campaigns: Vec<Campaign>,
    /// [`Campaign::version`] of each campaign, computed once when first asked for: every report
    /// names its campaigns' versions, and most campaigns of a big catalog are in no report.
    versions: Vec<std::sync::OnceLock<String>>,
    /// Looked up for every line with a token: foldhash (randomly seeded per process) over SipHash.
    tokens: HashMap<Box<str>, LinkRef, foldhash::fast::RandomState>,
    /// The campaign (index) that lists each note: a note belongs to one campaign.
    notes: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    /// Stored records [`Catalog::for_run`] set aside, with why.
    refused: Vec<RecordError>,
    /// Brands whose reports a run holds back, each with the first reason: one of their campaigns
    /// was set aside, so their figures would be wrong.
    held: BTreeMap<String, String>,
    /// Shops of a brand and items of a campaign on one marketplace, each once ([`LinkRef`]).
    packed: Vec<Packed>,
}

/// An index of the catalog as a u32: a catalog too big for one is refused whole.
fn index32(i: usize, what: &str) -> Result<u32, RecordError> {
    u32::try_from(i).map_err(|_| rec_err("catalog", what, "more than 4,294,967,295 entries"))
}

impl Catalog {
    pub fn new(brands: Vec<Brand>, campaigns: Vec<Campaign>) -> Result<Catalog, RecordError> {
        Catalog::build(brands, campaigns).map_err(|(e, _, _)| e)
    }

    /// [`Catalog::new`], handing the records back with the refusal (a run sets the refused campaign
    /// aside and builds again).
    #[allow(clippy::type_complexity)]
    fn build(
        brands: Vec<Brand>,
        mut campaigns: Vec<Campaign>,
    ) -> Result<Catalog, (RecordError, Vec<Brand>, Vec<Campaign>)> {
        let mut by_id = BTreeMap::new();
        for b in brands {
            by_id.insert(b.brand_id.clone(), b);
        }
        let brands: Vec<Brand> = by_id.into_values().collect();
        campaigns.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
        let mut tokens = HashMap::with_hasher(foldhash::fast::RandomState::default());
        let mut notes: HashMap<Box<str>, u32, _> =
            HashMap::with_hasher(foldhash::fast::RandomState::default());
        let mut packed: Vec<Packed> = Vec::new();
        let mut shops_of: HashMap<(usize, Marketplace), u32> = HashMap::new();
        let refused: Option<RecordError> = 'check: {
            let mut pack = |strings: Option<&Vec<String>>| -> Result<u32, RecordError> {
                packed.push(Packed::of(strings.into_iter().flatten()));
                index32(packed.len() - 1, "shops and items")
            };
            macro_rules! tryc {
                ($e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => break 'check Some(e),
                    }
                };
            }
            for (ci, c) in campaigns.iter().enumerate() {
                let mut items_of: HashMap<Marketplace, u32> = HashMap::new();
                let label = format!("campaign {}", c.campaign_id);
                if ci > 0 && campaigns[ci - 1].campaign_id == c.campaign_id {
                    break 'check Some(rec_err(&label, "campaign_id", "appears twice"));
                }
                let Ok(brand) = brands.binary_search_by(|b| b.brand_id.cmp(&c.brand_id)) else {
                    break 'check Some(rec_err(
                        &label,
                        "brand_id",
                        format!("unknown brand {}", c.brand_id),
                    ));
                };
                // A refused campaign must leave nothing behind: its notes and tokens are checked
                // before any is indexed.
                for n in &c.notes {
                    if let Some(prev) = notes.get(n.note_id.as_str()) {
                        break 'check Some(rec_err(
                            &label,
                            "notes.note_id",
                            format!(
                                "note {} is already listed by campaign {}",
                                n.note_id, campaigns[*prev as usize].campaign_id
                            ),
                        ));
                    }
                    for l in &n.links {
                        if let Some(prev) = tokens.get(l.token.as_str()) {
                            let prev: &LinkRef = prev;
                            break 'check Some(rec_err(
                                &label,
                                "notes.links.token",
                                format!(
                                    "token {} is already used by campaign {}",
                                    l.token, campaigns[prev.campaign as usize].campaign_id
                                ),
                            ));
                        }
                    }
                }
                for (ni, n) in c.notes.iter().enumerate() {
                    notes.insert(n.note_id.as_str().into(), tryc!(index32(ci, "campaigns")));
                    for (li, l) in n.links.iter().enumerate() {
                        let m = l.marketplace;
                        let shops = match shops_of.entry((brand, m)) {
                            Entry::Occupied(e) => *e.get(),
                            Entry::Vacant(e) => *e.insert(tryc!(pack(brands[brand].shops.get(&m)))),
                        };
                        let items = match items_of.entry(m) {
                            Entry::Occupied(e) => *e.get(),
                            Entry::Vacant(e) => *e.insert(tryc!(pack(c.items.get(&m)))),
                        };
                        let r = LinkRef {
                            campaign: tryc!(index32(ci, "campaigns")),
                            note: tryc!(index32(ni, "notes")),
                            link: tryc!(index32(li, "links")),
                            brand: tryc!(index32(brand, "brands")),
                            marketplace: m,
                            shops,
                            items,
                        };
                        // A token twice within the campaign is refused when its record is read.
                        tokens.insert(l.token.as_str().into(), r);
                    }
                }
            }
            None
        };
        if let Some(e) = refused {
            return Err((e, brands, campaigns));
        }
        Ok(Catalog {
            brands,
            versions: campaigns
                .iter()
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            campaigns,
            tokens,
            notes,
            refused: Vec::new(),
            held: BTreeMap::new(),
            packed,
        })
    }

    /// The stored records set aside for this run, each with its reason.
    pub fn refused(&self) -> &[RecordError] {
        &self.refused
    }

    /// Brands whose reports are held back this run (a campaign of theirs was set aside), with why.
    pub fn held(&self) -> &BTreeMap<String, String> {
        &self.held
    }

    /// This catalog with the campaigns `keep` says yes to (and the same refused records).
    pub fn filtered(&self, keep: impl Fn(&Campaign) -> bool) -> Result<Catalog, RecordError> {
        let campaigns = self.campaigns.iter().filter(|c| keep(c)).cloned().collect();
        let mut c = Catalog::new(self.brands.clone(), campaigns)?;
        c.refused = self.refused.clone();
        c.held = self.held.clone();
        Ok(c)
    }

    /// The catalog a run works from: stored records that break a rule (an id the rule refuses, an
    /// unknown brand, a token or note another campaign holds) are set aside, each with its reason,
    /// so that one bad record fails its own reports and never another brand's.
    pub fn for_run(
        brands: Vec<Brand>,
        campaigns: Vec<Campaign>,
    ) -> Result<(Catalog, Vec<RecordError>), RecordError> {
        let mut refused = Vec::new();
        let (brands, bad): (Vec<Brand>, Vec<Brand>) = brands
            .into_iter()
            .partition(|b| check_key_id(&b.brand_id).is_ok());
        for b in bad {
            if let Err(m) = check_key_id(&b.brand_id) {
                refused.push(rec_err(&format!("brand {}", b.brand_id), "brand_id", m));
            }
        }
        let mut held: BTreeMap<String, String> = BTreeMap::new();
        let mut hold = |brand: &str, e: &RecordError| {
            if brands.iter().any(|b| b.brand_id == brand) {
                held.entry(brand.to_string())
                    .or_insert_with(|| e.to_string());
            }
        };
        let mut kept: Vec<Campaign> = Vec::with_capacity(campaigns.len());
        for c in campaigns {
            match check_campaign_ids(&format!("campaign {}", c.campaign_id), &c) {
                Ok(()) => kept.push(c),
                Err(e) => {
                    hold(&c.brand_id, &e);
                    refused.push(e);
                }
            }
        }
        let mut brands = brands;
        loop {
            match Catalog::build(brands, kept) {
                Ok(mut c) => {
                    c.refused = refused.clone();
                    for (b, why) in held {
                        if c.brand(&b).is_some() {
                            c.held.insert(b, why);
                        }
                    }
                    return Ok((c, refused));
                }
                Err((e, b, mut c)) => {
                    // build names the campaign it refused as `campaign {id}`.
                    let id = e
                        .record
                        .strip_prefix("campaign ")
                        .unwrap_or_default()
                        .to_string();
                    let before = c.len();
                    for gone in c.iter().filter(|c| c.campaign_id == id) {
                        held.entry(gone.brand_id.clone())
                            .or_insert_with(|| e.to_string());
                    }
                    c.retain(|c| c.campaign_id != id);
                    if c.len() == before {
                        return Err(e);
                    }
                    refused.push(e);
                    (brands, kept) = (b, c);
                }
            }
        }
    }

    /// The campaign that lists `note_id`.
    pub fn note_owner(&self, note_id: &str) -> Option<&Campaign> {
        self.notes
            .get(note_id)
            .and_then(|i| self.campaigns.get(*i as usize))
    }

    pub fn brand(&self, id: &str) -> Option<&Brand> {
        self.brands
            .binary_search_by(|b| b.brand_id.as_str().cmp(id))
            .ok()
            .map(|i| &self.brands[i])
    }

    /// Brands sorted by id.
    pub fn brands(&self) -> impl Iterator<Item = &Brand> {
        self.brands.iter()
    }

    /// Campaigns sorted by id.
    pub fn campaigns(&self) -> &[Campaign] {
        &self.campaigns
    }

    /// The version of a campaign of this catalog (computed again for any other campaign). Asked
    /// for every campaign live on the date of every report match considers (hundreds of thousands
    /// of times on a day with 30 days of history): a campaign of this catalog is found by its
    /// place in memory, not by a search of the ids.
    pub fn version_of(&self, c: &Campaign) -> Cow<'_, str> {
        let found = self.position(c).or_else(|| {
            self.campaigns
                .binary_search_by(|x| x.campaign_id.as_str().cmp(&c.campaign_id))
                .ok()
                .filter(|i| self.campaigns[*i] == *c)
        });
        match found {
            Some(i) => Cow::Borrowed(self.versions[i].get_or_init(|| c.version()).as_str()),
            None => Cow::Owned(c.version()),
        }
    }

    /// What the rules read of each campaign, 64 bits per campaign in [`Catalog::campaigns`] order:
    /// its brand and the brand's shops, its flight, window, items and links; not its name or spend,
    /// which decide nothing. Equal fingerprints, equal decisions for every line with its tokens.
    pub fn decision_fingerprints(&self) -> Vec<u64> {
        let mut buf = Vec::new();
        let put = |buf: &mut Vec<u8>, s: &str| {
            buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
        };
        let lists = |buf: &mut Vec<u8>, m: &BTreeMap<Marketplace, Vec<String>>| {
            for (mk, xs) in m {
                buf.push(*mk as u8);
                buf.extend_from_slice(&(xs.len() as u64).to_le_bytes());
                for x in xs {
                    put(buf, x);
                }
            }
            buf.push(0xff);
        };
        self.campaigns
            .iter()
            .map(|c| {
                buf.clear();
                put(&mut buf, &c.campaign_id);
                put(&mut buf, &c.brand_id);
                if let Some(b) = self.brand(&c.brand_id) {
                    lists(&mut buf, &b.shops);
                }
                buf.extend_from_slice(&c.start.to_epoch_days().to_le_bytes());
                buf.extend_from_slice(&c.end.to_epoch_days().to_le_bytes());
                buf.extend_from_slice(&c.window_days.to_le_bytes());
                lists(&mut buf, &c.items);
                for n in &c.notes {
                    put(&mut buf, &n.note_id);
                    for l in &n.links {
                        put(&mut buf, &l.token);
                        buf.push(l.kind as u8);
                        buf.push(l.marketplace as u8);
                    }
                    buf.push(0xfe);
                }
                let d = Sha256::digest(&buf);
                let mut b = [0u8; 8];
                b.copy_from_slice(&d[..8]);
                u64::from_le_bytes(b)
            })
            .collect()
    }

    /// Where `c` is in [`Catalog::campaigns`] when it is one of them (the same value, not an equal one).
    pub fn position(&self, c: &Campaign) -> Option<usize> {
        let size = std::mem::size_of::<Campaign>();
        let offset =
            (c as *const Campaign as usize).checked_sub(self.campaigns.as_ptr() as usize)?;
        let i = offset / size.max(1);
        (offset % size.max(1) == 0 && i < self.campaigns.len()).then_some(i)
    }

    pub fn resolve(&self, token: &str) -> Option<Linked<'_>> {
        let r = self.tokens.get(token)?;
        Some(self.linked(r))
    }

    /// [`Catalog::resolve`] when the link's marketplace is `m`: `Err(None)` for an unknown token,
    /// `Err(Some((other, campaign)))` for a link on another marketplace (found without visiting the
    /// link: rule 2 excludes a fifth of the lines with a token in a big day).
    pub fn resolve_on(
        &self,
        token: &str,
        m: Marketplace,
    ) -> Result<Linked<'_>, Option<(Marketplace, &Campaign)>> {
        let r = self.tokens.get(token).ok_or(None)?;
        if r.marketplace != m {
            return Err(Some((r.marketplace, &self.campaigns[r.campaign as usize])));
        }
        Ok(self.linked(r))
    }

    fn linked(&self, r: &LinkRef) -> Linked<'_> {
        let campaign = &self.campaigns[r.campaign as usize];
        let note = &campaign.notes[r.note as usize];
        Linked {
            campaign,
            note,
            link: &note.links[r.link as usize],
            brand: &self.brands[r.brand as usize],
            shops: &self.packed[r.shops as usize],
            items: &self.packed[r.items as usize],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BRAND: &str = r#"{"brand_id": "b-shuihua", "name": "水花川行", "shops": {"taobao": ["57301234"], "jd": ["10023456"]}}"#;
    const CAMPAIGN: &str = r#"{"campaign_id": "c-2025-618-face", "brand_id": "b-shuihua", "name": "全脸盘 618 种草",
 "start": "2025-05-07", "end": "2025-06-18", "window_days": 15, "spend_fen": 12000000,
 "items": {"taobao": ["712345678901"], "jd": ["100012345678"]},
 "notes": [{"note_id": "664f1c2a000000001e02b3c4",
            "links": [{"token": "xhs_k3j2h1g0f9e8", "kind": "ad_link", "marketplace": "taobao"},
                      {"token": "xhs_p0o9i8u7y6t5", "kind": "comment_link", "marketplace": "jd"}]}]}"#;

    fn one_line(s: &str) -> String {
        s.replace('\n', " ")
    }

    fn campaign_with(edit: impl Fn(&mut serde_json::Value)) -> String {
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
    fn packed_strings_hold_exactly_their_members() {
        let v: Vec<String> = ["57301234", "5730", ""].map(String::from).into();
        let p = Packed::of(&v);
        for s in &v {
            assert!(p.contains(s), "{s:?}");
        }
        for s in ["573", "57301234 ", "x", "573012345"] {
            assert!(!p.contains(s), "{s:?}");
        }
        assert!(!Packed::of(&Vec::new()).contains(""));
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

    #[test]
    fn unknown_brand_and_shared_tokens_are_refused() {
        let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
            panic!()
        };
        let e = Catalog::new(vec![], vec![c.clone()]).unwrap_err();
        assert_eq!(e.field, "brand_id");
        let Record::Brand(b) = parse_record("x", BRAND).unwrap() else {
            panic!()
        };
        let mut other = c.clone();
        other.campaign_id = "c-other".into();
        // The same note in two campaigns: refused, naming both.
        let e = Catalog::new(vec![b.clone()], vec![c.clone(), other.clone()]).unwrap_err();
        assert_eq!(e.field, "notes.note_id", "{e}");
        assert!(
            e.message
                .contains("already listed by campaign c-2025-618-face")
                && e.record.contains("c-other"),
            "{e}"
        );
        // Another note carrying the same token: refused on the token.
        other.notes[0].note_id = "aaaa0000".into();
        let e = Catalog::new(vec![b.clone()], vec![c.clone(), other.clone()]).unwrap_err();
        assert!(e.message.contains("already used by campaign"), "{e}");
        // A note of its own, with links of its own, and a title: accepted and found.
        other.notes[0].links.clear();
        other.notes[0].title = Some("夏日防晒".into());
        let cat = Catalog::new(vec![b], vec![c, other]).unwrap();
        assert_eq!(
            cat.note_owner("aaaa0000").map(|c| c.campaign_id.as_str()),
            Some("c-other")
        );
        assert_eq!(cat.note_owner("nope"), None);
    }

    #[test]
    fn a_run_sets_aside_stored_records_that_break_a_rule_and_keeps_the_rest() {
        let Record::Brand(b) = parse_record("x", BRAND).unwrap() else {
            panic!()
        };
        let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
            panic!()
        };
        let mut evil_brand = b.clone();
        evil_brand.brand_id = "../evil".into();
        let mut evil = c.clone();
        evil.campaign_id = "c-evil/../../x".into();
        evil.notes[0].note_id = "bbbb0000".into();
        evil.notes[0].links.clear();
        let mut thief = c.clone();
        thief.campaign_id = "c-zz-thief".into();
        thief.notes[0].note_id = "cccc0000".into();
        let mut b2 = b.clone();
        b2.brand_id = "b-two".into();
        b2.shops = BTreeMap::new();
        let mut c2 = c.clone();
        c2.campaign_id = "c-two".into();
        c2.brand_id = "b-two".into();
        c2.notes[0].note_id = "dddd0000".into();
        c2.notes.truncate(1);
        for (i, l) in c2.notes[0].links.iter_mut().enumerate() {
            l.token = format!("tk-two-{i}");
        }
        let brand_id = b.brand_id.clone();
        let (cat, refused) =
            Catalog::for_run(vec![b, evil_brand, b2], vec![c.clone(), evil, thief, c2]).unwrap();
        let kept: Vec<&str> = cat
            .campaigns()
            .iter()
            .map(|c| c.campaign_id.as_str())
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}: {:?}", cat.refused());
        // The brand of the set-aside campaigns is held back with the first reason; the other is not.
        assert_eq!(cat.held().len(), 1, "{:?}", cat.held());
        assert!(cat.held()[&brand_id].contains("c-evil/../../x"));
        let why: Vec<String> = refused.iter().map(|e| e.to_string()).collect();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why.iter().any(|w| w.contains("../evil")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("c-evil/../../x")), "{why:?}");
        assert!(
            why.iter()
                .any(|w| w.contains("c-zz-thief") && w.contains("already used")),
            "{why:?}"
        );
        assert_eq!(cat.refused().len(), 3);
    }

    #[test]
    fn versions_follow_content() {
        let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
            panic!()
        };
        let mut d = c.clone();
        assert_eq!(c.version(), d.version());
        d.spend_fen += 1;
        assert_ne!(c.version(), d.version());
    }

    /// A campaign of the catalog is found by where it is; an equal copy, or a changed one, gets the
    /// version of its own content all the same.
    #[test]
    fn versions_of_the_catalogs_campaigns_and_of_copies() {
        let Record::Brand(b) = parse_record("x", BRAND).unwrap() else {
            panic!()
        };
        let Record::Campaign(c) = parse_record("x", CAMPAIGN).unwrap() else {
            panic!()
        };
        let other = campaign_with(|v| {
            v["campaign_id"] = "c-0-first".into();
            v["notes"][0]["note_id"] = "aaaa0001".into();
            for l in v["notes"][0]["links"].as_array_mut().unwrap() {
                let token = format!("{}0", l["token"].as_str().unwrap());
                l["token"] = token.into();
            }
        });
        let Record::Campaign(o) = parse_record("x", &one_line(&other)).unwrap() else {
            panic!()
        };
        let cat = Catalog::new(vec![b], vec![c.clone(), o.clone()]).unwrap();
        assert_ne!(c.version(), o.version());
        for own in cat.campaigns() {
            assert_eq!(cat.version_of(own), own.version());
        }
        assert_eq!(cat.version_of(&c), c.version());
        assert_eq!(cat.version_of(&o), o.version());
        let mut changed = c.clone();
        changed.spend_fen += 1;
        assert_eq!(cat.version_of(&changed), changed.version());
        assert_ne!(cat.version_of(&changed), cat.version_of(&c));
    }
}
