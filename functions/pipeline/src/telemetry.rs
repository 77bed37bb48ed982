//! Logging set-up shared by the Lambda functions: JSON lines with named fields, as CloudWatch wants them.

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
