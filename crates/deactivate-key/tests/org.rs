//! deactivate-key's organisation mode against moto: a member's credential is contained in
//! the member's account through the member role; keyguard's own account, and accounts
//! the organisation does not have or `MEMBER_ACCOUNTS` leaves out, are not touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use common::{sample, world, World};
use keyguard_testkit::org;
use serde_json::{json, Value};

const ROLE: &str = "keyguard-member";
/// moto's default account: keyguard's own in these tests.
const HOME: &str = "123456789012";

/// A user with two keys in `account` (made through a fixture's session there).
async fn user_in(
    sdk: &keyguard_aws::SdkConfig,
    account: &str,
    name: Option<&str>,
) -> (aws_sdk_iam::Client, String, String, String) {
    let iam = org::iam_in(sdk, account, ROLE).await;
    let user = match name {
        Some(n) => {
            iam.create_user().user_name(n).send().await.unwrap();
            n.to_owned()
        }
        None => keyguard_testkit::iam::user(&iam, &[]).await,
    };
    let (first, _) = keyguard_testkit::iam::key(&iam, &user).await;
    let (second, _) = keyguard_testkit::iam::key(&iam, &user).await;
    (iam, user, first, second)
}

/// A hand-off from createkey-detector naming `key` of `user` in `account`.
async fn handoff(w: &World, account: &str, key: &str, user: &str) -> Value {
    w.run(
        &json!({"accessKeyId": key, "userName": user, "accountId": account,
                  "classifierSource": "test/org", "eventId": keyguard_testkit::unique("ev")}),
    )
    .await
}

fn actions(report: &Value) -> Vec<(String, String)> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["action"]["type"].as_str().unwrap().to_owned(),
                s["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_members_finding_and_hand_off_contain_the_key_in_the_member_only() {
    let w = world(&[("ORGANIZATION_MODE", "true")]).await;
    let sdk = keyguard_aws::load_config().await;
    let [b] = &org::members(&sdk, 1).await[..] else {
        panic!("one member")
    };
    // The same user name in the member and at home.
    let name = keyguard_testkit::unique("alice");
    let (b_iam, user, leaked, other) = user_in(&sdk, b, Some(&name)).await;
    w.iam.create_user().user_name(&name).send().await.unwrap();
    let (home_key, _) = keyguard_testkit::iam::key(&w.iam, &name).await;

    // A GuardDuty finding the delegated administrator (home) received for member B.
    let finding = sample("guardduty-iam-user.json", &leaked, &user)
        .to_string()
        .replace(
            &format!("\"accountId\": \"{HOME}\""),
            &format!("\"accountId\": \"{b}\""),
        )
        .replace(
            &format!("\"accountId\":\"{HOME}\""),
            &format!("\"accountId\":\"{b}\""),
        );
    let finding: Value = serde_json::from_str(&finding).unwrap();
    assert_eq!(finding["detail"]["accountId"], b.as_str());
    assert_eq!(
        finding["account"], HOME,
        "the envelope is the administrator's"
    );
    let report = w.run(&finding).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let contained = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "deactivate_key")
        .unwrap();
    assert_eq!(contained["outcome"], "applied", "{report:#}");
    assert_eq!(contained["scope"]["account"], b.as_str());
    let in_b = keyguard_testkit::iam::statuses(&b_iam, &user).await;
    assert_eq!(in_b[&leaked], "Inactive");
    assert_eq!(in_b[&other], "Active", "only the named key");
    // The sessions the key minted end with it, in B.
    assert!(b_iam
        .get_user_policy()
        .user_name(&user)
        .policy_name("keyguard-revoke-older-sessions")
        .send()
        .await
        .is_ok());
    // Nothing changed at home: the same-named user keeps its key and gets no policy.
    assert_eq!(w.statuses(&name).await[&home_key], "Active");
    assert!(w
        .iam
        .get_user_policy()
        .user_name(&name)
        .policy_name("keyguard-revoke-older-sessions")
        .send()
        .await
        .is_err());

    // An event that names B for a key of keyguard's own account (a finding's remote
    // account, a forged custom event) acts in neither: STS says whose the key is.
    let misnamed = handoff(&w, b, &home_key, &name).await;
    assert_eq!(misnamed["decision"], "foreign_account", "{misnamed:#}");
    assert!(misnamed["why"]
        .as_str()
        .unwrap()
        .contains(&format!("belongs to account {HOME}")));
    assert_eq!(w.statuses(&name).await[&home_key], "Active");
    assert_eq!(
        keyguard_testkit::iam::statuses(&b_iam, &user).await[&other],
        "Active"
    );

    // AWS Health's organisational view, received by the administrator, naming B.
    let (_, health_user, health_key, health_other) = user_in(&sdk, b, None).await;
    let health: Value = serde_json::from_str(
        &sample("health-organization-view.json", &health_key, &health_user)
            .to_string()
            .replace(
                &format!("\"affectedAccount\":\"{HOME}\""),
                &format!("\"affectedAccount\":\"{b}\""),
            ),
    )
    .unwrap();
    assert_eq!(health["detail"]["affectedAccount"], b.as_str());
    let report = w.run(&health).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let statuses = keyguard_testkit::iam::statuses(&b_iam, &health_user).await;
    assert_eq!(statuses[&health_key], "Inactive");
    assert_eq!(statuses[&health_other], "Active");

    // A hand-off for B's other key: contained in B too; redelivered, not again.
    let event = json!({"accessKeyId": other, "userName": user, "accountId": b,
                       "classifierSource": "test/org", "eventId": keyguard_testkit::unique("ev")});
    let first = w.run(&event).await;
    assert_eq!(first["statusCode"], 200, "{first:#}");
    assert_eq!(
        keyguard_testkit::iam::statuses(&b_iam, &user).await[&other],
        "Inactive"
    );
    let again = w.run(&event).await;
    assert!(
        actions(&again).iter().all(|(_, o)| o == "duplicate"),
        "{again:#}"
    );
    assert_eq!(w.statuses(&name).await[&home_key], "Active");
}

#[tokio::test]
async fn an_account_outside_the_organisation_or_the_allow_list_gets_a_notice_and_no_call() {
    keyguard_testkit::moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let members = org::members(&sdk, 2).await;
    let (allowed, left_out) = (&members[0], &members[1]);
    let open = world(&[("ORGANIZATION_MODE", "true")]).await;
    let listed = world(&[("ORGANIZATION_MODE", "true"), ("MEMBER_ACCOUNTS", allowed)]).await;
    for (w, account, why) in [
        // Not an account of the organisation at all (DescribeAccount: AccountNotFound).
        (
            &open,
            "999999999999",
            "not an account of keyguard's organisation",
        ),
        // The organisation's, but MEMBER_ACCOUNTS leaves it out.
        (&listed, left_out.as_str(), "MEMBER_ACCOUNTS"),
    ] {
        let (iam, user, key, _) = user_in(&sdk, account, None).await;
        let report = handoff(w, account, &key, &user).await;
        assert_eq!(report["statusCode"], 403, "{report:#}");
        assert_eq!(report["decision"], "foreign_account");
        assert!(report["why"].as_str().unwrap().contains(why), "{report:#}");
        assert_eq!(
            actions(&report),
            [("notify".to_owned(), "applied".to_owned())]
        );
        assert_eq!(
            keyguard_testkit::iam::statuses(&iam, &user).await[&key],
            "Active"
        );
    }
    // The allowed member is acted in.
    let (iam, user, key, _) = user_in(&sdk, allowed, None).await;
    let report = handoff(&listed, allowed, &key, &user).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(
        keyguard_testkit::iam::statuses(&iam, &user).await[&key],
        "Inactive"
    );
}

#[tokio::test]
async fn organisation_mode_off_refuses_a_members_credential() {
    keyguard_testkit::moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let [b] = &org::members(&sdk, 1).await[..] else {
        panic!("one member")
    };
    let w = world(&[]).await;
    let (iam, user, key, _) = user_in(&sdk, b, None).await;
    let report = handoff(&w, b, &key, &user).await;
    assert_eq!(report["decision"], "foreign_account", "{report:#}");
    assert!(report.to_string().contains("organisation mode is not on"));
    assert_eq!(
        keyguard_testkit::iam::statuses(&iam, &user).await[&key],
        "Active"
    );
}

/// A GuardDuty finding of keyguard's account about `key` of `user`, called from `remote`.
fn finding_called_from(key: &str, user: &str, remote: &str) -> Value {
    let mut finding = sample("guardduty-iam-user.json", key, user);
    finding["detail"]["id"] = json!(keyguard_testkit::unique("finding"));
    finding["detail"]["service"]["action"]["awsApiCallAction"]["remoteAccountDetails"] =
        json!({"accountId": remote, "affiliated": false});
    assert_eq!(finding["detail"]["accountId"], HOME);
    finding
}

#[tokio::test]
async fn a_finding_called_from_another_account_is_acted_on_where_sts_says_the_key_is() {
    // Organisation mode off: one account, as most deployments start.
    let w = world(&[]).await;
    let sdk = keyguard_aws::load_config().await;
    let [b] = &org::members(&sdk, 1).await[..] else {
        panic!("one member")
    };
    let name = keyguard_testkit::unique("deploy");
    let (b_iam, _, b_key, _) = user_in(&sdk, b, Some(&name)).await;
    w.iam.create_user().user_name(&name).send().await.unwrap();
    let (home_key, _) = keyguard_testkit::iam::key(&w.iam, &name).await;
    let (home_other, _) = keyguard_testkit::iam::key(&w.iam, &name).await;

    // Our key, used from B (InstanceCredentialExfiltration.InsideAWS's shape): STS says it
    // is ours, so it is contained here.
    let report = w.run(&finding_called_from(&home_key, &name, b)).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert!(
        actions(&report).contains(&("deactivate_key".to_owned(), "applied".to_owned())),
        "{report:#}"
    );
    let home = w.statuses(&name).await;
    assert_eq!(home[&home_key], "Inactive");
    assert_eq!(home[&home_other], "Active", "only the named key");

    // B's key, with the user name ours has too: STS gives the key to B, so the user of
    // that name here is not touched, and nothing is done in B either.
    let report = w.run(&finding_called_from(&b_key, &name, b)).await;
    assert_eq!(report["decision"], "foreign_account", "{report:#}");
    let why = report["why"].as_str().unwrap();
    assert!(
        why.contains(&format!("STS says the key belongs to account {b}")),
        "{why}"
    );
    assert_eq!(
        actions(&report),
        [("notify".to_owned(), "applied".to_owned())]
    );
    assert_eq!(w.statuses(&name).await[&home_other], "Active");
    assert_eq!(
        keyguard_testkit::iam::statuses(&b_iam, &name).await[&b_key],
        "Active"
    );

    // In organisation mode the same finding is contained where STS put the key: in B,
    // through the member role, and still not here.
    let org = world(&[("ORGANIZATION_MODE", "true")]).await;
    let report = org.run(&finding_called_from(&b_key, &name, b)).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let contained = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "deactivate_key")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(contained["scope"]["account"], b.as_str());
    assert_eq!(
        keyguard_testkit::iam::statuses(&b_iam, &name).await[&b_key],
        "Inactive"
    );
    assert_eq!(w.statuses(&name).await[&home_other], "Active");
}
