//! match-orders: `{"date": "YYYY-MM-DD", "lookback_days": 30}` → the (brand, date) reports that changed.

mod handler;

use lambda_runtime::{service_fn, LambdaEvent};
use seedline_pipeline::config::{lookback_from_env, AwsClients, AwsSettings, Cache, Stores};

fn main() -> Result<(), lambda_runtime::Error> {
    tokio::runtime::Runtime::new()?.block_on(run())
}

async fn run() -> Result<(), lambda_runtime::Error> {
    seedline_pipeline::telemetry::init_lambda_tracing();
    let settings = AwsSettings::from_env()?;
    let clients = AwsClients::from_env().await;
    let mut stores = Stores::aws(&clients, &settings);
    stores.cache = Cache::from_env()?;
    let app = handler::App {
        stores,
        default_lookback: lookback_from_env()?,
    };
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<handler::MatchRequest>| async move {
            handler::handle(app, event.payload).await
        },
    ))
    .await
}
