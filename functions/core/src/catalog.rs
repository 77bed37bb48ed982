//! The brands and campaigns of a run checked as a whole (campaigns.md): every campaign's brand
//! exists, a token and a note belong to one campaign; and the lookups attribution makes of them.

use crate::ids::BrandId;
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::campaign::{
    check_campaign_ids, check_key_id, rec_err, Brand, Campaign, Link, Note, RecordError,
};
use crate::line::Marketplace;
use sha2::{Digest, Sha256};

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
    /// Each brand's id checked once, beside `brands` (`None` for one the rule refuses, which
    /// [`Catalog::for_run`] sets aside before building).
    brand_ids: Vec<Option<BrandId>>,
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
    /// The campaigns (indexes, in id order) of each brand, beside `brands`: a run asks for a
    /// brand's campaigns once per report, and 500 brands over 20,000 campaigns is 10M compares.
    by_brand: Vec<Vec<u32>>,
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
        // Sized up front: the token map holds every link (200,000 in the benchmark), and each
        // doubling rehashes them all.
        let note_count: usize = campaigns.iter().map(|c| c.notes.len()).sum();
        let link_count: usize = campaigns.iter().map(|c| c.tokens().count()).sum();
        let mut tokens =
            HashMap::with_capacity_and_hasher(link_count, foldhash::fast::RandomState::default());
        let mut notes: HashMap<Box<str>, u32, _> =
            HashMap::with_capacity_and_hasher(note_count, foldhash::fast::RandomState::default());
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
        let mut by_brand = vec![Vec::new(); brands.len()];
        for (ci, c) in campaigns.iter().enumerate() {
            if let Ok(b) = brands.binary_search_by(|b| b.brand_id.cmp(&c.brand_id)) {
                // Indexes fit: index32 checked every campaign above.
                by_brand[b].push(ci as u32);
            }
        }
        Ok(Catalog {
            by_brand,
            brand_ids: brands
                .iter()
                .map(|b| BrandId::parse(&b.brand_id).ok())
                .collect(),
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

    /// The checked id of a brand the catalog holds.
    pub fn brand_id(&self, id: &str) -> Option<&BrandId> {
        self.brands
            .binary_search_by(|b| b.brand_id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.brand_ids[i].as_ref())
    }

    /// The checked ids of every brand, sorted.
    pub fn brand_ids(&self) -> impl Iterator<Item = &BrandId> {
        self.brand_ids.iter().flatten()
    }

    /// Campaigns sorted by id.
    pub fn campaigns(&self) -> &[Campaign] {
        &self.campaigns
    }

    /// The campaigns of one brand, sorted by id (none for an unknown brand).
    pub fn campaigns_of(&self, brand_id: &str) -> impl Iterator<Item = &Campaign> {
        self.brands
            .binary_search_by(|b| b.brand_id.as_str().cmp(brand_id))
            .ok()
            .and_then(|b| self.by_brand.get(b))
            .into_iter()
            .flatten()
            .map(|&ci| &self.campaigns[ci as usize])
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
#[path = "catalog_tests.rs"]
mod tests;
