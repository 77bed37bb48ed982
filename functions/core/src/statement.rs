//! A statement (reports.md): what one date sold and what the brand's notes did that day, from that
//! date's lines and RED figures alone. Its rows, grouped once, feed both the CSV files and the page.

use std::collections::{BTreeMap, BTreeSet};

use crate::attribution::{AttributedLine, MatchKind, ReportInput};
use crate::campaign::LinkKind;
use crate::funnel::{cpc, ratio_4dp, roas, NoteFigures};
use crate::line::Marketplace;
use crate::money::Fen;
use crate::report::{Rendered, ReportCsv};
use crate::time::format_timestamp;

pub const CAMPAIGNS_HEADER: [&str; 13] = [
    "date",
    "brand_id",
    "campaign_id",
    "campaign_name",
    "marketplace",
    "orders",
    "units",
    "gmv",
    "refund",
    "net_gmv",
    "buyers",
    "halo_orders",
    "halo_net_gmv",
];
pub const NOTES_HEADER: [&str; 10] = [
    "date",
    "brand_id",
    "campaign_id",
    "note_id",
    "link_kind",
    "marketplace",
    "orders",
    "units",
    "net_gmv",
    "halo_net_gmv",
];
pub const ORDERS_HEADER: [&str; 18] = [
    "date",
    "brand_id",
    "campaign_id",
    "note_id",
    "link_kind",
    "marketplace",
    "shop_id",
    "order_id",
    "line_id",
    "item_id",
    "title",
    "quantity",
    "paid",
    "refund",
    "net",
    "paid_at",
    "buyer_hash",
    "match",
];
pub const FUNNEL_HEADER: [&str; 16] = [
    "date",
    "brand_id",
    "campaign_id",
    "note_id",
    "impressions",
    "clicks",
    "engagements",
    "link_clicks",
    "spend",
    "orders",
    "net_gmv",
    "halo_net_gmv",
    "ctr",
    "cvr",
    "cpc",
    "roas",
];

/// The figures of one campaigns.csv row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignRow {
    pub campaign_id: String,
    pub campaign_name: String,
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

/// The figures of one notes.csv row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoteRow {
    pub campaign_id: String,
    pub note_id: String,
    pub link_kind: Option<LinkKind>,
    pub marketplace: Option<Marketplace>,
    pub orders: u64,
    pub units: u64,
    pub net_gmv: Fen,
    pub halo_net_gmv: Fen,
}

/// The figures of one funnel.csv row: a note's RED figures and what its links sold that day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunnelRow {
    pub campaign_id: String,
    pub note_id: String,
    pub red: NoteFigures,
    pub orders: u64,
    pub net_gmv: Fen,
    pub halo_net_gmv: Fen,
}

impl FunnelRow {
    pub fn ctr(&self) -> Option<String> {
        ratio_4dp(self.red.clicks, self.red.impressions)
    }
    pub fn cvr(&self) -> Option<String> {
        ratio_4dp(self.orders, self.red.clicks)
    }
    pub fn cpc(&self) -> Option<String> {
        cpc(self.red.spend_fen, self.red.clicks)
    }
    pub fn roas(&self) -> Option<String> {
        roas(self.net_gmv, self.red.spend_fen)
    }
}

/// Every row of a statement, grouped once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    pub campaigns: Vec<CampaignRow>,
    pub notes: Vec<NoteRow>,
    pub funnel: Vec<FunnelRow>,
}

impl Rows {
    pub fn of(input: &ReportInput) -> Rows {
        Rows {
            campaigns: campaign_rows(input),
            notes: note_rows(input),
            funnel: funnel_rows(input),
        }
    }
}

fn distinct<'a>(keys: impl Iterator<Item = &'a str>) -> u64 {
    keys.collect::<BTreeSet<_>>().len() as u64
}

fn split<'a>(lines: &[&'a AttributedLine]) -> (Vec<&'a AttributedLine>, Vec<&'a AttributedLine>) {
    lines
        .iter()
        .partition(|l| l.match_kind == MatchKind::Direct)
}

/// campaigns.csv rows: one per campaign and marketplace with direct or halo lines, sorted by that key.
pub fn campaign_rows(input: &ReportInput) -> Vec<CampaignRow> {
    let mut groups: BTreeMap<(&str, Marketplace), Vec<&AttributedLine>> = BTreeMap::new();
    for l in &input.lines {
        groups
            .entry((&l.campaign_id, l.marketplace))
            .or_default()
            .push(l);
    }
    groups
        .into_iter()
        .map(|((cid, m), lines)| {
            let info = input.campaigns.iter().find(|c| c.campaign_id == cid);
            let (direct, halo) = split(&lines);
            let gmv: Fen = direct.iter().map(|l| l.paid_fen).sum();
            let refund: Fen = direct.iter().map(|l| l.refund_fen).sum();
            CampaignRow {
                campaign_id: cid.to_string(),
                campaign_name: info.map(|c| c.name.clone()).unwrap_or_default(),
                marketplace: Some(m),
                orders: distinct(direct.iter().map(|l| l.order_id.as_str())),
                units: direct.iter().map(|l| u64::from(l.quantity)).sum(),
                gmv,
                refund,
                net_gmv: gmv - refund,
                buyers: distinct(direct.iter().map(|l| l.buyer_hash.as_str())),
                halo_orders: distinct(halo.iter().map(|l| l.order_id.as_str())),
                halo_net_gmv: halo.iter().map(|l| l.net_fen()).sum(),
            }
        })
        .collect()
}

/// notes.csv rows: one per campaign, note, link kind and marketplace with lines, sorted by that key.
pub fn note_rows(input: &ReportInput) -> Vec<NoteRow> {
    let mut groups: BTreeMap<(&str, &str, LinkKind, Marketplace), Vec<&AttributedLine>> =
        BTreeMap::new();
    for l in &input.lines {
        groups
            .entry((&l.campaign_id, &l.note_id, l.link_kind, l.marketplace))
            .or_default()
            .push(l);
    }
    groups
        .into_iter()
        .map(|((cid, nid, kind, m), lines)| {
            let (direct, halo) = split(&lines);
            NoteRow {
                campaign_id: cid.to_string(),
                note_id: nid.to_string(),
                link_kind: Some(kind),
                marketplace: Some(m),
                orders: distinct(direct.iter().map(|l| l.order_id.as_str())),
                units: direct.iter().map(|l| u64::from(l.quantity)).sum(),
                net_gmv: direct.iter().map(|l| l.net_fen()).sum(),
                halo_net_gmv: halo.iter().map(|l| l.net_fen()).sum(),
            }
        })
        .collect()
}

/// funnel.csv rows: one per note with RED figures or attributed lines that day, sorted by
/// (campaign_id, note_id). Orders are distinct (marketplace, order_id) over the note's direct lines.
pub fn funnel_rows(input: &ReportInput) -> Vec<FunnelRow> {
    let mut rows: BTreeMap<(&str, &str), FunnelRow> = BTreeMap::new();
    let mut orders: BTreeMap<(&str, &str), BTreeSet<(Marketplace, &str)>> = BTreeMap::new();
    let row = |c: &str, n: &str| FunnelRow {
        campaign_id: c.to_string(),
        note_id: n.to_string(),
        ..FunnelRow::default()
    };
    for r in &input.red {
        rows.entry((&r.campaign_id, &r.note_id))
            .or_insert_with(|| row(&r.campaign_id, &r.note_id))
            .red
            .add(&r.figures);
    }
    for l in &input.lines {
        let key = (l.campaign_id.as_str(), l.note_id.as_str());
        let r = rows
            .entry(key)
            .or_insert_with(|| row(&l.campaign_id, &l.note_id));
        match l.match_kind {
            MatchKind::Direct => {
                r.net_gmv += l.net_fen();
                orders
                    .entry(key)
                    .or_default()
                    .insert((l.marketplace, &l.order_id));
            }
            MatchKind::Halo => r.halo_net_gmv += l.net_fen(),
        }
    }
    for (key, set) in orders {
        if let Some(r) = rows.get_mut(&key) {
            r.orders = set.len() as u64;
        }
    }
    rows.into_values().collect()
}

fn mkt_str(m: Option<Marketplace>) -> &'static str {
    m.map(|m| m.as_str()).unwrap_or("")
}

fn campaigns_csv(input: &ReportInput, rows: &[CampaignRow]) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&CAMPAIGNS_HEADER);
    for r in rows {
        let n = |v: u64| v.to_string();
        let y = |v: Fen| v.yuan().to_string();
        out.row(&[
            (&date, false),
            (&input.brand_id, true),
            (&r.campaign_id, true),
            (&r.campaign_name, true),
            (mkt_str(r.marketplace), false),
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

fn notes_csv(input: &ReportInput, rows: &[NoteRow]) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&NOTES_HEADER);
    for r in rows {
        out.row(&[
            (&date, false),
            (&input.brand_id, true),
            (&r.campaign_id, true),
            (&r.note_id, true),
            (r.link_kind.map(|k| k.as_str()).unwrap_or(""), false),
            (mkt_str(r.marketplace), false),
            (&r.orders.to_string(), false),
            (&r.units.to_string(), false),
            (&r.net_gmv.yuan().to_string(), false),
            (&r.halo_net_gmv.yuan().to_string(), false),
        ]);
    }
    out.finish("notes.csv")
}

fn orders_csv(input: &ReportInput) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&ORDERS_HEADER);
    for l in &input.lines {
        out.row(&[
            (&date, false),
            (&input.brand_id, true),
            (&l.campaign_id, true),
            (&l.note_id, true),
            (l.link_kind.as_str(), false),
            (l.marketplace.as_str(), false),
            (&l.shop_id, true),
            (&l.order_id, true),
            (&l.line_id, true),
            (&l.item_id, true),
            (&l.title, true),
            (&l.quantity.to_string(), false),
            (&l.paid_fen.yuan().to_string(), false),
            (&l.refund_fen.yuan().to_string(), false),
            (&l.net_fen().yuan().to_string(), false),
            (&format_timestamp(&l.paid_at), false),
            (&l.buyer_hash, true),
            (l.match_kind.as_str(), false),
        ]);
    }
    out.finish("orders.csv")
}

fn funnel_csv(input: &ReportInput, rows: &[FunnelRow]) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&FUNNEL_HEADER);
    for r in rows {
        let n = |v: u64| v.to_string();
        out.row(&[
            (&date, false),
            (&input.brand_id, true),
            (&r.campaign_id, true),
            (&r.note_id, true),
            (&n(r.red.impressions), false),
            (&n(r.red.clicks), false),
            (&n(r.red.engagements), false),
            (&n(r.red.link_clicks), false),
            (&r.red.spend_fen.yuan().to_string(), false),
            (&n(r.orders), false),
            (&r.net_gmv.yuan().to_string(), false),
            (&r.halo_net_gmv.yuan().to_string(), false),
            (&r.ctr().unwrap_or_default(), false),
            (&r.cvr().unwrap_or_default(), false),
            (&r.cpc().unwrap_or_default(), false),
            (&r.roas().unwrap_or_default(), false),
        ]);
    }
    out.finish("funnel.csv")
}

/// The data files of a statement, in the order they are written: what the version rule compares.
pub fn render_csvs(input: &ReportInput, rows: &Rows) -> Vec<Rendered> {
    vec![
        campaigns_csv(input, &rows.campaigns),
        notes_csv(input, &rows.notes),
        orders_csv(input),
        funnel_csv(input, &rows.funnel),
    ]
}

/// Where changes.csv finds the `source` of an orders or funnel row of this statement.
pub fn sources(input: &ReportInput) -> crate::changes::Sources {
    let mut s = crate::changes::Sources::default();
    for l in &input.lines {
        s.orders.insert(
            format!("{}/{}", l.marketplace, l.line_id),
            l.source_key.clone(),
        );
    }
    for r in &input.red {
        s.funnel
            .insert(format!("{}/{}", r.campaign_id, r.note_id), r.source.clone());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::tests::{catalog, line};
    use crate::attribution::{Attribution, ExportRef};
    use crate::funnel::NoteRed;
    use crate::time::parse_date;

    fn day() -> ReportInput {
        let cat = catalog();
        let d = parse_date("2025-05-12").unwrap();
        let mut a = Attribution::new(&cat, [d]);
        let src = ExportRef {
            key: "exports/taobao/2025-05-12/a.csv".into(),
            etag: "e".into(),
        };
        let mut l1 = line("a1", "tk_ad", "2025-05-12 10:00:00", None);
        l1.refund_fen = Fen(2500);
        let mut l2 = line("a2", "tk_ad", "2025-05-12 11:00:00", None);
        l2.order_id = l1.order_id.clone();
        let mut halo = line("a3", "tk_ad", "2025-05-12 12:00:00", None);
        halo.item_id = "other".into();
        for l in [&l1, &l2, &halo] {
            a.add(l, &src);
        }
        let brand = cat.campaigns()[0].brand_id.clone();
        a.report_input(&brand, d)
    }

    #[test]
    fn funnel_rows_count_orders_once_and_leave_ratios_empty_without_red_figures() {
        let input = day();
        let rows = funnel_rows(&input);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        // Two direct lines of one order: one order; the halo line counts in halo only.
        assert_eq!(r.orders, 1);
        assert_eq!(r.red, NoteFigures::default());
        assert_eq!(
            (r.ctr(), r.cvr(), r.cpc(), r.roas()),
            (None, None, None, None)
        );
        let csv = funnel_csv(&input, &rows);
        let text = String::from_utf8(csv.bytes).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.ends_with(",0,0,0,0,0.00,1,") || last.contains(",0,0,0,0,0.00,1,"));
        assert!(last.ends_with(",,,,"), "{last}");
    }

    #[test]
    fn a_note_with_red_figures_alone_has_a_funnel_row_with_its_ratios() {
        let mut input = day();
        input.lines.clear();
        input.red.push(NoteRed {
            campaign_id: "c-z".into(),
            note_id: "n1".into(),
            figures: NoteFigures {
                impressions: 3,
                clicks: 1,
                engagements: 0,
                link_clicks: 0,
                spend_fen: Fen(1000),
            },
            source: "exports/xhs/2025-05-13/r.csv".into(),
        });
        let rows = funnel_rows(&input);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].ctr().as_deref(), Some("0.3333"));
        assert_eq!(rows[0].cvr().as_deref(), Some("0.0000"));
        assert_eq!(rows[0].cpc().as_deref(), Some("10.00"));
        assert_eq!(rows[0].roas().as_deref(), Some("0.00"));
        assert_eq!(
            sources(&input).funnel.get("c-z/n1").map(String::as_str),
            Some("exports/xhs/2025-05-13/r.csv")
        );
    }

    #[test]
    fn a_quiet_day_renders_headers_only_with_no_ctd_columns() {
        let mut input = day();
        input.lines.clear();
        let files = render_csvs(&input, &Rows::of(&input));
        let names: Vec<_> = files.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            ["campaigns.csv", "notes.csv", "orders.csv", "funnel.csv"]
        );
        assert_eq!(
            files[0].bytes,
            b"\xEF\xBB\xBFdate,brand_id,campaign_id,campaign_name,marketplace,orders,units,gmv,refund,net_gmv,buyers,halo_orders,halo_net_gmv\r\n"
        );
        assert!(files.iter().all(|f| f.rows == 0));
    }
}
