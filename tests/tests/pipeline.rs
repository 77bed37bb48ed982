//! The daily pipeline against real S3 and DynamoDB APIs (moto server): exports in a bucket to the
//! reports a brand downloads. Expected figures are worked out by hand from the fixture files.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{day, World};
use seedline_pipeline::steps::ingest::{ingest_object, FileOutcome};
use seedline_pipeline::steps::run::run_day;

const CAMPAIGNS_HEADER: &str = "\u{feff}date,brand_id,campaign_id,campaign_name,marketplace,orders,units,gmv,refund,net_gmv,buyers,halo_orders,halo_net_gmv\r\n";

/// Day 20 by hand: Taobao O1 has a direct line (2 × 面霜, 199.00) and a halo line (50.50); O2 is unpaid,
/// O3 is in another brand's shop, O4 was clicked before the flight, O6 has quantity 0 (rejected).
/// JD order J1 pays 180.00 over 京东价 100.00 × 1 and 50.00 × 2: 90.00 each, one direct, one halo.
const DAY20_V1: &str = "2025-05-20,b-fix,c-fix,面霜 种草,jd,1,1,90.00,0.00,90.00,1,1,90.00\r\n\
                        2025-05-20,b-fix,c-fix,面霜 种草,taobao,1,2,199.00,0.00,199.00,1,1,50.50\r\n";

/// After day 22's export refunds 50.00 of line 1001: net 149.00. Nothing of another date.
const DAY20_V2: &str = "2025-05-20,b-fix,c-fix,面霜 种草,jd,1,1,90.00,0.00,90.00,1,1,90.00\r\n\
                        2025-05-20,b-fix,c-fix,面霜 种草,taobao,1,2,199.00,50.00,149.00,1,1,50.50\r\n";

/// Day 22: O7 pays 20.00.
const DAY22_V1: &str = "2025-05-22,b-fix,c-fix,面霜 种草,taobao,1,1,20.00,0.00,20.00,1,0,0.00\r\n";

const REFUND_EXPORT: &str = "exports/taobao/2025-05-22/ExportOrderDetailList20250522-1.csv.gz";
const RED_EXPORT: &str = "exports/xhs/2025-05-20/聚光_笔记报表_20250520.csv";

const FUNNEL_HEADER: &str = "\u{feff}date,brand_id,campaign_id,note_id,impressions,clicks,engagements,link_clicks,spend,orders,net_gmv,halo_net_gmv,ctr,cvr,cpc,roas\r\n";

/// Day 20's RED report: plans 1 and 2 of n1 summed (the totals row skipped, the `1.5` row
/// rejected); orders O1 and J1, net 199.00 + 90.00. cvr 2/300 = 0.0067, cpc 600.00/300 = 2.00,
/// roas 289.00/600.00 = 0.4817 -> 0.48.
const DAY20_FUNNEL: &str =
    "2025-05-20,b-fix,c-fix,n1,12000,300,40,30,600.00,2,289.00,140.50,0.0250,0.0067,2.00,0.48\r\n";

#[tokio::test]
async fn an_export_put_in_the_bucket_ends_as_the_report_a_brand_downloads() {
    let w = World::new("end-to-end").await;
    w.load_campaigns().await;
    w.drop_exports("2025-05-20").await;
    let run = run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();

    assert_eq!(run.ingested.len(), 3);
    let red = run
        .ingested
        .iter()
        .find(|r| r.record.export_key == RED_EXPORT)
        .unwrap();
    assert_eq!(
        (
            red.record.counts.rows_in,
            red.record.counts.rows_kept,
            red.record.counts.rows_rejected
        ),
        (4, 3, 1)
    );
    assert_eq!(
        red.record.counts.rejected_by_reason.get("bad_count"),
        Some(&1)
    );
    assert_eq!(
        run.matched.stats.unknown_note, 1,
        "n-unknown is no campaign's note"
    );
    let tb = run
        .ingested
        .iter()
        .find(|r| r.record.export_key.contains("taobao"))
        .unwrap();
    assert_eq!(tb.record.counts.rows_in, 6);
    assert_eq!(tb.record.counts.rows_kept, 5);
    assert_eq!(tb.record.counts.rows_rejected, 1);
    assert_eq!(
        tb.record.counts.rejected_by_reason.get("bad_quantity"),
        Some(&1)
    );
    let jd = run
        .ingested
        .iter()
        .find(|r| r.record.export_key.contains("/jd/"))
        .unwrap();
    assert_eq!(jd.record.encoding.as_deref(), Some("gb18030"));
    assert_eq!(run.matched.stats.excluded.get("foreign_shop"), Some(&1));
    assert_eq!(run.matched.stats.excluded.get("out_of_window"), Some(&1));

    let (version, campaigns) = w.latest_file("b-fix", "2025-05-20", "campaigns.csv").await;
    assert_eq!(version, 1);
    assert_eq!(campaigns, format!("{CAMPAIGNS_HEADER}{DAY20_V1}"));
    let (_, notes) = w.latest_file("b-fix", "2025-05-20", "notes.csv").await;
    assert_eq!(
        notes,
        "\u{feff}date,brand_id,campaign_id,note_id,link_kind,marketplace,orders,units,net_gmv,halo_net_gmv\r\n\
         2025-05-20,b-fix,c-fix,n1,ad_link,taobao,1,2,199.00,50.50\r\n\
         2025-05-20,b-fix,c-fix,n1,comment_link,jd,1,1,90.00,90.00\r\n"
    );
    let (_, funnel) = w.latest_file("b-fix", "2025-05-20", "funnel.csv").await;
    assert_eq!(funnel, format!("{FUNNEL_HEADER}{DAY20_FUNNEL}"));
    let (_, orders) = w.latest_file("b-fix", "2025-05-20", "orders.csv").await;
    let h = |b: &str| w.hasher.hash(b);
    assert_eq!(
        orders,
        format!(
            "\u{feff}date,brand_id,campaign_id,note_id,link_kind,marketplace,shop_id,order_id,line_id,item_id,title,quantity,paid,refund,net,paid_at,buyer_hash,match\r\n\
             2025-05-20,b-fix,c-fix,n1,comment_link,jd,10020001,J1,J1/9001,9001,精华,1,90.00,0.00,90.00,2025-05-20 12:00:00,{jd},direct\r\n\
             2025-05-20,b-fix,c-fix,n1,comment_link,jd,10020001,J1,J1/9002,9002,面膜,2,90.00,0.00,90.00,2025-05-20 12:00:00,{jd},halo\r\n\
             2025-05-20,b-fix,c-fix,n1,ad_link,taobao,57300001,O1,1001,7001,面霜,2,199.00,0.00,199.00,2025-05-20 09:05:00,{a},direct\r\n\
             2025-05-20,b-fix,c-fix,n1,ad_link,taobao,57300001,O1,1002,7002,手霜,1,50.50,0.00,50.50,2025-05-20 09:05:00,{a},halo\r\n",
            jd = h("jd_buyer_1"),
            a = h("buyer_a")
        )
    );
    // No personal data anywhere in what a brand downloads.
    for (key, _) in w.report_listing().await {
        let text = String::from_utf8_lossy(&w.report(&key).await.unwrap()).into_owned();
        for pii in [
            "buyer_a",
            "jd_buyer_1",
            "张三",
            "13800000000",
            "北京市朝阳区",
        ] {
            assert!(!text.contains(pii), "{key} contains {pii}");
        }
    }
    let (_, html) = w.latest_file("b-fix", "2025-05-20", "report.html").await;
    assert!(html.contains("面霜 种草"));
    let manifest: serde_json::Value = serde_json::from_slice(
        &w.report("reports/b-fix/2025-05-20/v1/manifest.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["version"], 1);
    assert_eq!(manifest["files"][0]["name"], "campaigns.csv");
    assert_eq!(manifest["files"][0]["rows"], 2);
    // The two order exports and the RED report the funnel row stands from.
    assert_eq!(manifest["inputs"]["exports"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["inputs"]["campaigns"][0]["campaign_id"], "c-fix");
    // The other brand has no campaign live and no lines: no report.
    assert!(w
        .report("reports/b-other/2025-05-20/latest.json")
        .await
        .is_none());
}

#[tokio::test]
async fn a_later_refund_restates_the_earlier_report_as_a_new_version() {
    let w = World::new("refunds").await;
    w.load_campaigns().await;
    w.drop_exports("2025-05-20").await;
    run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    let v1 = w
        .report("reports/b-fix/2025-05-20/v1/campaigns.csv")
        .await
        .unwrap();

    w.drop_exports("2025-05-22").await;
    let run = run_day(&w.stores, &w.hasher, day("2025-05-22"), 30)
        .await
        .unwrap();
    // The spreadsheet dropped beside the export is rejected whole; the Taobao export still counts.
    let bad = run
        .ingested
        .iter()
        .find(|r| r.record.export_key.ends_with(".xlsx.csv"))
        .unwrap();
    assert_eq!(bad.record.outcome, FileOutcome::Rejected);
    assert!(bad.record.reason.as_deref().unwrap().contains("header"));

    let (version, restated) = w.latest_file("b-fix", "2025-05-20", "campaigns.csv").await;
    assert_eq!(version, 2);
    assert_eq!(restated, format!("{CAMPAIGNS_HEADER}{DAY20_V2}"));
    assert_eq!(
        w.report("reports/b-fix/2025-05-20/v1/campaigns.csv")
            .await
            .unwrap(),
        v1,
        "v1 is never rewritten"
    );
    // v2 says what moved and which export moved it: the refund's export for the order line, the
    // RED report the note's funnel row stands from, nothing for the campaign row that sums them.
    let (_, changes) = w.latest_file("b-fix", "2025-05-20", "changes.csv").await;
    assert_eq!(
        changes,
        format!(
            "\u{feff}file,change,key,field,before,after,source\r\n\
             campaigns,changed,c-fix/taobao,net_gmv,199.00,149.00,\r\n\
             campaigns,changed,c-fix/taobao,refund,0.00,50.00,\r\n\
             funnel,changed,c-fix/n1,net_gmv,289.00,239.00,{RED_EXPORT}\r\n\
             funnel,changed,c-fix/n1,roas,0.48,0.40,{RED_EXPORT}\r\n\
             orders,changed,taobao/1001,net,199.00,149.00,{REFUND_EXPORT}\r\n\
             orders,changed,taobao/1001,refund,0.00,50.00,{REFUND_EXPORT}\r\n"
        )
    );
    // Exactly one statement restated: day 22 is new, nothing else moved. The to-date report
    // follows, from 2025-05-15 (the campaign's start) to as_of 2025-05-22.
    let versions: Vec<String> = w
        .report_listing()
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with("/manifest.json"))
        .collect();
    assert_eq!(
        versions,
        [
            "reports/b-fix/2025-05-20/v1/manifest.json",
            "reports/b-fix/2025-05-20/v2/manifest.json",
            "reports/b-fix/2025-05-22/v1/manifest.json",
            "reports/b-fix/to-date/v1/manifest.json",
            "reports/b-fix/to-date/v2/manifest.json",
        ]
    );
    // One marker per published report: match deleted the restated reports' old ones (in one
    // DeleteObjects) when it staged their new inputs.
    let markers: Vec<String> = w
        .stores
        .staging
        .list("staging/published/")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|o| Some(o.key.split_once("b-fix@")?.0.to_string()))
        .collect();
    assert_eq!(
        markers,
        [
            "staging/published/2025-05-20/",
            "staging/published/2025-05-22/",
            "staging/published/to-date/",
        ]
    );
    let (_, to_date) = w.latest_file("b-fix", "to-date", "campaigns.csv").await;
    assert_eq!(
        to_date,
        "\u{feff}as_of,brand_id,campaign_id,campaign_name,marketplace,start,end,orders,units,gmv,refund,net_gmv,buyers,halo_orders,halo_net_gmv\r\n\
         2025-05-22,b-fix,c-fix,面霜 种草,jd,2025-05-15,2025-05-25,1,1,90.00,0.00,90.00,1,1,90.00\r\n\
         2025-05-22,b-fix,c-fix,面霜 种草,taobao,2025-05-15,2025-05-25,2,3,219.00,50.00,169.00,2,1,50.50\r\n"
    );
    // ROAS on media and fixed spend: (90.00 + 169.00) / (600.00 + 1000.00) = 0.1619 → 0.16;
    // cvr 3 orders / 300 clicks; cpc on media spend alone.
    let (_, funnel) = w.latest_file("b-fix", "to-date", "funnel.csv").await;
    assert_eq!(
        funnel,
        "\u{feff}as_of,brand_id,campaign_id,campaign_name,impressions,clicks,engagements,link_clicks,media_spend,fixed_spend,spend,orders,net_gmv,halo_net_gmv,ctr,cvr,cpc,roas\r\n\
         2025-05-22,b-fix,c-fix,面霜 种草,12000,300,40,30,600.00,1000.00,1600.00,3,259.00,140.50,0.0250,0.0100,2.00,0.16\r\n"
    );
    let (_, daily) = w.latest_file("b-fix", "to-date", "daily.csv").await;
    assert_eq!(
        daily,
        "\u{feff}date,brand_id,campaign_id,orders,net_gmv,halo_net_gmv,impressions,clicks,spend\r\n\
         2025-05-20,b-fix,c-fix,2,239.00,140.50,12000,300,600.00\r\n\
         2025-05-22,b-fix,c-fix,1,20.00,0.00,0,0,0.00\r\n"
    );
    let manifest: serde_json::Value = serde_json::from_slice(
        &w.report("reports/b-fix/2025-05-20/v2/manifest.json")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["supersedes"], 1);
    let (_, day22) = w.latest_file("b-fix", "2025-05-22", "campaigns.csv").await;
    assert_eq!(day22, format!("{CAMPAIGNS_HEADER}{DAY22_V1}"));
    // Day 21 was never run and nothing was paid on it: no report.
    assert!(w
        .report("reports/b-fix/2025-05-21/latest.json")
        .await
        .is_none());
}

#[tokio::test]
async fn running_a_day_twice_changes_nothing() {
    let w = World::new("twice").await;
    w.load_campaigns().await;
    w.drop_exports("2025-05-20").await;
    run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    let before = w.report_listing().await;
    let again = run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    assert!(
        again.ingested.iter().all(|r| r.skipped),
        "same objects are not ingested again"
    );
    assert!(again.matched.changed.is_empty());
    assert!(again.published.is_empty());
    assert_eq!(w.report_listing().await, before);
    // Ingesting one object twice directly: skipped the second time, same record.
    let key = "exports/taobao/2025-05-20/ExportOrderDetailList20250520-1.csv";
    let first = ingest_object(&w.stores, &w.hasher, key).await.unwrap();
    assert!(first.skipped);
}

#[tokio::test]
async fn days_run_out_of_order_end_in_the_same_reports() {
    let in_order = World::new("in-order").await;
    let shuffled = World::new("shuffled").await;
    for w in [&in_order, &shuffled] {
        w.load_campaigns().await;
        w.drop_exports("2025-05-20").await;
        w.drop_exports("2025-05-22").await;
    }
    for d in ["2025-05-20", "2025-05-21", "2025-05-22"] {
        run_day(&in_order.stores, &in_order.hasher, day(d), 30)
            .await
            .unwrap();
    }
    for d in ["2025-05-22", "2025-05-20", "2025-05-21"] {
        run_day(&shuffled.stores, &shuffled.hasher, day(d), 30)
            .await
            .unwrap();
    }
    for d in ["2025-05-20", "2025-05-21", "2025-05-22"] {
        // The statement's content; its page differs only by the restated panel of its history.
        for f in ["campaigns.csv", "notes.csv", "orders.csv", "funnel.csv"] {
            let a = in_order.latest_file("b-fix", d, f).await.1;
            let b = shuffled.latest_file("b-fix", d, f).await.1;
            assert_eq!(a, b, "{d} {f}");
        }
    }
    for f in ["campaigns.csv", "funnel.csv", "daily.csv", "report.html"] {
        let a = in_order.latest_file("b-fix", "to-date", f).await.1;
        let b = shuffled.latest_file("b-fix", "to-date", f).await.1;
        assert_eq!(a, b, "to-date {f}");
    }
    assert_eq!(
        in_order
            .latest_file("b-fix", "2025-05-20", "campaigns.csv")
            .await
            .1,
        format!("{CAMPAIGNS_HEADER}{DAY20_V2}")
    );
    // Day 21 ran: the brand's campaign is live, so a quiet day still gets a report, with empty tables.
    assert_eq!(
        in_order
            .latest_file("b-fix", "2025-05-21", "campaigns.csv")
            .await
            .1,
        CAMPAIGNS_HEADER
    );
}

#[tokio::test]
async fn a_non_csv_file_is_rejected_whole_and_the_rest_goes_on() {
    let w = World::new("non-csv").await;
    w.load_campaigns().await;
    w.put_export(
        "exports/taobao/2025-05-20/photo.csv",
        vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13],
    )
    .await;
    let mut gz = std::fs::read(
        common::fixtures().join("exports/taobao/2025-05-22/ExportOrderDetailList20250522-1.csv.gz"),
    )
    .unwrap();
    gz.truncate(gz.len() - 12);
    w.put_export("exports/taobao/2025-05-20/truncated.csv.gz", gz)
        .await;
    w.drop_exports("2025-05-20").await;
    let run = run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    let reason = |name: &str| {
        let r = run
            .ingested
            .iter()
            .find(|r| r.record.export_key.ends_with(name))
            .unwrap();
        assert_eq!(r.record.outcome, FileOutcome::Rejected);
        r.record.reason.clone().unwrap()
    };
    assert!(reason("photo.csv").contains("header"));
    assert!(reason("truncated.csv.gz").contains("truncated gzip"));
    let (_, campaigns) = w.latest_file("b-fix", "2025-05-20", "campaigns.csv").await;
    assert_eq!(campaigns, format!("{CAMPAIGNS_HEADER}{DAY20_V1}"));
    // The rejected files' records are in staging with their reasons.
    let rec = w
        .stores
        .staging
        .get_bytes("staging/ingest/taobao/2025-05-20/photo.csv.json")
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8(rec).unwrap().contains("\"rejected\""));
}

#[tokio::test]
async fn a_token_held_by_another_campaign_is_refused_and_the_table_is_unchanged() {
    let w = World::new("tokens").await;
    w.load_campaigns().await;
    let (brands, campaigns) = w.stores.campaigns.load_all().await.unwrap();
    assert_eq!((brands.len(), campaigns.len()), (2, 1));
    let mut thief = campaigns[0].clone();
    thief.campaign_id = "c-thief".into();
    thief.brand_id = "b-other".into();
    thief.notes[0].links.truncate(1); // tok_tb_ad, held by c-fix
    let err = w
        .stores
        .campaigns
        .save(&[], &[thief.clone()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("tok_tb_ad"), "{err}");
    // The table enforces it too, not only the loader's check.
    let table = seedline_pipeline::store::dynamo::DynamoCampaigns::new(
        w.clients.dynamodb.clone(),
        &w.settings.table,
    );
    let err = table.write_campaign(&thief).await.unwrap_err();
    assert!(
        matches!(err, seedline_pipeline::store::StoreError::Conflict(_)),
        "{err}"
    );
    let (_, after) = w.stores.campaigns.load_all().await.unwrap();
    assert_eq!(after, campaigns);
    // A campaign of an unknown brand is refused before anything is written.
    let mut orphan = campaigns[0].clone();
    orphan.campaign_id = "c-orphan".into();
    orphan.brand_id = "b-nobody".into();
    orphan.notes[0].links = vec![];
    assert!(w.stores.campaigns.save(&[], &[orphan]).await.is_err());
    assert_eq!(w.stores.campaigns.load_all().await.unwrap().1, campaigns);
    // A run loads every campaign, whatever its dates.
    assert_eq!(
        w.stores
            .campaigns
            .load_catalog()
            .await
            .unwrap()
            .campaigns()
            .len(),
        campaigns.len()
    );
}

/// A record an older table holds that breaks today's id rule: its own brand's reports are held
/// back with the reason, every other brand's are published, and once it is removed the next run
/// publishes the held brand too.
#[tokio::test]
async fn a_stored_record_that_breaks_a_rule_holds_back_only_its_own_brand() {
    let w = World::new("held-brand").await;
    w.load_campaigns().await;
    let (_, campaigns) = w.stores.campaigns.load_all().await.unwrap();
    let mut other = campaigns[0].clone();
    other.campaign_id = "c-other".into();
    other.brand_id = "b-other".into();
    other.notes[0].note_id = "nother".into();
    other.notes.truncate(1);
    for (i, l) in other.notes[0].links.iter_mut().enumerate() {
        l.token = format!("tok_other_{i}");
    }
    w.stores.campaigns.save(&[], &[other]).await.unwrap();
    // Written past the loader's check, as a table from before the rule would hold it.
    let mut bad = campaigns[0].clone();
    bad.campaign_id = "c-fix/../../x".into();
    bad.notes = vec![];
    let table = seedline_pipeline::store::dynamo::DynamoCampaigns::new(
        w.clients.dynamodb.clone(),
        &w.settings.table,
    );
    table.write_campaign(&bad).await.unwrap();

    w.drop_exports("2025-05-20").await;
    let run = run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .expect("one brand's bad record never fails the run");
    let why = &run.matched.held["b-fix"];
    assert!(
        why.contains("c-fix/../../x") && why.contains("campaign_id"),
        "{why}"
    );
    assert_eq!(run.matched.held.len(), 1);
    assert!(run.matched.set_aside[0].contains("c-fix/../../x"));
    let keys: Vec<String> = w
        .report_listing()
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        keys.iter()
            .any(|k| k.starts_with("reports/b-other/2025-05-20/v1/")),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("reports/b-other/to-date/v1/")),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.starts_with("reports/b-fix/")),
        "{keys:?}"
    );

    w.clients
        .dynamodb
        .delete_item()
        .table_name(&w.settings.table)
        .key("pk", AttributeValue::S("CAMPAIGN#c-fix/../../x".into()))
        .key("sk", AttributeValue::S("CAMPAIGN".into()))
        .send()
        .await
        .unwrap();
    let run = run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    assert!(run.matched.held.is_empty());
    let (version, _) = w.latest_file("b-fix", "2025-05-20", "campaigns.csv").await;
    assert_eq!(version, 1);
}
