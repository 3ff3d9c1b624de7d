//! keyguard-core: what keyguard receives, what it decides, and the shapes of its plans.
//!
//! Every function follows one path: untrusted JSON is [`parse`]d into a [`Trigger`], a
//! pure `decide` function in [`policy`] turns it (with configuration, facts and the
//! current time) into a [`Plan`], and adapters outside this crate apply the plan through
//! the [`Effects`] traits, producing a [`Report`]. This crate has no AWS SDK and no async
//! runtime, so the dangerous logic is tested by the hundred in seconds.

pub mod canary;
pub mod events;
pub mod exemption;
pub mod guard;
pub mod key;
pub mod org_scan;
pub mod organization;
pub mod scope;
pub mod step_key;
pub mod time;

pub use events::{event_ref, parse, parse_value, ParseError, Trigger, TriggerKind};
pub use key::{AccessKeyId, IdError, KeyKind, RoleName, UserName};
pub use scope::{AccountId, Region, Scope};
pub use time::{parse_time, Timestamp};
pub mod effects;
pub mod history;
pub mod metrics;
pub mod notice;
pub mod ocsf;
pub mod plan;
pub mod report;
pub mod revocation;
pub mod security_hub;

pub use effects::{
    execute, execute_with, Claim, EffectError, Effects, ErrorKind, Ledger, LedgerEntry, Prior,
};
pub use notice::{Channel, Notice, Notifier, Severity};
pub use pipeline::{Executor, Policy, Source};
pub use plan::{Action, Decision, Email, Incident, Link, Plan, Principal, Step, Window};
pub use report::{Outcome, Report, StepReport};
pub mod config;
pub mod credential_report;
pub mod digest;
pub mod pipeline;
pub mod policy;
pub mod unread;
