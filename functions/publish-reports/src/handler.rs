//! Turns a publish request into `publish_report` calls and their outcomes into the response.

use seedline_pipeline::config::Stores;
use seedline_pipeline::steps::matching::BrandDate;
use seedline_pipeline::steps::publish::publish_report;
use seedline_pipeline::telemetry::{emit_metrics, Metric};
use serde_json::{json, Value};

/// Accepts one `{"brand_id","date"}`, a list of them, match-orders' output (`{"changed": [...]}`), or a
/// Step Functions item batch (`{"Items": [...]}`).
pub fn targets(event: Value) -> anyhow::Result<Vec<BrandDate>> {
    let list = match event {
        Value::Array(_) => event,
        Value::Object(ref o) if o.contains_key("changed") => o["changed"].clone(),
        Value::Object(ref o) if o.contains_key("reports") => o["reports"].clone(),
        Value::Object(ref o) if o.contains_key("Items") => o["Items"].clone(),
        Value::Object(_) => Value::Array(vec![event]),
        other => {
            anyhow::bail!("expected {{\"brand_id\", \"date\"}} or a list of them, got {other}")
        }
    };
    Ok(serde_json::from_value(list)?)
}

pub async fn handle(stores: &Stores, event: Value) -> Result<Value, lambda_runtime::Error> {
    let started = std::time::Instant::now();
    let mut published = Vec::new();
    for t in targets(event)? {
        let outcome = publish_report(stores, &t.brand_id, t.date).await.inspect_err(|e| {
            tracing::error!(brand_id = %t.brand_id, report_date = %t.date, retryable = e.is_retryable(), error = %e, "publish failed");
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_shape() {
        let one =
            targets(serde_json::from_str(include_str!("../events/publish.json")).unwrap()).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].brand_id, "b-fix");
        let single = targets(json!({"brand_id": "b-01", "date": "2025-05-28"})).unwrap();
        assert_eq!(single[0].brand_id, "b-01");
        let changed = targets(
            json!({"changed": [{"brand_id": "b-02", "date": "2025-05-27"}], "date": "2025-05-28"}),
        )
        .unwrap();
        assert_eq!(changed[0].date.to_string(), "2025-05-27");
        let batch =
            targets(json!({"Items": [{"brand_id": "b-03", "date": "2025-05-26"}]})).unwrap();
        assert_eq!(batch[0].brand_id, "b-03");
        assert!(targets(json!("b-01")).is_err());
    }
}
