//! createkey-detector on the wire: webhook URLs read from moto's Secrets Manager, posts
//! to a local HTTP server standing in for Discord and Slack, and the hand-off as a real
//! Lambda `Invoke` request (aws-sdk-lambda) to a second local server, checked byte by
//! byte. The ledger is moto's DynamoDB.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use createkey_detector::handoff::Invoker;
use createkey_detector::{App, Settings};
use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::Report;
use keyguard_testkit::receiver::{Receiver, Reply};
use keyguard_testkit::report::pairs;
use keyguard_testkit::{logs, moto, unique};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// A path segment that stands for the token part of a real webhook URL.
const TOKEN: &str = "T0KEN-never-in-logs-5f2e";
const BACKDOOR_KEY: &str = "AKIAI44QH8DHBEXAMPLE";

struct World {
    app: App,
    hooks: Receiver,
    lambda: Receiver,
    reports: Vec<String>,
    handoff_key: String,
    slack_secret: String,
}

async fn put_secret(sdk: &keyguard_aws::SdkConfig, value: String) -> String {
    let name = unique("keyguard/webhook");
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    name
}

async fn world(env: &[(&str, &str)]) -> World {
    moto::shared();
    logs::capture();
    let sdk = keyguard_aws::load_config().await;
    let hooks = Receiver::start(Reply::status(204));
    let lambda = Receiver::start(Reply::status(202));
    let discord = put_secret(&sdk, hooks.url(&format!("/discord/{TOKEN}"))).await;
    let slack = put_secret(
        &sdk,
        json!({ "url": hooks.url(&format!("/slack/{TOKEN}")) }).to_string(),
    )
    .await;
    let mut vars: BTreeMap<String, String> = [
        ("DISCORD_WEBHOOK_SECRET_ID", discord.as_str()),
        ("SLACK_WEBHOOK_SECRET_ID", slack.as_str()),
        ("WEBHOOK_MAX_WAIT_SECONDS", "2"),
    ]
    .iter()
    .chain(env)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.insert("LEDGER_TABLE".into(), unique("ledger"));
    let key = keyguard_aws::HandoffKey::create(&sdk).await.unwrap();
    vars.entry("HANDOFF_KEY_ID".into()).or_insert(key.clone());
    let lookup = move |k: &str| vars.get(k).cloned();
    let me = keyguard_aws::identity::whoami(&sdk).await.unwrap();
    let mut app = App::new(&sdk, Settings::from_env(&lookup, me).unwrap()).unwrap();
    // The Lambda client goes to the local receiver; every other client stays on moto.
    let lambda_config = aws_sdk_lambda::config::Builder::from(&sdk)
        .endpoint_url(lambda.url(""))
        .build();
    app.effects.invoker = Invoker::with_client(
        aws_sdk_lambda::Client::from_conf(lambda_config),
        "keyguard-deactivate-key",
        keyguard_aws::HandoffKey::new(&sdk, &key),
    );
    app.ledger.create_table().await.unwrap();
    World {
        app,
        hooks,
        lambda,
        reports: Vec::new(),
        handoff_key: key,
        slack_secret: slack,
    }
}

impl World {
    async fn handle(&mut self, event: &Value) -> Report {
        let report = self.app.handle(event).await;
        keyguard_aws::observe::log_report(&report);
        self.reports.push(serde_json::to_string(&report).unwrap());
        report
    }

    /// (path without the token, body) of every webhook post so far.
    fn posts(&self) -> Vec<(String, Value)> {
        self.hooks
            .requests()
            .iter()
            .map(|r| (r.path.replace(&format!("/{TOKEN}"), ""), r.json()))
            .collect()
    }
}

fn backdoor_event(id: &str) -> Value {
    let path =
        keyguard_testkit::workspace_root().join("events/createkey-detector/backdoor-key.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["id"] = json!(id);
    v["detail"]["eventID"] = json!(id);
    v
}

fn outcomes(report: &Report) -> Vec<(String, String)> {
    report
        .steps
        .iter()
        .map(|s| (s.step.action.name().to_owned(), s.outcome.name().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_backdoor_key_is_handed_off_then_alerted_once_even_when_redelivered() {
    let mut w = world(&[]).await;
    let event = backdoor_event(&unique("ev"));
    let report = w.handle(&event).await;
    assert_eq!(report.status_code, 200, "{report:?}");
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("remember", "applied"),
            ("hand_off", "applied"),
            ("alert", "applied"),
            ("alert", "applied"),
        ])
    );
    // The Invoke request, as Lambda receives it.
    let invokes = w.lambda.requests();
    assert_eq!(invokes.len(), 1);
    let inv = &invokes[0];
    assert_eq!(inv.method, "POST");
    assert_eq!(
        inv.path,
        "/2015-03-31/functions/keyguard-deactivate-key/invocations"
    );
    assert_eq!(inv.header("x-amz-invocation-type"), Some("Event"));
    assert!(inv
        .header("authorization")
        .is_some_and(|a| a.contains("/lambda/aws4_request")));
    let mut body = inv.json();
    let mac = body.as_object_mut().unwrap().remove("mac");
    body.as_object_mut().unwrap().remove("issuedAt");
    assert_eq!(
        body,
        json!({"accessKeyId": BACKDOOR_KEY, "userName": "admin", "accountId": "123456789012",
               "classifierSource": "createkey-detector/backdoor-key", "eventId": event["id"]})
    );
    assert!(mac.is_some(), "every hand-off carries its MAC");
    // deactivate-key reads exactly this as a hand-off, and its MAC verifies with the
    // hand-off key; changed in any field, it does not.
    let keyguard_core::Trigger::Handoff(h) = keyguard_core::parse_value(&inv.json()).unwrap()
    else {
        panic!("not a hand-off")
    };
    assert_eq!(h.access_key_id.as_str(), BACKDOOR_KEY);
    assert_eq!(h.user_name.as_ref().map(|u| u.as_str()), Some("admin"));
    let sdk = keyguard_aws::load_config().await;
    let key = keyguard_aws::HandoffKey::new(&sdk, &w.handoff_key);
    assert_eq!(
        key.verify(&h).await.unwrap(),
        keyguard_core::guard::HandoffCheck::Verified
    );
    let mut forged = h.clone();
    forged.user_name = Some(keyguard_core::UserName::parse("alice").unwrap());
    assert!(matches!(
        key.verify(&forged).await.unwrap(),
        keyguard_core::guard::HandoffCheck::Rejected(_)
    ));
    // One post per channel, each in its own format.
    let posts = w.posts();
    let paths: Vec<&str> = posts.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["/discord", "/slack"]);
    let discord = &posts[0].1;
    assert_eq!(discord["allowed_mentions"], json!({"parse": []}));
    assert_eq!(discord["embeds"][0]["title"], json!("[HIGH] backdoor-key"));
    assert!(discord["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["value"] == BACKDOOR_KEY));
    let slack = &posts[1].1;
    assert_eq!(
        slack["blocks"][0]["text"]["text"],
        json!("[HIGH] backdoor-key")
    );
    assert!(slack["text"]
        .as_str()
        .unwrap()
        .contains("user/ci-deployer created an access key for user admin"));

    // EventBridge delivers again, and two copies at once: nothing new anywhere.
    let again = w.handle(&event).await;
    assert!(
        outcomes(&again).iter().all(|(_, o)| o == "duplicate"),
        "{again:?}"
    );
    let (a, b) = tokio::join!(w.app.handle(&event), w.app.handle(&event));
    for r in [a, b] {
        assert!(outcomes(&r).iter().all(|(_, o)| o == "duplicate"), "{r:?}");
    }
    assert_eq!(w.lambda.requests().len(), 1);
    assert_eq!(w.posts().len(), 2);

    // A new event, two copies at the same moment: one hand-off, one post per channel,
    // one memory of the key.
    let fresh = backdoor_event(&unique("ev"));
    let (a, b) = tokio::join!(w.app.handle(&fresh), w.app.handle(&fresh));
    let applied = outcomes(&a)
        .into_iter()
        .chain(outcomes(&b))
        .filter(|(_, o)| o == "applied")
        .count();
    assert_eq!(applied, 4, "{a:?} {b:?}");
    assert_eq!(w.lambda.requests().len(), 2);
    assert_eq!(w.posts().len(), 4);
}

#[tokio::test]
async fn a_429_waits_as_asked_and_a_rejected_post_fails_only_its_own_step() {
    let mut w = world(&[]).await;
    // Discord: rate limited for 0.4 s, then accepted. Slack: the webhook was revoked.
    w.hooks.script([
        Reply::status(429)
            .header("content-type", "application/json")
            .body(r#"{"message": "You are being rate limited.", "retry_after": 0.4, "global": false}"#),
        Reply::status(204),
        Reply::status(404).body("no_service"),
    ]);
    let event = backdoor_event(&unique("ev"));
    let report = w.handle(&event).await;
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("remember", "applied"),
            ("hand_off", "applied"),
            ("alert", "applied"),
            ("alert", "failed"),
        ])
    );
    assert!(
        w.app.fails(&event, &report),
        "a failed post fails the invocation"
    );
    let reqs = w.hooks.requests();
    assert_eq!(reqs.len(), 3);
    let waited = reqs[1].at.duration_since(reqs[0].at);
    assert!(
        waited >= Duration::from_millis(380),
        "retried after {waited:?}"
    );
    let text = serde_json::to_string(&report.steps[3].outcome).unwrap();
    assert!(
        text.contains("WebhookRejected") && text.contains("404"),
        "{text}"
    );

    // Lambda retries the invocation: only the Slack post runs again.
    let retried = w.handle(&event).await;
    assert_eq!(
        outcomes(&retried),
        pairs(&[
            ("remember", "duplicate"),
            ("hand_off", "duplicate"),
            ("alert", "duplicate"),
            ("alert", "applied"),
        ])
    );
    assert!(!w.app.fails(&event, &retried));
    assert_eq!(w.lambda.requests().len(), 1, "containment handed off once");
    let paths: Vec<String> = w.posts().into_iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["/discord", "/discord", "/slack", "/slack"]);

    // Asked to wait longer than WEBHOOK_MAX_WAIT_SECONDS: fail now rather than hold the
    // function, and say why.
    w.hooks
        .script([Reply::status(429).header("retry-after", "60")]);
    let event = backdoor_event(&unique("ev"));
    let report = w.handle(&event).await;
    let text = serde_json::to_string(&report.steps[2].outcome).unwrap();
    assert!(text.contains("WebhookRateLimited"), "{text}");
    // A hostile or broken Retry-After ("NaN" parses as an f64) is a default wait, never a panic.
    w.hooks.script([
        Reply::status(429).header("retry-after", "NaN"),
        Reply::status(204),
    ]);
    let report = w.handle(&backdoor_event(&unique("ev"))).await;
    assert_eq!(report.steps[2].outcome.name(), "applied", "{report:?}");
    // 5xx are retried WEBHOOK_ATTEMPTS times, then reported.
    w.hooks.script((0..3).map(|_| Reply::status(502)));
    let event = backdoor_event(&unique("ev"));
    let before = w.hooks.requests().len();
    let report = w.handle(&event).await;
    assert_eq!(report.steps[2].outcome.name(), "failed");
    let text = serde_json::to_string(&report.steps[2].outcome).unwrap();
    assert!(
        text.contains("WebhookUnreachable") && text.contains("502"),
        "{text}"
    );
    assert_eq!(
        w.hooks.requests().len() - before,
        4,
        "3 Discord attempts, 1 Slack"
    );
}

#[tokio::test]
async fn a_missing_deactivate_function_fails_the_hand_off_and_the_invocation() {
    let mut w = world(&[]).await;
    w.lambda.script([Reply::status(404)
        .header("x-amzn-errortype", "ResourceNotFoundException")
        .header("content-type", "application/json")
        .body(r#"{"Type": "User", "Message": "Function not found: keyguard-deactivate-key"}"#)]);
    let event = backdoor_event(&unique("ev"));
    let report = w.handle(&event).await;
    assert_eq!(report.steps[1].outcome.name(), "failed", "{report:?}");
    assert_eq!(report.status_code, 500);
    assert!(w.app.fails(&event, &report), "Lambda must retry it");
    // The retry hands off (the function exists now) and does not alert twice.
    let retried = w.handle(&event).await;
    assert_eq!(
        outcomes(&retried),
        pairs(&[
            ("remember", "duplicate"),
            ("hand_off", "applied"),
            ("alert", "duplicate"),
            ("alert", "duplicate"),
        ])
    );
}

#[tokio::test]
async fn webhook_urls_stay_out_of_logs_reports_and_errors() {
    let mut w = world(&[]).await;
    let sdk = keyguard_aws::load_config().await;
    // A webhook that cannot be reached: reqwest's own error would carry the URL.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = put_secret(&sdk, format!("http://127.0.0.1:{closed}/discord/{TOKEN}")).await;
    let mut broken = world(&[
        ("DISCORD_WEBHOOK_SECRET_ID", dead.as_str()),
        ("SLACK_WEBHOOK_SECRET_ID", "keyguard/no-such-secret"),
        ("WEBHOOK_ATTEMPTS", "2"),
    ])
    .await;
    let report = broken.handle(&backdoor_event(&unique("ev"))).await;
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("remember", "applied"),
            ("hand_off", "applied"),
            ("alert", "failed"),
            ("alert", "failed"),
        ])
    );
    let text = serde_json::to_string(&report).unwrap();
    assert!(text.contains("WebhookUnreachable"), "{text}");
    assert!(text.contains("WebhookSecretUnreadable"), "{text}");
    // And the successful path, with hostile text in the event.
    let mut hostile = backdoor_event(&unique("ev"));
    hostile["detail"]["userIdentity"]["arn"] = json!("arn:aws:iam::123456789012:user/@everyone");
    w.handle(&hostile).await;
    assert_eq!(w.posts().last().unwrap().0, "/slack");
    assert_eq!(w.posts()[0].1["allowed_mentions"], json!({"parse": []}));

    let logged = logs::capture().text();
    assert!(logged.contains("backdoor-key"), "the reports were logged");
    for (what, text) in [
        ("logs", logged.as_str()),
        ("reports", &w.reports.join("\n")),
        ("reports", &broken.reports.join("\n")),
    ] {
        assert!(!text.contains(TOKEN), "a webhook URL in the {what}");
        assert!(
            !text.contains(&format!("{closed}/")),
            "a webhook URL in the {what}"
        );
    }
}

#[tokio::test]
async fn dry_runs_spoofed_sources_and_bad_input_post_nothing() {
    let mut w = world(&[("DRY_RUN", "true")]).await;
    let report = w.handle(&backdoor_event(&unique("ev"))).await;
    assert!(outcomes(&report).iter().all(|(_, o)| o == "planned"));
    let mut w2 = world(&[]).await;
    let mut spoofed = backdoor_event(&unique("ev"));
    spoofed["source"] = json!("custom.iam");
    let r = w2.handle(&spoofed).await;
    assert_eq!((r.status_code, r.decision.name()), (403, "refused"));
    for bad in [
        json!("just a string"),
        json!({"detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "detail": {"eventName": 7}}),
    ] {
        let r = w2.handle(&bad).await;
        assert_eq!(r.status_code, 400, "{r:?}");
        assert!(r.steps.is_empty());
    }
    assert!(w.hooks.requests().is_empty() && w.lambda.requests().is_empty());
    assert!(w2.hooks.requests().is_empty() && w2.lambda.requests().is_empty());
}

#[tokio::test]
async fn hostile_input_hands_nothing_off_and_pings_no_one() {
    let mut w = world(&[]).await;
    let mut alerted = 0;
    for (case, event) in keyguard_testkit::hostile::events() {
        let report = serde_json::to_value(w.handle(&event).await).unwrap();
        keyguard_testkit::hostile::assert_no_action(case, &report);
    }
    for (case, event) in keyguard_testkit::hostile::alerted_events() {
        let report = serde_json::to_value(w.handle(&event).await).unwrap();
        keyguard_testkit::hostile::assert_no_action(case, &report);
        alerted += report["steps"].as_array().map_or(0, Vec::len);
    }
    assert!(alerted >= 4, "each alerted case reaches both channels");
    assert!(w.lambda.requests().is_empty(), "nothing handed off");
    for (path, body) in w.posts() {
        let text = body.to_string();
        assert!(
            !text.contains("@everyone") && !text.contains("<!channel>"),
            "{path}: {text}"
        );
        let raw = serde_json::to_string(&body).unwrap();
        assert!(
            !body
                .to_string()
                .contains(keyguard_testkit::hostile::DECEPTIVE)
                && !raw.contains(keyguard_testkit::hostile::DECEPTIVE),
            "{path}: a bidi control or line separator reached the post"
        );
        assert!(
            raw.len() < 16 * 1024,
            "{path}: a post of {} bytes",
            raw.len()
        );
    }
}

#[test]
fn the_template_and_the_docs_page_name_exactly_what_the_function_reads() {
    keyguard_testkit::infra::check_env("createkey-detector", |env| {
        Settings::from_env(&|k: &str| env(k), Default::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    });
}

#[test]
fn the_worst_case_of_every_budget_fits_the_function_timeout_with_a_margin() {
    let settings = |env: &BTreeMap<String, String>| {
        Settings::from_env(&|k: &str| env.get(k).cloned(), Default::default()).unwrap()
    };
    let env = keyguard_testkit::infra::assert_worst_case_fits("createkey-detector", |env| {
        settings(env).worst_case()
    });
    assert_eq!(
        settings(&env).detector.webhooks.len(),
        2,
        "both channels, as deployed"
    );
    // And a budget that cannot fit is seen as such.
    let timeout = keyguard_testkit::infra::template("createkey-detector")["Resources"]["Function"]
        ["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    let greedy: BTreeMap<String, String> = env
        .into_iter()
        .chain([("WEBHOOK_MAX_WAIT_SECONDS".to_owned(), "60".to_owned())])
        .collect();
    assert!(settings(&greedy).worst_case().as_secs() > timeout);
}

#[test]
fn webhook_seconds_that_are_negative_or_not_finite_are_named_configuration_errors() {
    for (var, bad) in [
        ("WEBHOOK_MAX_WAIT_SECONDS", "-1"),
        ("WEBHOOK_TIMEOUT_SECONDS", "NaN"),
        ("WEBHOOK_TIMEOUT_SECONDS", "inf"),
        ("WEBHOOK_MAX_WAIT_SECONDS", "1e300"),
    ] {
        let env = |k: &str| match k {
            "HANDOFF_KEY_ID" => Some("alias/keyguard-handoff".to_owned()),
            k if k == var => Some(bad.to_owned()),
            _ => None,
        };
        let err = Settings::from_env(&env, Default::default()).unwrap_err();
        assert_eq!(err.variable, var, "{bad}");
    }
}

#[tokio::test]
async fn a_placeholder_channel_is_left_out_and_named_and_a_failed_post_reads_its_secret_again() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let placeholder = put_secret(&sdk, "https://replace-me.invalid/".to_owned()).await;
    let mut w = world(&[("DISCORD_WEBHOOK_SECRET_ID", placeholder.as_str())]).await;
    w.app.leave_out_placeholders().await;
    // Slack fails for good this time (three 502s): its URL must be read again next time.
    w.hooks
        .script([Reply::status(502), Reply::status(502), Reply::status(502)]);
    let event = backdoor_event(&unique("ev"));
    let report = w.handle(&event).await;
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("remember", "applied"),
            ("hand_off", "applied"),
            ("alert", "failed"),
            ("notify", "applied"),
        ]),
        "Discord left out, its alert not lost: SNS carries it"
    );
    let notice = serde_json::to_value(&report.steps[3].step.action).unwrap();
    assert!(
        notice["notice"]["facts"]["channels_not_configured"]
            .as_str()
            .unwrap()
            .contains("discord"),
        "{notice:#}"
    );
    assert!(
        w.posts().iter().all(|(p, _)| p == "/slack"),
        "nothing posted to a placeholder"
    );
    // The real Slack URL changes (a rotated webhook); the retry posts to the new one.
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&w.slack_secret)
        .secret_string(w.hooks.url(&format!("/slack-new/{TOKEN}")))
        .send()
        .await
        .unwrap();
    let retried = w.handle(&event).await;
    assert_eq!(
        outcomes(&retried),
        pairs(&[
            ("remember", "duplicate"),
            ("hand_off", "duplicate"),
            ("alert", "applied"),
            ("notify", "duplicate"),
        ])
    );
    assert_eq!(w.posts().last().unwrap().0, "/slack-new");
}

/// A canary made as `keyguard canary create` makes it: (user, key id, secret).
async fn canary() -> (String, String, String) {
    let sdk = keyguard_aws::load_config().await;
    let user = keyguard_core::canary::user_name(&unique("ci")).unwrap();
    let key = keyguard_aws::Iam::new(&sdk)
        .create_canary(&user)
        .await
        .unwrap();
    (user.to_string(), key.key_id.clone(), key.secret.clone())
}

/// The canary sample, signed by this canary's key at this time.
fn canary_call(id: &str, user: &str, key: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    let path =
        keyguard_testkit::workspace_root().join("events/createkey-detector/canary-key-used.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["id"] = json!(id);
    v["detail"]["eventID"] = json!(id);
    v["detail"]["eventTime"] = json!(at.to_rfc3339());
    v["detail"]["userIdentity"]["userName"] = json!(user);
    v["detail"]["userIdentity"]["accessKeyId"] = json!(key);
    v["detail"]["userIdentity"]["arn"] = json!(format!(
        "arn:aws:iam::123456789012:user/keyguard/canary/{user}"
    ));
    v
}

fn hourly(id: &str) -> Value {
    json!({"version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.scheduler",
           "account": "123456789012", "time": "2026-12-04T10:00:00Z", "region": "us-east-1",
           "resources": [], "detail": "{}"})
}

#[tokio::test]
async fn a_canarys_calls_alert_once_per_window_and_only_a_call_that_worked_is_handed_off() {
    let mut w = world(&[]).await;
    let (user, key, secret) = canary().await;
    let now = chrono::Utc::now();
    let first = w
        .handle(&canary_call(&unique("ev"), &user, &key, now))
        .await;
    assert_eq!(first.status_code, 200, "{first:?}");
    assert_eq!(
        outcomes(&first),
        pairs(&[("alert", "applied"), ("alert", "applied")])
    );
    let posts = w.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].1["embeds"][0]["title"],
        json!("[CRITICAL] canary-key-used")
    );
    let said = posts[0].1.to_string();
    for part in [
        key.as_str(),
        user.as_str(),
        "GetCallerIdentity",
        "203.0.113.77",
    ] {
        assert!(said.contains(part), "{part} in {said}");
    }
    assert!(
        w.lambda.requests().is_empty(),
        "GetCallerIdentity needs no permission: nothing to contain"
    );
    // A burst: the next call inside the window is remembered, not posted.
    let burst = w
        .handle(&canary_call(
            &unique("ev"),
            &user,
            &key,
            now + chrono::Duration::minutes(1),
        ))
        .await;
    assert_eq!(
        outcomes(&burst),
        pairs(&[("alert", "suppressed"), ("alert", "suppressed")])
    );
    // After the window, the next call alerts again and counts the one kept quiet.
    let before = w.posts().len();
    let twenty = now + chrono::Duration::minutes(20);
    let next = w
        .app
        .handle_at(&canary_call(&unique("ev"), &user, &key, twenty), twenty)
        .await;
    assert_eq!(
        outcomes(&next),
        pairs(&[("alert", "applied"), ("alert", "applied")])
    );
    for (path, body) in &w.posts()[before..] {
        assert!(
            body.to_string().contains("1 more in the window"),
            "{path}: {body}"
        );
    }
    // A use the live alert reported is not news to the hourly check, though IAM
    // records it: it stays quiet while the window covers the last use.
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    keyguard_testkit::iam::use_key(&iam, &key, &secret).await;
    let listed = keyguard_aws::Iam::new(&sdk).canaries().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|k| k.key_id.as_str() == key && k.last_used.is_some() && k.denied),
        "IAM records the use, and the canary can do nothing: {listed:?}"
    );
    let before = w.posts().len();
    let checked = w.handle(&hourly(&unique("sched"))).await;
    assert_eq!(checked.status_code, 200, "{checked:?}");
    assert!(
        !serde_json::to_string(&checked).unwrap().contains(&key),
        "no step about a use the live alert reported: {checked:?}"
    );
    assert!(
        w.posts()[before..]
            .iter()
            .all(|(_, b)| !b.to_string().contains(&key)),
        "{:?}",
        w.posts()
    );
    // A canary's call that worked (its deny gone): the alerts, and its key handed off,
    // for deactivate-key to contain unless it finds the canary harmless after all.
    let mut backdoor = backdoor_event(&unique("ev"));
    backdoor["detail"]["userIdentity"] =
        canary_call("x", &user, &key, now)["detail"]["userIdentity"].clone();
    let report = w.handle(&backdoor).await;
    let handed: Vec<String> = w
        .lambda
        .requests()
        .iter()
        .map(|r| {
            r.json()["accessKeyId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert!(handed.contains(&key), "{handed:?}: {report:?}");
}

#[tokio::test]
async fn the_hourly_check_alerts_on_each_new_recorded_use_and_stays_quiet_otherwise() {
    let mut w = world(&[("CANARY_ALERT_MINUTES", "0")]).await;
    let (user, key, secret) = canary().await;
    let ours = |w: &World| {
        w.posts()
            .into_iter()
            .filter(|(_, body)| body.to_string().contains(&key))
            .count()
    };
    let quiet = w.handle(&hourly(&unique("sched"))).await;
    assert_eq!(quiet.status_code, 200, "{quiet:?}");
    assert_eq!(ours(&w), 0, "an unused canary says nothing");

    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    // What CloudTrail never delivered: IAM still records the use.
    keyguard_testkit::iam::use_key(&iam, &key, &secret).await;
    let found = w.handle(&hourly(&unique("sched"))).await;
    assert_eq!(found.status_code, 200, "{found:?}");
    assert_eq!(ours(&w), 2, "one alert per channel: {:?}", w.posts());
    let said = w.posts().last().unwrap().1.to_string();
    assert!(said.contains("last-used") && said.contains(&user), "{said}");

    let again = w.handle(&hourly(&unique("sched"))).await;
    assert_eq!(again.status_code, 200, "{again:?}");
    assert_eq!(ours(&w), 2, "the same last use is not alerted twice");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    keyguard_testkit::iam::use_key(&iam, &key, &secret).await;
    w.handle(&hourly(&unique("sched"))).await;
    assert_eq!(ours(&w), 4, "a new use is a new alert");
}

#[tokio::test]
async fn who_set_an_exemption_tag_is_recorded_and_the_latest_call_wins() {
    let mut w = world(&[]).await;
    let path =
        keyguard_testkit::workspace_root().join("events/createkey-detector/exemption-tagged.json");
    let sample: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let user = unique("svc");
    let at = |event: &mut Value, id: &str, time: &str| {
        event["id"] = json!(id);
        event["detail"]["eventID"] = json!(id);
        event["detail"]["eventTime"] = json!(time);
        event["detail"]["requestParameters"]["userName"] = json!(user);
        event["detail"]["userIdentity"]["userName"] = json!(user);
        event["detail"]["userIdentity"]["arn"] =
            json!(format!("arn:aws:iam::123456789012:user/{user}"));
    };
    let mut own = sample.clone();
    at(&mut own, &unique("ev"), "2026-12-01T10:00:00Z");
    let report = w.handle(&own).await;
    let got = outcomes(&report);
    assert_eq!(
        got[0],
        ("record_exemption".into(), "applied".into()),
        "{got:?}"
    );
    assert_eq!(got[1], ("hand_off".into(), "applied".into()), "{got:?}");
    let home = keyguard_core::AccountId::parse("123456789012").ok();
    let record = keyguard_aws::Exemptions::new(&w.app.ledger, home);
    let principal = keyguard_core::Principal::User(keyguard_core::UserName::parse(&user).unwrap());
    let kept = record.read(&principal).await.unwrap().unwrap();
    assert!(kept.own && kept.long_term_key, "{kept:?}");
    // An administrator's call from before arrives late: the later one is kept.
    let mut admin = sample.clone();
    at(&mut admin, &unique("ev"), "2026-12-01T09:00:00Z");
    admin["detail"]["userIdentity"] = json!({"type": "AssumedRole", "accountId": "123456789012",
        "arn": "arn:aws:sts::123456789012:assumed-role/ops/alice", "accessKeyId": "ASIAROLESESSION00001"});
    let report = w.handle(&admin).await;
    assert_eq!(
        outcomes(&report)[0],
        ("record_exemption".into(), "applied".into())
    );
    assert!(record.read(&principal).await.unwrap().unwrap().own);
    // The administrator tags it again, later: that call is kept, and believed.
    at(&mut admin, &unique("ev"), "2026-12-01T11:00:00Z");
    admin["detail"]["userIdentity"]["arn"] =
        json!("arn:aws:sts::123456789012:assumed-role/ops/alice");
    w.handle(&admin).await;
    let kept = record.read(&principal).await.unwrap().unwrap();
    assert!(!kept.own && !kept.long_term_key, "{kept:?}");
    assert_eq!(
        kept.set_by,
        "arn:aws:sts::123456789012:assumed-role/ops/alice"
    );
}

/// A CloudTrail call of ci-deployer's key `key`, as the backdoor sample's envelope
/// carries it, at `time` from `ip`.
fn call_by(key: &str, name: &str, time: &str, ip: &str) -> Value {
    let mut v = backdoor_event(&unique("ev"));
    let detail = &mut v["detail"];
    detail["userIdentity"]["accessKeyId"] = json!(key);
    detail["eventName"] = json!(name);
    detail["eventTime"] = json!(recent(time));
    detail["sourceIPAddress"] = json!(ip);
    detail["requestParameters"] = Value::Null;
    detail["responseElements"] = Value::Null;
    v
}

/// A time written as on the morning of 2026-12-07 (`10:00:00Z` the story's start), moved
/// to the same distance from ten minutes ago: windows and the memory's TTL are held
/// against the real clock, so a story told at fixed times would stop holding once the
/// day it was written on had passed.
fn recent(time: &str) -> String {
    static START: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| chrono::Utc::now() - chrono::Duration::minutes(10));
    let written: chrono::DateTime<chrono::Utc> = time.parse().unwrap();
    let story = "2026-12-07T10:00:00Z"
        .parse::<chrono::DateTime<chrono::Utc>>()
        .unwrap();
    (start + (written - story)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `RunInstances` of `n` t3.micro signed by `key`, at `time`.
fn launch_by(key: &str, time: &str, n: u64) -> Value {
    let mut v = call_by(key, "RunInstances", time, "203.0.113.50");
    v["source"] = json!("aws.ec2");
    v["detail"]["eventSource"] = json!("ec2.amazonaws.com");
    v["detail"]["requestParameters"] = json!({"instanceType": "t3.micro",
        "instancesSet": {"items": [{"minCount": n, "maxCount": n}]}});
    v
}

fn rules_fired(report: &Report) -> Vec<String> {
    let mut rules: Vec<String> = report
        .steps
        .iter()
        .filter_map(|s| match &s.step.action {
            keyguard_core::Action::Alert { notice, .. } => notice.facts.get("rule").cloned(),
            _ => None,
        })
        .collect();
    rules.dedup();
    rules
}

fn handed_off(report: &Report) -> Vec<String> {
    report
        .steps
        .iter()
        .filter_map(|s| match &s.step.action {
            keyguard_core::Action::HandOff {
                key_id,
                classifier_source,
                ..
            } => Some(format!("{classifier_source} {key_id}")),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_detector_remembers_who_made_a_user_and_a_key_and_where_the_key_was_made() {
    let mut w = world(&[]).await;
    let leaked = "AKIAIOSFODNN7EXAMPLE";
    let backdoor = "AKIABACKDOORKEY00001";
    let user = unique("bk");
    // The leaked key makes a user, then a key for it, from the attacker's address.
    let mut made = call_by(leaked, "CreateUser", "2026-12-07T10:00:00Z", "203.0.113.50");
    made["detail"]["requestParameters"] = json!({"userName": user});
    let report = w.handle(&made).await;
    assert_eq!(outcomes(&report), pairs(&[("remember", "applied")]));
    let mut keyed = call_by(
        leaked,
        "CreateAccessKey",
        "2026-12-07T10:02:00Z",
        "203.0.113.50",
    );
    keyed["detail"]["requestParameters"] = json!({"userName": user.to_uppercase()});
    keyed["detail"]["responseElements"] =
        json!({"accessKey": {"accessKeyId": backdoor, "userName": user, "status": "Active"}});
    let report = w.handle(&keyed).await;
    assert_eq!(
        rules_fired(&report),
        ["backdoor-key", "user-created-with-key"],
        "{report:?}"
    );
    assert_eq!(
        handed_off(&report),
        [
            format!("createkey-detector/backdoor-key {backdoor}"),
            format!("createkey-detector/user-created-with-key {leaked}"),
        ]
    );
    // The new key is used from another address: medium, alerted, not contained (below
    // the default CONTAIN_MIN_SEVERITY).
    let used = call_by(
        backdoor,
        "AttachUserPolicy",
        "2026-12-07T10:07:00Z",
        "192.0.2.44",
    );
    let report = w.handle(&used).await;
    assert_eq!(
        rules_fired(&report),
        ["new-key-used-elsewhere"],
        "{report:?}"
    );
    assert!(handed_off(&report).is_empty());
    // More calls from elsewhere: held by the key's window, one alert per channel.
    let again = call_by(
        backdoor,
        "PutUserPolicy",
        "2026-12-07T10:08:00Z",
        "192.0.2.44",
    );
    let report = w.handle(&again).await;
    assert!(
        outcomes(&report).iter().all(|(_, o)| o == "suppressed"),
        "{report:?}"
    );
    assert_eq!(
        w.posts()
            .iter()
            .filter(|(_, b)| b.to_string().contains("new-key-used-elsewhere"))
            .count(),
        2
    );
    // The same use an hour and a minute after the key was made: nothing.
    let late = call_by(
        backdoor,
        "AttachUserPolicy",
        "2026-12-07T11:02:01Z",
        "192.0.2.44",
    );
    assert!(rules_fired(&w.handle(&late).await).is_empty());
    // Made by another caller, the user is not this caller's.
    let mut other = keyed.clone();
    other["id"] = json!(unique("ev"));
    other["detail"]["eventID"] = json!(unique("ev"));
    other["detail"]["userIdentity"]["arn"] = json!("arn:aws:iam::123456789012:user/someone");
    other["detail"]["userIdentity"]["userName"] = json!("someone");
    assert_eq!(rules_fired(&w.handle(&other).await), ["backdoor-key"]);
}

#[tokio::test]
async fn a_keys_launches_are_counted_together_once_each_even_when_they_arrive_at_once() {
    let mut w = world(&[]).await;
    let key = "AKIALAUNCHINGKEY0001";
    let launch = |time: &str, n: u64| launch_by(key, time, n);
    let severity = |r: &Report| {
        r.steps.iter().find_map(|s| match &s.step.action {
            keyguard_core::Action::Alert { notice, .. } => Some(format!("{:?}", notice.severity)),
            _ => None,
        })
    };
    let first = launch("2026-12-07T10:00:00Z", 3);
    assert_eq!(severity(&w.handle(&first).await).as_deref(), Some("Medium"));
    // Delivered again: counted once.
    let again = w.handle(&first).await;
    assert!(
        outcomes(&again).iter().all(|(_, o)| o == "duplicate"),
        "{again:?}"
    );
    let second = launch("2026-12-07T10:05:00Z", 3);
    assert_eq!(
        severity(&w.handle(&second).await).as_deref(),
        Some("Medium")
    );
    // Two launches at the same moment: the one that counts second sees all four, 12
    // instances against MANY_INSTANCES' 10, and hands the key off.
    let (a, b) = (
        launch("2026-12-07T10:06:00Z", 3),
        launch("2026-12-07T10:06:00Z", 3),
    );
    let (a, b) = tokio::join!(w.app.handle(&a), w.app.handle(&b));
    let high: Vec<&Report> = [&a, &b]
        .into_iter()
        .filter(|r| severity(r).as_deref() == Some("High"))
        .collect();
    assert!(!high.is_empty(), "{a:?} {b:?}");
    assert_eq!(
        handed_off(high[0]),
        [format!(
            "createkey-detector/long-term-key-runs-instances {key}"
        )]
    );
    let summary = serde_json::to_string(&high[0].steps).unwrap();
    assert!(summary.contains("12 in 4 launches"), "{summary}");
}

#[tokio::test]
async fn a_memory_that_cannot_be_read_still_alerts_and_fails_the_run_for_its_retry() {
    let mut w = world(&[]).await;
    let sdk = keyguard_aws::load_config().await;
    let good = w.app.memory.clone();
    // A table that is not there: DynamoDB refuses at once (ResourceNotFoundException).
    w.app.memory = keyguard_aws::memory::Memory::new(&keyguard_aws::DynamoLedger::new(
        &sdk,
        &unique("no-such-table"),
        1,
        150,
    ));
    let event = backdoor_event(&unique("ev"));
    let report = w.handle(&event).await;
    assert_eq!(report.status_code, 500, "{report:?}");
    assert!(
        format!("{:?}", report.decision).contains("reading the detector's memory"),
        "{:?}",
        report.decision
    );
    assert_eq!(
        outcomes(&report),
        pairs(&[
            ("remember", "applied"),
            ("hand_off", "applied"),
            ("alert", "applied"),
            ("alert", "applied"),
        ])
    );
    // Lambda's retry, with the memory back: nothing twice, and the run succeeds.
    w.app.memory = good.clone();
    let retried = w.handle(&event).await;
    assert_eq!(retried.status_code, 200, "{retried:?}");
    assert!(outcomes(&retried).iter().all(|(_, o)| o == "duplicate"));

    // A key that launched nine instances launches three more while the memory is down:
    // from the event alone that is medium; the retry recalls twelve, and the high alert
    // and the hand-off it adds go out, not taken for the medium ones.
    let key = "AKIALAUNCHINGKEY0002";
    let launch = |time: &str| launch_by(key, time, 3);
    for t in [
        "2026-12-07T10:00:00Z",
        "2026-12-07T10:01:00Z",
        "2026-12-07T10:02:00Z",
    ] {
        assert_eq!(w.handle(&launch(t)).await.status_code, 200);
    }
    w.app.memory = keyguard_aws::memory::Memory::new(&keyguard_aws::DynamoLedger::new(
        &sdk,
        &unique("no-such-table"),
        1,
        150,
    ));
    let fourth = launch("2026-12-07T10:03:00Z");
    let report = w.handle(&fourth).await;
    assert_eq!(report.status_code, 500);
    assert_eq!(
        outcomes(&report),
        pairs(&[("alert", "applied"), ("alert", "applied")])
    );
    w.app.memory = good;
    let retried = w.handle(&fourth).await;
    assert_eq!(retried.status_code, 200, "{retried:?}");
    assert_eq!(
        outcomes(&retried),
        pairs(&[
            ("hand_off", "applied"),
            ("alert", "applied"),
            ("alert", "applied"),
        ]),
        "{retried:?}"
    );
    let text = serde_json::to_string(&retried).unwrap();
    assert!(text.contains("12 in 4 launches"), "{text}");
}

#[tokio::test]
async fn a_keys_item_takes_no_more_launches_than_it_keeps_and_still_counts_them() {
    let mut w = world(&[]).await;
    w.app.memory = w.app.memory.clone().keeping_launches(3);
    let key = "AKIALAUNCHINGKEY0003";
    let launch = |time: &str| launch_by(key, time, 2);
    let mut last = None;
    for minute in 0..6 {
        let report = w
            .handle(&launch(&format!("2026-12-07T10:0{minute}:00Z")))
            .await;
        assert_eq!(report.status_code, 200, "{report:?}");
        last = Some(report);
    }
    // Three kept, the sixth counted beside them: 8 instances in 4 launches.
    let text = serde_json::to_string(&last.unwrap()).unwrap();
    assert!(text.contains("8 in 4 launches"), "{text}");
    let sdk = keyguard_aws::load_config().await;
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&w.app.settings.common.ledger_table)
        .key(
            "idempotency_key",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "memory:123456789012:launches/{key}"
            )),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let kept = item["launches"].as_m().unwrap();
    assert_eq!(kept.len(), 3, "{kept:?}");
}

#[tokio::test]
async fn a_launch_through_a_session_the_leaked_key_minted_contains_the_key() {
    let mut w = world(&[]).await;
    let leaked = "AKIALEAKEDMINTER0001";
    let session = "ASIAMINTEDSESSION001";
    let mut minted = call_by(
        leaked,
        "GetSessionToken",
        "2026-12-07T10:00:00Z",
        "203.0.113.50",
    );
    minted["source"] = json!("aws.sts");
    minted["detail"]["eventSource"] = json!("sts.amazonaws.com");
    minted["detail"]["responseElements"] = json!({"credentials": {"accessKeyId": session}});
    let report = w.handle(&minted).await;
    assert_eq!(outcomes(&report), pairs(&[("remember", "applied")]));
    // GPU instances through the session: the key that minted it is handed off.
    let mut gpu = launch_by(session, "2026-12-07T10:05:00Z", 1);
    gpu["detail"]["requestParameters"]["instanceType"] = json!("p5.48xlarge");
    let report = w.handle(&gpu).await;
    assert_eq!(
        handed_off(&report),
        [format!(
            "createkey-detector/long-term-key-runs-instances {leaked}"
        )],
        "{report:?}"
    );
    let text = serde_json::to_string(&report).unwrap();
    assert!(
        text.contains(&format!("through its session {session}")),
        "{text}"
    );
}

/// `SECURITY_HUB=true`: a backdoor key's alert is one Security Hub finding about the new
/// key, read back from moto; the event redelivered adds no second.
#[tokio::test]
async fn a_backdoor_alert_is_one_security_hub_finding_that_a_redelivery_does_not_duplicate() {
    let mut w = world(&[("SECURITY_HUB", "true")]).await;
    let event = backdoor_event(&unique("backdoor-sh"));
    let first = serde_json::to_value(w.handle(&event).await).unwrap();
    assert_eq!(first["statusCode"], 200, "{first:#}");
    let id = keyguard_testkit::security_hub::imported_id(&first);
    assert!(id.starts_with("keyguard/createkey-detector/"), "{id}");
    let sdk = keyguard_aws::load_config().await;
    let found = keyguard_testkit::security_hub::findings_with_id(&sdk, &id);
    assert_eq!(found.len(), 1, "one finding for the event");
    let f = &found[0];
    let fields = f.product_fields().unwrap();
    assert_eq!(fields["keyguard/function"], "createkey-detector");
    assert_eq!(fields["keyguard/rule"], "backdoor-key", "{fields:?}");
    assert_eq!(f.generator_id(), Some("keyguard/backdoor-key"));
    assert!(f
        .resources()
        .iter()
        .any(|r| r.r#type() == Some("AwsIamAccessKey")));

    let again = serde_json::to_value(w.handle(&event).await).unwrap();
    assert_eq!(again["statusCode"], 200, "{again:#}");
    keyguard_testkit::security_hub::assert_not_imported_again(&again);
    assert_eq!(
        keyguard_testkit::security_hub::findings_with_id(&sdk, &id).len(),
        1,
        "still one finding"
    );
}
