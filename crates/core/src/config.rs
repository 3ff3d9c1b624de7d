//! Reading configuration from the environment, once, at cold start. A bad value stops the
//! function with a message naming the variable, rather than acting on a guess.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

/// Where values come from: `std::env::var` in a Lambda, a map in tests.
pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// A function's settings, read once at cold start from its environment and who keyguard
/// runs as. A bad value is an error naming its variable.
pub trait FromEnv: Sized {
    fn from_env(env: &impl Env, me: crate::guard::SelfIdentity) -> Result<Self, ConfigError>;
}

/// The process environment; empty values count as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn err(variable: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        message: message.into(),
    }
}

pub fn string(env: &impl Env, name: &str, default: &str) -> String {
    env.get(name).unwrap_or_else(|| default.to_owned())
}

pub fn flag(env: &impl Env, name: &str, default: bool) -> Result<bool, ConfigError> {
    match env.get(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "true" | "1" | "yes") => Ok(true),
        Some(v) if matches!(v.as_str(), "false" | "0" | "no") => Ok(false),
        Some(v) => Err(err(name, format!("expected true or false, got {v:?}"))),
    }
}

pub fn number<T: std::str::FromStr>(
    env: &impl Env,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match env.get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| err(name, format!("expected a number, got {v:?}"))),
    }
}

/// A comma-separated list; blanks dropped.
pub fn list(env: &impl Env, name: &str) -> BTreeSet<String> {
    env.get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The default `LEDGER_LEASE_SECONDS`.
pub const DEFAULT_LEASE_SECONDS: u32 = 150;

/// A duration in seconds: finite and not negative (`Duration` panics on either).
pub fn seconds(
    env: &impl Env,
    name: &str,
    default: f64,
) -> Result<std::time::Duration, ConfigError> {
    let v: f64 = number(env, name, default)?;
    if !v.is_finite() || !(0.0..=86_400.0).contains(&v) {
        return Err(err(
            name,
            format!("expected a number of seconds from 0 to 86400, got {v}"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(v))
}

/// `key=value`, both non-empty.
pub fn pair(
    env: &impl Env,
    name: &str,
    default: (&str, &str),
) -> Result<(String, String), ConfigError> {
    match env.get(name) {
        None => Ok((default.0.to_owned(), default.1.to_owned())),
        Some(v) => match v.split_once('=') {
            Some((k, val)) if !k.trim().is_empty() && !val.trim().is_empty() => {
                Ok((k.trim().to_owned(), val.trim().to_owned()))
            }
            _ => Err(err(name, format!("expected key=value, got {v:?}"))),
        },
    }
}

/// What every function reads besides its own policy: dry run, the ledger, the notice topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// `DRY_RUN` (default false): plan and report, apply nothing.
    pub dry_run: bool,
    /// `LEDGER_TABLE` (default `keyguard-ledger`).
    pub ledger_table: String,
    /// `LEDGER_TTL_DAYS` (default 90): how long audit rows live.
    pub ledger_ttl_days: u32,
    /// `LEDGER_LEASE_SECONDS` (default 150): an unsettled claim younger than this is in
    /// progress (the invocation fails, Lambda retries); older, its claimant is presumed
    /// dead. Longer than each event function's timeout, shorter than the ~3 minutes
    /// before Lambda's second retry of an asynchronous invocation.
    pub ledger_lease_seconds: u32,
    /// `NOTICE_TOPIC_ARN` (optional): SNS topic for notices; unset, notices are logged only.
    pub notice_topic_arn: Option<String>,
}

impl Common {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            dry_run: flag(env, "DRY_RUN", false)?,
            ledger_table: string(env, "LEDGER_TABLE", "keyguard-ledger"),
            ledger_ttl_days: number(env, "LEDGER_TTL_DAYS", 90)?,
            ledger_lease_seconds: number(env, "LEDGER_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)?,
            notice_topic_arn: env.get("NOTICE_TOPIC_ARN"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Env {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn values_and_errors_name_the_variable() {
        let e = env(&[
            ("DRY_RUN", "TRUE"),
            ("N", "7"),
            ("L", " a, ,b "),
            ("P", "k=v"),
            ("BAD", "maybe"),
        ]);
        assert_eq!(flag(&e, "DRY_RUN", false), Ok(true));
        assert_eq!(flag(&e, "UNSET", true), Ok(true));
        assert_eq!(number(&e, "N", 1u32), Ok(7));
        assert_eq!(
            list(&e, "L").into_iter().collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(pair(&e, "P", ("x", "y")), Ok(("k".into(), "v".into())));
        let bad = flag(&e, "BAD", false).unwrap_err();
        assert_eq!(bad.variable, "BAD");
        assert!(bad.to_string().contains("BAD"));
        assert_eq!(number::<u32>(&e, "L", 1).unwrap_err().variable, "L");
        assert_eq!(pair(&e, "N", ("x", "y")).unwrap_err().variable, "N");
    }
}
