//! deactivate-key against moto, through the real SDK clients: every input kind contains
//! exactly the named key, and nothing else is ever touched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use aws_sdk_iam::types::StatusType;
use common::{assert_steps, sample, world};
use deactivate_key::Settings;
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_testkit::moto;
use keyguard_testkit::unique;
use serde_json::{json, Value};

fn assert_one_step(report: &Value, action: &str, outcome: &str) {
    assert_steps(report, &[(action, outcome)]);
}

/// A user key contained: the key, then the user's sessions issued before now.
fn assert_contained(report: &Value, outcome: &str) {
    assert_steps(
        report,
        &[("deactivate_key", outcome), ("revoke_sessions", outcome)],
    );
}

/// The user's revocation policy, as IAM holds it (`None` if there is none).
async fn revocation(iam: &aws_sdk_iam::Client, user: &str) -> Option<Value> {
    let out = iam
        .get_user_policy()
        .user_name(user)
        .policy_name("keyguard-revoke-older-sessions")
        .send()
        .await
        .ok()?;
    Some(serde_json::from_str(&urlencoding_decode(out.policy_document())).unwrap())
}

/// The policy denies every session issued before a cut-off within a few seconds of
/// `at`, and nothing else.
fn assert_denies_sessions_before(doc: &Value, at: i64) {
    let stmts = doc["Statement"].as_array().unwrap();
    assert_eq!(stmts.len(), 1, "{doc:#}");
    let stmt = &stmts[0];
    assert_eq!(
        (&stmt["Effect"], &stmt["Action"], &stmt["Resource"]),
        (&json!("Deny"), &json!("*"), &json!("*")),
        "{doc:#}"
    );
    let condition = stmt["Condition"].as_object().unwrap();
    assert_eq!(condition.len(), 1, "{doc:#}");
    let cutoff = condition["DateLessThan"]["aws:TokenIssueTime"]
        .as_str()
        .unwrap();
    let cutoff = chrono::DateTime::parse_from_rfc3339(cutoff).unwrap();
    assert!((cutoff.timestamp() - at).abs() <= 2, "{doc:#}");
}

#[tokio::test]
async fn every_input_kind_deactivates_exactly_the_named_key() {
    let w = world(&[]).await;
    for name in [
        "handoff.json",
        "cloudtrail-iam-user.json",
        "guardduty-iam-user.json",
        "health-exposed-key.json",
        "health-exposure-suspected.json",
        "health-compromised.json",
        "health-compromise-suspected.json",
        "health-iam-quarantine.json",
        "health-organization-view.json",
    ] {
        let (user, named, other) = w.user_with_two_keys(&[]).await;
        let before = chrono::Utc::now().timestamp();
        let report = w.run(&sample(name, &named, &user)).await;
        assert_eq!(report["statusCode"], 200, "{name}: {report:#}");
        assert_contained(&report, "applied");
        let statuses = w.statuses(&user).await;
        assert_eq!(statuses[&named], "Inactive", "{name}");
        assert_eq!(
            statuses[&other], "Active",
            "{name}: the user's other key must stay Active"
        );
        // The sessions the key minted end with it; the user's keys are not the policy's.
        let doc = revocation(&w.iam, &user).await.unwrap();
        assert_denies_sessions_before(&doc, before);
    }
}

#[tokio::test]
async fn a_console_compromise_is_told_and_touches_no_key() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys(&[]).await;
    let report = w
        .run(&sample("health-console-compromise.json", &named, &user))
        .await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert_eq!(report["decision"], "not_containable");
    assert_one_step(&report, "notify", "applied");
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Active", "Active")
    );
    assert!(revocation(&w.iam, &user).await.is_none());
}

#[tokio::test]
async fn the_owner_is_found_from_the_key_when_the_event_has_no_user() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys(&[]).await;
    let event = json!({"accessKeyId": named, "classifierSource": "test/owner-lookup", "eventId": unique("ev")});
    let report = w.run(&event).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(report["steps"][0]["action"]["user"], user.as_str());
    assert_eq!(report["classifier_source"], "test/owner-lookup");
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Inactive", "Active")
    );
}

#[tokio::test]
async fn unknown_user_and_unknown_key_are_clean_404s() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys(&[]).await;
    let cases = [
        json!({"accessKeyId": "AKIAZZZZZZZZZZZZZZZZ", "userName": user, "eventId": unique("ev")}),
        json!({"accessKeyId": "AKIAZZZZZZZZZZZZZZZZ", "eventId": unique("ev")}),
    ];
    for event in cases {
        let report = w.run(&event).await;
        assert_eq!(report["statusCode"], 404, "{report:#}");
        assert_eq!(report["decision"], "not_found");
        let steps = report["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 1, "a notice, never silence: {report:#}");
        assert_eq!(steps[0]["action"]["type"], "notify");
    }
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Active", "Active")
    );
    // A hand-off naming a user who does not hold the key (renamed, or a wrong name):
    // the owner is found from the key and exactly that key contained.
    let wrong =
        json!({"accessKeyId": named, "userName": unique("nobody"), "eventId": unique("ev")});
    let report = w.run(&wrong).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Inactive", "Active")
    );
}

#[tokio::test]
async fn an_already_inactive_key_is_not_written_again_but_its_sessions_end() {
    let w = world(&[]).await;
    let (user, report) = w.run_on_an_inactive_key().await;
    assert_eq!(report["statusCode"], 200);
    assert_eq!(report["decision"], "already_contained");
    // Whoever deactivated the key, the sessions it minted still work: they end now.
    assert_one_step(&report, "revoke_sessions", "applied");
    assert!(revocation(&w.iam, &user).await.is_some());
    assert_eq!(w.ledger_rows().await, 1);
    // Off, nothing at all is written.
    let off = world(&[("REVOKE_USER_SESSIONS", "false")]).await;
    let (user, report) = off.run_on_an_inactive_key().await;
    assert_eq!(report["decision"], "already_contained");
    assert_steps(&report, &[]);
    assert!(revocation(&off.iam, &user).await.is_none());
    assert_eq!(off.ledger_rows().await, 0);
}

#[tokio::test]
async fn a_new_event_about_a_contained_key_leaves_the_users_sessions_alone() {
    let w = world(&[]).await;
    let user = keyguard_testkit::iam::user(&w.iam, &[]).await;
    let (key, secret) = keyguard_testkit::iam::key(&w.iam, &user).await;
    // The attacker used it; then it is contained, and its sessions denied.
    keyguard_testkit::iam::use_key(&w.iam, &key, &secret).await;
    let event = |id: &str| json!({"accessKeyId": key, "userName": user, "eventId": unique(id)});
    let first = w.run(&event("ev")).await;
    assert_steps(
        &first,
        &[
            ("deactivate_key", "applied"),
            ("revoke_sessions", "applied"),
        ],
    );
    let cut_off = revocation(&w.iam, &user).await.unwrap();
    // What each write replaced is in its row: the key was Active, there was no policy.
    let rows = w.step_rows().await;
    let replaced = |action: &str| -> Value {
        let row = rows.iter().find(|r| r["action"] == action).unwrap();
        serde_json::from_str(&row["replaces"]).unwrap()
    };
    assert_eq!(
        replaced("deactivate_key"),
        json!({"kind": "key_status", "status": "Active"})
    );
    assert_eq!(
        replaced("revoke_sessions"),
        json!({"kind": "inline_policy", "document": null})
    );
    // Two seconds on, another event about the same key: every session it minted is
    // already denied, so the cut-off stays (moving it would end the sessions the user
    // minted since with another credential).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let second = w.run(&event("ev-later")).await;
    assert_eq!(second["decision"], "already_contained", "{second:#}");
    assert_steps(&second, &[]);
    assert_eq!(revocation(&w.iam, &user).await.unwrap(), cut_off);
    // Someone re-activates it, it is used after the cut-off, and set Inactive again: the
    // next event revokes again, and its row keeps the policy it replaced.
    let set = |status: StatusType| {
        w.iam
            .update_access_key()
            .user_name(&user)
            .access_key_id(&key)
            .status(status)
            .send()
    };
    set(StatusType::Active).await.unwrap();
    keyguard_testkit::iam::use_key(&w.iam, &key, &secret).await;
    set(StatusType::Inactive).await.unwrap();
    let third = w.run(&event("ev-used")).await;
    assert_steps(&third, &[("revoke_sessions", "applied")]);
    let moved = revocation(&w.iam, &user).await.unwrap();
    assert_ne!(moved, cut_off);
    let rows = w.step_rows().await;
    let row = rows
        .iter()
        .find(|r| r["action"] == "revoke_sessions" && r["event_id"].starts_with("ev-used"))
        .unwrap();
    let replaced: Value = serde_json::from_str(&row["replaces"]).unwrap();
    let document: Value = serde_json::from_str(replaced["document"].as_str().unwrap()).unwrap();
    assert_eq!(document, cut_off);
}

#[tokio::test]
async fn a_session_key_revokes_its_roles_older_sessions() {
    let w = world(&[]).await;
    let role = unique("app-role");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    w.iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let text = std::fs::read_to_string(
        keyguard_testkit::workspace_root()
            .join("events/deactivate-key/cloudtrail-assumed-role.json"),
    )
    .unwrap()
    .replace("app-role", &role);
    let before = chrono::Utc::now().timestamp();
    let report = w.run(&serde_json::from_str(&text).unwrap()).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_one_step(&report, "revoke_sessions", "applied");
    let policy = w
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("keyguard-revoke-older-sessions")
        .send()
        .await
        .unwrap();
    let doc: Value = serde_json::from_str(&urlencoding_decode(policy.policy_document())).unwrap();
    let stmt = &doc["Statement"][0];
    assert_eq!(stmt["Effect"], "Deny");
    assert_eq!(stmt["Action"], "*");
    let cutoff = chrono::DateTime::parse_from_rfc3339(
        stmt["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!((cutoff.timestamp() - before).abs() <= 2);
    // A role that does not exist: 404, nothing written.
    let missing = json!({"accessKeyId": "ASIA5ZXAKGI33TI7QQGW", "roleName": unique("ghost"), "eventId": unique("ev")});
    assert_eq!(w.run(&missing).await["statusCode"], 404);
}

/// IAM returns policy documents URL-encoded.
fn urlencoding_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let w = world(&[("DRY_RUN", "true")]).await;
    let (user, named, _) = w.user_with_two_keys(&[]).await;
    let report = w.run(&sample("handoff.json", &named, &user)).await;
    assert_eq!(report["statusCode"], 202, "{report:#}");
    assert_eq!(report["dry_run"], true);
    assert_contained(&report, "planned");
    assert_eq!(w.statuses(&user).await[&named], "Active");
    assert!(revocation(&w.iam, &user).await.is_none());
    assert_eq!(w.ledger_rows().await, 0);
}

#[tokio::test]
async fn the_same_event_twice_acts_once_with_one_ledger_row() {
    let w = world(&[]).await;
    let (user, named, _) = w.user_with_two_keys(&[]).await;
    let event = sample("cloudtrail-iam-user.json", &named, &user);
    let first = w.run(&event).await;
    assert_contained(&first, "applied");
    let revoked = revocation(&w.iam, &user).await.unwrap();
    // Someone re-enables the key; a redelivery of the old event must not undo that.
    w.iam
        .update_access_key()
        .user_name(&user)
        .access_key_id(&named)
        .status(StatusType::Active)
        .send()
        .await
        .unwrap();
    let second = w.run(&event).await;
    assert_contained(&second, "duplicate");
    assert_eq!(w.statuses(&user).await[&named], "Active");
    // Nor move the sessions' cut-off: the policy is the first run's.
    assert_eq!(revocation(&w.iam, &user).await.unwrap(), revoked);
    let rows = w.step_rows().await;
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .any(|r| r["action"] == "revoke_sessions" && r["status"] == "done"));
    let row = rows
        .iter()
        .find(|r| r["action"] == "deactivate_key")
        .unwrap();
    assert_eq!(row["status"], "done");
    assert_eq!(row["action"], "deactivate_key");
    assert_eq!(row["key_id"], named);
    assert_eq!(row["user"], user);
    assert_eq!(row["function"], "deactivate-key");
    // And the key's own record: contained by deactivate-key, which age-rotation reads.
    let seen = w.app.containing.ledger.deactivations(&named).await.unwrap();
    assert!(
        seen.contained.is_some() && seen.last == seen.contained,
        "{seen:?}"
    );
    assert!(row["event_id"].starts_with("ev-"));
    assert!(
        row["expires_at"].parse::<i64>().unwrap() > chrono::Utc::now().timestamp() + 80 * 86_400
    );
}

#[tokio::test]
async fn two_copies_at_once_act_once() {
    let w = world(&[]).await;
    let (user, named, _) = w.user_with_two_keys(&[]).await;
    let event = sample("handoff.json", &named, &user);
    let (a, b) = tokio::join!(w.run(&event), w.run(&event));
    let outcomes: Vec<Value> = [a, b]
        .iter()
        .map(|r| r["steps"][0]["outcome"].clone())
        .collect();
    // The copy that loses finds the step done, or still claimed by the other: then it
    // fails (in_progress) so Lambda retries it, never reporting a step it did not see end.
    assert!(
        outcomes.contains(&json!("applied"))
            && (outcomes.contains(&json!("duplicate")) || outcomes.contains(&json!("in_progress"))),
        "{outcomes:?}"
    );
    assert_eq!(w.ledger_rows().await, 2);
}

#[tokio::test]
async fn exempt_users_are_never_touched_and_the_notice_reaches_sns() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let topic_arn = keyguard_testkit::sns::topic(&aws_sdk_sns::Client::new(&sdk), "notices").await;
    let w = world(&[
        ("EXEMPT_USERS", "breakglass-admin"),
        ("NOTICE_TOPIC_ARN", &topic_arn),
    ])
    .await;
    let (user, named, _) = w.user_with_two_keys(&[("keyguard:exempt", "true")]).await;
    let report = w.run(&sample("handoff.json", &named, &user)).await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert_eq!(report["decision"], "refused");
    assert_one_step(&report, "notify", "applied");
    assert!(
        report["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("published as "),
        "{report:#}"
    );
    assert_eq!(w.statuses(&user).await[&named], "Active");
}

#[tokio::test]
async fn a_key_that_tagged_its_own_user_exempt_is_contained_from_the_detectors_hand_off() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys(&[("keyguard:exempt", "true")]).await;
    let escape = json!({"accessKeyId": named, "userName": user, "eventId": unique("ev"),
                        "classifierSource": "createkey-detector/exemption-tagged"});
    let report = w.run(&escape).await;
    assert_contained(&report, "applied");
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Inactive", "Active"),
        "the key that tagged itself, and only it"
    );
    // Any other hand-off about the same tagged user still finds it exempt.
    let report = w
        .run(
            &json!({"accessKeyId": other, "userName": user, "eventId": unique("ev"),
                     "classifierSource": "createkey-detector/threat-ip"}),
        )
        .await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert_eq!(w.statuses(&user).await[&other], "Active");
}

#[tokio::test]
async fn an_exemption_tag_set_with_a_long_term_key_is_not_believed() {
    let w = world(&[]).await;
    let (user, named, _) = w.user_with_two_keys(&[("keyguard:exempt", "true")]).await;
    let record = keyguard_aws::Exemptions::new(
        &w.app.containing.ledger,
        keyguard_core::AccountId::parse("123456789012").ok(),
    );
    let principal = keyguard_core::Principal::User(keyguard_core::UserName::parse(&user).unwrap());
    let event = || {
        json!({"accessKeyId": named, "userName": user, "eventId": unique("ev"),
                          "classifierSource": "createkey-detector/threat-ip"})
    };
    // Never seen set: believed, as before.
    let report = w.run(&event()).await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    // Seen set by another user's long-term key: not believed, whatever event comes.
    let provenance = keyguard_core::exemption::Provenance {
        set_by: "arn:aws:iam::123456789012:user/ci-deployer".into(),
        own: false,
        long_term_key: true,
        role_session: false,
        call: "TagUser".into(),
        at: "2026-12-01T10:00:00Z".into(),
        event_id: "ct-1".into(),
    };
    assert!(record
        .record(
            keyguard_core::AccountId::parse("123456789012")
                .ok()
                .as_ref(),
            &principal,
            &provenance
        )
        .await
        .unwrap());
    let report = w.run(&event()).await;
    assert_contained(&report, "applied");
    assert!(
        report["steps"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("set with a long-term access key"),
        "{report:#}"
    );
    assert_eq!(w.statuses(&user).await[&named], "Inactive");
}

#[tokio::test]
async fn bad_input_is_a_400_with_no_action() {
    let w = world(&[]).await;
    for event in [
        json!({"accessKeyId": "AKIA123", "userName": "x"}),
        json!([1, 2]),
        json!({"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "id": "x", "detail": "oops"}),
    ] {
        let report = w.run(&event).await;
        assert_eq!(report["statusCode"], 400, "{report:#}");
        assert!(report["steps"].as_array().unwrap().is_empty());
    }
    assert_eq!(w.ledger_rows().await, 0);
}

#[tokio::test]
async fn hostile_input_is_turned_away() {
    let w = world(&[]).await;
    for (case, event) in keyguard_testkit::hostile::events() {
        keyguard_testkit::hostile::assert_turned_away(case, &w.run(&event).await);
    }
    assert_eq!(w.ledger_rows().await, 0);
}

#[test]
fn the_templates_default_regions_are_the_sweeps() {
    let env = keyguard_testkit::infra::template_env("deactivate-key");
    let default = keyguard_core::policy::containment::trail::DEFAULT_REGIONS.join(",");
    assert_eq!(env.get("LOOKBACK_REGIONS"), Some(&default));
    let translator = keyguard_testkit::infra::template_env("guardduty-translator");
    assert_eq!(translator.get("LOOKBACK_REGIONS"), Some(&default));
}

#[test]
fn the_template_and_the_docs_page_name_exactly_what_the_function_reads() {
    keyguard_testkit::infra::check_env("deactivate-key", |env| {
        Settings::from_env(&|k: &str| env(k), Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

/// A containment whose invocation died after claiming its step (a timeout, a crash) is
/// not lost: Lambda's retry a minute later finds the claim still leased and fails, so
/// Lambda retries again; the retry about three minutes on takes the claim over and acts.
/// With the default lease, as deployed.
#[tokio::test]
async fn a_containment_that_died_mid_step_is_retried_not_reported_done() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys(&[]).await;
    let event = sample("cloudtrail-iam-user.json", &named, &user);
    let event_id = event["id"].as_str().unwrap().to_owned();
    let t0 = chrono::Utc::now();
    let claimed = keyguard_core::LedgerEntry {
        idempotency_key: format!("deactivate-key:deactivate_key:123456789012:{named}:{event_id}"),
        action: "deactivate_key",
        function: "deactivate-key".into(),
        reason: "the first attempt, which died".into(),
        event_id: Some(event_id),
        classifier_source: None,
        user: Some(user.clone()),
        key_id: Some(named.clone()),
        account: Some("123456789012".into()),
        at: t0,
        window: None,
        repeatable: true,
        prior: None,
    };
    use keyguard_core::Ledger;
    assert_eq!(
        w.app.containing.ledger.claim(&claimed).await.unwrap(),
        keyguard_core::Claim::Won
    );
    let first_retry = serde_json::to_value(
        w.app
            .handle_at(&event, t0 + chrono::Duration::seconds(60))
            .await,
    )
    .unwrap();
    assert_eq!(first_retry["statusCode"], 500, "{first_retry:#}");
    // The key's step waits for its claim, and the sessions' step waits for the key's.
    assert_steps(
        &first_retry,
        &[
            ("deactivate_key", "in_progress"),
            ("revoke_sessions", "failed"),
        ],
    );
    assert_eq!(w.statuses(&user).await[&named], "Active");
    let second_retry = serde_json::to_value(
        w.app
            .handle_at(&event, t0 + chrono::Duration::seconds(180))
            .await,
    )
    .unwrap();
    assert_eq!(second_retry["statusCode"], 200, "{second_retry:#}");
    assert_steps(
        &second_retry,
        &[
            ("deactivate_key", "applied"),
            ("revoke_sessions", "applied"),
        ],
    );
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Inactive", "Active")
    );
}

#[tokio::test]
async fn a_replayed_or_unsigned_hand_off_is_refused_and_nothing_is_written() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys(&[]).await;
    let raw = json!({"accessKeyId": named, "userName": user, "accountId": "123456789012",
                     "eventId": unique("ev")});
    // Unsigned: anyone in the account with lambda:InvokeFunction could have sent it.
    let report = serde_json::to_value(w.app.handle(&raw).await).unwrap();
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert_eq!(report["decision"], "refused");
    // Signed, but seven hours ago: a replay, past HANDOFF_MAX_AGE_SECONDS.
    let keyguard_core::Trigger::Handoff(mut h) = keyguard_core::parse_value(&raw).unwrap() else {
        panic!()
    };
    h.issued_at = Some((chrono::Utc::now() - chrono::Duration::hours(7)).to_rfc3339());
    h.mac = Some(w.key.sign(&h).await.unwrap());
    let old = serde_json::to_value(&h).unwrap();
    let report = serde_json::to_value(w.app.handle(&old).await).unwrap();
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert!(report["why"]
        .as_str()
        .unwrap()
        .contains("HANDOFF_MAX_AGE_SECONDS"));
    // Signed now, then one field changed: the MAC no longer verifies.
    h.issued_at = Some(chrono::Utc::now().to_rfc3339());
    h.mac = Some(w.key.sign(&h).await.unwrap());
    h.user_name = Some(keyguard_core::UserName::parse("someone-else").unwrap());
    let forged = serde_json::to_value(&h).unwrap();
    let report = serde_json::to_value(w.app.handle(&forged).await).unwrap();
    assert_eq!(report["statusCode"], 403, "{report:#}");
    let statuses = w.statuses(&user).await;
    assert_eq!(
        (statuses[&named].as_str(), statuses[&other].as_str()),
        ("Active", "Active")
    );
    assert_eq!(w.ledger_rows().await, 0);
}

#[tokio::test]
async fn a_canary_is_left_alone_only_while_its_deny_stands() {
    let w = world(&[]).await;
    let sdk = keyguard_aws::load_config().await;
    let user = keyguard_core::canary::user_name(&unique("ci")).unwrap();
    let made = keyguard_aws::Iam::new(&sdk)
        .create_canary(&user)
        .await
        .unwrap();
    let event = || {
        json!({"accessKeyId": made.key_id, "userName": user.as_str(), "eventId": unique("ev"),
                          "classifierSource": "createkey-detector/threat-ip"})
    };
    let refused = w.run(&event()).await;
    assert_eq!(refused["statusCode"], 403, "{refused}");
    assert_eq!(refused["decision"], "refused", "{refused}");
    assert!(
        refused["why"].as_str().unwrap().contains("canary"),
        "{refused}"
    );
    assert_eq!(w.statuses(user.as_str()).await[&made.key_id], "Active");
    // The deny replaced by an allow: a user dressed as a canary, contained like any.
    w.iam
        .put_user_policy()
        .user_name(user.as_str())
        .policy_name(keyguard_core::canary::DENY_POLICY_NAME)
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let contained = w.run(&event()).await;
    assert_contained(&contained, "applied");
    assert_eq!(w.statuses(user.as_str()).await[&made.key_id], "Inactive");
}

/// Every budget spent, as deployed and with Security Hub on: the calls, the sweep of
/// every key it may sweep, and the finding end before Lambda's timeout, with a quarter to
/// spare. At 60 s they did not: the sweeps alone could take 51 s.
#[test]
fn the_worst_case_of_every_budget_fits_the_function_timeout_with_a_margin() {
    let settings = |env: &std::collections::BTreeMap<String, String>| {
        Settings::from_env(&|k: &str| env.get(k).cloned(), Default::default()).unwrap()
    };
    let env = keyguard_testkit::infra::assert_worst_case_fits("deactivate-key", |env| {
        settings(env).worst_case()
    });
    assert!(
        settings(&env).containment.sweep.lookback_hours > 0,
        "the sweep is on, as deployed"
    );
}
