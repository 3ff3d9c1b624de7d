//! The Lambda entry point every function shares: JSON logs, cold start once, then one
//! report per event, logged step by step and returned as the function's result.

use aws_config::SdkConfig;
use keyguard_core::config::FromEnv;
use keyguard_core::pipeline::Unwired;
use keyguard_core::{Report, Timestamp};
pub use lambda_runtime::Error;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::future::Future;

/// The SDK's and the HTTP stack's log targets, capped at `info` whatever `LOG_LEVEL`
/// says: at `debug` and `trace` they print requests and responses, and a `PutSecretValue`
/// carries a new secret key, a webhook request its URL. The SDK redacts the fields it
/// knows are sensitive; this does not rely on it.
pub const CAPPED_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "aws_sigv4",
    "aws_runtime",
    "aws_config",
    "aws_sdk_iam",
    "aws_sdk_secretsmanager",
    "aws_sdk_sts",
    "aws_sdk_dynamodb",
    "aws_sdk_sns",
    "aws_sdk_sesv2",
    "aws_sdk_ssm",
    "aws_sdk_ssmincidents",
    "aws_sdk_lambda",
    "aws_sdk_kms",
    "aws_sdk_organizations",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "lambda_runtime",
    "lambda_runtime_api_client",
];

/// What is logged: `LOG_LEVEL` (default `info`), and never more than `info` from
/// [`CAPPED_TARGETS`].
pub fn log_filter<S>() -> impl tracing_subscriber::layer::Filter<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
    let wanted = tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let caps = CAPPED_TARGETS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, target| t.with_target(*target, LevelFilter::INFO),
    );
    wanted.and(caps)
}

/// JSON lines without timestamps (CloudWatch adds them), filtered by [`log_filter`], each
/// carrying the invocation's span (its `request_id`, see [`invocation`]).
pub fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .with_writer(writer)
        .with_filter(log_filter())
}

pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry()
        .with(json_layer(std::io::stdout))
        .init();
}

/// The span every line of one invocation is logged in: Lambda's request id, so the step
/// lines of one event can be found together (and next to Lambda's own REPORT line).
pub fn invocation(request_id: &str) -> tracing::Span {
    tracing::info_span!("invocation", request_id = %request_id)
}

tokio::task_local! {
    static DEADLINE: std::time::Instant;
}

/// When the current invocation ends (Lambda's deadline), inside [`run`] or [`within`]:
/// long runs (the age scan, the sweep) begin no step too close to it
/// (`keyguard_core::execute_with`).
pub fn deadline() -> Option<std::time::Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Runs `work` as an invocation that ends at `deadline` (what [`run`] does for each event).
pub async fn within<F: Future>(deadline: std::time::Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// Lambda's deadline (milliseconds since the epoch) as an instant of this process. One
/// already past when the invocation starts is no deadline: Lambda never hands out an
/// invocation whose time is up, and a local emulator (`cargo lambda watch`) sends one, so
/// trusting it would cut every step of every run.
fn deadline_of(epoch_ms: u64) -> Option<std::time::Instant> {
    let end = std::time::UNIX_EPOCH + std::time::Duration::from_millis(epoch_ms);
    let left = end.duration_since(std::time::SystemTime::now()).ok()?;
    Some(std::time::Instant::now() + left)
}

/// A function's app: built once per cold start, then asked for one report per event.
pub trait Handler {
    /// One event, as if it arrived at `now` (windows and ages are measured from it).
    fn handle_at(&self, event: &Value, now: Timestamp) -> impl Future<Output = Report>;

    /// One event, now.
    fn handle(&self, event: &Value) -> impl Future<Output = Report> {
        self.handle_at(event, chrono::Utc::now())
    }

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

/// How a function's app is built once per cold start: its settings read from the
/// environment (a bad one stops here, naming its variable), the app built over the SDK
/// from them, then asked whether it has a client for every action it can plan
/// ([`keyguard_core::pipeline::wired`]) and warmed up. [`start`] does it in that order.
pub trait ColdStart: Sized {
    type Settings: FromEnv;

    /// The app over `sdk`. `Err` names a setting that cannot work with it.
    fn build(sdk: &SdkConfig, settings: Self::Settings) -> Result<Self, String>;

    fn wired(&self) -> Result<(), Unwired>;

    /// What the app reads once before its first event (by default nothing).
    fn warm(&mut self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// The cold start of a [`ColdStart`] app: SDK configuration, who keyguard runs as, the
/// settings, the app, its wiring, its warm-up.
pub async fn start<A: ColdStart>() -> Result<A, String> {
    let (sdk, settings) =
        crate::cold_start(|me| A::Settings::from_env(&keyguard_core::config::process_env, me))
            .await?;
    let mut app = A::build(&sdk, settings)?;
    app.wired().map_err(|e| e.to_string())?;
    app.warm().await;
    Ok(app)
}

/// `LOG_FORMAT`: `keyguard` (the default: the report's own lines) or `ocsf` (an OCSF
/// Detection Finding line as well, for each decision security teams must see). Read by
/// the entry point, as `LOG_LEVEL` is; anything else stops the cold start.
fn log_format() -> Result<bool, String> {
    match std::env::var("LOG_FORMAT").ok().as_deref().map(str::trim) {
        None | Some("" | "keyguard") => Ok(false),
        Some("ocsf") => Ok(true),
        Some(other) => Err(format!(
            "configuration variable LOG_FORMAT: keyguard or ocsf, got {:?}",
            keyguard_core::events::bounded_text(other, 40)
        )),
    }
}

/// Builds the app ([`start`]: a bad setting stops the cold start, logged and named),
/// then serves.
pub async fn run<A: Handler + ColdStart>(function: &'static str) -> Result<(), Error> {
    init_logging();
    let ocsf = log_format().map_err(|e| {
        tracing::error!(function, error = %e, "cold start failed");
        Error::from(e)
    })?;
    let app = start::<A>().await.map_err(|e| {
        tracing::error!(function, error = %e, "cold start failed");
        Error::from(e)
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        use tracing::Instrument;
        let span = invocation(&event.context.request_id);
        let ends = deadline_of(event.context.deadline);
        let work = async move {
            let left = ends.map(|e| e.saturating_duration_since(std::time::Instant::now()));
            tracing::debug!(
                remaining_ms = left.map(|l| l.as_millis() as u64),
                "invocation"
            );
            let started = std::time::Instant::now();
            let report = app.handle(&event.payload).await;
            crate::observe::log_report(&report);
            // LOG_FORMAT=ocsf: the decision once more, as an OCSF Detection Finding.
            if ocsf {
                if let Some(line) = keyguard_core::ocsf::from_report(&report, chrono::Utc::now()) {
                    println!("{line}");
                }
            }
            // The invocation's metrics, as a line of its own: CloudWatch extracts them
            // from the log only when the line is the EMF document itself.
            let took = started.elapsed().as_secs_f64() * 1000.0;
            println!(
                "{}",
                keyguard_core::metrics::emf(&report, took, chrono::Utc::now())
            );
            let value = serde_json::to_value(&report).map_err(Error::from)?;
            if app.fails(&event.payload, &report) {
                return Err(Error::from(value.to_string()));
            }
            Ok(value)
        };
        async move {
            match ends {
                Some(ends) => within(ends, work).await,
                None => work.await,
            }
        }
        .instrument(span)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_log_level_lets_the_sdk_or_the_http_stack_log_below_info() {
        let lines = Lines::default();
        let writer = lines.clone();
        std::env::set_var("LOG_LEVEL", "trace,aws_smithy_runtime=trace,hyper=trace");
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", body = "SecretAccessKey=wJalrXUtnFEMI", "request");
            tracing::debug!(target: "hyper::proto", url = "/api/webhooks/1/token", "sent");
            tracing::info!(target: "aws_smithy_runtime", "an info line stays");
            tracing::trace!(target: "keyguard", "keyguard's own trace stays");
        });
        std::env::remove_var("LOG_LEVEL");
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(
            !text.contains("wJalrXUtnFEMI") && !text.contains("/api/webhooks/"),
            "{text}"
        );
        assert!(
            text.contains("an info line stays") && text.contains("keyguard's own trace stays"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn the_deadline_is_known_inside_an_invocation_only() {
        assert_eq!(deadline(), None);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let ends = deadline_of(now_ms + 30_000).unwrap();
        let left = within(ends, async {
            deadline().map(|d| d - std::time::Instant::now())
        })
        .await
        .unwrap();
        assert!(
            left > std::time::Duration::from_secs(25) && left <= std::time::Duration::from_secs(30),
            "{left:?}"
        );
        assert_eq!(
            deadline_of(now_ms - 5_000),
            None,
            "a deadline already past is none"
        );
    }

    #[test]
    fn every_line_of_an_invocation_carries_its_request_id() {
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let _inside = invocation("8f5e2b1c-req").entered();
            tracing::warn!(action = "deactivate_key", "step");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(line["span"]["request_id"], "8f5e2b1c-req", "{text}");
        assert_eq!(line["fields"]["action"], "deactivate_key", "{text}");
    }
}
