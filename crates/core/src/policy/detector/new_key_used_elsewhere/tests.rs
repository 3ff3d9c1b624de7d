use super::*;
use crate::policy::detector::fixtures::{call, iam_user, record, HOME};
use crate::policy::detector::memory::KeyCreation;
use serde_json::{json, Value};

const KEY: &str = "AKIANEWKEY0000000001";
const CREATED: &str = "2026-12-07T10:00:00Z";
const OFFICE: &str = "198.51.100.7";
const CONSOLE: &str = "AWS Internal";

fn recall(ip: Option<&str>, agent: Option<&str>) -> Recall {
    Recall {
        signer_created: Some(KeyCreation {
            key_id: crate::AccessKeyId::parse(KEY).unwrap(),
            user: "bob".into(),
            created_by: format!("arn:aws:iam::{HOME}:user/alice"),
            source_ip: ip.map(str::to_owned),
            user_agent: agent.map(str::to_owned),
            at: crate::parse_time(CREATED).unwrap(),
            event_id: "created".into(),
        }),
        ..Recall::default()
    }
}

fn used(time: &str, ip: &str, agent: &str) -> Value {
    call(
        "iam.amazonaws.com",
        "AttachUserPolicy",
        iam_user("bob", KEY),
        time,
        (ip, agent),
    )
}

#[test]
fn a_new_key_used_from_elsewhere_alerts_and_nothing_else_does() {
    let from_office = recall(Some(OFFICE), Some(CONSOLE));
    let mut denied = used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE);
    denied["errorCode"] = json!("AccessDenied");
    let mut by_service = used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE);
    by_service["userIdentity"]["invokedBy"] = json!("cloudformation.amazonaws.com");
    let mut service_principal = used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE);
    service_principal["userIdentity"] =
        json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"});
    let mut other_key = used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE);
    other_key["userIdentity"]["accessKeyId"] = json!("AKIAOTHERKEY00000001");
    let mut upper = used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE);
    upper["userIdentity"]["userName"] = json!("BOB");
    let mut v6 = used("2026-12-07T10:05:00Z", "2001:db8::1", CONSOLE);
    v6["eventName"] = json!("RunInstances");
    type Case<'a> = (&'static str, Value, &'a Recall, Option<Severity>);
    let no_address = recall(None, Some(CONSOLE));
    let nothing = Recall::default();
    let cases: Vec<Case> = vec![
        (
            "another address",
            used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE),
            &from_office,
            Some(Severity::Medium),
        ),
        (
            "another address and agent",
            used("2026-12-07T10:05:00Z", "203.0.113.9", "curl/8"),
            &from_office,
            Some(Severity::Medium),
        ),
        ("an IPv6 address", v6, &from_office, Some(Severity::Medium)),
        (
            "only another agent",
            used("2026-12-07T10:05:00Z", OFFICE, "aws-cli/2.15"),
            &from_office,
            Some(Severity::Low),
        ),
        (
            "the same address and agent",
            used("2026-12-07T10:05:00Z", OFFICE, CONSOLE),
            &from_office,
            None,
        ),
        (
            "a denied call from elsewhere",
            denied,
            &from_office,
            Some(Severity::Medium),
        ),
        (
            "the user's name in another case",
            upper,
            &from_office,
            Some(Severity::Medium),
        ),
        (
            "a minute before its creation (clock skew)",
            used("2026-12-07T09:59:00Z", "203.0.113.9", CONSOLE),
            &from_office,
            Some(Severity::Medium),
        ),
        (
            "at the window's end",
            used("2026-12-07T11:00:00Z", "203.0.113.9", CONSOLE),
            &from_office,
            Some(Severity::Medium),
        ),
        (
            "past the window",
            used("2026-12-07T11:00:01Z", "203.0.113.9", CONSOLE),
            &from_office,
            None,
        ),
        (
            "long before its creation",
            used("2026-12-07T09:50:00Z", "203.0.113.9", CONSOLE),
            &from_office,
            None,
        ),
        (
            "a service acting for the key",
            by_service,
            &from_office,
            None,
        ),
        ("a service principal", service_principal, &from_office, None),
        ("another key", other_key, &from_office, None),
        (
            "an address that is a service's name",
            used(
                "2026-12-07T10:05:00Z",
                "cloudformation.amazonaws.com",
                CONSOLE,
            ),
            &from_office,
            None,
        ),
        (
            "a creation with no address",
            used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE),
            &no_address,
            None,
        ),
        (
            "nothing remembered",
            used("2026-12-07T10:05:00Z", "203.0.113.9", CONSOLE),
            &nothing,
            None,
        ),
    ];
    for (what, v, recalled, expected) in cases {
        let alert = check(&record(v), recalled, 60);
        assert_eq!(alert.as_ref().map(|a| a.severity), expected, "{what}");
        if let Some(a) = alert {
            let (key, user) = a.contain.unwrap();
            assert_eq!(key.as_str(), KEY, "{what}");
            assert!(user.is_some(), "{what}");
            assert!(
                a.summary
                    .contains("created by arn:aws:iam::123456789012:user/alice"),
                "{what}: {}",
                a.summary
            );
        }
    }
}
