//! deactivate-key's sweep against moto and the LookupEvents stand-in, in its own test
//! process: its reads are paced at CloudTrail's rate and bounded in time, so it must not
//! share a moto with the other tests' load.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

mod common;

use aws_sdk_iam::types::StatusType;
use common::{assert_steps, world};
use keyguard_testkit::{moto, unique};
use serde_json::{json, Value};

/// A CloudTrail record of a call signed by `key` of `user`, `ago` seconds before now.
/// The sweeps read the same account's us-east-1 history, whose rate (two a second) the
/// first test proves is kept: one at a time, each after the last one's requests have
/// left the stand-in's one-second window, so neither throttles the other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = ONE_AT_A_TIME.lock().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    guard
}

fn signed(
    key: &str,
    user: &str,
    call: (&str, &str),
    params: Value,
    response: Value,
    ago: i64,
) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::seconds(ago);
    json!({
        "eventVersion": "1.08",
        "eventID": unique("trail"),
        "eventTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": call.0,
        "eventName": call.1,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.15",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "accountId": "123456789012", "accessKeyId": key,
                         "userName": user, "arn": format!("arn:aws:iam::123456789012:user/{user}")},
        "requestParameters": params,
        "responseElements": response,
    })
}

/// After containing a leaked key, keyguard reads what the key did in the last
/// LOOKBACK_HOURS (CloudTrail LookupEvents, through the stand-in): the key it made for
/// another user is contained in the same run with its own ledger row, the console
/// password and the federation token it made are listed with their events, a failed
/// call and a read are not. The lookups page through the history under two a second;
/// a redelivery acts on nothing twice. With SWEEP_CREATED_KEYS=report the created key
/// is listed and left alone.
#[tokio::test]
async fn the_sweep_contains_what_the_leaked_key_created_and_lists_the_rest() {
    let _alone = alone().await;
    const IAM: &str = "iam.amazonaws.com";
    // eu-west-1 is enabled in every account; ap-east-1 is an opt-in region, here one
    // the account has not enabled.
    let w = world(&[
        ("LOOKBACK_HOURS", "72"),
        ("LOOKBACK_REGIONS", "eu-west-1, ap-east-1"),
    ])
    .await;
    let moto = moto::shared();
    let (alice, leaked, _) = w.user_with_two_keys(&[]).await;
    let (bob, made, bobs_own) = w.user_with_two_keys(&[]).await;
    let carol = keyguard_testkit::iam::user(&w.iam, &[]).await;
    let mut history = vec![
        signed(
            &leaked,
            &alice,
            (IAM, "CreateAccessKey"),
            json!({"userName": bob}),
            json!({"accessKey": {"accessKeyId": made, "userName": bob, "status": "Active"}}),
            3_000,
        ),
        signed(
            &leaked,
            &alice,
            (IAM, "CreateLoginProfile"),
            json!({"userName": carol, "passwordResetRequired": false}),
            json!(null),
            2_000,
        ),
        signed(
            &leaked,
            &alice,
            ("sts.amazonaws.com", "GetFederationToken"),
            json!({"name": "ops"}),
            json!({"federatedUser": {"federatedUserId": "123456789012:ops"}}),
            1_000,
        ),
        // Failed, read-only, too old, or another key's: none is listed.
        {
            let mut failed = signed(
                &leaked,
                &alice,
                (IAM, "CreateUser"),
                json!({"userName": "mallory"}),
                json!(null),
                900,
            );
            failed["errorCode"] = json!("AccessDenied");
            failed
        },
        signed(
            &leaked,
            &alice,
            (IAM, "CreateUser"),
            json!({"userName": "ancient"}),
            json!(null),
            80 * 3600,
        ),
        signed(
            &bobs_own,
            &bob,
            (IAM, "CreateUser"),
            json!({"userName": "bobs-friend"}),
            json!(null),
            100,
        ),
    ];
    // Enough reads to need three pages of 50.
    history.extend((0..110).map(|i| {
        signed(
            &leaked,
            &alice,
            (IAM, "ListUsers"),
            json!({}),
            json!(null),
            10 + i,
        )
    }));
    moto.put_trail_events("us-east-1", &history);
    // A session token minted through a regional STS endpoint is in that region's history
    // only; a region the account has not enabled refuses and is named, not fatal.
    let mut token = signed(
        &leaked,
        &alice,
        ("sts.amazonaws.com", "GetSessionToken"),
        json!({"durationSeconds": 129600}),
        json!(null),
        500,
    );
    token["awsRegion"] = json!("eu-west-1");
    moto.put_trail_events("eu-west-1", std::slice::from_ref(&token));
    moto.disable_trail_region("ap-east-1");

    let event = json!({"accessKeyId": leaked, "userName": alice, "eventId": unique("ev")});
    let report = w.run(&event).await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    let steps = report["steps"].as_array().unwrap();
    let actions: Vec<(&str, Option<&str>, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["action"]["type"].as_str().unwrap(),
                s["action"]["key_id"].as_str(),
                s["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("deactivate_key", Some(leaked.as_str()), "applied"),
            ("revoke_sessions", Some(leaked.as_str()), "applied"),
            ("deactivate_key", Some(made.as_str()), "applied"),
            ("revoke_sessions", Some(made.as_str()), "applied"),
            ("notify", None, "applied"),
            ("sweep_history", Some(leaked.as_str()), "applied"),
        ],
        "{report:#}"
    );
    assert!(
        steps[2]["reason"]
            .as_str()
            .unwrap()
            .contains("created with a contained key (CreateAccessKey"),
        "{report:#}"
    );
    assert_eq!(w.statuses(&bob).await[&made], "Inactive");
    assert_eq!(
        w.statuses(&bob).await[&bobs_own],
        "Active",
        "bob's own key is not the one the leaked key made"
    );
    let facts = &steps[4]["action"]["notice"]["facts"];
    let listed: Vec<&str> = facts
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("action "))
        .map(|(_, v)| v.as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 4, "{facts:#}");
    assert!(
        listed[0].contains("CreateAccessKey")
            && listed[0].contains(&made)
            && listed[0].ends_with("[deactivation planned in this run: see its step]"),
        "{facts:#}"
    );
    assert!(
        listed[1].contains(&format!("gave user {carol} a console password")),
        "{facts:#}"
    );
    assert!(
        listed[2].contains("GetFederationToken") && listed[2].contains("ops"),
        "{facts:#}"
    );
    assert!(
        listed[3].contains("GetSessionToken")
            && listed[3].contains(token["eventID"].as_str().unwrap()),
        "{facts:#}"
    );
    assert!(
        facts["regions not read"]
            .as_str()
            .is_some_and(|r| r.contains("ap-east-1 (UnrecognizedClientException)")),
        "{facts:#}"
    );
    assert!(
        facts["lookback"].as_str().unwrap().contains("eu-west-1"),
        "{facts:#}"
    );
    for (i, record) in history.iter().take(3).enumerate() {
        assert!(
            listed[i].contains(record["eventID"].as_str().unwrap()),
            "each with its event id: {facts:#}"
        );
    }
    let text = facts.to_string();
    assert!(
        !text.contains("mallory") && !text.contains("ancient") && !text.contains("bobs-friend"),
        "{facts:#}"
    );
    assert!(
        facts["lookback"]
            .as_str()
            .unwrap()
            .contains("115 event(s) read"),
        "{facts:#}"
    );

    // Paced: three pages, never two within half a second, none throttled.
    let asked = |lookups: &[Value]| -> Vec<f64> {
        lookups
            .iter()
            .filter(|l| {
                l["attribute"]["AttributeValue"] == leaked.as_str() && l["region"] == "us-east-1"
            })
            .map(|l| {
                assert_eq!(l["throttled"], false, "{l}");
                l["at"].as_f64().unwrap()
            })
            .collect()
    };
    let times = asked(&moto.trail_lookups());
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(times.windows(2).all(|t| t[1] - t[0] >= 0.5), "{times:?}");

    // A redelivery: the same lookups again, nothing acted on or told twice.
    let again = w.run(&event).await;
    assert_eq!(again["statusCode"], 200, "{again:#}");
    // The key is Inactive by now: no deactivation is planned, and every step that is
    // (the revocations, the created key's, the listing) finds its row.
    assert_steps(
        &again,
        &[
            ("revoke_sessions", "duplicate"),
            ("revoke_sessions", "duplicate"),
            ("notify", "duplicate"),
            ("sweep_history", "duplicate"),
        ],
    );
    let rows = w.step_rows().await;
    assert_eq!(
        rows.iter()
            .filter(|r| r["idempotency_key"].contains(&format!(":{made}:")))
            .count(),
        1,
        "{rows:#?}"
    );

    // SWEEP_CREATED_KEYS=report: the created key is listed, and stays Active. The
    // leaked key was set Inactive by someone before the event came, and sessions are not
    // revoked: nothing to write for it, and its history is read all the same.
    let reporting = world(&[
        ("LOOKBACK_HOURS", "72"),
        ("SWEEP_CREATED_KEYS", "report"),
        ("REVOKE_USER_SESSIONS", "false"),
    ])
    .await;
    let (erin, leaked2, _) = reporting.user_with_two_keys(&[]).await;
    reporting
        .iam
        .update_access_key()
        .user_name(&erin)
        .access_key_id(&leaked2)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let (frank, made2, _) = reporting.user_with_two_keys(&[]).await;
    moto.put_trail_events(
        "us-east-1",
        &[signed(
            &leaked2,
            &erin,
            (IAM, "CreateAccessKey"),
            json!({"userName": frank}),
            json!({"accessKey": {"accessKeyId": made2, "userName": frank}}),
            60,
        )],
    );
    let report = reporting
        .run(&json!({"accessKeyId": leaked2, "userName": erin, "eventId": unique("ev")}))
        .await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(report["decision"], "already_contained", "{report:#}");
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps
        .iter()
        .map(|s| s["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notify", "sweep_history"], "{report:#}");
    assert!(
        steps[0]["action"]["notice"]["facts"]["action 01"]
            .as_str()
            .unwrap()
            .ends_with("[listed only]"),
        "{report:#}"
    );
    assert_eq!(reporting.statuses(&frank).await[&made2], "Active");

    // A flood of cheap calls after the backdoor key, more than the pages read by access
    // key: the CreateAccessKey read by event name still finds it, and it is contained.
    let (gina, leaked3, _) = w.user_with_two_keys(&[]).await;
    let (hank, made3, _) = w.user_with_two_keys(&[]).await;
    let mut flood = vec![signed(
        &leaked3,
        &gina,
        (IAM, "CreateAccessKey"),
        json!({"userName": hank}),
        json!({"accessKey": {"accessKeyId": made3, "userName": hank}}),
        5_000,
    )];
    flood.extend((0..420).map(|i| {
        signed(
            &leaked3,
            &gina,
            (IAM, "ListUsers"),
            json!({}),
            json!(null),
            10 + i,
        )
    }));
    moto.put_trail_events("us-east-1", &flood);
    let report = w
        .run(&json!({"accessKeyId": leaked3, "userName": gina, "eventId": unique("ev")}))
        .await;
    assert_eq!(report["statusCode"], 200, "{report:#}");
    assert_eq!(w.statuses(&hank).await[&made3], "Inactive", "{report:#}");
    let listing = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "notify")
        .unwrap();
    let facts = &listing["action"]["notice"]["facts"];
    assert!(
        facts["incomplete"]
            .as_str()
            .unwrap()
            .contains("every CreateAccessKey"),
        "{facts:#}"
    );
}

/// A region that fails for another reason than refusing keyguard (a service fault, a
/// throttle past the retries) fails the sweep: its events are not given up as unread,
/// and the retry, whose containment steps are duplicates, reads it again.
#[tokio::test]
async fn a_region_that_fails_fails_the_sweep_and_the_retry_reads_it() {
    let _alone = alone().await;
    let w = world(&[("LOOKBACK_HOURS", "72"), ("LOOKBACK_REGIONS", "me-south-1")]).await;
    let moto = moto::shared();
    let (alice, leaked, _) = w.user_with_two_keys(&[]).await;
    let mut token = signed(
        &leaked,
        &alice,
        ("sts.amazonaws.com", "GetSessionToken"),
        json!({}),
        json!(null),
        60,
    );
    token["awsRegion"] = json!("me-south-1");
    moto.put_trail_events("me-south-1", std::slice::from_ref(&token));
    moto.fail_trail_region("me-south-1", true);
    let event = json!({"accessKeyId": leaked, "userName": alice, "eventId": unique("ev")});
    let failed = w.run(&event).await;
    moto.fail_trail_region("me-south-1", false);
    assert_eq!(failed["statusCode"], 500, "{failed:#}");
    assert!(
        failed["why"].as_str().unwrap().contains("me-south-1"),
        "{failed:#}"
    );
    assert_eq!(
        w.statuses(&alice).await[&leaked],
        "Inactive",
        "contained first"
    );
    let retried = w.run(&event).await;
    assert_eq!(retried["statusCode"], 200, "{retried:#}");
    let listing = retried["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["action"]["type"] == "notify")
        .unwrap_or_else(|| panic!("{retried:#}"));
    assert!(
        listing
            .to_string()
            .contains(token["eventID"].as_str().unwrap()),
        "{listing:#}"
    );
}
