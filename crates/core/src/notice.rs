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

impl Notice {
    pub fn new(severity: Severity, subject: impl Into<String>) -> Self {
        Self {
            severity,
            subject: subject.into(),
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
        self.facts.insert(name.to_owned(), value.into());
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
