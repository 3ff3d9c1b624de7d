//! No plan made from any sample keyguard ships (`events/`) or reads (the shared corpus)
//! touches one of keyguard's own principals or a credential of another account: the
//! same samples are planned as they are, and again moved to another account, and every
//! step that writes is checked for where it acts and on whom.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_core::guard::{HandoffCheck, SelfIdentity, DEFAULT_KEYGUARD_ROLES};
use keyguard_core::policy::containment::{self, ContainmentConfig, Facts, KeyStatus};
use keyguard_core::policy::detector::{self, DetectorConfig};
use keyguard_core::policy::translator::{self, TranslatorConfig};
use keyguard_core::{parse_value, AccountId, Action, Plan, Principal, UserName};
use keyguard_testkit::corpus;
use serde_json::Value;

const HOME: &str = "123456789012";
const OTHER: &str = "999999999999";

fn me() -> SelfIdentity {
    SelfIdentity {
        account: Some(AccountId::parse(HOME).unwrap()),
        ..SelfIdentity::default()
    }
}

fn env(k: &str) -> Option<String> {
    (k == "RESPONSE_PLAN_ARN")
        .then(|| "arn:aws:ssm-incidents::123456789012:response-plan/keyguard".to_owned())
}

/// The same event, every account id in it moved to another account.
fn elsewhere(v: &Value) -> Value {
    serde_json::from_str(&v.to_string().replace(HOME, OTHER)).unwrap()
}

/// As much as IAM could say: whoever is named exists and holds the key, Active.
fn generous() -> Facts {
    Facts {
        owner: Some(UserName::parse("someone").unwrap()),
        exists: true,
        key_status: Some(KeyStatus::Active),
        ..Facts::default()
    }
}

fn plans(v: &Value) -> Vec<Plan> {
    let Ok(trigger) = parse_value(v) else {
        return Vec::new();
    };
    let event_ref = keyguard_core::event_ref(&trigger, v);
    let mut out = Vec::new();
    let c = ContainmentConfig::from_env(&env, me()).unwrap();
    // A hand-off counted as authenticated: the most a hand-off can get.
    if let Ok(t) = containment::target(&trigger, &c, &event_ref, Some(&HandoffCheck::Verified)) {
        let facts = vec![generous(); t.credentials.len()];
        out.push(containment::decide(&t, &c, &facts, chrono::Utc::now()));
    }
    let tc = TranslatorConfig::from_env(&env, me()).unwrap();
    if let Ok(t) = translator::target(&trigger, &tc, &event_ref) {
        out.push(translator::decide(&t, &tc, &generous(), chrono::Utc::now()));
    }
    let dc = DetectorConfig::from_env(&env, me()).unwrap();
    out.push(detector::decide(&trigger, &dc, &event_ref));
    out
}

/// Whose credential a writing step touches, if it writes.
fn touched(action: &Action) -> Option<String> {
    match action {
        Action::DeactivateKey { user, .. } | Action::StartRunbook { user, .. } => {
            Some(format!("user/{user}"))
        }
        Action::RevokeSessions {
            principal: Principal::Role(r),
            ..
        } => Some(format!("role/{r}")),
        Action::RevokeSessions {
            principal: Principal::User(u),
            ..
        } => Some(format!("user/{u}")),
        Action::HandOff { key_id, .. } => Some(format!("key/{key_id}")),
        _ => None,
    }
}

#[test]
fn no_sample_plan_touches_a_keyguard_principal_or_another_account() {
    let all = corpus::events();
    assert!(all.len() >= 20, "only {} samples", all.len());
    let mut writes = 0;
    for (name, v) in &all {
        for (moved, event) in [(false, v.clone()), (true, elsewhere(v))] {
            for plan in plans(&event) {
                for step in &plan.steps {
                    let Some(whom) = touched(&step.action) else {
                        continue;
                    };
                    writes += 1;
                    assert!(
                        !moved,
                        "{name} moved to {OTHER}: {} on {whom} ({})",
                        step.action.name(),
                        plan.function
                    );
                    let account = step.scope.as_ref().map(|s| s.account.as_str());
                    assert_eq!(
                        account,
                        Some(HOME),
                        "{name}: {whom} acted on outside the home account"
                    );
                    let role = whom.strip_prefix("role/").unwrap_or("");
                    assert!(
                        !DEFAULT_KEYGUARD_ROLES
                            .iter()
                            .any(|r| r.eq_ignore_ascii_case(role)),
                        "{name}: a keyguard principal {whom}"
                    );
                }
            }
        }
    }
    assert!(
        writes > 0,
        "some sample is acted on at home, or the test proves nothing"
    );
}

#[test]
fn a_hand_off_naming_a_keyguard_role_is_refused_whatever_its_case() {
    for role in DEFAULT_KEYGUARD_ROLES {
        let v = serde_json::json!({"accessKeyId": "ASIA5ZXAKGI33TI7QQGW", "accountId": HOME,
                                   "roleName": role.to_ascii_uppercase()});
        for plan in plans(&v) {
            assert!(
                plan.steps.iter().all(|s| touched(&s.action).is_none()),
                "{role}: {plan:#?}"
            );
        }
    }
}
