use super::*;
use crate::attribution::tests::line;
use crate::attribution::LineRef;
use crate::campaign::LinkKind;
use crate::money::Fen;
use crate::time::parse_date;

fn d(s: &str) -> NaiveDate {
    parse_date(s).unwrap()
}

fn info(id: &str, start: &str, spend: i64) -> CampaignInfo {
    CampaignInfo {
        campaign_id: id.into(),
        name: format!("{id} name"),
        start: d(start),
        end: d("2025-05-31"),
        window_days: 7,
        spend_fen: Fen(spend),
        version: "v".into(),
        note_titles: BTreeMap::new(),
    }
}

fn attributed(
    campaign: &str,
    order: &str,
    line_id: &str,
    buyer: &str,
    net: i64,
    kind: MatchKind,
) -> AttributedLine {
    let l = line(line_id, "t", "2025-05-12 10:00:00", None);
    LineRef {
        campaign_id: campaign,
        note_id: "n1",
        link_kind: LinkKind::AdLink,
        marketplace: Marketplace::Jd,
        shop_id: &l.shop_id,
        order_id: order,
        line_id,
        item_id: &l.item_id,
        title: "",
        quantity: 1,
        paid_fen: Fen(net),
        refund_fen: Fen(0),
        paid_at: l.paid_at.unwrap(),
        buyer_hash: buyer,
        match_kind: kind,
        source_key: "exports/jd/2025-05-12/a.csv",
    }
    .to_owned()
}

#[test]
fn the_scope_rule_holds_thirty_days_past_the_window() {
    let c = crate::attribution::tests::catalog().campaigns()[0].clone();
    let until = c.active_until();
    assert!(!in_scope(&c, c.start - Duration::days(1)));
    assert!(in_scope(&c, c.start));
    assert!(in_scope(&c, until + Duration::days(30)));
    assert!(!in_scope(&c, until + Duration::days(31)));
}

#[test]
fn orders_and_buyers_count_once_over_the_range_and_spend_adds_media_to_fixed() {
    let direct = MatchKind::Direct;
    let lines = [
        // One order's lines on two dates, one buyer on both: one order, one buyer.
        (
            d("2025-05-12"),
            attributed("c1", "o1", "o1/1", "h1", 5_000, direct),
        ),
        (
            d("2025-05-13"),
            attributed("c1", "o1", "o1/2", "h1", 3_000, direct),
        ),
        (
            d("2025-05-13"),
            attributed("c1", "o2", "o2/1", "h2", 2_000, MatchKind::Halo),
        ),
        // After as_of, before start, or a campaign out of scope: not counted.
        (
            d("2025-05-21"),
            attributed("c1", "o3", "o3/1", "h3", 9_999, direct),
        ),
        (
            d("2025-05-14"),
            attributed("c2", "o4", "o4/1", "h4", 9_999, direct),
        ),
        (
            d("2025-05-14"),
            attributed("c9", "o5", "o5/1", "h5", 9_999, direct),
        ),
    ];
    let mut b = Builder::new(
        "b",
        "B",
        d("2025-05-20"),
        vec![
            info("c1", "2025-05-10", 10_000),
            info("c2", "2025-05-15", 0),
        ],
    );
    for (date, l) in &lines {
        b.add_line(*date, l, "e");
    }
    b.add_red(
        d("2025-05-12"),
        "c1",
        &NoteFigures {
            impressions: 1000,
            clicks: 40,
            engagements: 5,
            link_clicks: 8,
            spend_fen: Fen(2_000),
        },
    );
    let t = b.finish();
    assert_eq!(t.totals.len(), 1);
    let r = &t.totals[0];
    assert_eq!(
        (
            r.orders,
            r.buyers,
            r.net_gmv.fen(),
            r.halo_orders,
            r.halo_net_gmv.fen()
        ),
        (1, 1, 8_000, 1, 2_000)
    );
    assert_eq!(t.funnel.len(), 2, "zeros included");
    let f = &t.funnel[0];
    assert_eq!(
        (f.media_spend().fen(), f.fixed_spend.fen(), f.spend().fen()),
        (2_000, 10_000, 12_000)
    );
    assert_eq!(f.roas().as_deref(), Some("0.67"));
    assert_eq!(f.ctr().as_deref(), Some("0.0400"));
    assert_eq!(f.cvr().as_deref(), Some("0.0250"));
    assert_eq!(f.cpc().as_deref(), Some("0.50"));
    assert_eq!(t.funnel[1].roas(), None);
    let days: Vec<_> = t
        .daily
        .iter()
        .map(|x| (x.date.to_string(), x.orders, x.net_gmv.fen(), x.clicks))
        .collect();
    assert_eq!(
        days,
        [
            ("2025-05-12".to_string(), 1, 5_000, 40),
            ("2025-05-13".to_string(), 1, 3_000, 0)
        ]
    );
    let csvs = render_csvs(&t);
    let funnel = String::from_utf8(csvs[1].bytes.clone()).unwrap();
    assert!(funnel.contains(
        "\r\n2025-05-20,b,c1,c1 name,1000,40,5,8,20.00,100.00,120.00,1,80.00,20.00,0.0400,0.0250,0.50,0.67\r\n"
    ), "{funnel}");
    assert!(
        funnel.ends_with("2025-05-20,b,c2,c2 name,0,0,0,0,0.00,0.00,0.00,0,0.00,0.00,,,,\r\n"),
        "{funnel}"
    );
}

#[test]
fn lines_in_any_order_build_the_same_report() {
    let lines = [
        (
            "2025-05-12",
            attributed("c1", "o1", "o1/1", "h1", 5_000, MatchKind::Direct),
        ),
        (
            "2025-05-14",
            attributed("c1", "o2", "o2/1", "h1", 700, MatchKind::Direct),
        ),
        (
            "2025-05-13",
            attributed("c1", "o1", "o1/2", "h2", 300, MatchKind::Halo),
        ),
    ];
    let build = |order: &[usize]| {
        let mut b = Builder::new("b", "B", d("2025-05-20"), vec![info("c1", "2025-05-10", 1)]);
        for &i in order {
            b.add_line(d(lines[i].0), &lines[i].1, "e");
        }
        render_csvs(&b.finish())
    };
    assert_eq!(build(&[0, 1, 2]), build(&[2, 0, 1]));
}
