//! keyguard-aws: the adapters that carry out keyguard's plans over the AWS SDK. The only
//! crate that knows the SDK.
//!
//! Clients are built once per cold start from one [`aws_config::SdkConfig`] and reused across
//! invocations. Throttling and 5xx are retried by the SDK's standard retry mode (attempts
//! from `AWS_MAX_ATTEMPTS`, default 3), never by hand-written loops.

pub mod accounts;
pub mod ages;
pub mod canary;
pub mod containing;
pub mod effects;
pub mod error;
pub mod exemptions;
pub mod fanout;
pub mod handoff_mac;
pub mod history;
pub mod iam;
pub mod identity;
pub mod incidents;
pub mod keys;
pub mod lambda;
pub mod ledger;
pub mod members;
pub mod memory;
pub mod observe;
pub mod runbook;
pub mod secrets;
pub mod security_hub;
pub mod ses;
pub mod sns;
pub mod trail;
pub mod users;

pub use aws_config::SdkConfig;
pub use effects::AwsEffects;
pub use error::effect_error;
pub use exemptions::Exemptions;
pub use handoff_mac::HandoffKey;
pub use iam::Iam;
pub use incidents::Incidents;
pub use ledger::DynamoLedger;
pub use runbook::Runbooks;
pub use secrets::Secrets;
pub use ses::Mailer;
pub use sns::SnsNotifier;

/// The app name the set-up helpers sign with (`DynamoLedger::create_table`, `rows`).
pub const FIXTURE_APP: &str = "keyguard-fixture";

/// The SDK configuration a function's clients are built from: the same, with the app
/// name `keyguard-FUNCTION` in every request's User-Agent (`app/keyguard-FUNCTION`), so
/// that AWS's own logs, and the local check of each request against the function's role,
/// can tell which function made a call.
pub fn as_function(sdk: &aws_config::SdkConfig, function: &str) -> aws_config::SdkConfig {
    match aws_config::AppName::new(format!("keyguard-{function}")) {
        Ok(name) => sdk.to_builder().app_name(name).build(),
        Err(_) => sdk.clone(),
    }
}

/// Loads region, credentials, endpoint (`AWS_ENDPOINT_URL`, per-service overrides) and
/// retry settings from the environment, as every AWS SDK does.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}

/// The same, with every service reached at `endpoint` and the SDK's standard retries
/// backing off from `first_backoff`: tests that put a fault proxy in front of moto
/// without touching the environment, where a retry need not wait a second.
pub async fn load_config_at(
    endpoint: &str,
    first_backoff: std::time::Duration,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_initial_backoff(first_backoff),
        )
        .load()
        .await
}

/// The same configuration with every call bounded: all of one operation's attempts
/// together within `limit`. For functions whose worst case must fit their timeout.
pub fn bounded(sdk: &SdkConfig, limit: std::time::Duration) -> SdkConfig {
    sdk.to_builder()
        .timeout_config(
            aws_smithy_types::timeout::TimeoutConfig::builder()
                .operation_timeout(limit)
                .build(),
        )
        .build()
}

/// Cold start: SDK configuration, who keyguard runs as, then the function's settings. A
/// bad setting stops here, naming its variable.
pub async fn cold_start<S>(
    settings: impl FnOnce(
        keyguard_core::policy::containment::SelfIdentity,
    ) -> Result<S, keyguard_core::config::ConfigError>,
) -> Result<(SdkConfig, S), String> {
    let sdk = load_config().await;
    let me = identity::whoami(&sdk)
        .await
        .map_err(|e| format!("cannot tell who keyguard runs as: {e}"))?;
    let settings = settings(me).map_err(|e| e.to_string())?;
    Ok((sdk, settings))
}
