//! guardduty-translator against moto and the launcher's SSM Automation and Incident
//! Manager stand-ins, through the real SDK clients. The runbook shipped in infra/ runs for
//! real: its steps act on moto's IAM and Secrets Manager.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use guardduty_translator::{App, Settings};
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_core::Timestamp;
use keyguard_testkit::moto;
use serde_json::Value;
use std::collections::BTreeMap;

const RUNBOOK: &str = "keyguard-RotateCompromisedKey";
const PLAN: &str = "arn:aws:ssm-incidents::123456789012:response-plan/keyguard-key-compromise";

use keyguard_testkit::report::{pairs, steps as outcomes};
use keyguard_testkit::unique;

fn at(rfc3339: &str) -> Timestamp {
    keyguard_core::parse_time(rfc3339).unwrap()
}

struct World {
    iam: aws_sdk_iam::Client,
    app: App,
}

async fn world(env: &[(&str, &str)]) -> World {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let mut vars: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("LEDGER_TABLE".into(), unique("ledger"));
    // The sweep reads CloudTrail at two requests a second: only its own test turns it on.
    vars.entry("LOOKBACK_HOURS".into())
        .or_insert_with(|| "0".into());
    vars.entry("RESPONSE_PLAN_ARN".into())
        .or_insert_with(|| PLAN.into());
    let lookup = move |k: &str| vars.get(k).cloned();
    let me = SelfIdentity {
        role: Some("keyguard-guardduty-translator".into()),
        ..keyguard_aws::identity::whoami(&sdk).await.unwrap()
    };
    let app = App::new(&sdk, Settings::from_env(&lookup, me).unwrap());
    app.containing.ledger.create_table().await.unwrap();
    if let Err(e) = create_runbook(&sdk).await {
        let text = format!("{e:?}");
        assert!(text.contains("DocumentAlreadyExists"), "{text}");
    }
    World {
        iam: aws_sdk_iam::Client::new(&sdk),
        app,
    }
}

/// What the stand-ins hold about one user: (executions, incidents).
fn recorded(user: &str) -> (Vec<Value>, Vec<Value>) {
    let all = moto::shared().standins();
    let executions = all["automation_executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["Parameters"]["UserName"][0] == user)
        .cloned()
        .collect();
    let incidents = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["record"]["title"].as_str().unwrap().ends_with(user))
        .cloned()
        .collect();
    (executions, incidents)
}

impl World {
    async fn user_with_two_keys(&self) -> (String, String, String) {
        keyguard_testkit::iam::user_with_two_keys(&self.iam, &[]).await
    }

    /// As [`Self::user_with_two_keys`], the first key used once (as the attacker's
    /// would be), so IAM has its last use on record.
    async fn user_with_a_used_key(&self) -> (String, String, String) {
        let user = keyguard_testkit::iam::user(&self.iam, &[]).await;
        let (used, secret) = keyguard_testkit::iam::key(&self.iam, &user).await;
        let (other, _) = keyguard_testkit::iam::key(&self.iam, &user).await;
        keyguard_testkit::iam::use_key(&self.iam, &used, &secret).await;
        (user, used, other)
    }

    async fn status(&self, user: &str, key: &str) -> String {
        keyguard_testkit::iam::statuses(&self.iam, user).await[key].clone()
    }

    async fn run_at(&self, event: &Value, now: &str) -> Value {
        serde_json::to_value(self.app.handle_at(event, at(now)).await).unwrap()
    }
}

/// A sample from events/guardduty-translator/ with its key, user, event id and finding
/// id made unique.
/// A keyguard-managed secret of `user` whose current value holds `key`; its ARN.
async fn managed_secret(sm: &aws_sdk_secretsmanager::Client, user: &str, key: &str) -> String {
    sm.create_secret()
        .name(unique("keyguard/iam-user"))
        .secret_string(serde_json::json!({"UserName": user, "AccessKeyId": key}).to_string())
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("keyguard:iam-user")
                .value(user)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

/// The runbook started directly (as the translator would), telling `topic`.
async fn start_runbook(sdk: &keyguard_aws::SdkConfig, user: &str, key: &str, topic: &str) {
    aws_sdk_ssm::Client::new(sdk)
        .start_automation_execution()
        .document_name(RUNBOOK)
        .parameters("UserName", vec![user.to_owned()])
        .parameters("AccessKeyId", vec![key.to_owned()])
        .parameters("NoticeTopicArn", vec![topic.to_owned()])
        .send()
        .await
        .unwrap();
}

fn sample(name: &str, key: &str, user: &str) -> Value {
    let path = keyguard_testkit::workspace_root()
        .join("events/guardduty-translator")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("AKIAIOSFODNN7EXAMPLE", key)
        .replace("\"alice\"", &format!("\"{user}\""))
        .replace("6f1c2d3e-0000-4000-8000-00000000001", &unique("ev"));
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn one_finding_one_execution_one_incident_and_the_runbook_contains_only_that_key() {
    let w = world(&[]).await;
    let (user, named, other) = w.user_with_two_keys().await;
    let report = w
        .run_at(
            &sample("iam-user.json", &named, &user),
            "2026-11-23T10:14:59Z",
        )
        .await;
    let written = chrono::Utc::now();
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("deactivate_key", "applied"),
            ("revoke_sessions", "applied"),
            ("start_runbook", "applied"),
            ("open_incident", "applied"),
            ("notify", "applied")
        ])
    );
    let (executions, incidents) = recorded(&user);
    assert_eq!(executions.len(), 1);
    assert_eq!(incidents.len(), 1);
    let execution = &executions[0];
    assert_eq!(execution["DocumentName"], RUNBOOK);
    assert_eq!(
        execution["AutomationExecutionStatus"], "Success",
        "{execution:#}"
    );
    assert_eq!(execution["Parameters"]["AccessKeyId"][0], named.as_str());
    assert_eq!(
        execution["Outputs"]["rotateManagedSecret.Rotation"][0], "none",
        "no managed secret: the runbook says so"
    );
    let id = execution["AutomationExecutionId"].as_str().unwrap();
    assert!(report["steps"][2]["detail"].as_str().unwrap().contains(id));
    // keyguard contained the key before the runbook started, and the runbook ran against
    // moto's IAM after it: exactly the named key is Inactive.
    assert_eq!(w.status(&user, &named).await, "Inactive");
    assert_eq!(w.status(&user, &other).await, "Active");
    // And the sessions the key minted end: the cut-off is when the revocation was
    // written (after the key went Inactive, rounded up to the second), not the
    // finding's time the decision was made at.
    let policy = w
        .iam
        .get_user_policy()
        .user_name(&user)
        .policy_name("keyguard-revoke-older-sessions")
        .send()
        .await
        .unwrap();
    let document = keyguard_aws::iam::plain_policy(policy.policy_document());
    let cut_off = keyguard_core::revocation::cut_off_of(&document).unwrap();
    assert!(
        cut_off >= written - chrono::Duration::seconds(10)
            && cut_off <= written + chrono::Duration::seconds(1),
        "{document}"
    );

    let incident = &incidents[0];
    let arn = incident["record"]["arn"].as_str().unwrap();
    assert!(report["steps"][3]["detail"].as_str().unwrap().contains(arn));
    assert_eq!(incident["record"]["impact"], 2);
    let request = &incident["request"];
    assert_eq!(request["responsePlanArn"], PLAN);
    assert_eq!(
        request["triggerDetails"]["source"],
        "keyguard.guardduty-translator"
    );
    assert!(request["triggerDetails"]["triggerArn"]
        .as_str()
        .unwrap()
        .contains("/finding/"));
    assert_eq!(
        request["clientToken"].as_str().unwrap(),
        keyguard_core::digest::uuid_from(report["steps"][3]["idempotency_key"].as_str().unwrap()),
        "clientToken is a UUID of the step's idempotency key (AWS allows 128 characters)"
    );
    let url = request["relatedItems"][0]["identifier"]["value"]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("https://us-east-1.console.aws.amazon.com/guardduty/"));
    let raw: Value =
        serde_json::from_str(request["triggerDetails"]["rawData"].as_str().unwrap()).unwrap();
    assert_eq!(
        raw["resource"]["accessKeyDetails"]["accessKeyId"],
        named.as_str()
    );
}

#[tokio::test]
async fn redelivery_and_a_second_finding_inside_the_window_do_nothing_new() {
    let w = world(&[]).await;
    let (user, named, _) = w.user_with_a_used_key().await;
    let first = sample("iam-user.json", &named, &user);
    let second = sample("iam-user-second-finding.json", &named, &user);
    w.run_at(&first, "2026-11-23T10:14:59Z").await;

    // The same event again: duplicates. The key is Inactive now, and was last used
    // before the cut-off: there is nothing left to contain, so only the rest is planned.
    let again = w.run_at(&first, "2026-11-23T10:15:00Z").await;
    assert_eq!(
        outcomes(&again),
        pairs(&[
            ("start_runbook", "duplicate"),
            ("open_incident", "duplicate"),
            ("notify", "duplicate")
        ])
    );
    // Another finding one second later, across the quarter hour the seed rounds to:
    // the seed's token changes there and would open a second incident; the window holds.
    // The key is Inactive and was last used before the cut-off: nothing to contain.
    let held = w.run_at(&second, "2026-11-23T10:15:00Z").await;
    assert_eq!(held["statusCode"], 200, "{held:#}");
    assert_eq!(
        outcomes(&held),
        pairs(&[
            ("start_runbook", "suppressed"),
            ("open_incident", "suppressed"),
            ("notify", "suppressed")
        ])
    );
    let (executions, incidents) = recorded(&user);
    assert_eq!((executions.len(), incidents.len()), (1, 1));

    // The suppressed finding redelivered after the window stays quiet: it was seen.
    let late = w.run_at(&second, "2026-11-23T10:31:00Z").await;
    assert!(
        outcomes(&late).iter().all(|(_, o)| o == "duplicate"),
        "{late:#}"
    );
    // A new finding (its own id: the same id re-published never acts again) after the
    // window acts again.
    let mut third = sample("iam-user-second-finding.json", &named, &user);
    third["id"] = serde_json::json!("a-new-eventbridge-id");
    third["detail"]["id"] = serde_json::json!("a-new-finding-id");
    let after = w.run_at(&third, "2026-11-23T10:31:00Z").await;
    assert!(
        outcomes(&after).iter().all(|(_, o)| o == "applied"),
        "{after:#}"
    );
    let (executions, incidents) = recorded(&user);
    assert_eq!((executions.len(), incidents.len()), (2, 2));
}

#[tokio::test]
async fn two_copies_at_once_act_once() {
    let w = world(&[]).await;
    let (user, named, _) = w.user_with_two_keys().await;
    let event = sample("iam-user.json", &named, &user);
    let (a, b) = tokio::join!(
        w.run_at(&event, "2026-11-23T10:14:59Z"),
        w.run_at(&event, "2026-11-23T10:14:59Z")
    );
    let applied = [a, b]
        .iter()
        .flat_map(outcomes)
        .filter(|(_, o)| o == "applied")
        .count();
    assert_eq!(
        applied, 5,
        "deactivation, revocation, runbook, incident and notice once in all"
    );
    let (executions, incidents) = recorded(&user);
    assert_eq!((executions.len(), incidents.len()), (1, 1));
}

#[tokio::test]
async fn the_seeds_custom_source_is_refused_unless_trusted() {
    let w = world(&[]).await;
    let (user, named, _) = w.user_with_two_keys().await;
    let seed = sample("seed-custom-source.json", &named, &user);
    let report = w.run_at(&seed, "2026-11-23T10:14:59Z").await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert_eq!(report["decision"], "refused");
    assert!(report["why"]
        .as_str()
        .unwrap()
        .contains("custom.guardduty.simulation"));
    assert!(report["steps"].as_array().unwrap().is_empty());
    assert_eq!(recorded(&user), (vec![], vec![]));
    assert_eq!(w.status(&user, &named).await, "Active");

    // The seed's own behaviour, by configuration (its exact type and severity).
    let trusting = world(&[
        ("TRUSTED_CUSTOM_SOURCES", "custom.guardduty.simulation"),
        (
            "FINDING_TYPES",
            "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
        ),
        ("MIN_SEVERITY", "8.0"),
    ])
    .await;
    let report = trusting.run_at(&seed, "2026-11-23T10:14:59Z").await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(w.status(&user, &named).await, "Inactive");
}

#[tokio::test]
async fn a_session_key_revokes_the_roles_sessions_and_opens_an_incident() {
    let w = world(&[]).await;
    let role = unique("role");
    w.iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let text = serde_json::to_string(&sample("assumed-role.json", "AKIAUNUSED0000000000", "x"))
        .unwrap()
        .replace("app-role", &role);
    let event: Value = serde_json::from_str(&text).unwrap();
    let report = w.run_at(&event, "2026-11-23T10:14:59Z").await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("revoke_sessions", "applied"),
            ("open_incident", "applied"),
            ("notify", "applied")
        ])
    );
    let policy = w
        .iam
        .get_role_policy()
        .role_name(&role)
        .policy_name("keyguard-revoke-older-sessions")
        .send()
        .await
        .unwrap();
    assert!(policy.policy_document().contains("TokenIssueTime"));
    let (executions, _) = recorded(&role);
    assert!(executions.is_empty(), "no runbook for a role");
}

#[tokio::test]
async fn dry_run_and_sample_findings_change_nothing() {
    let dry = world(&[("DRY_RUN", "true")]).await;
    let (user, named, _) = dry.user_with_two_keys().await;
    let report = dry
        .run_at(
            &sample("iam-user.json", &named, &user),
            "2026-11-23T10:14:59Z",
        )
        .await;
    assert_eq!(report["statusCode"], 202, "{report:#}");
    assert!(outcomes(&report).iter().all(|(_, o)| o == "planned"));
    assert_eq!(recorded(&user), (vec![], vec![]));
    assert_eq!(dry.status(&user, &named).await, "Active");
    assert!(dry.app.containing.ledger.rows().await.unwrap().is_empty());

    let w = world(&[]).await;
    let report = w
        .run_at(
            &sample("sample.json", &named, &user),
            "2026-11-23T10:14:59Z",
        )
        .await;
    assert_eq!(report["statusCode"], 202, "{report:#}");
    assert_eq!(report["decision"], "plan_only");
    assert!(w.app.containing.ledger.rows().await.unwrap().is_empty());
}

#[tokio::test]
async fn hostile_input_is_turned_away() {
    let w = world(&[]).await;
    for (case, event) in keyguard_testkit::hostile::events() {
        let report = w.run_at(&event, "2026-11-23T06:50:00Z").await;
        keyguard_testkit::hostile::assert_turned_away(case, &report);
    }
    assert!(w.app.containing.ledger.rows().await.unwrap().is_empty());
}

#[tokio::test]
async fn root_gets_a_critical_incident_and_nothing_else() {
    let w = world(&[]).await;
    let report = w
        .run_at(
            &sample("root.json", "AKIAIOSFODNN7EXAMPLE", "x"),
            "2026-11-23T10:14:59Z",
        )
        .await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert_eq!(report["decision"], "not_containable");
    assert_eq!(
        outcomes(&report),
        pairs(&[("open_incident", "applied"), ("notify", "applied")])
    );
    let arn = report["steps"][0]["detail"]
        .as_str()
        .unwrap()
        .trim_start_matches("incident ");
    let all = moto::shared().standins();
    let incident = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["record"]["arn"] == arn)
        .unwrap();
    assert_eq!(incident["record"]["impact"], 1);
}

#[test]
fn the_template_and_the_docs_page_name_exactly_what_the_function_reads() {
    keyguard_testkit::infra::check_env("guardduty-translator", |env| {
        Settings::from_env(&|k: &str| env(k), Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

/// The notices published to `topic` that contain `phrase`.
fn notices_saying(topic: &str, phrase: &str) -> Vec<String> {
    let mut all = moto::shared().published(topic);
    all.retain(|m| m.contains(phrase));
    all
}

/// The runbook rotates the secret that holds the compromised key (not the first one
/// tagged for the user), names a leftover AWSPENDING and refuses to rotate over it, as
/// AWS refuses RotateSecret then (the launcher's stand-in enforces it).
#[tokio::test]
async fn the_runbook_rotates_the_secret_holding_the_key_and_refuses_over_a_leftover_pending() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let topic = keyguard_testkit::sns::topic(&aws_sdk_sns::Client::new(&sdk), "notices").await;
    let w = world(&[("NOTICE_TOPIC_ARN", &topic)]).await;
    let (user, named, other) = w.user_with_two_keys().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    // Created first, so the first one listed: it holds the user's other key.
    let _wrong = managed_secret(&sm, &user, &other).await;
    let right = managed_secret(&sm, &user, &named).await;
    // A rotation of the right one that never finished: AWSPENDING on a second version.
    let pending = sm
        .put_secret_value()
        .secret_id(&right)
        .secret_string(
            serde_json::json!({"UserName": user, "AccessKeyId": "AKIAPENDINGKEY000001"})
                .to_string(),
        )
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    // As AWS does, Secrets Manager refuses to rotate it, even with a rotation function.
    let refused = sm
        .rotate_secret()
        .secret_id(&right)
        .rotation_lambda_arn(
            "arn:aws:lambda:us-east-1:123456789012:function:keyguard-secrets-rotator",
        )
        .send()
        .await
        .unwrap_err();
    let refused = keyguard_aws::effect_error(&refused);
    assert_eq!(refused.code.as_deref(), Some("InvalidRequestException"));
    assert!(refused.message.contains("previous rotation"), "{refused}");
    let report = w
        .run_at(
            &sample("iam-user.json", &named, &user),
            "2026-11-23T10:14:59Z",
        )
        .await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let (executions, _) = recorded(&user);
    let outputs = &executions[0]["Outputs"];
    assert_eq!(
        outputs["rotateManagedSecret.SecretArn"][0],
        right.as_str(),
        "{outputs:#}"
    );
    assert_eq!(outputs["rotateManagedSecret.Rotation"][0], "refused");
    assert!(outputs["rotateManagedSecret.Message"][0]
        .as_str()
        .unwrap()
        .contains(&pending));
    // The key itself was still contained: the refusal is of the rotation only.
    assert_eq!(w.status(&user, &named).await, "Inactive");
    assert_eq!(w.status(&user, &other).await, "Active");
    // The refusal is told by the runbook itself, after the translator's own notice (which
    // said only that the runbook started), naming the leftover version.
    let told = notices_saying(&topic, "runbook rotation refused");
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(
        told[0].contains(&pending) && told[0].contains(&named),
        "{told:#?}"
    );
}

/// A deactivation the runbook could not make (the user is gone by the time it runs) is
/// told, and the execution fails rather than going on to rotate.
#[tokio::test]
async fn a_runbook_that_cannot_deactivate_says_so_and_fails() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let topic = keyguard_testkit::sns::topic(&aws_sdk_sns::Client::new(&sdk), "notices").await;
    let _w = world(&[]).await;
    let user = unique("gone");
    let key = "AKIAGONEUSERKEY00001";
    start_runbook(&sdk, &user, key, &topic).await;
    let (executions, _) = recorded(&user);
    assert_eq!(executions.len(), 1);
    let execution = &executions[0];
    assert_eq!(
        execution["AutomationExecutionStatus"], "Failed",
        "{execution:#}"
    );
    let ran: Vec<&str> = execution["StepExecutions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["StepName"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran,
        ["deactivateKey", "reportFailedDeactivation"],
        "{execution:#}"
    );
    let told = notices_saying(&topic, "runbook could not deactivate");
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(
        told[0].contains(key) && told[0].contains(&user),
        "{told:#?}"
    );
}

/// A `RotateSecret` that Secrets Manager refuses (here: the secret has no rotation
/// function, which AWS documents as `InvalidRequestException`) is reported `failed` by the
/// runbook and told, naming the secret and the error; the key stays contained.
#[tokio::test]
async fn a_rotation_secrets_manager_refuses_is_reported_failed_and_told() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let topic = keyguard_testkit::sns::topic(&aws_sdk_sns::Client::new(&sdk), "notices").await;
    let w = world(&[]).await;
    let (user, named, _other) = w.user_with_two_keys().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret = managed_secret(&sm, &user, &named).await;
    start_runbook(&sdk, &user, &named, &topic).await;
    let (executions, _) = recorded(&user);
    assert_eq!(executions.len(), 1);
    let outputs = &executions[0]["Outputs"];
    assert_eq!(
        outputs["rotateManagedSecret.Rotation"][0], "failed",
        "{outputs:#}"
    );
    assert_eq!(outputs["rotateManagedSecret.SecretArn"][0], secret.as_str());
    assert_eq!(w.status(&user, &named).await, "Inactive");
    let told = notices_saying(&topic, "runbook rotation failed");
    assert_eq!(told.len(), 1, "{told:#?}");
    assert!(
        told[0].contains(&secret) && told[0].contains("InvalidRequestException"),
        "{told:#?}"
    );
}

/// The key a finding names is contained, then what it did is read (LookupEvents through
/// the stand-in): the key it made for another user is contained in the same run, under
/// the translator's own name in the ledger.
#[tokio::test]
async fn the_findings_key_is_swept_and_the_key_it_made_for_another_user_contained() {
    let w = world(&[("LOOKBACK_HOURS", "72")]).await;
    let (user, leaked, _) = w.user_with_two_keys().await;
    let victim = keyguard_testkit::iam::user(&w.iam, &[]).await;
    let (made, _) = keyguard_testkit::iam::key(&w.iam, &victim).await;
    let at = chrono::Utc::now() - chrono::Duration::minutes(5);
    moto::shared().put_trail_events(
        "us-east-1",
        &[serde_json::json!({
            "eventVersion": "1.08", "eventID": unique("trail"),
            "eventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.9",
            "recipientAccountId": "123456789012",
            "userIdentity": {"type": "IAMUser", "accountId": "123456789012", "accessKeyId": leaked,
                             "userName": user, "arn": format!("arn:aws:iam::123456789012:user/{user}")},
            "requestParameters": {"userName": victim},
            "responseElements": {"accessKey": {"accessKeyId": made, "userName": victim}},
        })],
    );
    let report =
        serde_json::to_value(w.app.handle(&sample("iam-user.json", &leaked, &user)).await).unwrap();
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(w.status(&user, &leaked).await, "Inactive");
    assert_eq!(w.status(&victim, &made).await, "Inactive", "{report:#}");
    let steps = report["steps"].as_array().unwrap();
    let made_step = steps
        .iter()
        .find(|s| s["action"]["type"] == "deactivate_key" && s["action"]["key_id"] == made.as_str())
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(made_step["outcome"], "applied");
    assert!(
        made_step["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("guardduty-translator:"),
        "{made_step}"
    );
    assert!(steps
        .iter()
        .any(|s| s["action"]["type"] == "sweep_history" && s["outcome"] == "applied"));
    // The incident, opened before the sweep, carries the list on its timeline.
    let incident = steps
        .iter()
        .find(|s| s["action"]["type"] == "open_incident")
        .and_then(|s| s["detail"].as_str())
        .and_then(|d| d.strip_prefix("incident "))
        .unwrap_or_else(|| panic!("{report:#}"))
        .to_owned();
    let timeline = |arn: &str| -> Vec<serde_json::Value> {
        moto::shared().standins()["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["record"]["arn"] == arn)
            .map(|i| i["timeline"].as_array().unwrap().clone())
            .unwrap_or_default()
    };
    let events = timeline(&incident);
    assert_eq!(events.len(), 1, "{report:#}");
    let text = events[0]["eventData"].as_str().unwrap();
    assert!(
        text.starts_with(&format!("Contained key {leaked}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("created access key {made} for user {victim}")),
        "{text}"
    );
    assert!(steps
        .iter()
        .any(|s| s["action"]["type"] == "add_to_incident" && s["outcome"] == "applied"));
    // Delivered again: every step a duplicate, nothing read twice into action; the
    // incident is found again from its ledger row, and its timeline gets nothing twice.
    let again =
        serde_json::to_value(w.app.handle(&sample("iam-user.json", &leaked, &user)).await).unwrap();
    assert!(
        again["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] != "applied"),
        "{again:#}"
    );
    assert!(
        again["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["action"]["type"] == "add_to_incident" && s["outcome"] == "duplicate"),
        "{again:#}"
    );
    assert_eq!(timeline(&incident).len(), 1);
    // Another finding about the same key within the window: its incident is held by
    // the first one's, so its sweep's list goes on the first incident.
    let second = serde_json::to_value(
        w.app
            .handle(&sample("iam-user-second-finding.json", &leaked, &user))
            .await,
    )
    .unwrap();
    assert_eq!(second["statusCode"], 200, "{second:#}");
    let held = second["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "open_incident")
        .unwrap_or_else(|| panic!("{second:#}"));
    assert_eq!(held["outcome"], "suppressed", "{second:#}");
    let added = second["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "add_to_incident")
        .unwrap_or_else(|| panic!("{second:#}"));
    assert_eq!(added["outcome"], "applied", "{second:#}");
    assert_eq!(added["action"]["incident_arn"], incident.as_str());
    assert_eq!(timeline(&incident).len(), 2);
}

/// The delegated administrator's copy of `account`'s finding on `key` of `user`.
fn member_finding(key: &str, user: &str, account: &str) -> Value {
    let event: Value =
        serde_json::from_str(&sample("iam-user.json", key, user).to_string().replace(
            "\"accountId\":\"123456789012\"",
            &format!("\"accountId\":\"{account}\""),
        ))
        .unwrap();
    assert_eq!(event["detail"]["accountId"], account);
    event
}

/// The runbook document and the role it runs as in `account`, as the member StackSet
/// deploys them there (the stand-in assumes no role that is not there).
async fn runbook_in(sdk: &keyguard_aws::SdkConfig, account: &str) {
    let in_account = keyguard_testkit::org::config_in(sdk, account, "keyguard-member").await;
    aws_sdk_iam::Client::new(&in_account)
        .create_role()
        .role_name("keyguard-member-runbook")
        .assume_role_policy_document(
            serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    create_runbook(&in_account).await.unwrap();
}

/// The runbook shipped in infra/, as a document of the account `sdk` acts in.
async fn create_runbook(
    sdk: &keyguard_aws::SdkConfig,
) -> Result<
    (),
    aws_sdk_ssm::error::SdkError<aws_sdk_ssm::operation::create_document::CreateDocumentError>,
> {
    let document = std::fs::read_to_string(
        keyguard_testkit::workspace_root().join("infra/shared/runbook-rotate-compromised-key.yaml"),
    )
    .unwrap();
    aws_sdk_ssm::Client::new(sdk)
        .create_document()
        .name(RUNBOOK)
        .content(document)
        .document_type(aws_sdk_ssm::types::DocumentType::Automation)
        .document_format(aws_sdk_ssm::types::DocumentFormat::Yaml)
        .send()
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_members_finding_is_contained_and_rotated_in_the_member_with_its_incident_here() {
    let w = world(&[("ORGANIZATION_MODE", "true")]).await;
    let sdk = keyguard_aws::load_config().await;
    let [b] = &keyguard_testkit::org::members(&sdk, 1).await[..] else {
        panic!("one member")
    };
    runbook_in(&sdk, b).await;
    let in_b = keyguard_testkit::org::iam_in(&sdk, b, "keyguard-member").await;
    let (user, leaked, other) = keyguard_testkit::iam::user_with_two_keys(&in_b, &[]).await;
    // The same user name at home, whose keys nothing here may touch.
    w.iam.create_user().user_name(&user).send().await.unwrap();
    let (home_key, _) = keyguard_testkit::iam::key(&w.iam, &user).await;
    let event = member_finding(&leaked, &user, b);
    let report = serde_json::to_value(w.app.handle(&event).await).unwrap();
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let got = outcomes(&report);
    for step in ["deactivate_key", "start_runbook", "open_incident"] {
        assert!(
            got.contains(&(step.into(), "applied".into())),
            "{step}: {report:#}"
        );
    }
    for step in report["steps"].as_array().unwrap() {
        if matches!(
            step["action"]["type"].as_str(),
            Some("deactivate_key" | "start_runbook")
        ) {
            assert_eq!(step["scope"]["account"], b.as_str(), "{step:#}");
        }
    }
    let statuses = keyguard_testkit::iam::statuses(&in_b, &user).await;
    assert_eq!(statuses[&leaked], "Inactive");
    assert_eq!(statuses[&other], "Active");
    assert_eq!(
        keyguard_testkit::iam::statuses(&w.iam, &user).await[&home_key],
        "Active",
        "the same name at home is somebody else"
    );
    // The runbook ran in B, as B's runbook role, for exactly that key; the incident
    // opened in keyguard's account, naming the member's user with its account.
    let (executions, _) = recorded(&user);
    assert_eq!(executions.len(), 1, "{executions:#?}");
    let run = &executions[0];
    assert_eq!(run["Account"], b.as_str(), "{run:#}");
    assert_eq!(run["AutomationExecutionStatus"], "Success", "{run:#}");
    assert_eq!(run["Parameters"]["AccessKeyId"][0], leaked.as_str());
    // Its script read B's user (whose other key is Active), not the namesake at home.
    assert_eq!(
        run["Outputs"]["rotateManagedSecret.ActiveKeys"][0],
        other.as_str(),
        "{run:#}"
    );
    assert_eq!(
        run["Parameters"]["AutomationAssumeRole"][0],
        format!("arn:aws:iam::{b}:role/keyguard-member-runbook")
    );
    let (_, incidents) = recorded(&format!("{user} in account {b}"));
    assert_eq!(incidents.len(), 1);
    // Redelivered: nothing runs twice.
    let again = serde_json::to_value(w.app.handle(&event).await).unwrap();
    assert!(
        outcomes(&again).iter().all(|(_, o)| o != "applied"),
        "{again:#}"
    );
    assert_eq!(recorded(&user).0.len(), 1);
}

/// A member the StackSet has not reached yet (no runbook there): the key is
/// contained and the incident opened all the same, and the runbook's start is a failed
/// step (SSM has no such document there), so the run fails and is retried rather than
/// pass as rotated.
#[tokio::test]
async fn a_member_without_the_runbook_has_its_key_contained_and_the_start_failed() {
    let w = world(&[("ORGANIZATION_MODE", "true")]).await;
    let sdk = keyguard_aws::load_config().await;
    let [c] = &keyguard_testkit::org::members(&sdk, 1).await[..] else {
        panic!("one member")
    };
    let in_c = keyguard_testkit::org::iam_in(&sdk, c, "keyguard-member").await;
    let (user, leaked, _) = keyguard_testkit::iam::user_with_two_keys(&in_c, &[]).await;
    let event = member_finding(&leaked, &user, c);
    let report = serde_json::to_value(w.app.handle(&event).await).unwrap();
    assert_eq!(report["statusCode"], 500, "{report:#}");
    let got = outcomes(&report);
    assert!(
        got.contains(&("deactivate_key".into(), "applied".into())),
        "{report:#}"
    );
    assert!(
        got.contains(&("open_incident".into(), "applied".into())),
        "{report:#}"
    );
    let start = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "start_runbook")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(start["outcome"], "failed", "{start:#}");
    assert_eq!(
        start["code"], "AutomationDefinitionNotFoundException",
        "{start:#}"
    );
    assert_eq!(
        keyguard_testkit::iam::statuses(&in_c, &user).await[&leaked],
        "Inactive"
    );
    assert!(recorded(&user).0.is_empty(), "no execution anywhere");
}

/// `SECURITY_HUB=true`: the finding's run is one Security Hub finding about the key,
/// read back from moto, and its redelivery neither adds a second nor overwrites it.
#[tokio::test]
async fn a_finding_is_one_security_hub_finding_that_a_redelivery_does_not_duplicate() {
    let w = world(&[("SECURITY_HUB", "true")]).await;
    let (user, named, _) = w.user_with_a_used_key().await;
    let event = sample("iam-user.json", &named, &user);
    let first = w.run_at(&event, "2026-11-23T10:14:59Z").await;
    assert_eq!(first["statusCode"], 200, "{first:#}");
    let id = keyguard_testkit::security_hub::imported_id(&first);
    assert!(id.starts_with("keyguard/guardduty-translator/"), "{id}");
    let sdk = keyguard_aws::load_config().await;
    let found = keyguard_testkit::security_hub::findings_with_id(&sdk, &id);
    assert_eq!(found.len(), 1, "one finding for the event");
    let fields = found[0].product_fields().unwrap();
    assert_eq!(fields["keyguard/function"], "guardduty-translator");
    assert_eq!(fields["keyguard/decision"], "act");
    let key = keyguard_testkit::security_hub::first_key(&found[0]);
    assert_eq!(key.access_key_id(), Some(named.as_str()));
    assert_eq!(key.principal_name(), Some(user.as_str()));

    let again = w.run_at(&event, "2026-11-23T10:15:00Z").await;
    assert_eq!(again["statusCode"], 200, "{again:#}");
    keyguard_testkit::security_hub::assert_not_imported_again(&again);
    let found = keyguard_testkit::security_hub::findings_with_id(&sdk, &id);
    assert_eq!(found.len(), 1, "still one finding");
    assert_eq!(
        found[0].product_fields().unwrap()["keyguard/decision"],
        "act"
    );
}

/// Every budget spent, as deployed and with Security Hub on: the calls, the sweep of
/// every key it may sweep, and the finding end before Lambda's timeout, with a quarter to
/// spare. At 60 s they did not: the sweeps alone could take 51 s.
#[test]
fn the_worst_case_of_every_budget_fits_the_function_timeout_with_a_margin() {
    let settings = |env: &std::collections::BTreeMap<String, String>| {
        Settings::from_env(&|k: &str| env.get(k).cloned(), Default::default()).unwrap()
    };
    let env = keyguard_testkit::infra::assert_worst_case_fits("guardduty-translator", |env| {
        settings(env).worst_case()
    });
    assert!(
        settings(&env).translator.containment.sweep.lookback_hours > 0,
        "the sweep is on, as deployed"
    );
}
