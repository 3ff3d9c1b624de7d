//! The sweep in organisation mode against moto: each member account's unused keys read
//! and deactivated there through the member role, under that account's exemptions; the
//! home account swept as before; a redelivered schedule acts nowhere twice. Its own test
//! process, since a sweep reads every user of every account.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_testkit::{iam, moto, org, unique};
use secrets_rotator::{App, Settings};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const ROLE: &str = "keyguard-secrets-rotator-member";

fn steps<'a>(report: &'a Value, action: &str, outcome: &str) -> Vec<&'a Value> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"]["type"] == action && s["outcome"] == outcome)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_members_unused_keys_are_swept_there_through_the_member_role() {
    let moto = moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let members = org::members(&sdk, 3).await;
    // The third is left out of MEMBER_ACCOUNTS: never read, never acted in.
    let (swept, left_out) = (&members[..2], members[2].as_str());
    let created = (chrono::Utc::now() - chrono::Duration::days(200)).to_rfc3339();
    // In each member, an employee whose key has not been used in its 200 days.
    let mut made = BTreeMap::new();
    for account in swept {
        let (user, key) = org::employee_with_key_made(&sdk, account, ROLE, &created).await;
        made.insert(account.clone(), (user, key));
    }
    let (outside_user, outside_key) =
        org::employee_with_key_made(&sdk, left_out, ROLE, &created).await;
    // At home, an employee of the first member's user's name with an unused key too,
    // exempt by that bare name: the bare name is this account's user, not the member's.
    let (namesake, _) = &made[&members[0]];
    let home = aws_sdk_iam::Client::new(&sdk);
    iam::user_named(&home, namesake, &[("UserType", "employee")]).await;
    let (home_key, _) = iam::key(&home, namesake).await;
    moto.backdate_key(namesake, &home_key, &created);

    let env: BTreeMap<String, String> = [
        ("LEDGER_TABLE", unique("ledger").as_str()),
        ("ORGANIZATION_MODE", "true"),
        ("EXEMPT_USERS", namesake.as_str()),
        ("MEMBER_ACCOUNTS", &swept.join(",")),
        ("REPORT_WAIT_SECONDS", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let me = keyguard_aws::identity::whoami(&sdk).await.unwrap();
    let settings = Settings::from_env(&|k: &str| env.get(k).cloned(), me).unwrap();
    let app = App::new(&sdk, settings);
    app.ledger.create_table().await.unwrap();
    let schedule = json!({"version": "0", "id": unique("sweep"), "detail-type": "Scheduled Event",
                          "source": "aws.events", "time": "2026-12-07T10:00:00Z", "detail": {}});

    let report = serde_json::to_value(app.handle(&schedule).await).unwrap();
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let deactivated = steps(&report, "deactivate_key", "applied");
    assert_eq!(deactivated.len(), 2, "{report:#}");
    for (account, (user, key)) in &made {
        let there = org::iam_in(&sdk, account, ROLE).await;
        assert_eq!(
            iam::statuses(&there, user).await[key],
            "Inactive",
            "account {account}"
        );
        let step = deactivated
            .iter()
            .find(|s| s["action"]["key_id"] == key.as_str())
            .unwrap();
        assert!(
            step["reason"]
                .as_str()
                .unwrap()
                .starts_with(&format!("account {account}: ")),
            "{step:#}"
        );
        assert!(step["idempotency_key"]
            .as_str()
            .unwrap()
            .contains(account.as_str()));
    }
    assert_eq!(
        iam::statuses(&home, namesake).await[&home_key],
        "Active",
        "the home account's exempt namesake is untouched"
    );
    let outside = org::iam_in(&sdk, left_out, ROLE).await;
    assert_eq!(
        iam::statuses(&outside, &outside_user).await[&outside_key],
        "Active",
        "an account MEMBER_ACCOUNTS leaves out is not acted in"
    );
    assert!(
        !report["steps"].to_string().contains(left_out),
        "no step there: {report:#}"
    );
    let reported = steps(&report, "notify", "applied");
    assert!(
        reported.iter().any(|s| s["reason"]
            .as_str()
            .unwrap()
            .contains("reported, not touched: an exempt user")),
        "{report:#}"
    );

    // The same schedule again: nothing is done twice, anywhere.
    let again = serde_json::to_value(app.handle(&schedule).await).unwrap();
    assert_eq!(again["statusCode"], 200, "{again:#}");
    assert!(
        steps(&again, "deactivate_key", "applied").is_empty(),
        "{again:#}"
    );
    assert!(steps(&again, "notify", "applied").is_empty(), "{again:#}");
}

/// As deployed, the sweep assumes the role the member StackSet makes for it, and its own
/// role may assume exactly that one: a template naming `keyguard-member` (which does not
/// trust this function) would leave every member unswept, one notice each, for good.
#[test]
fn the_template_sends_the_sweep_through_the_role_the_member_stackset_makes() {
    let env = keyguard_testkit::infra::template_env_with(
        "secrets-rotator",
        &[("OrganizationMode", "true")],
    );
    let member = keyguard_testkit::infra::template_at(
        &keyguard_testkit::workspace_root().join("infra/member/template.yaml"),
    );
    let made = member["Parameters"]["SweepRoleName"]["Default"]
        .as_str()
        .unwrap();
    assert_eq!(env["MEMBER_ROLE_NAME"], made);
    assert_eq!(
        made,
        keyguard_core::organization::SWEEP_MEMBER_ROLE,
        "the code's default too"
    );
    assert_eq!(made, ROLE, "the role this test sweeps through");
    let trusted =
        member["Resources"]["SweepRole"]["Properties"]["AssumeRolePolicyDocument"].to_string();
    assert!(
        trusted.contains("role/keyguard-secrets-rotator\""),
        "{trusted}"
    );
}
