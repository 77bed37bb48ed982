//! Every rule of attribution.md, with expected values worked out by hand.

use super::*;
use crate::campaign::{parse_jsonl, Record};
use crate::line::{Marketplace, StatusClass};
use crate::money::Fen;
use crate::statement::{campaign_rows, note_rows, render_csvs, Rows};
use crate::time::parse_timestamp;

pub(crate) fn catalog() -> Catalog {
    let text = r#"
{"brand_id": "b1", "name": "水花", "shops": {"taobao": ["T1", "T2"], "jd": ["J1"]}}
{"brand_id": "b2", "name": "Other", "shops": {"taobao": ["T9"]}}
{"campaign_id": "c1", "brand_id": "b1", "name": "=全脸盘", "start": "2025-05-10", "end": "2025-05-20", "window_days": 3, "spend_fen": 300000, "items": {"taobao": ["I1"], "jd": ["J-I1"]}, "notes": [{"note_id": "n1", "title": "夏日<防晒>", "links": [{"token": "tk_ad", "kind": "ad_link", "marketplace": "taobao"}, {"token": "tk_jd", "kind": "comment_link", "marketplace": "jd"}]}, {"note_id": "n2", "links": [{"token": "tk_cm", "kind": "comment_link", "marketplace": "taobao"}]}]}
{"campaign_id": "c2", "brand_id": "b2", "name": "Zero spend", "start": "2025-05-01", "end": "2025-05-31", "window_days": 1, "spend_fen": 0, "items": {"taobao": ["I9"]}, "notes": [{"note_id": "n9", "links": [{"token": "tk_b2", "kind": "ad_link", "marketplace": "taobao"}]}]}
"#;
    let mut brands = Vec::new();
    let mut campaigns = Vec::new();
    for r in parse_jsonl("t", text).unwrap() {
        match r {
            Record::Brand(b) => brands.push(b),
            Record::Campaign(c) => campaigns.push(c),
        }
    }
    Catalog::new(brands, campaigns).unwrap()
}

pub(crate) fn line(id: &str, token: &str, paid_at: &str, clicked_at: Option<&str>) -> OrderLine {
    OrderLine {
        marketplace: Marketplace::Taobao,
        line_id: id.into(),
        order_id: format!("O-{id}"),
        shop_id: "T1".into(),
        item_id: "I1".into(),
        sku_code: String::new(),
        title: "t".into(),
        quantity: 1,
        paid_fen: Fen(10000),
        refund_fen: Fen(0),
        status: "交易成功".into(),
        status_class: StatusClass::Paid,
        created_at: parse_timestamp("2025-05-01 00:00:00").unwrap(),
        paid_at: Some(parse_timestamp(paid_at).unwrap()),
        buyer_hash: format!("h-{id}"),
        token: token.into(),
        clicked_at: clicked_at.map(|c| parse_timestamp(c).unwrap()),
        source_line: 2,
    }
}

fn reason(cat: &Catalog, l: &OrderLine) -> &'static str {
    match decide(cat, l) {
        Decision::NotPaid => "not_paid",
        Decision::NoToken => "no_token",
        Decision::Excluded(e, _) => e.as_str(),
        Decision::Credited { kind, .. } => kind.as_str(),
    }
}

#[test]
fn the_four_exclusion_reasons_in_order() {
    let cat = catalog();
    let ok = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    assert_eq!(reason(&cat, &ok), "direct");
    assert_eq!(
        reason(&cat, &line("1", "tk_nope", "2025-05-12 10:00:00", None)),
        "unknown_token"
    );
    let mut jd = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    jd.marketplace = Marketplace::Jd;
    jd.shop_id = "J1".into();
    assert_eq!(reason(&cat, &jd), "marketplace_mismatch");
    let mut foreign = ok.clone();
    foreign.shop_id = "T9".into(); // b2's shop, with b1's token
    assert_eq!(reason(&cat, &foreign), "foreign_shop");
    // Both foreign and out of window: the earlier rule wins.
    let mut both = line("1", "tk_ad", "2025-06-30 10:00:00", None);
    both.shop_id = "T9".into();
    assert_eq!(reason(&cat, &both), "foreign_shop");
    assert_eq!(
        reason(&cat, &line("1", "tk_ad", "2025-05-24 00:00:00", None)),
        "out_of_window"
    );
    let mut halo = ok.clone();
    halo.item_id = "I-other".into();
    assert_eq!(reason(&cat, &halo), "halo");
    // T2 is b1's shop too.
    let mut t2 = ok.clone();
    t2.shop_id = "T2".into();
    assert_eq!(reason(&cat, &t2), "direct");
}

#[test]
fn only_paid_lines_with_a_token_are_considered() {
    let cat = catalog();
    let mut unpaid = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    unpaid.status_class = StatusClass::Unpaid;
    assert_eq!(reason(&cat, &unpaid), "not_paid");
    let mut never = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    never.paid_at = None;
    never.status_class = StatusClass::Closed;
    assert_eq!(reason(&cat, &never), "not_paid");
    let mut refunded = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    refunded.status_class = StatusClass::Closed;
    assert_eq!(reason(&cat, &refunded), "direct");
    assert_eq!(
        reason(&cat, &line("1", "", "2025-05-12 10:00:00", None)),
        "no_token"
    );
}

#[test]
fn windows_without_and_with_a_click() {
    let cat = catalog(); // c1: 2025-05-10 .. 2025-05-20, window 3 days
    let r = |paid: &str, click: Option<&str>| reason(&cat, &line("1", "tk_ad", paid, click));
    // Without a click: the payment's date in start .. end + window (05-10 .. 05-23).
    assert_eq!(r("2025-05-09 23:59:59", None), "out_of_window");
    assert_eq!(r("2025-05-10 00:00:00", None), "direct");
    assert_eq!(r("2025-05-23 23:59:59", None), "direct");
    assert_eq!(r("2025-05-24 00:00:00", None), "out_of_window");
    // With a click: click date in the flight, payment at/after the click and within 72 hours.
    assert_eq!(
        r("2025-05-20 12:00:00", Some("2025-05-20 12:00:00")),
        "direct"
    );
    assert_eq!(
        r("2025-05-23 12:00:00", Some("2025-05-20 12:00:00")),
        "direct"
    );
    assert_eq!(
        r("2025-05-23 12:00:01", Some("2025-05-20 12:00:00")),
        "out_of_window"
    );
    assert_eq!(
        r("2025-05-20 11:59:59", Some("2025-05-20 12:00:00")),
        "out_of_window"
    );
    assert_eq!(
        r("2025-05-21 10:00:00", Some("2025-05-21 09:00:00")),
        "out_of_window"
    );
    assert_eq!(
        r("2025-05-10 10:00:00", Some("2025-05-09 23:00:00")),
        "out_of_window"
    );
    // A click in the flight lets a payment in the window count even when it would be late by date alone? No:
    // within 72 h of a click on 05-20 23:00 is 05-23 23:00, still inside end + window.
    assert_eq!(
        r("2025-05-23 22:00:00", Some("2025-05-20 23:00:00")),
        "direct"
    );
}

fn ts(s: &str) -> chrono::NaiveDateTime {
    parse_timestamp(s).unwrap()
}

#[test]
fn metrics_of_a_date() {
    let cat = catalog();
    let src = ExportRef {
        key: "exports/taobao/2025-05-12/a.csv".into(),
        etag: "e1".into(),
    };
    let d = |s: &str| crate::time::parse_date(s).unwrap();
    let mut a = Attribution::new(&cat, [d("2025-05-12")]);
    // 05-11: direct 100.00 (before the report date: counts to date only).
    a.add(&line("p", "tk_ad", "2025-05-11 10:00:00", None), &src);
    // 05-12: order O-A with two direct lines (one partly refunded), same buyer.
    let mut l1 = line("a1", "tk_ad", "2025-05-12 10:00:00", None);
    l1.order_id = "O-A".into();
    l1.quantity = 2;
    l1.refund_fen = Fen(2500);
    let mut l2 = line("a2", "tk_ad", "2025-05-12 10:00:00", None);
    l2.order_id = "O-A".into();
    l2.buyer_hash = l1.buyer_hash.clone();
    l2.paid_fen = Fen(5050);
    // a halo line through the comment link, and a JD direct line
    let mut h = line("h1", "tk_cm", "2025-05-12 11:00:00", None);
    h.item_id = "I-other".into();
    h.paid_fen = Fen(1999);
    let mut j = line("j1", "tk_jd", "2025-05-12 12:00:00", None);
    j.marketplace = Marketplace::Jd;
    j.shop_id = "J1".into();
    j.item_id = "J-I1".into();
    j.paid_fen = Fen(30001);
    // 05-13: after the report date, not in its figures to date.
    let later = line("z", "tk_ad", "2025-05-13 10:00:00", None);
    for l in [&l1, &l2, &h, &j, &later] {
        a.add(l, &src);
    }
    a.add(&line("x", "tk_nope", "2025-05-12 10:00:00", None), &src);
    assert_eq!(a.stats.credited, 6);
    assert_eq!(a.stats.excluded.get("unknown_token"), Some(&1));

    let input = a.report_input("b1", d("2025-05-12"));
    assert_eq!(input.lines.len(), 4);
    let rows = campaign_rows(&input);
    assert_eq!(rows.len(), 2);
    // jd sorts before taobao, byte by byte.
    let tb = &rows[1];
    assert_eq!(tb.marketplace, Some(Marketplace::Taobao));
    assert_eq!(tb.orders, 1);
    assert_eq!(tb.units, 3);
    assert_eq!(tb.gmv, Fen(15050));
    assert_eq!(tb.refund, Fen(2500));
    assert_eq!(tb.net_gmv, Fen(12550));
    assert_eq!(tb.buyers, 1);
    assert_eq!(tb.halo_orders, 1);
    assert_eq!(tb.halo_net_gmv, Fen(1999));
    let jd = &rows[0];
    assert_eq!(jd.marketplace, Some(Marketplace::Jd));
    assert_eq!(jd.net_gmv, Fen(30001));

    let notes = note_rows(&input);
    let keys: Vec<(&str, &str, i64, i64)> = notes
        .iter()
        .map(|n| {
            (
                n.note_id.as_str(),
                n.link_kind.unwrap().as_str(),
                n.net_gmv.fen(),
                n.halo_net_gmv.fen(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("n1", "ad_link", 12550, 0),
            ("n1", "comment_link", 30001, 0),
            ("n2", "comment_link", 0, 1999)
        ]
    );

    let files = render_csvs(&input, &Rows::of(&input));
    let csv = String::from_utf8(files[0].bytes.clone()).unwrap();
    assert_eq!(
        csv,
        "\u{feff}date,brand_id,campaign_id,campaign_name,marketplace,orders,units,gmv,refund,net_gmv,buyers,halo_orders,halo_net_gmv\r\n\
         2025-05-12,b1,c1,'=全脸盘,jd,1,1,300.01,0.00,300.01,1,0,0.00\r\n\
         2025-05-12,b1,c1,'=全脸盘,taobao,1,3,150.50,25.00,125.50,1,1,19.99\r\n"
    );
    let funnel = String::from_utf8(files[3].bytes.clone()).unwrap();
    // n1: orders O-A (taobao) and O-j1 (jd) are two (marketplace, order_id); no RED figures yet.
    assert_eq!(
        funnel,
        "\u{feff}date,brand_id,campaign_id,note_id,impressions,clicks,engagements,link_clicks,spend,orders,net_gmv,halo_net_gmv,ctr,cvr,cpc,roas\r\n\
         2025-05-12,b1,c1,n1,0,0,0,0,0.00,2,425.51,0.00,,,,\r\n\
         2025-05-12,b1,c1,n2,0,0,0,0,0.00,0,0.00,19.99,,,,\r\n"
    );
    let notes_csv = String::from_utf8(files[1].bytes.clone()).unwrap();
    assert_eq!(
        notes_csv,
        "\u{feff}date,brand_id,campaign_id,note_id,link_kind,marketplace,orders,units,net_gmv,halo_net_gmv\r\n\
         2025-05-12,b1,c1,n1,ad_link,taobao,1,3,125.50,0.00\r\n\
         2025-05-12,b1,c1,n1,comment_link,jd,1,1,300.01,0.00\r\n\
         2025-05-12,b1,c1,n2,comment_link,taobao,0,0,0.00,19.99\r\n"
    );
    let orders = files[2].clone();
    assert_eq!(orders.rows, 4);
    let text = String::from_utf8(orders.bytes).unwrap();
    let second = text.split("\r\n").nth(3).unwrap();
    assert_eq!(
        second,
        "2025-05-12,b1,c1,n1,ad_link,taobao,T1,O-A,a2,I1,t,1,50.50,0.00,50.50,2025-05-12 10:00:00,h-a1,direct"
    );
    // Sorted by (campaign, marketplace, order, line): jd first, then taobao O-A/a1, O-A/a2, O-h1/h1.
    let ids: Vec<&str> = text
        .split("\r\n")
        .skip(1)
        .filter(|r| !r.is_empty())
        .map(|r| r.split(',').nth(8).unwrap())
        .collect();
    assert_eq!(ids, vec!["j1", "a1", "a2", "h1"]);
    assert_eq!(input.exports, vec![src.clone()]);
    assert!(ts("2025-05-12 10:00:00") < ts("2025-05-13 00:00:00"));
}

#[test]
fn brands_stay_apart() {
    let cat = catalog();
    let src = ExportRef {
        key: "k".into(),
        etag: "e".into(),
    };
    let d = crate::time::parse_date("2025-05-12").unwrap();
    let mut a = Attribution::new(&cat, [d]);
    let mut l = line("1", "tk_b2", "2025-05-12 10:00:00", None);
    l.shop_id = "T9".into();
    l.item_id = "I9".into();
    a.add(&l, &src);
    a.add(&line("2", "tk_ad", "2025-05-12 10:00:00", None), &src);
    let b2 = a.report_input("b2", d);
    assert_eq!(b2.lines.len(), 1);
    assert!(b2.lines.iter().all(|l| l.campaign_id == "c2"));
    assert!(b2.campaigns.iter().all(|c| c.campaign_id == "c2"));
    assert_eq!(campaign_rows(&b2).len(), 1);
    let b1 = a.report_input("b1", d);
    assert!(b1.lines.iter().all(|l| l.campaign_id == "c1"));
}

#[test]
fn a_quiet_day_renders_headers_only() {
    let cat = catalog();
    let d = crate::time::parse_date("2025-05-15").unwrap();
    let a = Attribution::new(&cat, [d]);
    let input = a.report_input("b1", d);
    assert_eq!(input.campaigns.len(), 1, "c1 is live on the date");
    let csvs = crate::statement::render_csvs(&input, &crate::statement::Rows::of(&input));
    assert_eq!(csvs[0].rows, 0);
    assert_eq!(csvs[0].bytes, "\u{feff}date,brand_id,campaign_id,campaign_name,marketplace,orders,units,gmv,refund,net_gmv,buyers,halo_orders,halo_net_gmv\r\n".as_bytes());
}

#[test]
fn explain_names_the_rule_that_decided() {
    let cat = catalog();
    let last = |l: &OrderLine| explain(&cat, l).last().cloned().unwrap();
    assert!(last(&line("1", "tk_ad", "2025-05-12 10:00:00", None))
        .starts_with("credited to c1 as direct"));
    assert!(last(&line("1", "tk_nope", "2025-05-12 10:00:00", None)).ends_with("unknown_token"));
    let mut foreign = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    foreign.shop_id = "T9".into();
    assert!(last(&foreign).contains("rule 3 fails") && last(&foreign).contains("[T1, T2]"));
    let late = last(&line(
        "1",
        "tk_ad",
        "2025-05-23 12:00:01",
        Some("2025-05-20 12:00:00"),
    ));
    assert!(
        late.contains("rule 4 fails") && late.contains("2025-05-23 12:00:00"),
        "{late}"
    );
    let mut unpaid = line("1", "tk_ad", "2025-05-12 10:00:00", None);
    unpaid.status_class = StatusClass::Unpaid;
    assert!(last(&unpaid).starts_with("not paid"));
}

#[test]
fn staged_report_inputs_read_back_whole() {
    let cat = catalog();
    let d = crate::time::parse_date("2025-05-12").unwrap();
    let mut a = Attribution::new(&cat, [d]);
    let src = ExportRef {
        key: "exports/taobao/2025-05-12/a.csv".into(),
        etag: "\"e\"".into(),
    };
    a.add(&line("p", "tk_ad", "2025-05-11 10:00:00", None), &src);
    a.add(&line("q", "tk_ad", "2025-05-12 10:00:00", None), &src);
    a.add(
        &line(
            "r",
            "tk_ad",
            "2025-05-12 23:59:59",
            Some("2025-05-12 09:00:00"),
        ),
        &src,
    );
    let input = a.report_input("b1", d);
    assert_eq!(input.lines.len(), 2);
    let bytes = codec::encode_input(&input).unwrap();
    assert_eq!(codec::decode_input(&bytes).unwrap(), input);
    // Cut anywhere, it does not read back as something else.
    for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
        assert!(codec::decode_input(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn attributions_of_shares_merge_into_the_attribution_of_all() {
    let cat = catalog();
    let d = crate::time::parse_date("2025-05-12").unwrap();
    let src = ExportRef {
        key: "exports/taobao/2025-05-12/a.csv".into(),
        etag: "e1".into(),
    };
    let mut lines = [
        line("p", "tk_ad", "2025-05-11 10:00:00", None),
        line("q", "tk_ad", "2025-05-12 10:00:00", None),
        line("r", "tk_cm", "2025-05-12 11:00:00", None),
        line("x", "tk_nope", "2025-05-12 10:00:00", None),
    ];
    lines[2].item_id = "I-other".into();
    let mut whole = Attribution::new(&cat, [d]);
    let (mut one, mut two) = (Attribution::new(&cat, [d]), Attribution::new(&cat, [d]));
    for (i, l) in lines.iter().enumerate() {
        whole.add(l, &src);
        if i % 2 == 0 {
            one.add(l, &src)
        } else {
            two.add(l, &src)
        }
    }
    one.merge(two);
    assert_eq!(one.stats, whole.stats);
    assert_eq!(one.report_input("b1", d), whole.report_input("b1", d));
    assert_eq!(
        one.brands_with_lines(d).collect::<Vec<_>>(),
        whole.brands_with_lines(d).collect::<Vec<_>>()
    );
}

/// The encoded statement inputs of b1 on three dates from `lines`.
fn inputs(cat: &Catalog, lines: &[OrderLine]) -> Vec<Vec<u8>> {
    let dates: Vec<NaiveDate> = ["2025-05-11", "2025-05-12", "2025-05-13"]
        .iter()
        .map(|s| crate::time::parse_date(s).unwrap())
        .collect();
    let src = ExportRef {
        key: "exports/taobao/2025-05-13/a.csv".into(),
        etag: "e1".into(),
    };
    let mut a = Attribution::new(cat, dates.iter().copied());
    for l in lines {
        a.add(l, &src);
    }
    dates
        .iter()
        .map(|d| codec::encode_input(&a.report_input("b1", *d)).unwrap())
        .collect()
}

/// attribution.md: a date's figures depend on the lines of that date alone. A late refund, a new
/// title or a new quantity restates its own date's statement and no other.
#[test]
fn a_change_restates_its_own_date_only() {
    let cat = catalog();
    let base = vec![
        line("1", "tk_ad", "2025-05-11 10:00:00", None),
        line("2", "tk_cm", "2025-05-12 10:00:00", None),
        line("3", "tk_ad", "2025-05-13 09:00:00", None),
    ];
    let edit = |f: &dyn Fn(&mut Vec<OrderLine>)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let before = inputs(&cat, &base);
    let changed = |after: Vec<Vec<u8>>| -> Vec<bool> {
        after.iter().zip(&before).map(|(x, y)| x != y).collect()
    };
    assert_eq!(
        changed(inputs(&cat, &edit(&|v| v.reverse()))),
        [false, false, false]
    );
    assert_eq!(
        changed(inputs(&cat, &edit(&|v| v[0].refund_fen = Fen(2500)))),
        [true, false, false]
    );
    assert_eq!(
        changed(inputs(&cat, &edit(&|v| v[1].quantity = 2))),
        [false, true, false]
    );
    assert_eq!(
        changed(inputs(&cat, &edit(&|v| v[2].title = "新标题".into()))),
        [false, false, true]
    );
}
