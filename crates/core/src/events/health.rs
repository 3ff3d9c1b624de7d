//! AWS Health events: the `RISK` service's codes name a leaked or misused credential.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub const CREDENTIALS_EXPOSED: &str = "AWS_RISK_CREDENTIALS_EXPOSED";

/// The `RISK` event codes keyguard acts on, and what each says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Risk {
    /// AWS found the key in public (and attached its quarantine policy).
    CredentialsExposed,
    /// AWS suspects the key was made public.
    ExposureSuspected,
    /// AWS saw the key used by someone other than its owner.
    Compromised,
    /// AWS suspects the key is used by someone other than its owner.
    CompromiseSuspected,
    /// AWS applied its quarantine policy to a user.
    IamQuarantine,
    /// A console sign-in of the account is compromised: no access key to contain.
    ConsoleCompromise,
}

impl Risk {
    pub const ALL: [Risk; 6] = [
        Self::CredentialsExposed,
        Self::ExposureSuspected,
        Self::Compromised,
        Self::CompromiseSuspected,
        Self::IamQuarantine,
        Self::ConsoleCompromise,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::CredentialsExposed => CREDENTIALS_EXPOSED,
            Self::ExposureSuspected => "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
            Self::Compromised => "AWS_RISK_CREDENTIALS_COMPROMISED",
            Self::CompromiseSuspected => "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
            Self::IamQuarantine => "AWS_RISK_IAM_QUARANTINE",
            Self::ConsoleCompromise => "AWS_RISK_ACCOUNT_CONSOLE_COMPROMISE",
        }
    }

    pub fn of(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether the event is about access keys, so the keys it names are contained. A
    /// console compromise names none: it is told, never guessed into a key.
    pub fn names_keys(self) -> bool {
        self != Self::ConsoleCompromise
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthEvent {
    pub event_type_code: String,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub event_arn: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub service: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub event_type_category: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub start_time: Option<String>,
    #[serde(default, deserialize_with = "super::lenient::string")]
    pub end_time: Option<String>,
    #[serde(default)]
    pub affected_entities: Vec<AffectedEntity>,
    /// The organisational view names the member account the event is about.
    #[serde(default)]
    pub affected_account: Option<String>,
    /// Free-form; for exposed keys it may carry `publicKey` and `userName`.
    #[serde(default, deserialize_with = "super::lenient::object")]
    pub event_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffectedEntity {
    pub entity_value: String,
}

impl HealthEvent {
    /// The `RISK` code keyguard acts on, if the event carries one.
    pub fn risk(&self) -> Option<Risk> {
        Risk::of(&self.event_type_code)
    }

    fn metadata(&self, name: &str) -> Option<&str> {
        self.event_metadata.as_ref()?.get(name)?.as_str()
    }

    /// The exposed key: the first affected entity, else `eventMetadata.publicKey`.
    pub fn exposed_key(&self) -> Option<&str> {
        self.affected_entities
            .first()
            .map(|e| e.entity_value.as_str())
            .or_else(|| self.metadata("publicKey"))
    }

    /// `eventMetadata.publicKey`, where AWS names the exposed key outside the entities.
    pub fn public_key(&self) -> Option<&str> {
        self.metadata("publicKey")
    }

    pub fn exposed_user(&self) -> Option<&str> {
        self.metadata("userName")
    }
}
