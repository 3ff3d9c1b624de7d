//! Every function is built with a client for every action its policy can plan, with
//! every optional part on (Security Hub, organisation mode) and off; a client left out
//! stops the cold start, naming the action and the client, before any event arrives.
//! Nothing here calls AWS: building a client makes no request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_aws::lambda::ColdStart;
use keyguard_core::config::FromEnv;
use keyguard_core::guard::SelfIdentity;
use std::collections::BTreeMap;

fn sdk() -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .build()
}

fn me() -> SelfIdentity {
    SelfIdentity {
        key_id: None,
        user: None,
        role: Some("keyguard-deactivate-key".into()),
        account: keyguard_core::AccountId::parse("111122223333").ok(),
    }
}

/// The variables each function requires, with the optional parts on or off.
fn env(optional: bool) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = [
        ("LEDGER_TABLE", "keyguard-ledger"),
        (
            "HANDOFF_KEY_ID",
            "arn:aws:kms:eu-west-1:111122223333:key/mac",
        ),
        (
            "RESPONSE_PLAN_ARN",
            "arn:aws:ssm-incidents::111122223333:response-plan/keyguard",
        ),
        ("SENDER_EMAIL", "keyguard@example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if optional {
        env.insert("SECURITY_HUB".into(), "true".into());
        env.insert("ORGANIZATION_MODE".into(), "true".into());
        env.insert(
            "ACCOUNT_QUEUE_URL".into(),
            "https://sqs.eu-west-1.amazonaws.com/111122223333/keyguard-age-accounts".into(),
        );
    }
    env
}

/// A function built as its cold start builds it (`ColdStart::build`): whether it is
/// wired.
fn built<A: ColdStart>(env: &BTreeMap<String, String>) -> Result<(), String> {
    let vars = |k: &str| env.get(k).cloned();
    let settings = A::Settings::from_env(&vars, me()).unwrap();
    let app = A::build(&sdk(), settings).unwrap();
    app.wired().map_err(|e| e.to_string())
}

fn wired_all(env: &BTreeMap<String, String>) -> Vec<(&'static str, Result<(), String>)> {
    vec![
        ("deactivate-key", built::<deactivate_key::App>(env)),
        (
            "guardduty-translator",
            built::<guardduty_translator::App>(env),
        ),
        ("createkey-detector", built::<createkey_detector::App>(env)),
        ("secrets-rotator", built::<secrets_rotator::App>(env)),
        ("age-rotation", built::<age_rotation::App>(env)),
    ]
}

#[test]
fn every_function_has_a_client_for_every_action_it_can_plan() {
    for optional in [false, true] {
        let results = wired_all(&env(optional));
        assert_eq!(results.len(), keyguard_testkit::infra::FUNCTIONS.len());
        for (function, wired) in results {
            assert_eq!(wired, Ok(()), "{function} (optional parts on: {optional})");
        }
    }
}

#[test]
fn a_client_left_out_is_named_at_cold_start() {
    let env = env(true);
    let vars = |k: &str| env.get(k).cloned();
    let settings = age_rotation::Settings::from_env(&vars, me()).unwrap();
    let mut age = age_rotation::App::new(&sdk(), settings);
    age.effects.mailer = None;
    let error = age.wired().unwrap_err();
    assert_eq!(
        (error.function, error.action, error.client),
        ("age-rotation", "send_email", "an SES client")
    );

    let settings = guardduty_translator::Settings::from_env(&vars, me()).unwrap();
    let mut translator = guardduty_translator::App::new(&sdk(), settings);
    translator.containing.effects.security_hub = None;
    let error = translator.wired().unwrap_err();
    assert_eq!(
        (error.action, error.client),
        ("import_finding", "a Security Hub client"),
        "the run's finding is asked for when Security Hub is on"
    );
    translator.containing.effects.incidents = None;
    assert_eq!(translator.wired().unwrap_err().action, "open_incident");
}
