//! The Lambda entry point: cold start once, then one report per event.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let app = deactivate_key::App::from_environment().await.map_err(|e| {
        tracing::error!(function = "deactivate-key", error = %e, "cold start failed");
        Error::from(e)
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let report = app.handle(&event.payload).await;
        keyguard_aws::observe::log_report(&report);
        serde_json::to_value(&report).map_err(Error::from)
    }))
    .await
}
