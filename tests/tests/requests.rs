//! Campaign loading costs what the campaigns cost: the DynamoDB requests of a day's run do not
//! grow with its order lines (counted by a proxy in front of moto server).

mod common;

use std::sync::atomic::Ordering;

use aws_config::retry::RetryConfig;
use common::faults::{FaultProxy, Plan};
use common::{clients_via, day, endpoint, World};
use seedline_pipeline::steps::run::run_day;

/// The fixture's Taobao export for 2025-05-20 with `extra` more lines through a campaign link.
fn export_with(extra: u32) -> Vec<u8> {
    let path =
        common::fixtures().join("exports/taobao/2025-05-20/ExportOrderDetailList20250520-1.csv");
    let mut text = std::fs::read_to_string(path).unwrap();
    for i in 0..extra {
        text.push_str(&format!(
            "{},O{i},57300001,7001,面霜,1,10.00,,交易成功,2025-05-20 09:00:00,2025-05-20 09:05:00,buyer_{i},张三,13800000000,tok_tb_ad,\n",
            900_000 + i
        ));
    }
    text.into_bytes()
}

/// DynamoDB requests of one day's run over an export with `extra` added lines.
async fn dynamodb_requests(extra: u32) -> (u64, u64) {
    let w = World::new(&format!("requests-{extra}")).await;
    w.load_campaigns().await;
    w.put_export(
        "exports/taobao/2025-05-20/ExportOrderDetailList20250520-1.csv",
        export_with(extra),
    )
    .await;
    let proxy = FaultProxy::start(
        &endpoint(),
        Plan {
            per_mille: 0,
            seed: 1,
            kinds: &[],
        },
    )
    .await;
    let counted = w.stores_via(&clients_via(&proxy.endpoint, RetryConfig::standard()).await);
    let run = run_day(&counted, &w.hasher, day("2025-05-20"), 30)
        .await
        .unwrap();
    (
        proxy.stats.dynamodb_requests.load(Ordering::Relaxed),
        run.matched.stats.credited,
    )
}

#[tokio::test]
async fn dynamodb_requests_do_not_grow_with_order_lines() {
    let (few, credited_few) = dynamodb_requests(0).await;
    let (many, credited_many) = dynamodb_requests(20_000).await;
    assert!(
        credited_many >= credited_few + 20_000,
        "{credited_few} {credited_many}"
    );
    assert!(few > 0);
    assert_eq!(
        few, many,
        "DynamoDB requests: {few} for a few lines, {many} for 20,000 more"
    );
    println!("DynamoDB requests per run: {few} with {credited_few} credited lines, {many} with {credited_many}");
}
