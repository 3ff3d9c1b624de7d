//! Notices are data: who, how severe, what happened. Renderers (email, SNS, Discord,
//! Slack) live with the adapters; the [`Notifier`] trait is what they implement.

use crate::key::{AccessKeyId, UserName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The stable name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// A chat webhook an alert can go to. The URL is a secret (anyone holding it can post):
/// it lives in Secrets Manager and only the adapter ever reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Discord,
    Slack,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Discord => "discord",
            Self::Slack => "slack",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub severity: Severity,
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<AccessKeyId>,
    /// Plain facts for the renderer (never a secret).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
}

/// A notice's subject is cut to this many characters.
pub const SUBJECT_CHARS: usize = 200;
/// Each fact's value is cut to this many characters.
pub const FACT_CHARS: usize = 8_000;

/// Whether a character may reorder or hide text around it (bidi controls, invisible
/// joiners) or break a line where a renderer does not expect it.
fn deceptive(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Text that may come from an attacker, made safe for every channel: control, bidi and
/// line/paragraph-separator characters become spaces (or go), and it is cut to `limit`
/// characters with the original length said. Every notice field passes through here,
/// so no renderer has to remember to.
pub fn clean(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len().min(limit * 4));
    let mut kept = 0;
    for c in text.chars() {
        if kept == limit {
            out.push_str(&format!("… ({} bytes in all)", text.len()));
            return out;
        }
        if deceptive(c) && !matches!(c, '\u{2028}' | '\u{2029}') {
            continue;
        }
        let line_break = matches!(c, '\u{2028}' | '\u{2029}');
        out.push(if c.is_control() || line_break { ' ' } else { c });
        kept += 1;
    }
    out
}

/// At most `max` characters, an ellipsis marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

impl Notice {
    pub fn new(severity: Severity, subject: impl Into<String>) -> Self {
        Self {
            severity,
            subject: clean(&subject.into(), SUBJECT_CHARS),
            user: None,
            key_id: None,
            facts: BTreeMap::new(),
        }
    }

    pub fn user(mut self, user: Option<UserName>) -> Self {
        self.user = user;
        self
    }

    pub fn key(mut self, key: Option<AccessKeyId>) -> Self {
        self.key_id = key;
        self
    }

    pub fn fact(mut self, name: &str, value: impl Into<String>) -> Self {
        self.facts
            .insert(clean(name, 64), clean(&value.into(), FACT_CHARS));
        self
    }
}

/// Delivers a notice somewhere (SNS, SES, a webhook). Returns a short delivery id.
pub trait Notifier {
    fn notify(
        &self,
        notice: &Notice,
    ) -> impl Future<Output = Result<String, crate::EffectError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attacker_text_is_bounded_and_cannot_reorder_or_break_lines() {
        let hostile = format!(
            "a\u{202E}b\u{2028}c\u{2029}d\ne\u{200B}f\u{2066}g{}",
            "x".repeat(300_000)
        );
        let n = Notice::new(Severity::High, &hostile).fact("user", hostile.clone());
        for text in [&n.subject, &n.facts["user"]] {
            assert!(
                !text.chars().any(|c| deceptive(c) || (c.is_control())),
                "{:?}",
                &text[..40]
            );
            assert!(text.starts_with("ab c d efg"), "{:?}", &text[..20]);
            assert!(text.chars().count() <= FACT_CHARS + 40, "{}", text.len());
            assert!(text.ends_with("bytes in all)"));
        }
        assert_eq!(clean("plain, short: ok", 100), "plain, short: ok");
        assert_eq!(
            clean("ünïcödé", 3),
            format!("ünï… ({} bytes in all)", "ünïcödé".len())
        );
    }
}
