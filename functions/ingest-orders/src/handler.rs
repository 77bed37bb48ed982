//! Turns an ingest event into `ingest_object` calls and their records into the response.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::Diagnostic;
use percent_encoding::percent_decode_str;
use seedline_core::pii::BuyerHasher;
use seedline_pipeline::config::{AwsClients, AwsSettings, Stores};
use seedline_pipeline::steps::ingest::ingest_object;
use seedline_pipeline::steps::StepError;
use seedline_pipeline::store::s3::S3Objects;
use seedline_pipeline::telemetry::{emit_metrics, Metric};
use serde::Deserialize;
use serde_json::{json, Value};

pub struct App {
    pub hasher: BuyerHasher,
    pub settings: AwsSettings,
    pub clients: AwsClients,
}

#[derive(Debug, Deserialize)]
struct Direct {
    bucket: String,
    key: String,
}

/// S3 event keys are URL-encoded, with `+` for a space.
fn decode_key(raw: &str) -> anyhow::Result<String> {
    Ok(percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()?
        .into_owned())
}

/// The (bucket, key) pairs an event names.
fn objects(event: Value) -> anyhow::Result<Vec<(String, String)>> {
    if event.get("Records").is_some() {
        let e: S3Event = serde_json::from_value(event)?;
        return e
            .records
            .into_iter()
            .map(|r| {
                let bucket =
                    r.s3.bucket
                        .name
                        .ok_or_else(|| anyhow::anyhow!("S3 event record without a bucket"))?;
                let key =
                    r.s3.object
                        .key
                        .ok_or_else(|| anyhow::anyhow!("S3 event record without a key"))?;
                Ok((bucket, decode_key(&key)?))
            })
            .collect();
    }
    let d: Direct = serde_json::from_value(event)
        .map_err(|e| anyhow::anyhow!("expected an S3 event or {{\"bucket\", \"key\"}}: {e}"))?;
    Ok(vec![(d.bucket, d.key)])
}

pub async fn handle(app: &App, event: Value) -> Result<Value, Diagnostic> {
    let mut results = Vec::new();
    for (bucket, key) in objects(event).map_err(bad_request)? {
        let mut stores = Stores::aws(&app.clients, &app.settings);
        if bucket != app.settings.exports_bucket {
            stores.exports = Arc::new(S3Objects::new(app.clients.s3.clone(), &bucket));
        }
        let started = std::time::Instant::now();
        let result = ingest_object(&stores, &app.hasher, &key).await.inspect_err(|e| {
            tracing::error!(bucket = %bucket, export_key = %key, retryable = e.is_retryable(), error = %e, "ingest failed");
        }).map_err(failed)?;
        let c = &result.record.counts;
        emit_metrics(
            "ingest-orders",
            &[
                Metric::count("LinesIn", c.rows_in),
                Metric::count("LinesKept", c.rows_kept),
                Metric::count("LinesRejected", c.rows_rejected),
                Metric::count("FilesRejected", u64::from(result.record.reason.is_some())),
                Metric::count("FilesSkipped", u64::from(result.skipped)),
                Metric::millis("Duration", started.elapsed()),
            ],
        );
        results.push(result);
    }
    Ok(json!({ "ingested": results }))
}

/// What the Lambda reports: the error type says whether the state machine tries again.
fn failed(e: StepError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type().into(),
        error_message: e.to_string(),
    }
}

/// A request that can never succeed: reported once, never retried.
fn bad_request(e: impl std::fmt::Display) -> Diagnostic {
    failed(StepError::BadInput(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_events_and_direct_payloads_name_their_objects() {
        let event: Value =
            serde_json::from_str(include_str!("../events/s3-object-created.json")).unwrap();
        assert_eq!(
            objects(event).unwrap(),
            vec![(
                "seedline-exports".to_string(),
                "exports/taobao/2025-05-20/Export List 1.csv".to_string()
            )]
        );
        let direct = json!({"bucket": "b", "key": "exports/jd/2025-05-28/a.csv"});
        assert_eq!(
            objects(direct).unwrap(),
            vec![("b".into(), "exports/jd/2025-05-28/a.csv".into())]
        );
        assert!(objects(json!({"nothing": 1})).is_err());
    }
}
