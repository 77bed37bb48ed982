//! Turns a match request into `match_orders` and its outcome into the response.

use seedline_core::NaiveDate;
use seedline_pipeline::config::Stores;
use seedline_pipeline::steps::matching::{match_orders, MatchOutcome};
use seedline_pipeline::steps::StepError;
use seedline_pipeline::telemetry::{emit_metrics, Metric};
use serde::Deserialize;

use lambda_runtime::Diagnostic;

pub struct App {
    pub stores: Stores,
    pub default_lookback: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    pub date: String,
    pub lookback_days: Option<u32>,
}

impl MatchRequest {
    /// The run date, strictly `YYYY-MM-DD`.
    pub fn date(&self) -> Result<NaiveDate, String> {
        seedline_core::time::parse_date(&self.date)
    }
}

pub async fn handle(app: &App, req: MatchRequest) -> Result<MatchOutcome, Diagnostic> {
    let lookback = req.lookback_days.unwrap_or(app.default_lookback);
    let date = req.date().map_err(bad_request)?;
    let started = std::time::Instant::now();
    let outcome = match_orders(&app.stores, date, lookback).await.inspect_err(|e| {
        tracing::error!(run_date = %date, retryable = e.is_retryable(), error = %e, "match failed");
    }).map_err(failed)?;
    let st = &outcome.stats;
    let excluded: Vec<(String, u64)> = st
        .excluded
        .iter()
        .map(|(reason, n)| (format!("Excluded_{reason}"), *n))
        .collect();
    let mut metrics = vec![
        Metric::count("Lines", st.lines),
        Metric::count("Attributed", st.credited),
        Metric::count("NotPaid", st.not_paid),
        Metric::count("NoToken", st.no_token),
        Metric::count("ReportsChanged", outcome.changed.len() as u64),
        Metric::millis("Duration", started.elapsed()),
    ];
    metrics.extend(excluded.iter().map(|(name, n)| Metric::count(name, *n)));
    emit_metrics("match-orders", &metrics);
    Ok(outcome)
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
    fn the_sample_event_parses() {
        let r: MatchRequest = serde_json::from_str(include_str!("../events/match.json")).unwrap();
        assert_eq!(r.date().unwrap().to_string(), "2025-05-20");
        assert_eq!(r.lookback_days, Some(30));
        let loose: MatchRequest = serde_json::from_str(r#"{"date": "2025-5-28"}"#).unwrap();
        assert!(loose.date().is_err());
        assert!(
            serde_json::from_str::<MatchRequest>(r#"{"date": "2025-05-28", "extra": 1}"#).is_err()
        );
    }
}
