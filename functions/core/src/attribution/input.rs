//! What reports are built from: a credited line (owned, and borrowed as the matcher hands it
//! back), a campaign and an export as reports name them, a statement's input and a day's totals.

use crate::money::Fen;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::MatchKind;
use crate::campaign::{Campaign, LinkKind};
use crate::catalog::Catalog;
use crate::funnel::NoteRed;
use crate::line::Marketplace;

/// A credited line as it goes into a report. No personal data: the buyer is a keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributedLine {
    pub campaign_id: String,
    pub note_id: String,
    pub link_kind: LinkKind,
    pub marketplace: Marketplace,
    pub shop_id: String,
    pub order_id: String,
    pub line_id: String,
    pub item_id: String,
    pub title: String,
    pub quantity: u32,
    pub paid_fen: Fen,
    pub refund_fen: Fen,
    pub paid_at: NaiveDateTime,
    pub buyer_hash: String,
    #[serde(rename = "match")]
    pub match_kind: MatchKind,
    pub source_key: String,
}

impl AttributedLine {
    pub fn as_ref(&self) -> LineRef<'_> {
        LineRef {
            campaign_id: &self.campaign_id,
            note_id: &self.note_id,
            link_kind: self.link_kind,
            marketplace: self.marketplace,
            shop_id: &self.shop_id,
            order_id: &self.order_id,
            line_id: &self.line_id,
            item_id: &self.item_id,
            title: &self.title,
            quantity: self.quantity,
            paid_fen: self.paid_fen,
            refund_fen: self.refund_fen,
            paid_at: self.paid_at,
            buyer_hash: &self.buyer_hash,
            match_kind: self.match_kind,
            source_key: &self.source_key,
        }
    }

    pub fn net_fen(&self) -> Fen {
        self.paid_fen - self.refund_fen
    }

    pub(crate) fn sort_key(&self) -> (&str, Marketplace, &str, &str) {
        (
            &self.campaign_id,
            self.marketplace,
            &self.order_id,
            &self.line_id,
        )
    }
}

/// A campaign as a report needs it: its record's figures and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignInfo {
    pub campaign_id: String,
    pub name: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub window_days: u32,
    pub spend_fen: Fen,
    pub version: String,
    /// Titles of the campaign's notes that have one, by note id: pages show them beside the ids.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub note_titles: BTreeMap<String, String>,
}

/// An export a report's lines came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExportRef {
    pub key: String,
    pub etag: String,
}

/// Everything one brand's statement of one date is rendered from (its own date's lines and RED
/// figures, nothing of another date); staged by match, read by publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportInput {
    pub brand_id: String,
    pub brand_name: String,
    pub date: NaiveDate,
    /// Campaigns of the brand live on the date or credited with lines on it, sorted by id.
    pub campaigns: Vec<CampaignInfo>,
    /// Credited lines of the date, sorted as orders.csv is.
    pub lines: Vec<AttributedLine>,
    pub exports: Vec<ExportRef>,
    /// The latest RED figures of the brand's notes on the date, sorted by (campaign_id, note_id).
    #[serde(default)]
    pub red: Vec<NoteRed>,
}

/// Headline totals of a day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayTotals {
    pub orders: u64,
    pub net_gmv_fen: Fen,
    pub refund_fen: Fen,
    pub buyers: u64,
    pub halo_net_gmv_fen: Fen,
}

impl DayTotals {
    pub fn of(lines: &[AttributedLine]) -> DayTotals {
        let direct = || lines.iter().filter(|l| l.match_kind == MatchKind::Direct);
        let orders: BTreeSet<(&str, Marketplace, &str)> = direct()
            .map(|l| (l.campaign_id.as_str(), l.marketplace, l.order_id.as_str()))
            .collect();
        let buyers: BTreeSet<(Marketplace, &str)> = direct()
            .map(|l| (l.marketplace, l.buyer_hash.as_str()))
            .collect();
        DayTotals {
            orders: orders.len() as u64,
            net_gmv_fen: direct().map(|l| l.net_fen()).sum(),
            refund_fen: direct().map(|l| l.refund_fen).sum(),
            buyers: buyers.len() as u64,
            halo_net_gmv_fen: lines
                .iter()
                .filter(|l| l.match_kind == MatchKind::Halo)
                .map(|l| l.net_fen())
                .sum(),
        }
    }
}

/// A credited line kept for a report: the brand and report date it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub brand_id: String,
    pub date: NaiveDate,
    pub line: AttributedLine,
}

impl Kept {
    pub fn as_credit(&self) -> Credit<'_> {
        Credit {
            brand_id: &self.brand_id,
            date: self.date,
            line: self.line.as_ref(),
        }
    }
}

/// A credited line as [`Attribution::decide`] hands it back: borrowed from the decided line and the
/// catalog, so that deciding allocates nothing (a day credits millions of lines, most of them
/// written straight to a spill file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credit<'a> {
    pub brand_id: &'a str,
    pub date: NaiveDate,
    pub line: LineRef<'a>,
}

impl Credit<'_> {
    pub fn to_kept(&self) -> Kept {
        Kept {
            brand_id: self.brand_id.to_string(),
            date: self.date,
            line: self.line.to_owned(),
        }
    }
}

/// [`AttributedLine`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef<'a> {
    pub campaign_id: &'a str,
    pub note_id: &'a str,
    pub link_kind: LinkKind,
    pub marketplace: Marketplace,
    pub shop_id: &'a str,
    pub order_id: &'a str,
    pub line_id: &'a str,
    pub item_id: &'a str,
    pub title: &'a str,
    pub quantity: u32,
    pub paid_fen: Fen,
    pub refund_fen: Fen,
    pub paid_at: NaiveDateTime,
    pub buyer_hash: &'a str,
    pub match_kind: MatchKind,
    pub source_key: &'a str,
}

impl LineRef<'_> {
    pub fn to_owned(&self) -> AttributedLine {
        AttributedLine {
            campaign_id: self.campaign_id.to_string(),
            note_id: self.note_id.to_string(),
            link_kind: self.link_kind,
            marketplace: self.marketplace,
            shop_id: self.shop_id.to_string(),
            order_id: self.order_id.to_string(),
            line_id: self.line_id.to_string(),
            item_id: self.item_id.to_string(),
            title: self.title.to_string(),
            quantity: self.quantity,
            paid_fen: self.paid_fen,
            refund_fen: self.refund_fen,
            paid_at: self.paid_at,
            buyer_hash: self.buyer_hash.to_string(),
            match_kind: self.match_kind,
            source_key: self.source_key.to_string(),
        }
    }
}

/// A campaign's record as reports show it.
pub fn campaign_info(catalog: &Catalog, c: &Campaign) -> CampaignInfo {
    CampaignInfo {
        campaign_id: c.campaign_id.clone(),
        name: c.name.clone(),
        start: c.start,
        end: c.end,
        window_days: c.window_days,
        spend_fen: c.spend_fen,
        version: catalog.version_of(c).into_owned(),
        note_titles: c
            .notes
            .iter()
            .filter_map(|n| Some((n.note_id.clone(), n.title.clone()?)))
            .collect(),
    }
}
