use super::*;
use crate::guard::SelfIdentity;
use crate::key::{RoleName, UserName};
use serde_json::json;
use std::collections::BTreeMap;

fn guard(env: &[(&str, &str)]) -> Guard {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Guard::from_env(&|k: &str| env.get(k).cloned(), SelfIdentity::default()).unwrap()
}

fn record(identity: serde_json::Value) -> CloudTrailRecord {
    let raw = json!({"eventName": "TagUser", "eventSource": "iam.amazonaws.com", "eventID": "ev-3",
                     "eventTime": "2026-12-01T10:00:00Z", "userIdentity": identity,
                     "requestParameters": {"userName": "ci", "tags": [{"key": "keyguard:exempt", "value": "true"}]}});
    crate::events::record(&raw).unwrap()
}

fn user_key(name: &str, key: &str) -> serde_json::Value {
    json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111111111111:user/{name}"), "accessKeyId": key})
}

fn session(role: &str) -> serde_json::Value {
    json!({"type": "AssumedRole", "arn": format!("arn:aws:sts::111111111111:assumed-role/{role}/alice"),
           "accessKeyId": "ASIAROLESESSION00001"})
}

fn ci() -> Principal {
    Principal::User(UserName::parse("ci").unwrap())
}

#[test]
fn who_set_the_tag_is_read_from_the_call() {
    let own = Provenance::of(&record(user_key("CI", "AKIAIOSFODNN7EXAMPLE")), &ci());
    assert!(own.own && own.long_term_key, "{own:?}");
    assert_eq!(
        (own.call.as_str(), own.at.as_str(), own.event_id.as_str()),
        ("TagUser", "2026-12-01T10:00:00Z", "ev-3")
    );
    let other = Provenance::of(&record(user_key("cicd", "ASIAUSERSESSION00001")), &ci());
    assert!(!other.own && !other.long_term_key, "{other:?}");
    // A role's session is its role's own; a user named like the role is not the role.
    let role = Principal::Role(RoleName::parse("ops").unwrap());
    assert!(Provenance::of(&record(session("Ops")), &role).own);
    assert!(!Provenance::of(&record(user_key("ops", "AKIAIOSFODNN7EXAMPLE")), &role).own);
    let unknown = Provenance::of(&record(json!({"type": "AWSService"})), &ci());
    assert_eq!(unknown.set_by, "unknown");
    assert!(!unknown.own && !unknown.long_term_key && !unknown.role_session);
    assert!(Provenance::of(&record(session("ops")), &ci()).role_session);
    // A user whose name holds "assumed-role" is still a user.
    let odd = user_key("assumed-role", "ASIAUSERSESSION00001");
    assert!(!Provenance::of(&record(odd), &ci()).role_session);
    // A record that cannot be read vouches for nothing.
    assert!(guard(&[]).doubts(&Provenance::unreadable()).is_some());
}

#[test]
fn a_tag_is_believed_only_from_whom_the_configuration_trusts() {
    let by = |identity| Provenance::of(&record(identity), &ci());
    let default = guard(&[]);
    // Without EXEMPT_TAGGERS: a role's session is believed; an IAM user is not, by its
    // long-term key, its console session or a GetSessionToken session (a leaked key can
    // mint each for a user it creates); nor the root user, nor a caller not named.
    let root = json!({"type": "Root", "arn": "arn:aws:iam::111111111111:root", "accessKeyId": "ASIAROOTSESSION00001"});
    let cases = [
        (by(user_key("ci", "AKIAIOSFODNN7EXAMPLE")), true),
        (by(user_key("ci", "ASIAUSERSESSION00001")), true),
        (by(user_key("admin", "AKIAIOSFODNN7EXAMPLE")), true),
        (by(user_key("admin", "ASIAUSERSESSION00001")), true),
        (by(root), true),
        (by(session("ops")), false),
        (by(json!({"type": "AWSService"})), true),
    ];
    for (p, doubted) in &cases {
        assert_eq!(default.doubts(p).is_some(), *doubted, "{p:?}");
    }
    let listed = guard(&[("EXEMPT_TAGGERS", "Ops")]);
    let cases = [
        (by(session("ops")), false),
        (by(session("dev")), true),
        // A user named like the listed role is still a user.
        (by(user_key("ops", "ASIAUSERSESSION00001")), true),
        (by(json!({"type": "AWSService"})), true),
    ];
    for (p, doubted) in &cases {
        assert_eq!(listed.doubts(p).is_some(), *doubted, "{p:?}");
    }
    // Its own tag is never believed, listed or not.
    let role = Principal::Role(RoleName::parse("ops").unwrap());
    assert!(listed
        .doubts(&Provenance::of(&record(session("ops")), &role))
        .is_some());
    let why = default
        .doubts(&by(user_key("ci", "AKIAIOSFODNN7EXAMPLE")))
        .unwrap();
    assert!(why.contains("TagUser by arn:aws:iam::111111111111:user/ci at 2026-12-01T10:00:00Z (CloudTrail event ev-3)"), "{why}");
}

#[test]
fn the_record_is_one_per_principal_whatever_the_case() {
    let home = AccountId::parse("111111111111").unwrap();
    assert_eq!(
        ledger_key(
            Some(&home),
            &Principal::User(UserName::parse("CI").unwrap())
        ),
        ledger_key(Some(&home), &ci())
    );
    assert_eq!(
        ledger_key(Some(&home), &ci()),
        "exemption:111111111111:user/ci"
    );
    assert_ne!(
        ledger_key(Some(&home), &ci()),
        ledger_key(
            Some(&home),
            &Principal::Role(RoleName::parse("ci").unwrap())
        )
    );
}
