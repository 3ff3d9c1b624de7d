//! The Lambda entry point every function shares: JSON logs, cold start once, then one
//! report per event, logged step by step and returned as the function's result.

use keyguard_core::Report;
pub use lambda_runtime::Error;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::future::Future;

/// JSON logs without timestamps (CloudWatch adds them); level from `LOG_LEVEL` (default
/// `info`).
pub fn init_logging() {
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
}

/// A function's app: built once per cold start, then asked for one report per event.
pub trait Handler {
    fn report(&self, event: &Value) -> impl Future<Output = Report>;

    /// Whether the invocation must fail (the report becomes the error) rather than
    /// return the report. By default, when something failed (status 500): EventBridge
    /// and hand-offs invoke asynchronously, so only a failed invocation makes Lambda
    /// retry it (twice) and then hand it to the on-failure destination; the ledger lets
    /// only the failed steps run again. A caller such as Secrets Manager, which reads
    /// only success or failure, may ask for more.
    fn fails(&self, _event: &Value, report: &Report) -> bool {
        report.status_code >= 500
    }
}

/// Builds the app (a bad setting stops the cold start, logged and named), then serves.
pub async fn run<A: Handler>(
    function: &'static str,
    build: impl Future<Output = Result<A, String>>,
) -> Result<(), Error> {
    init_logging();
    let app = build.await.map_err(|e| {
        tracing::error!(function, error = %e, "cold start failed");
        Error::from(e)
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let report = app.report(&event.payload).await;
        crate::observe::log_report(&report);
        let value = serde_json::to_value(&report).map_err(Error::from)?;
        if app.fails(&event.payload, &report) {
            return Err(Error::from(value.to_string()));
        }
        Ok(value)
    }))
    .await
}
