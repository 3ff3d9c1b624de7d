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
