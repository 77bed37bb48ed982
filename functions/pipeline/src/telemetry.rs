//! Logging set-up shared by the Lambda functions (JSON lines with named fields, as CloudWatch wants
//! them), their metrics, and the time each step takes.

use std::time::{Duration, Instant};

use cpu_time::ProcessTime;

/// JSON logs on stdout, level from `RUST_LOG` (default `info`), without ANSI colours or timestamps
/// (CloudWatch stamps every line itself).
pub fn init_lambda_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .try_init();
}

/// One CloudWatch metric value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub value: f64,
    pub unit: &'a str,
}

impl<'a> Metric<'a> {
    pub fn count(name: &'a str, value: u64) -> Self {
        Metric {
            name,
            value: value as f64,
            unit: "Count",
        }
    }

    pub fn millis(name: &'a str, d: std::time::Duration) -> Self {
        Metric {
            name,
            value: d.as_secs_f64() * 1000.0,
            unit: "Milliseconds",
        }
    }
}

/// A line in CloudWatch's embedded metric format: written to stdout, CloudWatch Logs turns it into
/// metrics in namespace `seedline` with the dimension `function` (no PutMetricData calls, no extra latency).
pub fn emf_line(function: &str, metrics: &[Metric<'_>], now_millis: i64) -> String {
    let mut doc = serde_json::Map::new();
    let defs: Vec<serde_json::Value> = metrics
        .iter()
        .map(|m| serde_json::json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": now_millis,
            "CloudWatchMetrics": [{"Namespace": "seedline", "Dimensions": [["function"]], "Metrics": defs}],
        }),
    );
    doc.insert("function".into(), function.into());
    for m in metrics {
        doc.insert(m.name.to_string(), serde_json::json!(m.value));
    }
    serde_json::Value::Object(doc).to_string()
}

/// Prints [`emf_line`] for now.
pub fn emit_metrics(function: &str, metrics: &[Metric<'_>]) {
    println!(
        "{}",
        emf_line(function, metrics, chrono::Utc::now().timestamp_millis())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_metric_format() {
        let line = emf_line(
            "ingest-orders",
            &[
                Metric::count("LinesIn", 12),
                Metric::count("LinesRejected", 2),
            ],
            1700000000000,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1700000000000i64);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "seedline");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "function"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"],
            "LinesRejected"
        );
        assert_eq!(v["function"], "ingest-orders");
        assert_eq!(v["LinesIn"], 12.0);
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct StepTimings {
    /// The size of the day's exports, as stored (compressed where gzipped).
    pub export_bytes: u64,
    pub ingest: Duration,
    pub matching: Duration,
    pub publish: Duration,
    /// CPU time of the whole process (every thread, user and system) during each step.
    pub ingest_cpu: Duration,
    pub matching_cpu: Duration,
    pub publish_cpu: Duration,
}

/// Wall and CPU time (every thread of the process, user and system) since the last lap.
pub struct Stopwatch {
    wall: Instant,
    cpu: ProcessTime,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: ProcessTime::now(),
        }
    }

    /// (wall, CPU) since the start or the last lap; the next lap counts from now.
    pub fn lap(&mut self) -> (Duration, Duration) {
        let (wall, cpu) = (Instant::now(), ProcessTime::now());
        let out = (wall - self.wall, cpu.duration_since(self.cpu));
        (self.wall, self.cpu) = (wall, cpu);
        out
    }
}
