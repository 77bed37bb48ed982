//! ingest-orders: one export object (an S3 ObjectCreated event or `{"bucket","key"}`) to staging.

mod handler;

use lambda_runtime::{service_fn, LambdaEvent};
use seedline_pipeline::config::{buyer_hasher_from_env, AwsClients, AwsSettings};

fn main() -> Result<(), lambda_runtime::Error> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    seedline_pipeline::telemetry::init_lambda_tracing();
    // Read once per process: a missing buyer key stops the function before it takes an event.
    let app = handler::App {
        hasher: buyer_hasher_from_env()?,
        settings: AwsSettings::from_env()?,
        clients: AwsClients::from_env().await,
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handler::handle(app, event.payload).await
        },
    ))
    .await
}
