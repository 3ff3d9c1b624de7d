//! Posting alerts to Discord and Slack webhooks.
//!
//! A webhook URL is a credential: whoever holds it can post as keyguard. It is read from
//! Secrets Manager (never from a plain environment variable), held only in a
//! [`WebhookUrl`] whose `Debug` says `<redacted>`, and kept out of every error: reqwest
//! puts the URL in its errors, so each one is stripped with `without_url` before it is
//! turned into text.

use crate::render;
use keyguard_core::{Channel, EffectError, ErrorKind, Notice};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::Mutex;

/// A webhook URL. Its only way out is [`WebhookUrl::expose`], used to send the request.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl WebhookUrl {
    /// The secret's value: the URL itself, or JSON `{"url": "..."}`. HTTPS, except on the
    /// loopback address, where the tests' receiver listens.
    pub fn parse(secret: &str) -> Result<Self, WebhookError> {
        let text = secret.trim();
        let raw = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => v
                .get("url")
                .and_then(|u| u.as_str())
                .map(str::to_owned)
                .ok_or(WebhookError::BadSecret("JSON without a \"url\" string"))?,
            Err(_) => text.to_owned(),
        };
        let url = reqwest::Url::parse(&raw).map_err(|_| WebhookError::BadSecret("not a URL"))?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if loopback => Ok(Self(url)),
            _ => Err(WebhookError::BadSecret("not an https URL")),
        }
    }

    /// A placeholder, not a webhook: the shared stack creates each webhook secret holding
    /// an address under `.invalid`, a top-level domain reserved never to resolve (RFC
    /// 2606), until someone puts the real URL in.
    pub fn is_placeholder(&self) -> bool {
        self.0
            .host_str()
            .is_some_and(|h| h == "invalid" || h.ends_with(".invalid"))
    }

    fn expose(&self) -> reqwest::Url {
        self.0.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no webhook secret is configured for this channel")]
    NotConfigured,
    #[error("reading the webhook secret: {0}")]
    Secret(EffectError),
    #[error("the webhook secret holds no usable URL: {0}")]
    BadSecret(&'static str),
    #[error("the webhook answered HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    #[error("rate limited: asked to wait {wait:?}, more than WEBHOOK_MAX_WAIT_SECONDS")]
    RateLimited { wait: Duration },
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

impl WebhookError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotConfigured => "WebhookNotConfigured",
            Self::Secret(_) => "WebhookSecretUnreadable",
            Self::BadSecret(_) => "WebhookSecretInvalid",
            Self::Rejected { .. } => "WebhookRejected",
            Self::RateLimited { .. } => "WebhookRateLimited",
            Self::GaveUp { .. } => "WebhookUnreachable",
        }
    }

    /// Always a failure, never "not found": a missing webhook secret is a broken
    /// deployment, not a vanished key.
    pub fn into_effect(self, channel: Channel) -> EffectError {
        EffectError::new(
            ErrorKind::Other,
            Some(self.code()),
            format!("{}: {self}", channel.name()),
        )
    }
}

/// How deliveries are retried: a 429 after the wait it asks for (when no longer than
/// `max_wait`), a 5xx or a broken connection after a short backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// `WEBHOOK_ATTEMPTS` (default 3).
    pub attempts: u32,
    /// `WEBHOOK_MAX_WAIT_SECONDS` (default 10).
    pub max_wait: Duration,
    /// `WEBHOOK_TIMEOUT_SECONDS` (default 5): per request.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 3,
            max_wait: Duration::from_secs(5),
            timeout: Duration::from_secs(4),
        }
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    RetryAfter(Duration),
    Retry(String),
    Fail(WebhookError),
}

pub struct Webhooks {
    http: reqwest::Client,
    secrets: aws_sdk_secretsmanager::Client,
    secret_ids: BTreeMap<Channel, String>,
    /// Read once per cold start; dropped after any failed delivery (revoked, rotated, or
    /// a placeholder replaced since), so the next post reads the secret again.
    urls: Mutex<BTreeMap<Channel, WebhookUrl>>,
    retry: Retry,
}

impl Webhooks {
    pub fn new(
        sdk: &keyguard_aws::SdkConfig,
        secret_ids: BTreeMap<Channel, String>,
        retry: Retry,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(retry.timeout)
            .user_agent("keyguard-createkey-detector")
            // A redirect would send the alert somewhere the secret does not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {}", e.without_url()))?;
        Ok(Self {
            http,
            secrets: aws_sdk_secretsmanager::Client::new(&keyguard_aws::bounded(
                sdk,
                crate::handoff::CALL_TIMEOUT,
            )),
            secret_ids,
            urls: Mutex::new(BTreeMap::new()),
            retry,
        })
    }

    async fn url(&self, channel: Channel) -> Result<WebhookUrl, WebhookError> {
        let mut urls = self.urls.lock().await;
        if let Some(url) = urls.get(&channel) {
            return Ok(url.clone());
        }
        let id = self
            .secret_ids
            .get(&channel)
            .ok_or(WebhookError::NotConfigured)?;
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(id)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| WebhookError::Secret(keyguard_aws::effect_error(&e)))?;
        let url = WebhookUrl::parse(
            out.secret_string()
                .ok_or(WebhookError::BadSecret("no SecretString"))?,
        )?;
        if url.is_placeholder() {
            return Err(WebhookError::BadSecret(
                "it still holds the shared stack's placeholder: put the real URL in",
            ));
        }
        urls.insert(channel, url.clone());
        Ok(url)
    }

    /// The configured channels whose secret still holds the placeholder, read at cold
    /// start: they are left out of every plan (with a warning and a fact on each alert)
    /// rather than failing every alert. A secret that cannot be read now is kept: its
    /// posts will say why.
    pub async fn placeholders(&self) -> Vec<Channel> {
        let mut out = Vec::new();
        for &channel in self.secret_ids.keys() {
            if let Err(WebhookError::BadSecret(why)) = self.url(channel).await {
                if why.contains("placeholder") {
                    out.push(channel);
                }
            }
        }
        out
    }

    /// Posts the notice, rendered for the channel. Returns what the webhook answered.
    pub async fn post(&self, channel: Channel, notice: &Notice) -> Result<String, EffectError> {
        self.deliver(channel, notice)
            .await
            .map_err(|e| e.into_effect(channel))
    }

    async fn deliver(&self, channel: Channel, notice: &Notice) -> Result<String, WebhookError> {
        let url = self.url(channel).await?;
        let body = match channel {
            Channel::Discord => render::discord(notice),
            Channel::Slack => render::slack(notice),
        };
        let mut last = String::new();
        for attempt in 1..=self.retry.attempts.max(1) {
            match self.attempt(&url, &body).await {
                Attempt::Delivered(status) => {
                    return Ok(format!("{} answered HTTP {status}", channel.name()))
                }
                Attempt::Fail(e) => {
                    self.urls.lock().await.remove(&channel);
                    return Err(e);
                }
                Attempt::RetryAfter(wait) if wait > self.retry.max_wait => {
                    self.urls.lock().await.remove(&channel);
                    return Err(WebhookError::RateLimited { wait });
                }
                Attempt::RetryAfter(wait) => {
                    last = format!("rate limited for {wait:?}");
                    tracing::warn!(
                        channel = channel.name(),
                        attempt,
                        ?wait,
                        "webhook rate limited; waiting as asked"
                    );
                    tokio::time::sleep(wait).await;
                }
                Attempt::Retry(why) => {
                    tracing::warn!(channel = channel.name(), attempt, error = %why, "webhook delivery failed; retrying");
                    last = why;
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        self.urls.lock().await.remove(&channel);
        Err(WebhookError::GaveUp {
            attempts: self.retry.attempts.max(1),
            last,
        })
    }

    async fn attempt(&self, url: &WebhookUrl, body: &serde_json::Value) -> Attempt {
        let response = match self.http.post(url.expose()).json(body).send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(e.without_url().to_string()),
        };
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Attempt::Delivered(status);
        }
        let header_wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let text = response.text().await.unwrap_or_default();
        if status == 429 {
            // Discord puts the precise wait (seconds, fractional) in the body; Slack and
            // Discord both send Retry-After.
            let body_wait = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v.get("retry_after").and_then(|r| r.as_f64()));
            // "NaN" parses as an f64, and Duration panics on it: only finite waits count.
            let secs = body_wait
                .or(header_wait)
                .filter(|s| s.is_finite())
                .unwrap_or(1.0);
            return Attempt::RetryAfter(Duration::from_secs_f64(secs.clamp(0.0, 3600.0)));
        }
        if status >= 500 {
            return Attempt::Retry(format!("HTTP {status}"));
        }
        Attempt::Fail(WebhookError::Rejected {
            status,
            message: short(&text),
        })
    }
}

/// The service's own message, when it sends JSON with one; else the first 200 characters.
fn short(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

/// The wait after a failed attempt (a 5xx or a broken connection).
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(4))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn urls_come_plain_or_as_json_and_never_show() {
        // Placeholder hosts only: a webhook URL is a secret, even in a test.
        let a =
            WebhookUrl::parse(" https://chat.example.com/api/webhooks/1/placeholder \n").unwrap();
        let b =
            WebhookUrl::parse(r#"{"url": "https://chat.example.com/api/webhooks/1/placeholder"}"#)
                .unwrap();
        assert_eq!(a, b);
        assert_eq!(format!("{a:?}"), "WebhookUrl(<redacted>)");
        assert!(WebhookUrl::parse("http://127.0.0.1:9/hook").is_ok());
        for bad in [
            "http://hooks.example.com/services/x",
            "ftp://example.com/x",
            "not a url",
            r#"{"webhook": "https://x"}"#,
        ] {
            let e = WebhookUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("example.com"), "{e}");
        }
    }
}
