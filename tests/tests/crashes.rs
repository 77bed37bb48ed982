//! A run killed at any point, then run again, ends in the same reports as a run never killed; and
//! while it lies dead, every latest.json points to a whole version. Every write of a two-day run is
//! tried as the crash point, on the local store (the same steps as on S3: one code path).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use common::crash::Crashing;
use common::{day, fixtures, normalise_report, sha256_hex, KEY};
use seedline_core::pii::BuyerHasher;
use seedline_pipeline::config::Stores;
use seedline_pipeline::steps::run::run_day;
use seedline_pipeline::steps::StepError;
use seedline_pipeline::store::local::{LocalCampaigns, LocalObjects};
use seedline_pipeline::store::ObjectStore;

const DAYS: [&str; 2] = ["2025-05-20", "2025-05-22"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
            // Local ETags come from size and mtime: the same for every copy, as S3's would be.
            let f = std::fs::File::options().write(true).open(&dest).unwrap();
            f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_748_000_000))
                .unwrap();
        }
    }
}

/// A data directory holding the fixture exports and campaigns, nothing run yet.
fn fresh() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("exports"), &dir.path().join("exports"));
    for f in ["brands.jsonl", "campaigns.jsonl"] {
        std::fs::copy(fixtures().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

fn stores(dir: &Path, objects: Arc<dyn ObjectStore>) -> Stores {
    Stores {
        exports: objects.clone(),
        staging: objects.clone(),
        reports: objects,
        campaigns: Arc::new(LocalCampaigns::new(dir)),
        cache: Default::default(),
    }
}

async fn run_days(stores: &Stores) -> Result<(), StepError> {
    let hasher = BuyerHasher::new(KEY).unwrap();
    for d in DAYS {
        run_day(stores, &hasher, day(d), 30).await?;
    }
    Ok(())
}

fn files_under(root: &Path, dir: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let key = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                // A write still in flight when the run died: its temporary file is no object.
                if key.contains(".seedline-") {
                    continue;
                }
                out.insert(key, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn reports(root: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(root, "reports")
        .into_iter()
        .map(|(k, v)| {
            let n = normalise_report(&k, &v);
            (k, n)
        })
        .collect()
}

/// Every file a reader following a latest.json can fetch; panics when one is missing or differs
/// from the hash latest.json gives for it (a partial version).
fn pointed(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (key, bytes) in files_under(root, "reports") {
        if !key.ends_with("/latest.json") {
            continue;
        }
        let latest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let prefix = latest["prefix"].as_str().unwrap();
        for (name, sha) in latest["sha256"].as_object().unwrap() {
            let k = format!("{prefix}{name}");
            let b = std::fs::read(root.join(&k))
                .unwrap_or_else(|_| panic!("{key} points to {k}, which is missing"));
            assert_eq!(sha256_hex(&b), sha.as_str().unwrap(), "{k} is partial");
            out.insert(k, b);
        }
    }
    out
}

/// Equal maps, or a failure that names the first differing object (not a dump of every byte).
fn same(got: &BTreeMap<String, Vec<u8>>, want: &BTreeMap<String, Vec<u8>>, crash_at: i64) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "crash after write {crash_at}: report objects differ from a run never killed"
    );
    for (k, v) in want {
        assert!(
            &got[k] == v,
            "crash after write {crash_at}: {k} differs from a run never killed:\n{}\n---\n{}",
            String::from_utf8_lossy(&got[k]),
            String::from_utf8_lossy(v)
        );
    }
}

#[tokio::test]
async fn a_run_killed_at_any_write_and_run_again_ends_in_the_same_reports() {
    // The run never killed, counting its writes.
    let clean = fresh();
    let counting = Arc::new(Crashing::new(
        Arc::new(LocalObjects::new(clean.path())),
        i64::MAX,
    ));
    run_days(&stores(clean.path(), counting.clone()))
        .await
        .unwrap();
    let total = counting.writes.load(std::sync::atomic::Ordering::SeqCst) as i64;
    let want = reports(clean.path());
    let want_staged: Vec<String> = files_under(clean.path(), "staging").into_keys().collect();
    assert!(total > 20, "a two-day run writes more than that: {total}");

    for crash_at in 0..total {
        let dir = fresh();
        let objects = Arc::new(Crashing::new(
            Arc::new(LocalObjects::new(dir.path())),
            crash_at,
        ));
        let err = run_days(&stores(dir.path(), objects.clone()))
            .await
            .expect_err("the run dies at its crash point");
        assert!(objects.crashed(), "crash {crash_at}: {err}");

        // Lying dead: no latest.json points to a partial version.
        let seen = pointed(dir.path());

        // Run again, as the next invocation (a retry, or tomorrow's schedule) would.
        let again = stores(dir.path(), Arc::new(LocalObjects::new(dir.path())));
        run_days(&again).await.unwrap();
        same(&reports(dir.path()), &want, crash_at);
        let staged: Vec<String> = files_under(dir.path(), "staging").into_keys().collect();
        assert_eq!(
            staged, want_staged,
            "crash after write {crash_at}: staging differs"
        );
        // What a reader could follow while it lay dead was not changed under it.
        for (k, v) in seen {
            assert_eq!(
                std::fs::read(dir.path().join(&k)).ok(),
                Some(v),
                "crash after write {crash_at}: {k} changed after a reader could see it"
            );
        }
    }
    println!("crash points tried: {total} (every write of a two-day run), all ending in the same reports");
}
