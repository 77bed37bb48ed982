//! The matcher of attribution.md: which lines are credited to which campaign, and the daily inputs of reports.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::campaign::{Brand, Campaign, Link, Note};
use crate::catalog::{Catalog, Linked};
use crate::line::OrderLine;

/// Why a paid line with a token was not credited (the first rule that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exclusion {
    UnknownToken,
    MarketplaceMismatch,
    ForeignShop,
    OutOfWindow,
}

impl Exclusion {
    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::UnknownToken => "unknown_token",
            Exclusion::MarketplaceMismatch => "marketplace_mismatch",
            Exclusion::ForeignShop => "foreign_shop",
            Exclusion::OutOfWindow => "out_of_window",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    Direct,
    Halo,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Direct => "direct",
            MatchKind::Halo => "halo",
        }
    }
}

/// What the rules say of one line.
#[derive(Debug, Clone, Copy)]
pub enum Decision<'c> {
    /// Not paid (no payment time, or not in a paid or closed state): never considered.
    NotPaid,
    /// Paid but came through no link.
    NoToken,
    /// With the campaign whose link the token is, for every reason but an unknown token.
    Excluded(Exclusion, Option<&'c Campaign>),
    Credited {
        campaign: &'c Campaign,
        note: &'c Note,
        link: &'c Link,
        /// The campaign's brand: its id is one string per brand, warm in the cache, where the
        /// campaign's copy of it is one string per campaign.
        brand: &'c Brand,
        kind: MatchKind,
        report_date: NaiveDate,
    },
}

/// The attribution window of attribution.md.
pub fn in_window(c: &Campaign, paid_at: NaiveDateTime, clicked_at: Option<NaiveDateTime>) -> bool {
    match clicked_at {
        Some(click) => {
            let d = click.date();
            c.start <= d
                && d <= c.end
                && paid_at >= click
                && paid_at <= click + Duration::hours(24 * i64::from(c.window_days))
        }
        None => {
            let d = paid_at.date();
            c.start <= d && d <= c.active_until()
        }
    }
}

/// The payment time of a paid line: the one time attribution looks at.
fn payment(line: &OrderLine) -> Option<NaiveDateTime> {
    line.paid_at.filter(|_| line.is_paid())
}

/// The report date a line is credited on, if it is: the date of its payment, for a paid line.
pub fn report_date(line: &OrderLine) -> Option<NaiveDate> {
    payment(line).map(|t| t.date())
}

/// Applies the rules, in order, to the latest state of one line.
pub fn decide<'c>(catalog: &'c Catalog, line: &OrderLine) -> Decision<'c> {
    let Some(paid_at) = payment(line) else {
        return Decision::NotPaid;
    };
    if line.token.is_empty() {
        return Decision::NoToken;
    }
    let linked = match catalog.resolve_on(&line.token, line.marketplace) {
        Ok(l) => l,
        Err(None) => return Decision::Excluded(Exclusion::UnknownToken, None),
        Err(Some((_, c))) => return Decision::Excluded(Exclusion::MarketplaceMismatch, Some(c)),
    };
    if !linked.owns_shop(&line.shop_id) {
        return Decision::Excluded(Exclusion::ForeignShop, Some(linked.campaign));
    }
    let Linked {
        campaign,
        note,
        link,
        brand,
        ..
    } = linked;
    if !in_window(campaign, paid_at, line.clicked_at) {
        return Decision::Excluded(Exclusion::OutOfWindow, Some(campaign));
    }
    let kind = if linked.promotes(&line.item_id) {
        MatchKind::Direct
    } else {
        MatchKind::Halo
    };
    Decision::Credited {
        campaign,
        note,
        link,
        brand,
        kind,
        report_date: paid_at.date(),
    }
}

/// The rules of attribution.md checked one by one for a line, as an operator reads them.
pub fn explain(catalog: &Catalog, line: &OrderLine) -> Vec<String> {
    use crate::time::format_timestamp;
    let mut out = Vec::new();
    let paid_at = line
        .paid_at
        .map(|t| format_timestamp(&t))
        .unwrap_or_else(|| "never".into());
    if !line.is_paid() {
        out.push(format!(
            "not paid: status {} ({}), payment time {paid_at}: never considered",
            line.status,
            line.status_class.as_str()
        ));
        return out;
    }
    out.push(format!(
        "paid: status {} ({}), paid at {paid_at}",
        line.status,
        line.status_class.as_str()
    ));
    if line.token.is_empty() {
        out.push("no tracking token: came through no link, never considered".into());
        return out;
    }
    let Some(Linked {
        campaign: c,
        note: n,
        link: l,
        brand: b,
        ..
    }) = catalog.resolve(&line.token)
    else {
        out.push(format!(
            "rule 1 fails: token {} belongs to no loaded campaign: unknown_token",
            line.token
        ));
        return out;
    };
    out.push(format!(
        "rule 1 holds: token {} is the {} of note {} in campaign {} ({})",
        line.token,
        l.kind.as_str(),
        n.note_id,
        c.campaign_id,
        c.name
    ));
    if l.marketplace != line.marketplace {
        out.push(format!(
            "rule 2 fails: the link opens {} but the line is on {}: marketplace_mismatch",
            l.marketplace, line.marketplace
        ));
        return out;
    }
    out.push(format!(
        "rule 2 holds: the link and the line are both on {}",
        line.marketplace
    ));
    let shops = b
        .shops
        .get(&line.marketplace)
        .map(|s| s.join(", "))
        .unwrap_or_default();
    if !b.owns_shop(line.marketplace, &line.shop_id) {
        out.push(format!(
            "rule 3 fails: shop {} is not one of brand {}'s {} shops [{shops}]: foreign_shop",
            line.shop_id, c.brand_id, line.marketplace
        ));
        return out;
    }
    out.push(format!(
        "rule 3 holds: shop {} belongs to brand {}",
        line.shop_id, c.brand_id
    ));
    let window = match line.clicked_at {
        Some(click) => format!(
            "clicked at {}: the click's date must lie in {} .. {} and the payment between the click and {} ({} days)",
            format_timestamp(&click),
            c.start,
            c.end,
            format_timestamp(&(click + Duration::hours(24 * i64::from(c.window_days)))),
            c.window_days
        ),
        None => format!(
            "no click time: the payment's date must lie in {} .. {} (end + {} days)",
            c.start,
            c.active_until(),
            c.window_days
        ),
    };
    let Some(p) = line.paid_at else { return out };
    if !in_window(c, p, line.clicked_at) {
        out.push(format!("rule 4 fails: {window}: out_of_window"));
        return out;
    }
    out.push(format!("rule 4 holds: {window}"));
    let kind = if c.promotes(line.marketplace, &line.item_id) {
        format!(
            "direct: item {} is one of the campaign's promoted items",
            line.item_id
        )
    } else {
        format!(
            "halo: item {} is another product of the brand",
            line.item_id
        )
    };
    out.push(format!(
        "credited to {} as {kind}; report date {}; net {}",
        c.campaign_id,
        p.date(),
        line.net_fen().yuan()
    ));
    out
}

/// Counts of what the matcher decided, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchStats {
    /// Lines decided: the latest states of lines that came with a token.
    pub lines: u64,
    /// Of those, not paid.
    pub not_paid: u64,
    /// Rows read that came through no link, counted by appearance: telling their lines apart would
    /// mean holding every line's key, and they can never be credited.
    pub no_token: u64,
    pub credited: u64,
    pub excluded: BTreeMap<String, u64>,
    /// Rows of the run date's RED note reports whose note no campaign holds (funnel.md).
    #[serde(default)]
    pub unknown_note: u64,
}

impl MatchStats {
    pub fn add(&mut self, s: &MatchStats) {
        self.lines += s.lines;
        self.not_paid += s.not_paid;
        self.no_token += s.no_token;
        self.credited += s.credited;
        self.unknown_note += s.unknown_note;
        for (reason, n) in &s.excluded {
            *self.excluded.entry(reason.clone()).or_default() += n;
        }
    }
}

/// Accumulates decisions over the latest state of every line: the small figures (campaign-to-date
/// sums, counts) in itself; the credited lines of the report dates asked for are handed back by
/// [`Attribution::decide`] for the caller to keep where it likes (the pipeline spills them to disk),
/// or kept in memory by [`Attribution::add`].
pub struct Attribution<'c> {
    catalog: &'c Catalog,
    dates: BTreeSet<NaiveDate>,
    lines: BTreeMap<(String, NaiveDate), Vec<AttributedLine>>,
    /// Touched for every credited line: foldhash over SipHash.
    with_lines: HashSet<(&'c str, NaiveDate), foldhash::fast::RandomState>,
    etags: BTreeMap<String, String>,
    by_brand: BTreeMap<&'c str, Vec<&'c Campaign>>,
    pub stats: MatchStats,
}

impl<'c> Attribution<'c> {
    /// `dates` are the report dates to keep lines for.
    pub fn new(catalog: &'c Catalog, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        let kept: BTreeSet<NaiveDate> = dates.into_iter().collect();
        let mut by_brand: BTreeMap<&str, Vec<&Campaign>> = BTreeMap::new();
        for c in catalog.campaigns() {
            by_brand.entry(c.brand_id.as_str()).or_default().push(c);
        }
        Attribution {
            catalog,
            dates: kept,
            lines: BTreeMap::new(),
            with_lines: HashSet::default(),
            etags: BTreeMap::new(),
            by_brand,
            stats: MatchStats::default(),
        }
    }

    /// Decides one line (its latest state) read from `source`, keeping the credited line in memory.
    pub fn add(&mut self, line: &OrderLine, source: &ExportRef) {
        if let Some(c) = self.decide(line, source) {
            let k = c.to_kept();
            self.lines
                .entry((k.brand_id, k.date))
                .or_default()
                .push(k.line);
        }
    }

    /// Decides one line (its latest state) read from `source`; hands back the credited line when its
    /// report date is one of those asked for.
    pub fn decide<'l>(&mut self, line: &'l OrderLine, source: &'l ExportRef) -> Option<Credit<'l>>
    where
        'c: 'l,
    {
        self.stats.lines += 1;
        match decide(self.catalog, line) {
            Decision::NotPaid => self.stats.not_paid += 1,
            Decision::NoToken => self.stats.no_token += 1,
            Decision::Excluded(e, _) => {
                // Counted without an allocation once the reason is known (a big day excludes
                // hundreds of thousands of lines).
                match self.stats.excluded.get_mut(e.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.stats.excluded.insert(e.as_str().to_string(), 1);
                    }
                }
            }
            Decision::Credited {
                campaign,
                note,
                link,
                brand,
                kind,
                report_date,
            } => {
                self.stats.credited += 1;
                if !self.dates.contains(&report_date) {
                    return None;
                }
                if !self.etags.contains_key(&source.key) {
                    self.etags.insert(source.key.clone(), source.etag.clone());
                }
                self.with_lines
                    .insert((brand.brand_id.as_str(), report_date));
                let paid_at = line.paid_at.unwrap_or(line.created_at);
                return Some(Credit {
                    brand_id: &brand.brand_id,
                    date: report_date,
                    line: LineRef {
                        campaign_id: &campaign.campaign_id,
                        note_id: &note.note_id,
                        link_kind: link.kind,
                        marketplace: line.marketplace,
                        shop_id: &line.shop_id,
                        order_id: &line.order_id,
                        line_id: &line.line_id,
                        item_id: &line.item_id,
                        title: &line.title,
                        quantity: line.quantity,
                        paid_fen: line.paid_fen,
                        refund_fen: line.refund_fen,
                        paid_at,
                        buyer_hash: &line.buyer_hash,
                        match_kind: kind,
                        source_key: &source.key,
                    },
                });
            }
        }
        None
    }

    /// Takes in what another attribution over the same catalog and dates decided (a share of the
    /// lines, decided on another thread).
    pub fn merge(&mut self, other: Attribution<'c>) {
        self.stats.add(&other.stats);
        for (k, lines) in other.lines {
            self.lines.entry(k).or_default().extend(lines);
        }
        self.with_lines.extend(other.with_lines);
        for (k, v) in other.etags {
            self.etags.entry(k).or_insert(v);
        }
    }

    /// Whether this attribution keeps the lines of report date `date`.
    pub fn keeps(&self, date: NaiveDate) -> bool {
        self.dates.contains(&date)
    }

    /// The first and last report date this attribution keeps lines for, when it keeps any.
    pub fn kept_range(&self) -> Option<(NaiveDate, NaiveDate)> {
        Some((*self.dates.first()?, *self.dates.last()?))
    }

    /// Brands with credited lines on `date`.
    pub fn brands_with_lines(&self, date: NaiveDate) -> impl Iterator<Item = &str> {
        self.with_lines
            .iter()
            .filter(move |(_, d)| *d == date)
            .map(|(b, _)| *b)
    }

    /// The input of `brand`'s report for `date`, from the lines kept by [`Attribution::add`].
    pub fn report_input(&self, brand_id: &str, date: NaiveDate) -> ReportInput {
        let lines = self
            .lines
            .get(&(brand_id.to_string(), date))
            .cloned()
            .unwrap_or_default();
        self.report_input_from(brand_id, date, lines)
    }

    /// Credited lines kept in memory by [`Attribution::add`], by brand and report date.
    pub fn kept_lines(&self) -> &BTreeMap<(String, NaiveDate), Vec<AttributedLine>> {
        &self.lines
    }

    /// The input of `brand`'s statement for `date`, from its credited lines of that date (as
    /// [`Attribution::decide`] handed them back, in any order). The campaigns are those of the
    /// brand live on the date or credited on it.
    pub fn report_input_from(
        &self,
        brand_id: &str,
        date: NaiveDate,
        mut lines: Vec<AttributedLine>,
    ) -> ReportInput {
        lines.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        lines.dedup_by(|a, b| a.marketplace == b.marketplace && a.line_id == b.line_id);
        let credited: BTreeSet<&str> = lines.iter().map(|l| l.campaign_id.as_str()).collect();
        let campaigns = self
            .by_brand
            .get(brand_id)
            .into_iter()
            .flatten()
            .filter(|c| c.live_on(date) || credited.contains(c.campaign_id.as_str()))
            .map(|c| campaign_info(self.catalog, c))
            .collect();
        let sources: BTreeSet<&str> = lines.iter().map(|l| l.source_key.as_str()).collect();
        let exports: Vec<ExportRef> = sources
            .into_iter()
            .map(|key| ExportRef {
                key: key.to_string(),
                etag: self.etags.get(key).cloned().unwrap_or_default(),
            })
            .collect();
        ReportInput {
            brand_id: brand_id.to_string(),
            brand_name: self
                .catalog
                .brand(brand_id)
                .map(|b| b.name.clone())
                .unwrap_or_default(),
            date,
            campaigns,
            lines,
            exports,
            red: Vec::new(),
        }
    }
}

pub mod codec;
mod input;

pub use input::{
    campaign_info, AttributedLine, CampaignInfo, Credit, DayTotals, ExportRef, Kept, LineRef,
    ReportInput,
};

#[cfg(test)]
#[path = "attribution_tests.rs"]
pub(crate) mod tests;
