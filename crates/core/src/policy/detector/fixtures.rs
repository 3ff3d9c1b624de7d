//! CloudTrail records and configurations for the rules' tests, written once.

use super::DetectorConfig;
use crate::events::{parse, CloudTrailRecord, Trigger};
use serde_json::{json, Value};

pub const HOME: &str = "123456789012";

pub fn home() -> crate::guard::SelfIdentity {
    crate::guard::SelfIdentity {
        account: Some(crate::AccountId::parse(HOME).unwrap()),
        ..Default::default()
    }
}

pub fn cfg_with(pairs: &[(&str, &str)]) -> DetectorConfig {
    let m: std::collections::BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    DetectorConfig::from_env(&move |k: &str| m.get(k).cloned(), home()).unwrap()
}

pub fn record(v: Value) -> CloudTrailRecord {
    match parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}")) {
        Trigger::CloudTrail { record, .. } => *record,
        other => panic!("{other:?}"),
    }
}

/// An IAM user of the home account signing with `key`.
pub fn iam_user(name: &str, key: &str) -> Value {
    json!({"type": "IAMUser", "userName": name, "accessKeyId": key,
           "arn": format!("arn:aws:iam::{HOME}:user/{name}"), "accountId": HOME})
}

/// A session of role `role` of the home account.
pub fn role_session(role: &str, session: &str) -> Value {
    json!({"type": "AssumedRole", "accessKeyId": "ASIAROLESESSION00001",
           "arn": format!("arn:aws:sts::{HOME}:assumed-role/{role}/{session}"), "accountId": HOME,
           "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role, "accountId": HOME,
               "arn": format!("arn:aws:iam::{HOME}:role/{role}")}}})
}

/// A call of the home account, at `time`, from `ip` with `agent`.
pub fn call(
    source: &str,
    name: &str,
    identity: Value,
    time: &str,
    (ip, agent): (&str, &str),
) -> Value {
    json!({"eventName": name, "eventSource": source, "eventID": format!("{name}-{time}"),
           "eventTime": time, "userIdentity": identity, "recipientAccountId": HOME,
           "sourceIPAddress": ip, "userAgent": agent, "awsRegion": "us-east-1"})
}
