//! The page against the CSVs: same numbers, escaped text, self-contained, small.

use super::*;
use crate::attribution::tests::{catalog, line};
use crate::attribution::{Attribution, ExportRef};
use crate::campaign::{Brand, Campaign, Link, Note};
use crate::catalog::Catalog;
use crate::line::{Marketplace, OrderLine};
use crate::money::parse_amount;
use crate::money::Fen;
use crate::statement::{render_csvs, Rows};
use crate::time::parse_date;

/// Rows of a table: (row attributes, cells as field -> data-v), read from the page.
fn table(html: &str, id: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let start = html.find(&format!("id=\"{id}\"")).expect("table present");
    let body = &html[start..];
    let body = &body[body.find("<tbody>").unwrap()..body.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .filter(|r| r.contains("data-field"))
        .map(|row| {
            let attrs = row[..row.find('>').unwrap()].to_string();
            let mut cells = BTreeMap::new();
            for part in row.split("data-field=\"").skip(1) {
                let field = &part[..part.find('"').unwrap()];
                let v = part.split("data-v=\"").nth(1).unwrap();
                cells.insert(field.to_string(), v[..v.find('"').unwrap()].to_string());
            }
            (attrs, cells)
        })
        .collect()
}

fn csv_rows(bytes: &[u8]) -> Vec<BTreeMap<String, String>> {
    let text = std::str::from_utf8(bytes)
        .unwrap()
        .trim_start_matches('\u{feff}');
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    rdr.records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

fn sample() -> crate::attribution::ReportInput {
    let cat = catalog();
    let src = ExportRef {
        key: "k".into(),
        etag: "e".into(),
    };
    let d = parse_date("2025-05-12").unwrap();
    let mut a = Attribution::new(&cat, [d]);
    let mut l1 = line("a1", "tk_ad", "2025-05-12 10:00:00", None);
    l1.quantity = 2;
    l1.refund_fen = Fen(2500);
    let mut h = line("h1", "tk_cm", "2025-05-12 11:00:00", None);
    h.item_id = "I-other".into();
    h.paid_fen = Fen(1999);
    h.title = "<script>alert(1)</script>".into();
    let mut j = line("j1", "tk_jd", "2025-05-12 12:00:00", None);
    j.marketplace = Marketplace::Jd;
    j.shop_id = "J1".into();
    j.item_id = "J-I1".into();
    j.paid_fen = Fen(30001);
    for l in [
        &l1,
        &h,
        &j,
        &line("p", "tk_ad", "2025-05-11 10:00:00", None),
    ] {
        a.add(l, &src);
    }
    a.report_input("b1", d)
}

fn render_html(input: &crate::attribution::ReportInput) -> Rendered {
    render_statement(input, &Rows::of(input), &[], None)
}

fn csv_of(input: &crate::attribution::ReportInput, name: &str) -> Vec<u8> {
    render_csvs(input, &Rows::of(input))
        .into_iter()
        .find(|f| f.name == name)
        .unwrap()
        .bytes
}

#[test]
fn the_page_shows_the_numbers_of_the_csvs() {
    let input = sample();
    let html = String::from_utf8(render_html(&input).bytes).unwrap();
    let page = table(&html, "campaigns");
    let csv = csv_rows(&csv_of(&input, "campaigns.csv"));
    assert_eq!(page.len(), csv.len());
    assert_eq!(page.len(), 2);
    for ((attrs, cells), row) in page.iter().zip(&csv) {
        assert!(attrs.contains(&format!("data-campaign=\"{}\"", row["campaign_id"])));
        assert!(attrs.contains(&format!("data-marketplace=\"{}\"", row["marketplace"])));
        for f in ["orders", "units", "buyers", "halo_orders"] {
            assert_eq!(cells[f], row[f], "{f}");
        }
        for f in ["gmv", "refund", "net_gmv", "halo_net_gmv"] {
            assert_eq!(
                Fen(cells[f].parse::<i64>().unwrap()),
                parse_amount(&row[f]).unwrap(),
                "{f}"
            );
        }
    }
    let page = table(&html, "notes");
    let csv = csv_rows(&csv_of(&input, "notes.csv"));
    assert_eq!(page.len(), csv.len());
    for ((attrs, cells), row) in page.iter().zip(&csv) {
        assert!(attrs.contains(&format!("data-note=\"{}\"", row["note_id"])));
        assert!(attrs.contains(&format!("data-link-kind=\"{}\"", row["link_kind"])));
        assert_eq!(cells["orders"], row["orders"]);
        assert_eq!(cells["units"], row["units"]);
        assert_eq!(
            Fen(cells["net_gmv"].parse::<i64>().unwrap()),
            parse_amount(&row["net_gmv"]).unwrap()
        );
        assert_eq!(
            Fen(cells["halo_net_gmv"].parse::<i64>().unwrap()),
            parse_amount(&row["halo_net_gmv"]).unwrap()
        );
    }
    // Headline: direct net of the day = 100.00 - 25.00 + 300.01 (halo 19.99 apart).
    assert!(
        html.contains("data-field=\"net_gmv\" data-v=\"37501\">¥375.01<"),
        "headline net GMV"
    );
    assert!(html.contains("data-field=\"halo_net_gmv\" data-v=\"1999\">¥19.99<"));
    // A statement shows no figure of another date.
    assert!(!html.contains("ctd_"));
}

#[test]
fn text_from_exports_and_campaigns_is_escaped_and_nothing_is_fetched() {
    let mut input = sample();
    input.brand_name = "<img src=x onerror=alert(1)>".into();
    input.campaigns[0].name = "<script>alert('c')</script>=HYPERLINK(\"http://x\")".into();
    input.lines[0].note_id = "<b>note</b>".into();
    let html = String::from_utf8(render_html(&input).bytes).unwrap();
    assert!(!html.contains("<script>alert"));
    assert!(!html.contains("<img src=x"));
    assert!(!html.contains("<b>note"));
    assert!(html.contains(
        "&lt;script&gt;alert(&#39;c&#39;)&lt;/script&gt;=HYPERLINK(&quot;http://x&quot;)"
    ));
    // Self-contained: no external stylesheet, script, image or font.
    for needle in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "@import",
        "<link",
        "src=\"//",
    ] {
        assert!(!html.contains(needle), "{needle}");
    }
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the inline sorting script"
    );
    assert!(html.matches("<svg").count() >= 3, "charts are inline SVG");
}

#[test]
fn notes_show_their_titles_and_counts_their_thousands() {
    let mut input = sample();
    // The title comes from the campaign record (campaigns.md's optional `title`), escaped.
    assert_eq!(input.campaigns[0].note_titles["n1"], "夏日<防晒>");
    let html = String::from_utf8(render_html(&input).bytes).unwrap();
    let notes = &html[html.find("id=\"notes\"").unwrap()..];
    let notes = &notes[..notes.find("</table>").unwrap()];
    assert!(notes.contains(
        "data-field=\"note\" data-v=\"n1\"><span class=\"title\">夏日&lt;防晒&gt;</span><br><small class=\"id\">n1</small>"
    ));
    // A note without a title shows its id alone.
    assert!(notes.contains("data-field=\"note\" data-v=\"n2\">n2</td>"));
    assert!(
        html.contains("end\" font-family=\"sans-serif\" font-size=\"11\" fill=\"#4e5969\">夏日&lt;防晒&gt;</text>"),
        "the note chart names it by its title"
    );

    for l in &mut input.lines {
        l.quantity = 12_345;
    }
    let html = String::from_utf8(render_html(&input).bytes).unwrap();
    assert!(html.contains("data-field=\"units\" data-v=\"12345\">12,345</td>"));
}

#[test]
fn a_brand_with_fifty_campaigns_stays_under_one_megabyte() {
    let brand = Brand {
        brand_id: "big".into(),
        name: "大品牌".into(),
        shops: [
            (Marketplace::Taobao, vec!["S".to_string()]),
            (Marketplace::Jd, vec!["J".to_string()]),
        ]
        .into(),
    };
    let d = parse_date("2025-05-20").unwrap();
    let campaigns: Vec<Campaign> = (0..50)
        .map(|i| Campaign {
            campaign_id: format!("c-{i:02}"),
            brand_id: "big".into(),
            name: format!("种草计划 {i} 号 全脸盘 眼影腮红高光一体"),
            start: parse_date("2025-03-01").unwrap(),
            end: parse_date("2025-06-30").unwrap(),
            window_days: 15,
            spend_fen: Fen(10_000_000),
            items: [(Marketplace::Taobao, vec![format!("I{i}")])].into(),
            notes: (0..5)
                .map(|n| Note {
                    note_id: format!("664f1c2a0000000{i:02}e02b3c{n}"),
                    title: None,
                    links: vec![
                        Link {
                            token: format!("t-{i}-{n}-a"),
                            kind: LinkKind::AdLink,
                            marketplace: Marketplace::Taobao,
                        },
                        Link {
                            token: format!("t-{i}-{n}-c"),
                            kind: LinkKind::CommentLink,
                            marketplace: Marketplace::Jd,
                        },
                    ],
                })
                .collect(),
        })
        .collect();
    let cat = Catalog::new(vec![brand], campaigns).unwrap();
    let src = ExportRef {
        key: "k".into(),
        etag: "e".into(),
    };
    let mut a = Attribution::new(&cat, [d]);
    let mut n = 0;
    // 80 days of history and 40 lines a day over every campaign, note and link.
    for day in 0..81 {
        for k in 0..40 {
            n += 1;
            let (i, note, kind) = (k % 50, k % 5, k % 2);
            let mut l: OrderLine = line(
                &format!("L{n}"),
                &format!("t-{i}-{note}-{}", if kind == 0 { "a" } else { "c" }),
                &format!(
                    "{} 10:00:00",
                    parse_date("2025-03-01").unwrap() + chrono::Duration::days(day)
                ),
                None,
            );
            if kind == 1 {
                l.marketplace = Marketplace::Jd;
                l.shop_id = "J".into();
            } else {
                l.shop_id = "S".into();
                l.item_id = format!("I{i}");
            }
            l.title = "保湿面霜 50ml 礼盒装 限定版 很长很长的商品标题".into();
            a.add(&l, &src);
        }
    }
    let input = a.report_input("big", d);
    assert_eq!(input.campaigns.len(), 50);
    let page = render_html(&input);
    assert!(page.bytes.len() < 1_000_000, "{} bytes", page.bytes.len());
}

#[test]
fn escaping_in_place_matches_escaping_to_a_string() {
    for text in [
        "",
        "plain 文字",
        "a&b<c>d\"e'f",
        "&&",
        "<",
        "tail>",
        "'quoted'",
    ] {
        let mut out = String::from("x");
        super::push_escaped(&mut out, text);
        assert_eq!(out, format!("x{}", super::escape(text)));
    }
    assert_eq!(
        super::escape("a&b<c>d\"e'f"),
        "a&amp;b&lt;c&gt;d&quot;e&#39;f"
    );
}
