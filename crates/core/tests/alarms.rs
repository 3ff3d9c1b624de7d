//! Each function's template pages the notice topic on what needs a person: an invocation
//! that failed, a step that did not go through (keyguard's own `StepsFailed`, from the
//! EMF line every invocation logs), an event left in the on-failure queue, and, for
//! age-rotation, a daily run that did not happen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_testkit::infra::{self, FUNCTIONS};
use serde_json::{json, Value};

/// The template's alarms on `namespace`/`metric`.
fn alarms<'a>(
    t: &'a Value,
    namespace: &'a str,
    metric: &'a str,
) -> impl Iterator<Item = &'a Value> {
    t["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(move |r| {
            let p = &r["Properties"];
            (r["Type"] == "AWS::CloudWatch::Alarm"
                && p["Namespace"] == namespace
                && p["MetricName"] == metric)
                .then_some(p)
        })
}

/// The template's (first) alarm on `namespace`/`metric`, if there is one.
fn alarm<'a>(t: &'a Value, namespace: &'a str, metric: &'a str) -> Option<&'a Value> {
    alarms(t, namespace, metric).next()
}

#[test]
fn every_function_pages_on_failed_invocations_failed_steps_and_failed_events() {
    for function in FUNCTIONS {
        let t = infra::template(function);
        let to_topic = |p: &Value| p["AlarmActions"] == json!([{"Ref": "NoticeTopicArn"}]);
        let errors = alarm(&t, "AWS/Lambda", "Errors")
            .unwrap_or_else(|| panic!("{function}: no alarm on failed invocations"));
        assert_eq!(
            errors["Dimensions"],
            json!([{"Name": "FunctionName", "Value": {"Ref": "Function"}}]),
            "{function}"
        );
        assert!(to_topic(errors), "{function}");
        let steps = alarm(&t, keyguard_core::metrics::NAMESPACE, "StepsFailed")
            .unwrap_or_else(|| panic!("{function}: no alarm on failed steps"));
        // The dimension the function's own EMF line carries.
        assert_eq!(
            steps["Dimensions"],
            json!([{"Name": "function", "Value": function}]),
            "{function}"
        );
        assert!(keyguard_core::metrics::METRICS
            .iter()
            .any(|(m, _)| *m == "StepsFailed"));
        assert!(to_topic(steps), "{function}");
        // Every queue of what failed for good (a `-failed` name: the on-failure queue,
        // age-rotation's account dead letters) pages when a message waits in it.
        let paged: Vec<&Value> = alarms(&t, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
            .filter(|a| to_topic(a))
            .map(|a| &a["Dimensions"][0]["Value"])
            .collect();
        let dead: Vec<Value> = t["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, r)| {
                r["Type"] == "AWS::SQS::Queue"
                    && r["Properties"]["QueueName"]
                        .as_str()
                        .is_some_and(|n| n.ends_with("-failed"))
            })
            .map(|(name, _)| json!({ "GetAtt": format!("{name}.QueueName") }))
            .collect();
        assert!(
            dead.contains(&json!({"GetAtt": "FailedEvents.QueueName"})),
            "{function}: no on-failure queue"
        );
        for queue in &dead {
            assert!(paged.contains(&queue), "{function}: no alarm on {queue}");
        }
    }
}

#[test]
fn a_daily_scan_that_did_not_run_is_an_alarm() {
    let t = infra::template("age-rotation");
    let none =
        alarm(&t, "AWS/Lambda", "Invocations").expect("an alarm on age-rotation's invocations");
    assert_eq!(none["ComparisonOperator"], "LessThanThreshold");
    assert_eq!(none["TreatMissingData"], "breaching", "no data is no run");
    // Hours with nothing, over a day and an hour: every one of them empty. A single
    // day-long period would page each morning between yesterday's run and today's.
    let period = none["Period"].as_u64().unwrap();
    let hours = none["EvaluationPeriods"].as_u64().unwrap();
    assert_eq!(period, 3600);
    assert_eq!(none["DatapointsToAlarm"].as_u64(), Some(hours));
    assert!(
        (24 * 3600 + 1..=26 * 3600).contains(&(period * hours)),
        "{hours} h"
    );
}

/// The alarms above, and the member accounts' runbooks, can publish to the notice topic
/// only if its key lets them: SNS's AWS managed key (`alias/aws/sns`) has a policy no one
/// can change, so CloudWatch's alarms on a topic under it are dropped without a word, and
/// another account cannot use it at all. moto encrypts nothing, so this is read here.
#[test]
fn the_notice_topic_is_under_a_key_that_lets_its_publishers_publish() {
    let shared =
        infra::template_at(&keyguard_testkit::workspace_root().join("infra/shared/template.yaml"));
    let resources = &shared["Resources"];
    let topic = &resources["NoticeTopic"]["Properties"];
    assert_eq!(
        topic["KmsMasterKeyId"],
        json!({"GetAtt": "NoticeKey.Arn"}),
        "the topic's own key, never alias/aws/sns: {topic:#}"
    );
    let key = &resources["NoticeKey"];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    let statements = |doc: &Value| -> Vec<Value> {
        let mut all = Vec::new();
        for s in doc["Statement"].as_array().unwrap() {
            // A statement kept only in organisation mode: `!If [cond, statement, NoValue]`.
            match s.get("If") {
                Some(branches) => all.push(branches[1].clone()),
                None => all.push(s.clone()),
            }
        }
        all
    };
    let key_policy = statements(&key["Properties"]["KeyPolicy"]);
    let allows = |policy: &[Value], sid: &str, action: &str| {
        policy.iter().any(|s| {
            s["Sid"] == sid
                && s["Effect"] == "Allow"
                && (s["Action"] == action
                    || s["Action"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == action)))
        })
    };
    for sid in ["AlarmsPublish", "MemberRunbooksPublish", "AccountPublishes"] {
        assert!(
            allows(&key_policy, sid, "kms:GenerateDataKey*")
                && allows(&key_policy, sid, "kms:Decrypt"),
            "the key lets {sid} encrypt: {key_policy:#?}"
        );
    }
    // Each held to whom it is for: this account's alarms; the organisation, through SNS,
    // for this topic alone; this account's principals, through SNS.
    let condition = |policy: &[Value], sid: &str, key: &str| -> Value {
        let s = policy.iter().find(|s| s["Sid"] == sid).unwrap();
        s["Condition"]
            .as_object()
            .unwrap()
            .values()
            .find_map(|c| c.get(key).cloned())
            .unwrap_or_else(|| panic!("{sid} has no {key} condition: {s:#}"))
    };
    let alarms = key_policy
        .iter()
        .find(|s| s["Sid"] == "AlarmsPublish")
        .unwrap();
    assert_eq!(
        alarms["Principal"],
        json!({"Service": "cloudwatch.amazonaws.com"})
    );
    assert_eq!(
        condition(&key_policy, "AlarmsPublish", "aws:SourceAccount"),
        json!({"Ref": "AWS::AccountId"})
    );
    assert_eq!(
        condition(&key_policy, "MemberRunbooksPublish", "aws:PrincipalOrgID"),
        json!({"Ref": "OrganizationId"})
    );
    assert!(condition(
        &key_policy,
        "MemberRunbooksPublish",
        "kms:EncryptionContext:aws:sns:topicArn"
    )
    .to_string()
    .contains("NoticeTopicName"));
    for sid in ["MemberRunbooksPublish", "AccountPublishes"] {
        assert!(condition(&key_policy, sid, "kms:ViaService")
            .to_string()
            .contains("sns."));
    }
    assert_eq!(
        condition(&key_policy, "AccountPublishes", "kms:CallerAccount"),
        json!({"Ref": "AWS::AccountId"})
    );
    let topic_policy = statements(&resources["NoticeTopicPolicy"]["Properties"]["PolicyDocument"]);
    for sid in ["AlarmsPublish", "MemberRunbooksPublish", "AccountPublishes"] {
        assert!(
            allows(&topic_policy, sid, "sns:Publish"),
            "the topic lets {sid} publish: {topic_policy:#?}"
        );
    }
    assert_eq!(
        condition(&topic_policy, "MemberRunbooksPublish", "aws:PrincipalOrgID"),
        json!({"Ref": "OrganizationId"})
    );
    assert!(
        condition(&topic_policy, "MemberRunbooksPublish", "aws:PrincipalArn")
            .to_string()
            .contains("MemberRunbookRoleName")
    );
    // The member runbook role, in its own account, may use the key too (a key in another
    // account needs both its policy and the caller's).
    let member =
        infra::template_at(&keyguard_testkit::workspace_root().join("infra/member/template.yaml"));
    let runbook =
        &member["Resources"]["MemberRunbookRole"]["Properties"]["Policies"][0]["PolicyDocument"];
    assert!(
        statements(runbook)
            .iter()
            .any(|s| s["Resource"] == json!({"Ref": "NoticeKeyArn"})
                && s["Action"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "kms:GenerateDataKey*"))),
        "{runbook:#}"
    );
}
