//! A bad night loses nothing and doubles nothing: faults injected between the SDK and the servers,
//! the same event delivered twice, twin invocations at once. Against moto server, through the same
//! SDK clients production builds.

mod common;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use common::faults::{Fault, FaultProxy, Plan, FAULTS};
use common::{clients_via, day, endpoint, load_fixture_campaigns, World};
use seedline_pipeline::config::Stores;
use seedline_pipeline::steps::ingest::ingest_object;
use seedline_pipeline::steps::matching::match_orders;
use seedline_pipeline::steps::publish::{publish_report, publish_to_date};
use seedline_pipeline::steps::run::{day_exports, run_day};

const DAYS: [&str; 2] = ["2025-05-20", "2025-05-22"];

/// The reports of the fixture days run once, with nothing going wrong.
async fn reference(name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let w = World::new(name).await;
    w.load_campaigns().await;
    for d in DAYS {
        w.drop_exports(d).await;
        run_day(&w.stores, &w.hasher, day(d), 30).await.unwrap();
    }
    let reports = w.reports().await;
    assert!(
        reports.keys().any(|k| k.ends_with("/v2/campaigns.csv")),
        "the reference run restates a day: {:?}",
        reports.keys()
    );
    reports
}

/// The SDK's standard retry mode, as production configures it, with short backoffs to keep the test quick.
fn test_retry() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(5)
        .with_initial_backoff(Duration::from_millis(5))
        .with_max_backoff(Duration::from_millis(100))
}

/// Runs a day as the state machine does: a failed run is retried whole (Retry on the task), and
/// only a failure the step calls retryable may be retried.
async fn run_day_retried(stores: &Stores, w: &World, d: &str) -> u32 {
    let mut retries = 0;
    loop {
        match run_day(stores, &w.hasher, day(d), 30).await {
            Ok(_) => return retries,
            Err(e) => {
                assert!(
                    e.is_retryable(),
                    "an injected fault ended as a non-retryable error: {e}"
                );
                retries += 1;
                assert!(retries < 20, "day {d} kept failing: {e}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_a_share_of_s3_and_dynamodb_calls_leave_the_reports_byte_identical() {
    let want = reference("faults-reference").await;

    let w = World::new("faults").await;
    let proxy = FaultProxy::start(
        &endpoint(),
        Plan {
            per_mille: 250,
            seed: 0x5eed,
            kinds: &FAULTS,
        },
    )
    .await;
    let faulty = w.stores_via(&clients_via(&proxy.endpoint, test_retry()).await);
    load_fixture_campaigns(&faulty).await;
    let mut step_retries = 0;
    for d in DAYS {
        w.drop_exports(d).await;
        step_retries += run_day_retried(&faulty, &w, d).await;
    }
    // And the whole schedule once more, as a re-driven execution would: nothing changes.
    for d in DAYS {
        step_retries += run_day_retried(&faulty, &w, d).await;
    }

    let got = w.reports().await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert_eq!(&got[k], v, "{k} differs from the run without faults");
    }
    let stats = &proxy.stats;
    for f in FAULTS {
        assert!(
            stats.count(f) > 0,
            "no {f:?} was injected: {}",
            stats.summary()
        );
    }
    println!(
        "fault injection: {}; {step_retries} whole-day retries; {} report objects byte-identical",
        stats.summary(),
        want.len()
    );
}

#[tokio::test]
async fn a_call_that_keeps_failing_fails_the_run_and_publishes_nothing() {
    let w = World::new("hard-fault").await;
    w.load_campaigns().await;
    w.drop_exports("2025-05-20").await;
    let proxy = FaultProxy::start(
        &endpoint(),
        Plan {
            per_mille: 1000,
            seed: 1,
            kinds: &[Fault::ServerError, Fault::Throttle, Fault::DropBefore],
        },
    )
    .await;
    let broken = w.stores_via(&clients_via(&proxy.endpoint, test_retry()).await);
    let err = run_day(&broken, &w.hasher, day("2025-05-20"), 30)
        .await
        .expect_err("a run whose every call fails must fail");
    assert!(err.is_retryable(), "{err}");
    let message = format!("{err}");
    assert!(
        message.contains("list") || message.contains("exports"),
        "the error names what failed: {message}"
    );
    // Five attempts per call, as configured; then the run stopped.
    assert_eq!(
        proxy
            .stats
            .requests
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
    assert!(w.report_listing().await.is_empty());
}

/// Every file of every version a latest.json points to, as a reader would fetch it.
async fn pointed_versions(w: &World) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    for (key, _) in w.report_listing().await {
        if !key.ends_with("/latest.json") {
            continue;
        }
        let latest: serde_json::Value =
            serde_json::from_slice(&w.report(&key).await.unwrap()).unwrap();
        let prefix = latest["prefix"].as_str().unwrap();
        for (name, sha) in latest["sha256"].as_object().unwrap() {
            let k = format!("{prefix}{name}");
            let bytes = w
                .report(&k)
                .await
                .unwrap_or_else(|| panic!("{key} points to {k}, which is missing"));
            assert_eq!(
                common::sha256_hex(&bytes),
                sha.as_str().unwrap(),
                "{k} is not what {key} says"
            );
            out.insert(k, bytes);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_and_twin_invocations_leave_one_result() {
    let want = reference("twins-reference").await;
    let w = World::new("twins").await;
    w.load_campaigns().await;
    let s = &w.stores;
    let mut seen = std::collections::BTreeMap::new();
    for d in DAYS {
        w.drop_exports(d).await;
        let (exports, _, _) = day_exports(s, day(d)).await.unwrap();
        for e in &exports {
            // Two invocations for one ObjectCreated event at the same time, then the event again.
            let (a, b) = tokio::join!(
                ingest_object(s, &w.hasher, &e.key),
                ingest_object(s, &w.hasher, &e.key)
            );
            assert_eq!(a.unwrap().record.counts, b.unwrap().record.counts);
            ingest_object(s, &w.hasher, &e.key).await.unwrap();
        }
        let (a, b) = tokio::join!(match_orders(s, day(d), 30), match_orders(s, day(d), 30));
        let (a, b) = (a.unwrap(), b.unwrap());
        let mut changed = a.changed.clone();
        changed.extend(b.changed.iter().cloned());
        changed.sort_by(|x, y| (&x.brand_id, x.date).cmp(&(&y.brand_id, y.date)));
        changed.dedup();
        assert!(!changed.is_empty());
        for bd in &changed {
            let (p, q) = tokio::join!(
                publish_report(s, &bd.brand_id, bd.date),
                publish_report(s, &bd.brand_id, bd.date)
            );
            let (p, q) = (p.unwrap(), q.unwrap());
            assert_eq!(p.version, q.version, "twins settle on one version");
            assert!(
                !(p.written && q.written),
                "only one of two twins moves latest.json"
            );
            let again = publish_report(s, &bd.brand_id, bd.date).await.unwrap();
            assert_eq!((again.version, again.written), (p.version, false));
        }
        // Then each brand's to-date report, twins again.
        let mut brands = a.to_date_changed.clone();
        brands.extend(b.to_date_changed.iter().cloned());
        brands.sort();
        brands.dedup();
        assert!(!brands.is_empty());
        for brand in &brands {
            let (p, q) = tokio::join!(publish_to_date(s, brand), publish_to_date(s, brand));
            let (p, q) = (p.unwrap(), q.unwrap());
            assert_eq!(p.version, q.version, "twins settle on one version");
            assert!(
                !(p.written && q.written),
                "only one of two twins moves latest.json"
            );
        }
        // Whatever a reader could follow then is never changed by what comes later.
        for (k, v) in pointed_versions(&w).await {
            seen.entry(k).or_insert(v);
        }
    }
    let got = w.reports().await;
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert_eq!(&got[k], v, "{k} differs from a single run");
    }
    for (k, v) in seen {
        assert_eq!(
            w.report(&k).await.as_ref(),
            Some(&v),
            "{k} changed after a reader saw it"
        );
    }
}

#[tokio::test]
async fn an_export_cut_off_mid_download_fails_the_ingest_and_is_never_staged_short() {
    let w = World::new("cut-export").await;
    w.load_campaigns().await;
    w.drop_exports("2025-05-20").await;
    let (exports, _, _) = day_exports(&w.stores, day("2025-05-20")).await.unwrap();
    let proxy = FaultProxy::start(
        &endpoint(),
        Plan {
            per_mille: 1000,
            seed: 3,
            kinds: &[Fault::Truncate],
        },
    )
    .await;
    let cut = w.stores_via(&clients_via(&proxy.endpoint, test_retry()).await);
    for e in &exports {
        let err = ingest_object(&cut, &w.hasher, &e.key)
            .await
            .expect_err("a body cut half way must not read as a shorter export");
        assert!(err.is_retryable(), "{err}");
    }
    assert!(proxy.stats.count(Fault::Truncate) >= exports.len() as u64);
    let staged = w
        .stores
        .staging
        .list("staging/")
        .await
        .unwrap()
        .into_iter()
        .filter(|o| o.key.starts_with("staging/lines/"))
        .count();
    assert_eq!(staged, 0, "nothing staged from a cut download");
}
