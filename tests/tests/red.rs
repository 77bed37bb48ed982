//! RED note reports through the pipeline against moto: re-exports replace figures and restate one
//! statement, a garbage file changes no order figure, and a note belongs to one campaign.

mod common;

use common::{day, fixtures, World};
use seedline_pipeline::steps::ingest::FileOutcome;
use seedline_pipeline::steps::run::run_day;

const REEXPORT: &str = "exports/xhs/2025-05-21/聚光_笔记报表_20250521.csv";

/// Puts the fixture order exports of a day (Taobao and JD, no RED report).
async fn drop_orders(w: &World, date: &str) {
    for m in ["taobao", "jd"] {
        let dir = fixtures().join("exports").join(m).join(date);
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let key = format!("exports/{m}/{date}/{}", e.file_name().to_string_lossy());
            w.put_export(&key, std::fs::read(e.path()).unwrap()).await;
        }
    }
}

async fn manifests(w: &World) -> Vec<String> {
    w.report_listing()
        .await
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.ends_with("/manifest.json"))
        .collect()
}

#[tokio::test]
async fn a_re_export_replaces_the_figures_and_restates_just_that_statement() {
    let w = World::new("red-reexport").await;
    w.load_campaigns().await;
    w.drop_exports("2025-05-20").await;
    run_day(&w.stores, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    // RED settles day 20's figures in the next day's export (one row now: the plans merged).
    let body = "日期,笔记ID,展现量,点击量,互动量,组件点击量,消费\n\
                2025-05-20,n1,\"12,500\",310,40,30,620.00\n\
                2025-05-21,n1,900,9,1,1,18.00\n";
    w.put_export(REEXPORT, body.as_bytes().to_vec()).await;
    run_day(&w.stores, &w.hasher, day("2025-05-21"), 30)
        .await
        .unwrap();

    let (version, funnel) = w.latest_file("b-fix", "2025-05-20", "funnel.csv").await;
    assert_eq!(version, 2);
    assert!(
        funnel.ends_with(
            "2025-05-20,b-fix,c-fix,n1,12500,310,40,30,620.00,2,289.00,140.50,0.0248,0.0065,2.00,0.47\r\n"
        ),
        "replaced, not added: {funnel}"
    );
    let (_, changes) = w.latest_file("b-fix", "2025-05-20", "changes.csv").await;
    assert_eq!(
        changes,
        format!(
            "\u{feff}file,change,key,field,before,after,source\r\n\
             funnel,changed,c-fix/n1,clicks,300,310,{REEXPORT}\r\n\
             funnel,changed,c-fix/n1,ctr,0.0250,0.0248,{REEXPORT}\r\n\
             funnel,changed,c-fix/n1,cvr,0.0067,0.0065,{REEXPORT}\r\n\
             funnel,changed,c-fix/n1,impressions,12000,12500,{REEXPORT}\r\n\
             funnel,changed,c-fix/n1,roas,0.48,0.47,{REEXPORT}\r\n\
             funnel,changed,c-fix/n1,spend,600.00,620.00,{REEXPORT}\r\n"
        )
    );
    // Day 21's statement is new; no other statement moved; the to-date report follows.
    assert_eq!(
        manifests(&w).await,
        [
            "reports/b-fix/2025-05-20/v1/manifest.json",
            "reports/b-fix/2025-05-20/v2/manifest.json",
            "reports/b-fix/2025-05-21/v1/manifest.json",
            "reports/b-fix/to-date/v1/manifest.json",
            "reports/b-fix/to-date/v2/manifest.json",
        ]
    );
    let (_, funnel21) = w.latest_file("b-fix", "2025-05-21", "funnel.csv").await;
    assert!(
        funnel21.ends_with(
            "2025-05-21,b-fix,c-fix,n1,900,9,1,1,18.00,0,0.00,0.00,0.0100,0.0000,2.00,0.00\r\n"
        ),
        "{funnel21}"
    );
    let (_, to_date) = w.latest_file("b-fix", "to-date", "funnel.csv").await;
    assert!(
        to_date.ends_with(
            "2025-05-21,b-fix,c-fix,面霜 种草,13400,319,41,31,638.00,1000.00,1638.00,2,289.00,140.50,0.0238,0.0063,2.00,0.18\r\n"
        ),
        "{to_date}"
    );
    // The same re-export again, under a name that sorts first: the later key keeps standing.
    w.put_export(
        "exports/xhs/2025-05-21/0-copy.csv",
        "日期,笔记ID,展现量,点击量,消费\n2025-05-20,n1,1,1,1\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    run_day(&w.stores, &w.hasher, day("2025-05-21"), 30)
        .await
        .unwrap();
    assert_eq!(
        w.latest_file("b-fix", "2025-05-20", "funnel.csv").await.0,
        2
    );
}

#[tokio::test]
async fn a_garbage_file_under_xhs_leaves_the_order_figures_byte_identical() {
    let plain = World::new("red-none").await;
    let garbage = World::new("red-garbage").await;
    for w in [&plain, &garbage] {
        w.load_campaigns().await;
        drop_orders(w, "2025-05-20").await;
    }
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    garbage
        .put_export("exports/xhs/2025-05-20/random.csv", junk)
        .await;
    garbage
        .put_export(
            "exports/xhs/2025-05-20/cut.csv.gz",
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3],
        )
        .await;
    garbage
        .put_export(
            "exports/xhs/2025-05-20/账户日报_20250520.csv",
            "日期,账户,展现量,点击量,消费\n2025-05-20,全部,1,1,1\n"
                .as_bytes()
                .to_vec(),
        )
        .await;
    run_day(&plain.stores, &plain.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    let run = run_day(&garbage.stores, &garbage.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    let red: Vec<_> = run
        .ingested
        .iter()
        .filter(|r| r.record.export_key.starts_with("exports/xhs/"))
        .collect();
    assert_eq!(red.len(), 3);
    for r in red {
        assert_eq!(r.record.outcome, FileOutcome::Rejected, "{:?}", r.record);
        assert!(!r.record.reason.as_deref().unwrap_or_default().is_empty());
    }
    for f in ["campaigns.csv", "notes.csv", "orders.csv", "funnel.csv"] {
        let a = plain.latest_file("b-fix", "2025-05-20", f).await;
        let b = garbage.latest_file("b-fix", "2025-05-20", f).await;
        assert_eq!(a, b, "{f}");
    }
}

#[tokio::test]
async fn a_note_listed_by_another_campaign_is_refused_naming_both() {
    let w = World::new("red-notes").await;
    w.load_campaigns().await;
    let (_, campaigns) = w.stores.campaigns.load_all().await.unwrap();
    let mut other = campaigns[0].clone();
    other.campaign_id = "c-copycat".into();
    other.brand_id = "b-other".into();
    other.notes[0].links.clear(); // n1, without c-fix's tokens
    let err = w
        .stores
        .campaigns
        .save(&[], &[other.clone()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("c-copycat") && err.contains("n1") && err.contains("c-fix"),
        "{err}"
    );
    // The table refuses it too.
    let table = seedline_pipeline::store::dynamo::DynamoCampaigns::new(
        w.clients.dynamodb.clone(),
        &w.settings.table,
    );
    assert!(matches!(
        table.write_campaign(&other).await,
        Err(seedline_pipeline::store::StoreError::Conflict(_))
    ));
    assert_eq!(w.stores.campaigns.load_all().await.unwrap().1, campaigns);
    // The note set free (c-fix no longer lists it) can be listed by another campaign.
    let mut fixed = campaigns[0].clone();
    fixed.notes[0].note_id = "nrenamed".into();
    w.stores.campaigns.save(&[], &[fixed]).await.unwrap();
    w.stores.campaigns.save(&[], &[other]).await.unwrap();
}
