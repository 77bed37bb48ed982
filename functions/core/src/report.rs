//! Rendering of reports.md: the three CSVs, the manifest and latest.json.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::attribution::{AttributedLine, MatchKind, ReportInput};
use crate::campaign::LinkKind;
use crate::line::Marketplace;
use crate::money::{ratio_2dp, Yuan};
use crate::text::formula_guard;
use crate::time::format_timestamp;

pub const CAMPAIGNS_HEADER: [&str; 16] = [
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
    "ctd_net_gmv",
    "spend",
    "ctd_roas",
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

/// The version of the report file layout, recorded in every manifest.
pub const SCHEMA_VERSION: u32 = 1;

/// The figures of one campaigns.csv row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignRow {
    pub campaign_id: String,
    pub campaign_name: String,
    pub marketplace: Option<Marketplace>,
    pub orders: u64,
    pub units: u64,
    pub gmv: i64,
    pub refund: i64,
    pub net_gmv: i64,
    pub buyers: u64,
    pub halo_orders: u64,
    pub halo_net_gmv: i64,
    pub ctd_net_gmv: i64,
    pub spend: i64,
    pub ctd_roas: Option<String>,
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
    pub net_gmv: i64,
    pub halo_net_gmv: i64,
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
            let direct: Vec<&&AttributedLine> = lines
                .iter()
                .filter(|l| l.match_kind == MatchKind::Direct)
                .collect();
            let halo: Vec<&&AttributedLine> = lines
                .iter()
                .filter(|l| l.match_kind == MatchKind::Halo)
                .collect();
            let gmv: i64 = direct.iter().map(|l| l.paid_fen).sum();
            let refund: i64 = direct.iter().map(|l| l.refund_fen).sum();
            let spend = info.map(|c| c.spend_fen).unwrap_or(0);
            let ctd_all: i64 = info.map(|c| c.ctd_net_fen.values().sum()).unwrap_or(0);
            CampaignRow {
                campaign_id: cid.to_string(),
                campaign_name: info.map(|c| c.name.clone()).unwrap_or_default(),
                marketplace: Some(m),
                orders: direct
                    .iter()
                    .map(|l| l.order_id.as_str())
                    .collect::<BTreeSet<_>>()
                    .len() as u64,
                units: direct.iter().map(|l| u64::from(l.quantity)).sum(),
                gmv,
                refund,
                net_gmv: gmv - refund,
                buyers: direct
                    .iter()
                    .map(|l| l.buyer_hash.as_str())
                    .collect::<BTreeSet<_>>()
                    .len() as u64,
                halo_orders: halo
                    .iter()
                    .map(|l| l.order_id.as_str())
                    .collect::<BTreeSet<_>>()
                    .len() as u64,
                halo_net_gmv: halo.iter().map(|l| l.net_fen()).sum(),
                ctd_net_gmv: info
                    .and_then(|c| c.ctd_net_fen.get(&m).copied())
                    .unwrap_or(0),
                spend,
                ctd_roas: ratio_2dp(ctd_all, spend),
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
            let direct: Vec<&&AttributedLine> = lines
                .iter()
                .filter(|l| l.match_kind == MatchKind::Direct)
                .collect();
            NoteRow {
                campaign_id: cid.to_string(),
                note_id: nid.to_string(),
                link_kind: Some(kind),
                marketplace: Some(m),
                orders: direct
                    .iter()
                    .map(|l| l.order_id.as_str())
                    .collect::<BTreeSet<_>>()
                    .len() as u64,
                units: direct.iter().map(|l| u64::from(l.quantity)).sum(),
                net_gmv: direct.iter().map(|l| l.net_fen()).sum(),
                halo_net_gmv: lines
                    .iter()
                    .filter(|l| l.match_kind == MatchKind::Halo)
                    .map(|l| l.net_fen())
                    .sum(),
            }
        })
        .collect()
}

/// A rendered file: its bytes, its number of data rows and its SHA-256 (hashed once, here:
/// publish compares it with latest.json and writes it into the manifest and the pointer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub rows: u64,
    sha256: String,
}

impl Rendered {
    pub fn new(name: &'static str, bytes: Vec<u8>, rows: u64) -> Rendered {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Rendered {
            name,
            bytes,
            rows,
            sha256,
        }
    }

    /// Hex SHA-256 of the bytes.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// Writes a report CSV: UTF-8 with a BOM, CRLF, every text cell guarded against formulas.
struct ReportCsv {
    w: csv::Writer<Vec<u8>>,
    rows: u64,
}

impl ReportCsv {
    fn new(header: &[&str]) -> Self {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(b"\xEF\xBB\xBF".to_vec());
        // Writing to a Vec cannot fail.
        let _ = w.write_record(header);
        ReportCsv { w, rows: 0 }
    }

    /// `cells` are (text, is_text): text cells get the formula guard, numbers are ours and need none.
    fn row(&mut self, cells: &[(&str, bool)]) {
        let guarded: Vec<std::borrow::Cow<'_, str>> = cells
            .iter()
            .map(|(c, text)| {
                if *text {
                    formula_guard(c)
                } else {
                    std::borrow::Cow::Borrowed(*c)
                }
            })
            .collect();
        let _ = self.w.write_record(guarded.iter().map(|c| c.as_bytes()));
        self.rows += 1;
    }

    fn finish(self, name: &'static str) -> Rendered {
        let bytes = self.w.into_inner().unwrap_or_default();
        Rendered::new(name, bytes, self.rows)
    }
}

fn mkt_str(m: Option<Marketplace>) -> &'static str {
    m.map(|m| m.as_str()).unwrap_or("")
}

pub fn render_campaigns_csv(input: &ReportInput) -> Rendered {
    campaigns_csv_of(input, &campaign_rows(input))
}

fn campaigns_csv_of(input: &ReportInput, rows: &[CampaignRow]) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&CAMPAIGNS_HEADER);
    for r in rows {
        let n = |v: u64| v.to_string();
        let y = |v: i64| Yuan(v).to_string();
        let (orders, units, gmv, refund, net) =
            (n(r.orders), n(r.units), y(r.gmv), y(r.refund), y(r.net_gmv));
        let (buyers, horders, hnet, ctd, spend) = (
            n(r.buyers),
            n(r.halo_orders),
            y(r.halo_net_gmv),
            y(r.ctd_net_gmv),
            y(r.spend),
        );
        let roas = r.ctd_roas.clone().unwrap_or_default();
        out.row(&[
            (&date, false),
            (&input.brand_id, true),
            (&r.campaign_id, true),
            (&r.campaign_name, true),
            (mkt_str(r.marketplace), false),
            (&orders, false),
            (&units, false),
            (&gmv, false),
            (&refund, false),
            (&net, false),
            (&buyers, false),
            (&horders, false),
            (&hnet, false),
            (&ctd, false),
            (&spend, false),
            (&roas, false),
        ]);
    }
    out.finish("campaigns.csv")
}

pub fn render_notes_csv(input: &ReportInput) -> Rendered {
    notes_csv_of(input, &note_rows(input))
}

fn notes_csv_of(input: &ReportInput, rows: &[NoteRow]) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&NOTES_HEADER);
    for r in rows {
        let (orders, units) = (r.orders.to_string(), r.units.to_string());
        let (net, halo) = (
            Yuan(r.net_gmv).to_string(),
            Yuan(r.halo_net_gmv).to_string(),
        );
        out.row(&[
            (&date, false),
            (&input.brand_id, true),
            (&r.campaign_id, true),
            (&r.note_id, true),
            (r.link_kind.map(|k| k.as_str()).unwrap_or(""), false),
            (mkt_str(r.marketplace), false),
            (&orders, false),
            (&units, false),
            (&net, false),
            (&halo, false),
        ]);
    }
    out.finish("notes.csv")
}

pub fn render_orders_csv(input: &ReportInput) -> Rendered {
    let date = input.date.to_string();
    let mut out = ReportCsv::new(&ORDERS_HEADER);
    for l in &input.lines {
        let qty = l.quantity.to_string();
        let (paid, refund, net) = (
            Yuan(l.paid_fen).to_string(),
            Yuan(l.refund_fen).to_string(),
            Yuan(l.net_fen()).to_string(),
        );
        let paid_at = format_timestamp(&l.paid_at);
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
            (&qty, false),
            (&paid, false),
            (&refund, false),
            (&net, false),
            (&paid_at, false),
            (&l.buyer_hash, true),
            (l.match_kind.as_str(), false),
        ]);
    }
    out.finish("orders.csv")
}

/// The content files of a version, in the order they are written.
pub fn render_all(input: &ReportInput) -> Vec<Rendered> {
    // The page shows the same rows as the two CSV files: grouped once for both.
    let (campaigns, notes) = (campaign_rows(input), note_rows(input));
    vec![
        campaigns_csv_of(input, &campaigns),
        notes_csv_of(input, &notes),
        render_orders_csv(input),
        crate::html::render_html_of(input, &campaigns, &notes),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub bytes: u64,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestCampaign {
    pub campaign_id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestInputs {
    pub exports: Vec<crate::attribution::ExportRef>,
    pub campaigns: Vec<ManifestCampaign>,
}

/// manifest.json of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub brand_id: String,
    pub date: String,
    pub generated_at: String,
    pub version: u64,
    pub supersedes: Option<u64>,
    pub files: Vec<ManifestFile>,
    pub inputs: ManifestInputs,
}

impl Manifest {
    pub fn new(
        input: &ReportInput,
        files: &[Rendered],
        version: u64,
        generated_at: String,
    ) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            brand_id: input.brand_id.clone(),
            date: input.date.to_string(),
            generated_at,
            version,
            supersedes: version.checked_sub(1).filter(|v| *v > 0),
            files: files
                .iter()
                .map(|f| ManifestFile {
                    name: f.name.to_string(),
                    bytes: f.bytes.len() as u64,
                    rows: f.rows,
                    sha256: f.sha256().to_string(),
                })
                .collect(),
            inputs: ManifestInputs {
                exports: input.exports.clone(),
                campaigns: input
                    .campaigns
                    .iter()
                    .map(|c| ManifestCampaign {
                        campaign_id: c.campaign_id.clone(),
                        version: c.version.clone(),
                    })
                    .collect(),
            },
        }
    }
}

/// latest.json: the one pointer a reader follows, written last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latest {
    pub version: u64,
    pub prefix: String,
    pub sha256: BTreeMap<String, String>,
}

impl Latest {
    /// True when every content file (the CSVs and report.html; not the manifest, which carries a
    /// generation time) is exactly the one `self` points to. The page is content too: it shows
    /// campaign-to-date figures that a quiet day's CSVs do not, and they must not go stale.
    pub fn same_content(&self, files: &[Rendered]) -> bool {
        let theirs = self.sha256.keys().filter(|k| *k != "manifest.json").count();
        files.len() == theirs
            && files
                .iter()
                .all(|f| self.sha256.get(f.name).is_some_and(|h| *h == f.sha256()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &'static str, body: &str) -> Rendered {
        Rendered::new(name, body.as_bytes().to_vec(), 0)
    }

    #[test]
    fn a_version_changes_with_any_content_file_but_not_the_manifest() {
        let v1 = [
            file("campaigns.csv", "a"),
            file("notes.csv", "b"),
            file("orders.csv", "c"),
            file("report.html", "x"),
        ];
        let latest = Latest {
            version: 1,
            prefix: "reports/b/2025-05-20/v1/".into(),
            sha256: v1
                .iter()
                .map(|f| (f.name.to_string(), f.sha256().to_string()))
                .chain([("manifest.json".to_string(), "m".to_string())])
                .collect(),
        };
        assert!(latest.same_content(&v1));
        let page_only = [
            file("campaigns.csv", "a"),
            file("notes.csv", "b"),
            file("orders.csv", "c"),
            file("report.html", "y"),
        ];
        assert!(!latest.same_content(&page_only));
        let refund = [
            file("campaigns.csv", "a2"),
            file("notes.csv", "b"),
            file("orders.csv", "c"),
            file("report.html", "x"),
        ];
        assert!(!latest.same_content(&refund));
    }
}
