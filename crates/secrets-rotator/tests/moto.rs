//! secrets-rotator against moto through the real SDK clients: the four rotation steps,
//! each delivered twice, the refusals, a failing test step, the sweep, and no secret in
//! any report or log line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::{logs, moto};
use secrets_rotator::{App, Settings};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

static SEQ: AtomicUsize = AtomicUsize::new(0);

use keyguard_testkit::unique;

fn token() -> String {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    format!(
        "7f9c1a2b-{:04x}-4000-8000-{:012x}",
        std::process::id() % 0xffff,
        n
    )
}

struct World {
    iam: aws_sdk_iam::Client,
    sm: aws_sdk_secretsmanager::Client,
    sdk: keyguard_aws::SdkConfig,
    app: App,
    reports: Mutex<Vec<String>>,
}

async fn world(env: &[(&str, &str)]) -> World {
    moto::shared();
    logs::capture();
    let sdk = keyguard_aws::load_config().await;
    let mut vars: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("LEDGER_TABLE".into(), unique("ledger"));
    vars.entry("TEST_DELAY_SECONDS".into())
        .or_insert("0".into());
    vars.entry("TEST_ATTEMPTS".into()).or_insert("2".into());
    let lookup = move |k: &str| vars.get(k).cloned();
    let app = App::new(
        &sdk,
        Settings::from_env(&lookup, SelfIdentity::default()).unwrap(),
    );
    app.ledger.create_table().await.unwrap();
    World {
        iam: aws_sdk_iam::Client::new(&sdk),
        sm: aws_sdk_secretsmanager::Client::new(&sdk),
        sdk,
        app,
        reports: Mutex::new(Vec::new()),
    }
}

struct Managed {
    user: String,
    secret: String,
    old_key: String,
    old_secret: String,
}

impl World {
    async fn run(&self, event: &Value) -> Value {
        let report = self.app.handle(event).await;
        keyguard_aws::observe::log_report(&report);
        let v = serde_json::to_value(&report).unwrap();
        self.reports.lock().unwrap().push(v.to_string());
        v
    }

    async fn user(&self, tags: &[(&str, &str)]) -> String {
        keyguard_testkit::iam::user(&self.iam, tags).await
    }

    async fn key(&self, user: &str) -> (String, String) {
        keyguard_testkit::iam::key(&self.iam, user).await
    }

    /// A user with one key, held by a keyguard-managed secret.
    async fn managed(&self) -> Managed {
        let user = self.user(&[("UserType", "machine")]).await;
        let (old_key, old_secret) = self.key(&user).await;
        let value =
            json!({"UserName": user, "AccessKeyId": old_key, "SecretAccessKey": old_secret});
        let out = self
            .sm
            .create_secret()
            .name(unique("keyguard/iam-user"))
            .secret_string(value.to_string())
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("keyguard:iam-user")
                    .value(&user)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        Managed {
            user,
            secret: out.arn().unwrap().to_owned(),
            old_key,
            old_secret,
        }
    }

    async fn statuses(&self, user: &str) -> BTreeMap<String, String> {
        keyguard_testkit::iam::statuses(&self.iam, user).await
    }

    async fn value(&self, secret: &str, stage: &str) -> Option<Value> {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(secret)
            .version_stage(stage)
            .send()
            .await
            .ok()?;
        serde_json::from_str(out.secret_string()?).ok()
    }
}

fn step(step: &str, secret: &str, token: &str) -> Value {
    json!({"Step": step, "SecretId": secret, "ClientRequestToken": token})
}

fn outcomes(report: &Value) -> Vec<String> {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["action"]["type"].as_str().unwrap(),
                s["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_full_cycle_twice_over_then_the_sweep_deletes_the_retired_key() {
    moto::shared();
    let sns = aws_sdk_sns::Client::new(&keyguard_aws::load_config().await);
    let topic = keyguard_testkit::sns::topic(&sns, "rotations").await;
    let w = world(&[("NOTICE_TOPIC_ARN", &topic), ("DELETE_GRACE_DAYS", "0")]).await;
    let m = w.managed().await;
    let t = token();

    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let first = w.run(&step(name, &m.secret, &t)).await;
        assert_eq!(first["statusCode"], 200, "{name}: {first:#}");
        // Delivered again: the same state, nothing done twice.
        let again = w.run(&step(name, &m.secret, &t)).await;
        assert_eq!(again["statusCode"], 200, "{name} again: {again:#}");
        assert!(
            again["decision"] == "nothing_to_do"
                || outcomes(&again).iter().all(|o| o.ends_with(":duplicate")),
            "{name} again: {again:#}"
        );
        assert_eq!(
            w.statuses(&m.user).await.len(),
            2,
            "{name}: one new key, never more"
        );
    }

    let current = w.value(&m.secret, "AWSCURRENT").await.unwrap();
    let new_key = current["AccessKeyId"].as_str().unwrap().to_owned();
    let new_secret = current["SecretAccessKey"].as_str().unwrap().to_owned();
    assert_ne!(new_key, m.old_key);
    assert_eq!(current["UserName"], m.user.as_str());
    // The new key signs in as the user.
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&w.sdk)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                &new_key,
                &new_secret,
                None,
                None,
                "test",
            ))
            .build(),
    );
    let me = sts.get_caller_identity().send().await.unwrap();
    assert!(
        me.arn().unwrap().ends_with(&format!(":user/{}", m.user)),
        "{me:?}"
    );
    let previous = w.value(&m.secret, "AWSPREVIOUS").await.unwrap();
    assert_eq!(previous["AccessKeyId"], m.old_key.as_str());
    let statuses = w.statuses(&m.user).await;
    assert_eq!(statuses[&m.old_key], "Inactive");
    assert_eq!(statuses[&new_key], "Active");

    // The sweep (grace 0 days here) deletes the retired key, and only it.
    let schedule = json!({"version": "0", "id": unique("sched"), "detail-type": "Scheduled Event",
                          "source": "aws.events", "time": "2026-11-23T09:00:00Z", "detail": {}});
    let swept = w.run(&schedule).await;
    assert_eq!(swept["statusCode"], 200, "{swept:#}");
    let statuses = w.statuses(&m.user).await;
    assert_eq!(statuses.keys().collect::<Vec<_>>(), [&new_key], "{swept:#}");
    let again = w.run(&schedule).await;
    assert!(!outcomes(&again)
        .iter()
        .any(|o| o.starts_with("delete_key:applied")));

    // Unused keys: only an employee's key unused for 90 days is deactivated.
    let endpoint = moto::shared();
    let mut keys = BTreeMap::new();
    for (name, tags, backdate) in [
        ("employee-old", vec![("UserType", "employee")], true),
        ("employee-new", vec![("UserType", "employee")], false),
        ("machine-old", vec![("UserType", "machine")], true),
        ("untagged-old", vec![], true),
        (
            "exempt-old",
            vec![("UserType", "Employee"), ("keyguard:exempt", "true")],
            true,
        ),
    ] {
        let user = w.user(&tags).await;
        let (key, _) = w.key(&user).await;
        if backdate {
            endpoint.backdate_key(&user, &key, "2026-08-01T00:00:00Z");
        }
        keys.insert(name, (user, key));
    }
    let schedule = json!({"version": "0", "id": unique("sched"), "detail-type": "Scheduled Event",
                          "source": "aws.events", "time": "2026-11-24T09:00:00Z", "detail": {}});
    let swept = w.run(&schedule).await;
    for (name, (user, key)) in &keys {
        let want = if *name == "employee-old" {
            "Inactive"
        } else {
            "Active"
        };
        assert_eq!(w.statuses(user).await[key], want, "{name}: {swept:#}");
    }
    let noticed: Vec<&str> = swept["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"]["type"] == "notify")
        .filter_map(|s| s["action"]["notice"]["key_id"].as_str())
        .collect();
    for name in ["employee-old", "machine-old", "untagged-old", "exempt-old"] {
        assert!(
            noticed.contains(&keys[name].1.as_str()),
            "{name} reported: {swept:#}"
        );
    }
    assert!(!noticed.contains(&keys["employee-new"].1.as_str()));

    let messages = moto::shared().published(&topic);
    assert!(
        messages
            .iter()
            .any(|n| n.contains("created") && n.contains(&new_key)),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|n| n.contains("deleted") && n.contains(&m.old_key)),
        "{messages:#?}"
    );
    let about_rotation = messages
        .iter()
        .filter(|n| n.contains(&new_key) || n.contains(&m.old_key))
        .count();
    assert_eq!(
        about_rotation, 2,
        "one notice per creation and deletion: {messages:#?}"
    );

    // No secret in any report, log line or notice.
    let logged = logs::capture().text();
    let reports = w.reports.lock().unwrap().join("\n");
    for secret in [&m.old_secret, &new_secret] {
        assert!(!logged.contains(secret.as_str()), "a secret in the logs");
        assert!(!reports.contains(secret.as_str()), "a secret in a report");
        assert!(
            !messages.iter().any(|n| n.contains(secret.as_str())),
            "a secret in a notice"
        );
    }
    assert!(logged.contains(&new_key), "the logs do carry key ids");
}

#[tokio::test]
async fn a_second_active_key_refuses_the_rotation_and_changes_nothing() {
    let w = world(&[]).await;
    let m = w.managed().await;
    let (other, _) = w.key(&m.user).await;
    let t = token();
    let event = step("createSecret", &m.secret, &t);
    let report = w.run(&event).await;
    assert_eq!(report["statusCode"], 403, "{report:#}");
    assert!(report["why"].as_str().unwrap().contains(&other));
    assert!(
        w.app.fails(&event, &w.app.handle(&event).await),
        "Secrets Manager must see a failure"
    );
    assert_eq!(w.statuses(&m.user).await.len(), 2);
    assert!(w.value(&m.secret, "AWSPENDING").await.is_none());

    // An Inactive second key is deleted to make room.
    w.iam
        .update_access_key()
        .user_name(&m.user)
        .access_key_id(&other)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let report = w.run(&step("createSecret", &m.secret, &token())).await;
    assert_eq!(
        outcomes(&report),
        [
            "delete_key:applied",
            "notify:applied",
            "create_pending_key:applied"
        ],
        "{report:#}"
    );
    let statuses = w.statuses(&m.user).await;
    assert!(!statuses.contains_key(&other));
    assert_eq!(statuses[&m.old_key], "Active");
}

#[tokio::test]
async fn a_failing_test_leaves_the_current_secret_and_the_old_key_alone() {
    let w = world(&[]).await;
    let m = w.managed().await;
    let t = token();
    w.run(&step("createSecret", &m.secret, &t)).await;
    let pending = w.value_pending(&m.secret, &t).await;
    // The new key vanishes before the test (say, deleted by hand): it cannot sign in as the user.
    w.iam
        .delete_access_key()
        .user_name(&m.user)
        .access_key_id(pending.as_str())
        .send()
        .await
        .unwrap();
    let event = step("testSecret", &m.secret, &t);
    let report = w.run(&event).await;
    assert_eq!(report["statusCode"], 500, "{report:#}");
    assert_eq!(report["steps"][0]["code"], "PendingKeyTestFailed");
    assert!(w.app.fails(&event, &w.app.handle(&event).await));
    let current = w.value(&m.secret, "AWSCURRENT").await.unwrap();
    assert_eq!(current["AccessKeyId"], m.old_key.as_str());
    assert_eq!(w.statuses(&m.user).await[&m.old_key], "Active");
}

#[tokio::test]
async fn bad_and_foreign_events_do_nothing() {
    let w = world(&[]).await;
    let m = w.managed().await;
    for (event, code) in [
        (
            json!({"Step": "rotateEverything", "SecretId": m.secret, "ClientRequestToken": token()}),
            400,
        ),
        (
            step(
                "createSecret",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf",
                &token(),
            ),
            404,
        ),
        (
            json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "custom.cron", "detail": {}}),
            403,
        ),
    ] {
        let report = w.run(&event).await;
        assert_eq!(report["statusCode"], code, "{report:#}");
        assert!(report["steps"].as_array().unwrap().is_empty());
    }
    assert_eq!(w.statuses(&m.user).await.len(), 1);
}

#[tokio::test]
async fn two_copies_of_every_step_at_once_act_once() {
    let w = world(&[("DELETE_GRACE_DAYS", "0")]).await;
    let m = w.managed().await;
    let t = token();
    let mut applied: BTreeMap<String, usize> = BTreeMap::new();
    for name in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let event = step(name, &m.secret, &t);
        let (a, b) = tokio::join!(w.run(&event), w.run(&event));
        for r in [&a, &b] {
            // The copy that meets the other's claim mid-step reports it in progress and
            // fails (Secrets Manager retries the step); nothing else may fail.
            let in_progress = outcomes(r).iter().any(|o| o.ends_with(":in_progress"));
            assert!(
                r["statusCode"].as_u64().unwrap() < 500 || in_progress,
                "{name}: {r:#}"
            );
            assert!(
                !outcomes(r).iter().any(|o| o.ends_with(":failed")),
                "{name}: {r:#}"
            );
            for o in outcomes(r) {
                if let Some(action) = o.strip_suffix(":applied") {
                    *applied.entry(action.to_owned()).or_default() += 1;
                }
            }
        }
        assert_eq!(
            w.statuses(&m.user).await.len(),
            2,
            "{name}: one new key, never two"
        );
    }
    assert!(applied.values().all(|n| *n == 1), "{applied:?}");
    assert_eq!(applied.get("create_pending_key"), Some(&1), "{applied:?}");
    assert_eq!(applied.get("deactivate_key"), Some(&1), "{applied:?}");
    let statuses = w.statuses(&m.user).await;
    assert_eq!(statuses[&m.old_key], "Inactive");
    let current = w.value(&m.secret, "AWSCURRENT").await.unwrap();
    assert_eq!(statuses[current["AccessKeyId"].as_str().unwrap()], "Active");
}

#[tokio::test]
async fn hostile_input_is_turned_away() {
    let w = world(&[]).await;
    let m = w.managed().await;
    for (case, event) in keyguard_testkit::hostile::events() {
        keyguard_testkit::hostile::assert_turned_away(case, &w.run(&event).await);
    }
    assert_eq!(w.statuses(&m.user).await.len(), 1);
    assert!(w.app.ledger.rows().await.unwrap().is_empty());
}

impl World {
    async fn value_pending(&self, secret: &str, token: &str) -> String {
        let out = self
            .sm
            .get_secret_value()
            .secret_id(secret)
            .version_id(token)
            .version_stage("AWSPENDING")
            .send()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(out.secret_string().unwrap()).unwrap();
        v["AccessKeyId"].as_str().unwrap().to_owned()
    }
}

#[test]
fn the_template_and_the_docs_page_name_exactly_what_the_function_reads() {
    keyguard_testkit::infra::check_env("secrets-rotator", |env| {
        Settings::from_env(&|k: &str| env(k), Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

/// One user whose `GetAccessKeyLastUsed` fails every time (past the SDK's retries) is set
/// apart and named, and the sweep still acts for everyone else; the next run, with the
/// fault gone, acts for that user too.
#[tokio::test]
async fn a_user_the_sweep_cannot_read_is_named_and_the_rest_are_swept() {
    let endpoint = moto::shared();
    let direct = world(&[]).await;
    // A user-type tag of this test's own, so that the other tests' sweeps (run at once,
    // over the same moto) neither touch these users nor have theirs touched here.
    let kind_tag = unique("kind");
    let flaky = direct.user(&[(kind_tag.as_str(), "employee")]).await;
    let (flaky_key, _) = direct.key(&flaky).await;
    let steady = direct.user(&[(kind_tag.as_str(), "employee")]).await;
    let (steady_key, _) = direct.key(&steady).await;
    for (user, key) in [(&flaky, &flaky_key), (&steady, &steady_key)] {
        endpoint.backdate_key(user, key, "2026-07-01T00:00:00Z");
    }

    let proxy = keyguard_testkit::faults::FaultProxy::start(&endpoint.endpoint, 0.0, 7);
    proxy.always_fail(&flaky_key);
    let through =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(5)).await;
    let vars: BTreeMap<String, String> = [
        (
            "LEDGER_TABLE",
            direct.app.settings.common.ledger_table.as_str(),
        ),
        ("REPORT_WAIT_SECONDS", "10"),
        ("USER_TYPE_TAG", kind_tag.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let lookup = move |k: &str| vars.get(k).cloned();
    let app = App::new(
        &through,
        Settings::from_env(&lookup, SelfIdentity::default()).unwrap(),
    );
    let schedule = || {
        json!({"version": "0", "id": unique("sched"), "detail-type": "Scheduled Event",
               "source": "aws.events", "time": "2026-11-24T09:00:00Z", "detail": {}})
    };
    let report = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(report["statusCode"], 500, "{report:#}");
    let text = report.to_string();
    assert!(
        text.contains("could not read 1 user(s)") && text.contains(&flaky),
        "the user set apart is named: {report:#}"
    );
    assert_eq!(direct.statuses(&steady).await[&steady_key], "Inactive");
    assert_eq!(
        direct.statuses(&flaky).await[&flaky_key],
        "Active",
        "nothing is decided for a user read in part: {report:#}"
    );
    assert!(proxy.counts().server_errors >= 1);

    proxy.always_fail("");
    let again = serde_json::to_value(app.handle(&schedule()).await).unwrap();
    assert_eq!(again["statusCode"], 200, "{again:#}");
    assert_eq!(direct.statuses(&flaky).await[&flaky_key], "Inactive");
}
