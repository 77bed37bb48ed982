//! Turns a publish request into `publish` calls and their outcomes into the response.

use seedline_core::ids::BrandId;
use seedline_pipeline::config::Stores;
use seedline_pipeline::steps::publish::{publish, Target};
use seedline_pipeline::steps::StepError;
use seedline_pipeline::telemetry::{emit_metrics, Metric};
use serde_json::{json, Value};

use lambda_runtime::Diagnostic;

/// Accepts one target (`{"brand_id","date"}` for a statement, `{"brand_id","to_date":true}` for the
/// to-date report), a list of them, match-orders' output (`{"changed": [...], "to_date_changed":
/// [...]}`: the statements, then the to-date reports), or a Step Functions item batch
/// (`{"Items": [...]}`).
pub fn targets(event: Value) -> anyhow::Result<Vec<Target>> {
    if let Value::Object(ref o) = event {
        if o.contains_key("changed") {
            let mut out: Vec<Target> = serde_json::from_value::<Vec<_>>(o["changed"].clone())?
                .into_iter()
                .map(Target::Statement)
                .collect();
            if let Some(brands) = o.get("to_date_changed") {
                out.extend(
                    serde_json::from_value::<Vec<BrandId>>(brands.clone())?
                        .into_iter()
                        .map(|brand_id| Target::ToDate { brand_id }),
                );
            }
            return Ok(out);
        }
    }
    let list = match event {
        Value::Array(_) => event,
        Value::Object(ref o) if o.contains_key("reports") => o["reports"].clone(),
        Value::Object(ref o) if o.contains_key("Items") => o["Items"].clone(),
        Value::Object(_) => Value::Array(vec![event]),
        other => {
            anyhow::bail!("expected {{\"brand_id\", \"date\"}}, {{\"brand_id\", \"to_date\": true}} or a list of them, got {other}")
        }
    };
    Ok(serde_json::from_value(list)?)
}

pub async fn handle(stores: &Stores, event: Value) -> Result<Value, Diagnostic> {
    let started = std::time::Instant::now();
    let mut published = Vec::new();
    for t in targets(event).map_err(bad_request)? {
        let outcome = publish(stores, &t).await.inspect_err(|e| {
            tracing::error!(target = ?t, retryable = e.is_retryable(), error = %e, "publish failed");
        }).map_err(failed)?;
        published.push(outcome);
    }
    let written = published.iter().filter(|p| p.written).count() as u64;
    emit_metrics(
        "publish-reports",
        &[
            Metric::count("ReportsPublished", written),
            Metric::count("ReportsUnchanged", published.len() as u64 - written),
            Metric::millis("Duration", started.elapsed()),
        ],
    );
    Ok(json!({ "published": published }))
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
    fn every_payload_shape() {
        let statement = |b: &str, d: &str| {
            Target::Statement(seedline_pipeline::steps::matching::BrandDate {
                brand_id: b.parse().unwrap(),
                date: d.parse().unwrap(),
            })
        };
        let to_date = |b: &str| Target::ToDate {
            brand_id: b.parse().unwrap(),
        };
        let one =
            targets(serde_json::from_str(include_str!("../events/publish.json")).unwrap()).unwrap();
        assert_eq!(one, [statement("b-fix", "2025-05-20")]);
        let single = targets(json!({"brand_id": "b-01", "date": "2025-05-28"})).unwrap();
        assert_eq!(single, [statement("b-01", "2025-05-28")]);
        // A brand id is checked where the event enters: it names keys in the reports bucket.
        let bad = targets(json!({"brand_id": "../b-01", "date": "2025-05-28"})).unwrap_err();
        assert!(bad.to_string().contains("is not an id"), "{bad}");
        let bad = targets(json!({"changed": [], "to_date_changed": ["a/b"]})).unwrap_err();
        assert!(bad.to_string().contains("is not an id"), "{bad}");
        let changed = targets(json!({
            "changed": [{"brand_id": "b-02", "date": "2025-05-27"}],
            "to_date_changed": ["b-02"],
            "date": "2025-05-28"
        }))
        .unwrap();
        assert_eq!(changed, [statement("b-02", "2025-05-27"), to_date("b-02")]);
        let batch = targets(json!({"Items": [
            {"brand_id": "b-03", "date": "2025-05-26"},
            {"brand_id": "b-03", "to_date": true}
        ]}))
        .unwrap();
        assert_eq!(batch, [statement("b-03", "2025-05-26"), to_date("b-03")]);
        assert!(targets(json!("b-01")).is_err());
        let both = targets(json!({"brand_id": "b", "date": "2025-05-26", "to_date": true}));
        assert!(both.unwrap_err().to_string().contains("not both"));
        assert!(targets(json!({"brand_id": "b"})).is_err());
        assert!(targets(json!({"brand_id": "b", "date": "2025-05-26", "extra": 1})).is_err());
    }
}
