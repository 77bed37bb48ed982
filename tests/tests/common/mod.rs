//! Harness: real S3 and DynamoDB APIs from moto server, each test with its own buckets and table.
//!
//! The test command (`scripts/test.sh`) starts moto server on 127.0.0.1 and sets SEEDLINE_TEST_ENDPOINT.

#![allow(dead_code)]

pub mod crash;
pub mod faults;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::Credentials;
use seedline_core::pii::BuyerHasher;
use seedline_pipeline::config::{AwsClients, AwsSettings, Stores};
use seedline_pipeline::store::dynamo::DynamoCampaigns;

pub const KEY: &[u8] = b"integration-test-buyer-key-0001";

pub fn endpoint() -> String {
    std::env::var("SEEDLINE_TEST_ENDPOINT").expect(
        "SEEDLINE_TEST_ENDPOINT is not set: run the integration tests with scripts/test.sh, which starts moto server",
    )
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

pub async fn clients() -> AwsClients {
    clients_via(&endpoint(), RetryConfig::standard()).await
}

/// Clients built the way production builds them, against `endpoint`, with `retry`.
pub async fn clients_via(endpoint: &str, retry: RetryConfig) -> AwsClients {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .retry_config(retry)
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "seedline-tests",
        ))
        .load()
        .await;
    AwsClients::from_sdk_config(&shared)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A world of its own: three buckets and a table no other test touches.
pub struct World {
    pub clients: AwsClients,
    pub settings: AwsSettings,
    pub stores: Stores,
    pub hasher: BuyerHasher,
}

impl World {
    pub async fn new(name: &str) -> World {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{}-{n}", name.replace('_', "-"), std::process::id());
        let settings = AwsSettings {
            exports_bucket: format!("exports-{id}"),
            staging_bucket: format!("staging-{id}"),
            reports_bucket: format!("reports-{id}"),
            table: format!("seedline-{id}"),
        };
        let clients = clients().await;
        for b in [
            &settings.exports_bucket,
            &settings.staging_bucket,
            &settings.reports_bucket,
        ] {
            clients
                .s3
                .create_bucket()
                .bucket(b)
                .send()
                .await
                .expect("create bucket");
        }
        DynamoCampaigns::new(clients.dynamodb.clone(), &settings.table)
            .create_table()
            .await
            .expect("create table");
        let stores = Stores::aws(&clients, &settings);
        World {
            clients,
            settings,
            stores,
            hasher: BuyerHasher::new(KEY).unwrap(),
        }
    }

    /// Loads the fixture brands and campaigns into the table through the loader's own path.
    pub async fn load_campaigns(&self) {
        load_fixture_campaigns(&self.stores).await
    }
}

/// Loads the fixture brands and campaigns into `stores` through the loader's own path.
pub async fn load_fixture_campaigns(stores: &Stores) {
    {
        let mut brands = Vec::new();
        let mut campaigns = Vec::new();
        for f in ["brands.jsonl", "campaigns.jsonl"] {
            let text = std::fs::read_to_string(fixtures().join(f)).unwrap();
            for r in seedline_core::campaign::parse_jsonl(f, &text).unwrap() {
                match r {
                    seedline_core::campaign::Record::Brand(b) => brands.push(b),
                    seedline_core::campaign::Record::Campaign(c) => campaigns.push(c),
                }
            }
        }
        stores
            .campaigns
            .save(&brands, &campaigns)
            .await
            .expect("load campaigns");
    }
}

impl World {
    /// Puts the fixture exports of one day into the exports bucket, as a partner would.
    pub async fn drop_exports(&self, date: &str) {
        for m in ["taobao", "jd", "xhs"] {
            let dir = fixtures().join("exports").join(m).join(date);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries {
                let e = e.unwrap();
                let key = format!("exports/{m}/{date}/{}", e.file_name().to_string_lossy());
                self.put_export(&key, std::fs::read(e.path()).unwrap())
                    .await;
            }
        }
    }

    pub async fn put_export(&self, key: &str, body: Vec<u8>) {
        self.clients
            .s3
            .put_object()
            .bucket(&self.settings.exports_bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put export");
    }

    /// Downloads a report object as a brand would.
    pub async fn report(&self, key: &str) -> Option<Vec<u8>> {
        match self
            .clients
            .s3
            .get_object()
            .bucket(&self.settings.reports_bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Some(o.body.collect().await.unwrap().into_bytes().to_vec()),
            Err(_) => None,
        }
    }

    /// Follows latest.json to one file of the current version.
    pub async fn latest_file(&self, brand: &str, date: &str, name: &str) -> (u64, String) {
        let latest: serde_json::Value = serde_json::from_slice(
            &self
                .report(&format!("reports/{brand}/{date}/latest.json"))
                .await
                .unwrap_or_else(|| panic!("no latest.json for {brand} {date}")),
        )
        .unwrap();
        let prefix = latest["prefix"].as_str().unwrap().to_string();
        let bytes = self.report(&format!("{prefix}{name}")).await.unwrap();
        (
            latest["version"].as_u64().unwrap(),
            String::from_utf8(bytes).unwrap(),
        )
    }

    /// Every key and ETag in the reports bucket.
    pub async fn report_listing(&self) -> Vec<(String, String)> {
        let out = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.settings.reports_bucket)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .map(|o| {
                (
                    o.key().unwrap().to_string(),
                    o.e_tag().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

pub fn day(s: &str) -> chrono::NaiveDate {
    seedline_core::time::parse_date(s).unwrap()
}

/// Takes the generation time out of a report object, the one thing two runs may write differently:
/// manifest.json's `generated_at` and, in latest.json, the manifest's hash.
pub fn normalise_report(key: &str, bytes: &[u8]) -> Vec<u8> {
    let strip = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).expect("report json");
        f(&mut v);
        serde_json::to_vec_pretty(&v).unwrap()
    };
    if key.ends_with("/manifest.json") {
        strip(&|v| {
            v.as_object_mut().unwrap().remove("generated_at");
        })
    } else if key.ends_with("/latest.json") {
        strip(&|v| {
            v["sha256"].as_object_mut().unwrap().remove("manifest.json");
        })
    } else {
        bytes.to_vec()
    }
}

impl World {
    /// The same buckets and table, reached through other clients (a fault-injecting proxy, say).
    pub fn stores_via(&self, clients: &AwsClients) -> Stores {
        Stores::aws(clients, &self.settings)
    }

    /// Every object in the reports bucket, normalised with [`normalise_report`].
    pub async fn reports(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        let mut out = std::collections::BTreeMap::new();
        for (key, _) in self.report_listing().await {
            let bytes = self.report(&key).await.expect("listed object");
            out.insert(key.clone(), normalise_report(&key, &bytes));
        }
        out
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
