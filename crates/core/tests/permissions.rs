//! Each function's SAM role grants every permission its plans can need: the actions each
//! function plans, asked for their `Action::iam_permissions`, against the role's policies
//! in `infra/<function>/template.yaml`. A new action without its grant fails here, not in
//! production.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_core::plan::{Email, Incident};
use keyguard_core::{
    AccessKeyId, Action, Channel, Notice, Principal, RoleName, Severity, UserName,
};

fn actions() -> Vec<(&'static str, Vec<Action>)> {
    let user = UserName::parse("alice").unwrap();
    let key = AccessKeyId::parse("AKIAIOSFODNN7EXAMPLE").unwrap();
    let notice = Notice::new(Severity::High, "x");
    let notify = Action::Notify {
        notice: notice.clone(),
    };
    let deactivate = Action::DeactivateKey {
        user: user.clone(),
        key_id: key.clone(),
    };
    let delete = Action::DeleteKey {
        user: user.clone(),
        key_id: key.clone(),
    };
    let revoke = |principal| Action::RevokeSessions {
        principal,
        issued_before: keyguard_core::parse_time("2026-11-23T10:00:00Z").unwrap(),
        policy_name: "p".into(),
        key_id: None,
    };
    let revoke_both = || {
        vec![
            revoke(Principal::User(user.clone())),
            revoke(Principal::Role(RoleName::parse("app").unwrap())),
        ]
    };
    let secret = || ("s".to_owned(), "t".to_owned());
    let sweep = Action::SweepHistory {
        user: user.clone(),
        key_id: key.clone(),
        lookback_hours: 24,
    };
    vec![
        (
            "deactivate-key",
            [
                vec![deactivate.clone(), notify.clone(), sweep.clone()],
                revoke_both(),
            ]
            .concat(),
        ),
        (
            "guardduty-translator",
            [
                vec![
                    Action::StartRunbook {
                        document: "d".into(),
                        user: user.clone(),
                        key_id: key.clone(),
                        assume_role_arn: None,
                        client_token: "c".into(),
                    },
                    Action::OpenIncident {
                        incident: Incident {
                            response_plan_arn: "arn".into(),
                            title: "t".into(),
                            impact: 2,
                            source: "s".into(),
                            timestamp: keyguard_core::parse_time("2026-11-23T10:00:00Z").unwrap(),
                            trigger_arn: None,
                            raw_data: "{}".into(),
                            related: vec![],
                            user: None,
                            key_id: None,
                            client_token: "c".into(),
                        },
                    },
                    Action::AddToIncident {
                        incident_arn: "arn".into(),
                        event_time: keyguard_core::parse_time("2026-11-23T10:00:00Z").unwrap(),
                        event_data: "d".into(),
                        client_token: "c".into(),
                        user: None,
                        key_id: None,
                    },
                    notify.clone(),
                    deactivate.clone(),
                    sweep,
                ],
                revoke_both(),
            ]
            .concat(),
        ),
        (
            "secrets-rotator",
            vec![
                Action::CreatePendingKey {
                    secret_id: secret().0,
                    token: secret().1,
                    user: user.clone(),
                },
                Action::TestPendingKey {
                    secret_id: secret().0,
                    token: secret().1,
                    user: user.clone(),
                    key_id: key.clone(),
                },
                Action::PromotePending {
                    secret_id: secret().0,
                    token: secret().1,
                    from_version: None,
                },
                deactivate.clone(),
                delete.clone(),
                notify.clone(),
            ],
        ),
        (
            "age-rotation",
            vec![
                deactivate,
                delete,
                Action::SendEmail {
                    email: Email {
                        to: "a@example.com".into(),
                        from: "k@example.com".into(),
                        subject: "s".into(),
                        text: "t".into(),
                        html: "h".into(),
                        user: None,
                    },
                },
                notify.clone(),
            ],
        ),
        (
            "createkey-detector",
            vec![
                Action::RecordExemption {
                    principal: Principal::User(user.clone()),
                    account: keyguard_core::AccountId::parse("123456789012").ok(),
                    provenance: keyguard_core::exemption::Provenance::unreadable(),
                },
                Action::Remember {
                    account: keyguard_core::AccountId::parse("123456789012").unwrap(),
                    memo: keyguard_core::policy::detector::memory::Memo::UserCreated(
                        keyguard_core::policy::detector::memory::UserCreation {
                            user: "u".into(),
                            created_by: "c".into(),
                            at: keyguard_core::parse_time("2026-11-23T10:00:00Z").unwrap(),
                            event_id: "e".into(),
                        },
                    ),
                    until: keyguard_core::parse_time("2026-11-23T11:00:00Z").unwrap(),
                },
                Action::HandOff {
                    key_id: key,
                    user: Some(user),
                    account: keyguard_core::AccountId::parse("123456789012").unwrap(),
                    classifier_source: "c".into(),
                    event_id: "e".into(),
                },
                Action::Alert {
                    channel: Channel::Discord,
                    notice,
                },
                notify,
            ],
        ),
    ]
}

#[test]
fn every_role_grants_what_its_plans_need() {
    for (function, planned) in actions() {
        let granted = keyguard_testkit::infra::granted(function);
        assert!(!granted.is_empty(), "{function}: no role policy found");
        // The list below is the policy's own: an action added to a policy without an
        // example here would have its grant go unchecked.
        let names: std::collections::BTreeSet<&str> = planned.iter().map(Action::name).collect();
        let declared: std::collections::BTreeSet<&str> =
            keyguard_core::policy::policies::actions_of(function)
                .unwrap()
                .iter()
                .copied()
                .collect();
        assert_eq!(
            names, declared,
            "{function}: the actions checked here are not the ones its policy declares"
        );
        for action in planned {
            for permission in action.iam_permissions() {
                assert!(
                    granted.contains(*permission),
                    "infra/{function}/template.yaml does not grant {permission} (needed by {})",
                    action.name()
                );
            }
        }
    }
}

/// The request-level evaluator against the real templates: each role keyguard runs as is
/// defined, allows what it is for, and refuses what it is not (so `check-requests` can
/// fail), with account, region and conditions taken into account.
#[test]
fn the_templates_roles_allow_their_calls_and_refuse_others() {
    use keyguard_testkit::policy::{evaluate, roles, Permission, Verdict};
    let roles = roles();
    for role in [
        "keyguard-deactivate-key",
        "keyguard-guardduty-translator",
        "keyguard-age-rotation",
        "keyguard-age-rotation-member",
        "keyguard-createkey-detector",
        "keyguard-secrets-rotator",
        "keyguard-runbook",
    ] {
        assert!(roles.contains_key(role), "no template defines {role}");
    }
    let check = |role: &str, action: &str, resource: &str, context: &[(&str, &str)]| {
        let p = Permission::new(action, resource, context);
        matches!(
            evaluate(&roles[role].1, &p, "123456789012", "us-east-1"),
            Verdict::Allowed { .. }
        )
    };
    let user = "arn:aws:iam::123456789012:user/alice";
    assert!(check(
        "keyguard-deactivate-key",
        "iam:UpdateAccessKey",
        user,
        &[]
    ));
    assert!(!check(
        "keyguard-deactivate-key",
        "iam:DeleteAccessKey",
        user,
        &[]
    ));
    assert!(
        !check(
            "keyguard-deactivate-key",
            "iam:UpdateAccessKey",
            "arn:aws:iam::999999999999:user/alice",
            &[]
        ),
        "another account's user"
    );
    let secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf";
    let tagged = [("aws:ResourceTag/keyguard:iam-user", "alice")];
    assert!(check(
        "keyguard-secrets-rotator",
        "secretsmanager:PutSecretValue",
        secret,
        &tagged
    ));
    assert!(
        !check(
            "keyguard-secrets-rotator",
            "secretsmanager:PutSecretValue",
            secret,
            &[]
        ),
        "a secret keyguard does not manage"
    );
    assert!(check(
        "keyguard-secrets-rotator",
        "iam:ListUsers",
        "arn:aws:iam::123456789012:user/",
        &[]
    ));
    let identity = "arn:aws:ses:us-east-1:123456789012:identity/keyguard@example.com";
    assert!(check(
        "keyguard-age-rotation",
        "ses:SendEmail",
        identity,
        &[("ses:FromAddress", "keyguard@example.com")]
    ));
    assert!(!check(
        "keyguard-age-rotation",
        "ses:SendEmail",
        identity,
        &[]
    ));
    assert!(check(
        "keyguard-guardduty-translator",
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/keyguard-runbook",
        &[("iam:PassedToService", "ssm.amazonaws.com")]
    ));
    assert!(!check(
        "keyguard-guardduty-translator",
        "iam:PassRole",
        "arn:aws:iam::123456789012:role/keyguard-runbook",
        &[("iam:PassedToService", "lambda.amazonaws.com")]
    ));
    assert!(!check("keyguard-runbook", "iam:DeleteAccessKey", user, &[]));
    assert!(check(
        "keyguard-runbook",
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:123456789012:function:keyguard-secrets-rotator",
        &[]
    ));
}
