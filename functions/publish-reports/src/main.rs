//! publish-reports: statements (`{"brand_id","date"}`) and to-date reports (`{"brand_id","to_date":true}`) → new versions where content changed.

mod handler;

use lambda_runtime::{service_fn, LambdaEvent};
use seedline_pipeline::config::{AwsClients, AwsSettings, Stores};

fn main() -> Result<(), lambda_runtime::Error> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    seedline_pipeline::telemetry::init_lambda_tracing();
    let settings = AwsSettings::from_env()?;
    let clients = AwsClients::from_env().await;
    let stores = Stores::aws(&clients, &settings);
    let stores = &stores;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            handler::handle(stores, event.payload).await
        },
    ))
    .await
}
