//! The to-date report (reports.md; attribution.md, campaign to date; funnel.md): every campaign of a
//! brand in scope on `as_of`, from its start to `as_of`, from impression to order.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::attribution::{AttributedLine, CampaignInfo, ExportRef, MatchKind};
use crate::campaign::Campaign;
use crate::funnel::{cpc, ratio_4dp, roas, NoteFigures};
use crate::line::Marketplace;
use crate::money::Fen;
use crate::report::{Rendered, ReportCsv};

/// Days after a campaign's attribution window during which it stays in the to-date report.
pub const SCOPE_TAIL_DAYS: i64 = 30;

/// The scope rule: `start <= as_of` and `end + window_days >= as_of - 30 days`.
pub fn in_scope(c: &Campaign, as_of: NaiveDate) -> bool {
    c.start <= as_of && c.active_until() >= as_of - Duration::days(SCOPE_TAIL_DAYS)
}

pub const CAMPAIGNS_HEADER: [&str; 15] = [
    "as_of",
    "brand_id",
    "campaign_id",
    "campaign_name",
    "marketplace",
    "start",
    "end",
    "orders",
    "units",
    "gmv",
    "refund",
    "net_gmv",
    "buyers",
    "halo_orders",
    "halo_net_gmv",
];
pub const FUNNEL_HEADER: [&str; 18] = [
    "as_of",
    "brand_id",
    "campaign_id",
    "campaign_name",
    "impressions",
    "clicks",
    "engagements",
    "link_clicks",
    "media_spend",
    "fixed_spend",
    "spend",
    "orders",
    "net_gmv",
    "halo_net_gmv",
    "ctr",
    "cvr",
    "cpc",
    "roas",
];
pub const DAILY_HEADER: [&str; 9] = [
    "date",
    "brand_id",
    "campaign_id",
    "orders",
    "net_gmv",
    "halo_net_gmv",
    "impressions",
    "clicks",
    "spend",
];

/// One campaigns.csv row: a campaign's figures on one marketplace over `start ..= as_of`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub campaign_id: String,
    pub marketplace: Option<Marketplace>,
    pub orders: u64,
    pub units: u64,
    pub gmv: Fen,
    pub refund: Fen,
    pub net_gmv: Fen,
    pub buyers: u64,
    pub halo_orders: u64,
    pub halo_net_gmv: Fen,
}

/// One funnel.csv row: a campaign from impression to order, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funnel {
    pub campaign_id: String,
    pub red: NoteFigures,
    pub fixed_spend: Fen,
    pub orders: u64,
    pub net_gmv: Fen,
    pub halo_net_gmv: Fen,
}

impl Funnel {
    pub fn media_spend(&self) -> Fen {
        self.red.spend_fen
    }
    pub fn spend(&self) -> Fen {
        self.red.spend_fen + self.fixed_spend
    }
    pub fn ctr(&self) -> Option<String> {
        ratio_4dp(self.red.clicks, self.red.impressions)
    }
    pub fn cvr(&self) -> Option<String> {
        ratio_4dp(self.orders, self.red.clicks)
    }
    pub fn cpc(&self) -> Option<String> {
        cpc(self.media_spend(), self.red.clicks)
    }
    pub fn roas(&self) -> Option<String> {
        roas(self.net_gmv, self.spend())
    }
}

/// One daily.csv row: a campaign on one date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Daily {
    pub campaign_id: String,
    pub date: NaiveDate,
    pub orders: u64,
    pub net_gmv: Fen,
    pub halo_net_gmv: Fen,
    pub impressions: u64,
    pub clicks: u64,
    pub spend: Fen,
}

/// Everything a brand's to-date report is rendered from; built by [`Builder`], staged by match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDateInput {
    pub brand_id: String,
    pub brand_name: String,
    pub as_of: NaiveDate,
    /// The campaigns in scope, sorted by id.
    pub campaigns: Vec<CampaignInfo>,
    pub totals: Vec<Totals>,
    pub funnel: Vec<Funnel>,
    pub daily: Vec<Daily>,
    pub exports: Vec<ExportRef>,
}

/// Touched for every line of every date: foldhash over SipHash, keys borrowed from the lines.
type Set<T> = HashSet<T, foldhash::fast::RandomState>;
/// Distinct (marketplace, order_id).
type Orders<'a> = Set<(Marketplace, &'a str)>;

#[derive(Default)]
struct Sums<'a> {
    totals: Totals,
    orders: Set<&'a str>,
    buyers: Set<&'a str>,
    halo_orders: Set<&'a str>,
}

struct Day<'a> {
    row: Daily,
    orders: Orders<'a>,
}

/// Folds one brand's attributed lines and RED figures, of any dates and in any order, into its
/// to-date report: each line and figure counts once, on its own report date, when that date lies
/// in its campaign's `start ..= as_of` and the campaign is in scope.
pub struct Builder<'a> {
    brand_id: String,
    brand_name: String,
    as_of: NaiveDate,
    campaigns: BTreeMap<String, CampaignInfo>,
    /// By campaign, then marketplace (and below, date), keyed by the lines' own ids: nothing is
    /// copied per line.
    totals: BTreeMap<&'a str, BTreeMap<Marketplace, Sums<'a>>>,
    funnel: BTreeMap<String, (Funnel, Orders<'a>)>,
    daily: BTreeMap<&'a str, BTreeMap<NaiveDate, Day<'a>>>,
    exports: BTreeMap<String, String>,
}

impl<'a> Builder<'a> {
    pub fn new(
        brand_id: &str,
        brand_name: &str,
        as_of: NaiveDate,
        campaigns: Vec<CampaignInfo>,
    ) -> Builder<'a> {
        let funnel = campaigns
            .iter()
            .map(|c| {
                let f = Funnel {
                    campaign_id: c.campaign_id.clone(),
                    fixed_spend: c.spend_fen,
                    ..Funnel::default()
                };
                (c.campaign_id.clone(), (f, Set::default()))
            })
            .collect();
        Builder {
            brand_id: brand_id.to_string(),
            brand_name: brand_name.to_string(),
            as_of,
            campaigns: campaigns
                .into_iter()
                .map(|c| (c.campaign_id.clone(), c))
                .collect(),
            totals: BTreeMap::new(),
            funnel,
            daily: BTreeMap::new(),
            exports: BTreeMap::new(),
        }
    }

    /// The first report date any line or figure can count on: the earliest start in scope.
    pub fn from(&self) -> Option<NaiveDate> {
        self.campaigns.values().map(|c| c.start).min()
    }

    fn counts(&self, campaign_id: &str, date: NaiveDate) -> bool {
        self.campaigns
            .get(campaign_id)
            .is_some_and(|c| c.start <= date && date <= self.as_of)
    }

    fn day(&mut self, campaign_id: &'a str, date: NaiveDate) -> &mut Day<'a> {
        self.daily
            .entry(campaign_id)
            .or_default()
            .entry(date)
            .or_insert_with(|| Day {
                row: Daily {
                    campaign_id: campaign_id.to_string(),
                    date,
                    ..Daily::default()
                },
                orders: Set::default(),
            })
    }

    /// Whether an export is not yet named among the report's: only then does
    /// [`Builder::add_line`] need its ETag.
    pub fn lacks_export(&self, key: &str) -> bool {
        !self.exports.contains_key(key)
    }

    /// An attributed line of report date `date`, with the ETag of the export it came from.
    pub fn add_line(&mut self, date: NaiveDate, l: &'a AttributedLine, etag: &str) {
        if !self.counts(&l.campaign_id, date) {
            return;
        }
        if self.lacks_export(&l.source_key) {
            self.exports.insert(l.source_key.clone(), etag.to_string());
        }
        let s = self
            .totals
            .entry(&l.campaign_id)
            .or_default()
            .entry(l.marketplace)
            .or_default();
        let direct = l.match_kind == MatchKind::Direct;
        if direct {
            s.totals.units += u64::from(l.quantity);
            s.totals.gmv += l.paid_fen;
            s.totals.refund += l.refund_fen;
            s.orders.insert(&l.order_id);
            s.buyers.insert(&l.buyer_hash);
        } else {
            s.totals.halo_net_gmv += l.net_fen();
            s.halo_orders.insert(&l.order_id);
        }
        if let Some((f, orders)) = self.funnel.get_mut(&l.campaign_id) {
            if direct {
                f.net_gmv += l.net_fen();
                orders.insert((l.marketplace, &l.order_id));
            } else {
                f.halo_net_gmv += l.net_fen();
            }
        }
        let d = self.day(&l.campaign_id, date);
        if direct {
            d.row.net_gmv += l.net_fen();
            d.orders.insert((l.marketplace, &l.order_id));
        } else {
            d.row.halo_net_gmv += l.net_fen();
        }
    }

    /// The latest RED figures of one of the campaign's notes on report date `date`.
    pub fn add_red(&mut self, date: NaiveDate, campaign_id: &'a str, figures: &NoteFigures) {
        if !self.counts(campaign_id, date) {
            return;
        }
        if let Some((f, _)) = self.funnel.get_mut(campaign_id) {
            f.red.add(figures);
        }
        let d = self.day(campaign_id, date);
        d.row.impressions += figures.impressions;
        d.row.clicks += figures.clicks;
        d.row.spend += figures.spend_fen;
    }

    pub fn finish(self) -> ToDateInput {
        let totals = self
            .totals
            .into_iter()
            .flat_map(|(campaign_id, by_m)| by_m.into_iter().map(move |(m, s)| (campaign_id, m, s)))
            .map(|(campaign_id, m, s)| Totals {
                campaign_id: campaign_id.to_string(),
                marketplace: Some(m),
                orders: s.orders.len() as u64,
                net_gmv: s.totals.gmv - s.totals.refund,
                buyers: s.buyers.len() as u64,
                halo_orders: s.halo_orders.len() as u64,
                ..s.totals
            })
            .collect();
        let funnel = self
            .funnel
            .into_values()
            .map(|(f, orders)| Funnel {
                orders: orders.len() as u64,
                ..f
            })
            .collect();
        let daily = self
            .daily
            .into_values()
            .flat_map(BTreeMap::into_values)
            .map(|d| Daily {
                orders: d.orders.len() as u64,
                ..d.row
            })
            .collect();
        ToDateInput {
            brand_id: self.brand_id,
            brand_name: self.brand_name,
            as_of: self.as_of,
            campaigns: self.campaigns.into_values().collect(),
            totals,
            funnel,
            daily,
            exports: self
                .exports
                .into_iter()
                .map(|(key, etag)| ExportRef { key, etag })
                .collect(),
        }
    }
}

impl ToDateInput {
    pub fn campaign(&self, id: &str) -> Option<&CampaignInfo> {
        self.campaigns.iter().find(|c| c.campaign_id == id)
    }

    fn name(&self, id: &str) -> &str {
        self.campaign(id).map_or("", |c| c.name.as_str())
    }

    /// Net GMV over every campaign, direct lines.
    pub fn net_gmv(&self) -> Fen {
        self.funnel.iter().map(|f| f.net_gmv).sum()
    }

    /// Spend over every campaign: RED's media spend and the campaigns' fixed spend.
    pub fn spend(&self) -> Fen {
        self.funnel.iter().map(Funnel::spend).sum()
    }

    /// The campaigns' distinct (marketplace, order) a campaign, summed.
    pub fn orders(&self) -> u64 {
        self.funnel.iter().map(|f| f.orders).sum()
    }
}

fn campaigns_csv(t: &ToDateInput) -> Rendered {
    let as_of = t.as_of.to_string();
    let mut out = ReportCsv::new(&CAMPAIGNS_HEADER);
    for r in &t.totals {
        let info = t.campaign(&r.campaign_id);
        let (start, end) = info.map_or((String::new(), String::new()), |c| {
            (c.start.to_string(), c.end.to_string())
        });
        let n = |v: u64| v.to_string();
        let y = |v: Fen| v.yuan().to_string();
        out.row(&[
            (&as_of, false),
            (&t.brand_id, true),
            (&r.campaign_id, true),
            (t.name(&r.campaign_id), true),
            (r.marketplace.map_or("", |m| m.as_str()), false),
            (&start, false),
            (&end, false),
            (&n(r.orders), false),
            (&n(r.units), false),
            (&y(r.gmv), false),
            (&y(r.refund), false),
            (&y(r.net_gmv), false),
            (&n(r.buyers), false),
            (&n(r.halo_orders), false),
            (&y(r.halo_net_gmv), false),
        ]);
    }
    out.finish("campaigns.csv")
}

fn funnel_csv(t: &ToDateInput) -> Rendered {
    let as_of = t.as_of.to_string();
    let mut out = ReportCsv::new(&FUNNEL_HEADER);
    for f in &t.funnel {
        let n = |v: u64| v.to_string();
        let y = |v: Fen| v.yuan().to_string();
        out.row(&[
            (&as_of, false),
            (&t.brand_id, true),
            (&f.campaign_id, true),
            (t.name(&f.campaign_id), true),
            (&n(f.red.impressions), false),
            (&n(f.red.clicks), false),
            (&n(f.red.engagements), false),
            (&n(f.red.link_clicks), false),
            (&y(f.media_spend()), false),
            (&y(f.fixed_spend), false),
            (&y(f.spend()), false),
            (&n(f.orders), false),
            (&y(f.net_gmv), false),
            (&y(f.halo_net_gmv), false),
            (&f.ctr().unwrap_or_default(), false),
            (&f.cvr().unwrap_or_default(), false),
            (&f.cpc().unwrap_or_default(), false),
            (&f.roas().unwrap_or_default(), false),
        ]);
    }
    out.finish("funnel.csv")
}

fn daily_csv(t: &ToDateInput) -> Rendered {
    let mut out = ReportCsv::new(&DAILY_HEADER);
    for d in &t.daily {
        out.row(&[
            (&d.date.to_string(), false),
            (&t.brand_id, true),
            (&d.campaign_id, true),
            (&d.orders.to_string(), false),
            (&d.net_gmv.yuan().to_string(), false),
            (&d.halo_net_gmv.yuan().to_string(), false),
            (&d.impressions.to_string(), false),
            (&d.clicks.to_string(), false),
            (&d.spend.yuan().to_string(), false),
        ]);
    }
    out.finish("daily.csv")
}

/// The data files of the to-date report: what the version rule compares.
pub fn render_csvs(t: &ToDateInput) -> Vec<Rendered> {
    vec![campaigns_csv(t), funnel_csv(t), daily_csv(t)]
}

/// Campaigns of `all` in scope on `as_of` for `brand_id`, as reports show them, sorted by id.
pub fn scope<'c>(
    all: impl IntoIterator<Item = &'c Campaign>,
    brand_id: &str,
    as_of: NaiveDate,
) -> Vec<&'c Campaign> {
    let mut v: Vec<&Campaign> = all
        .into_iter()
        .filter(|c| c.brand_id == brand_id && in_scope(c, as_of))
        .collect();
    v.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
    v
}

/// Brands with a campaign in scope on `as_of`.
pub fn brands_in_scope<'c>(
    all: impl IntoIterator<Item = &'c Campaign>,
    as_of: NaiveDate,
) -> BTreeSet<&'c str> {
    all.into_iter()
        .filter(|c| in_scope(c, as_of))
        .map(|c| c.brand_id.as_str())
        .collect()
}

#[cfg(test)]
#[path = "to_date_tests.rs"]
mod tests;
