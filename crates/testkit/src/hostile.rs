//! Hostile input, one table for every function: events that are broken (wrong types, deep
//! nesting, huge strings) or that carry hostile values (key ids of the wrong shape, user
//! names with control characters, mentions and markdown) in the shapes keyguard reads.
//! Every function's tests run the whole table through its handler and
//! [`assert_turned_away`]; the core's tests run [`bytes`] through the intake.

use serde_json::{json, Value};

/// Larger than any field of a real event, and still inside Lambda's 256 KiB limit for an
/// asynchronous payload: what an attacker who can put events on the bus could send.
const HUGE: usize = 200 * 1024;

/// A report may name what was wrong; it may not echo a huge input back into logs.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;
/// Each step of a report, at most (an alert that copied an attacker's 200 KiB field whole
/// into every step would be over it).
pub const MAX_STEP_BYTES: usize = 16 * 1024;

fn envelope(detail_type: &str, source: &str, detail: Value) -> Value {
    json!({
        "version": "0", "id": "hostile-0000", "detail-type": detail_type, "source": source,
        "account": "123456789012", "time": "2026-11-23T06:44:40Z", "region": "us-east-1",
        "resources": [], "detail": detail
    })
}

/// A well-formed `CreateAccessKey` by `ci` for `admin`, for the cases to break.
fn cloudtrail() -> Value {
    envelope(
        "AWS API Call via CloudTrail",
        "aws.iam",
        json!({
            "eventVersion": "1.09", "eventTime": "2026-11-23T06:44:40Z",
            "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
            "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2",
            "eventID": "hostile-call", "eventType": "AwsApiCall", "recipientAccountId": "123456789012",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "123456789012",
                             "arn": "arn:aws:iam::123456789012:user/ci", "userName": "ci", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
            "requestParameters": {"userName": "admin"},
            "responseElements": {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE", "userName": "admin", "status": "Active"}}
        }),
    )
}

fn handoff(user_name: Value, key_id: Value) -> Value {
    json!({"accessKeyId": key_id, "userName": user_name, "classifierSource": "createkey-detector/backdoor-key", "eventId": "hostile-handoff"})
}

/// `depth` arrays, one inside the other, around `inner`.
pub fn nested(depth: usize, inner: Value) -> Value {
    (0..depth).fold(inner, |v, _| Value::Array(vec![v]))
}

/// (case, event) pairs, each hostile in one way.
pub fn events() -> Vec<(&'static str, Value)> {
    let huge = "A".repeat(HUGE);
    let user = || json!("ci");
    let key = || json!("AKIAIOSFODNN7EXAMPLE");
    let mut out = vec![
        ("a JSON array", json!([1, 2, 3])),
        ("a JSON string", json!("deactivate everything")),
        ("null", Value::Null),
        ("an empty object", json!({})),
        (
            "detail of the wrong type",
            envelope("AWS API Call via CloudTrail", "aws.iam", json!("oops")),
        ),
        ("detail-type of the wrong type", {
            let mut e = cloudtrail();
            e["detail-type"] = json!(7);
            e
        }),
        ("userIdentity an array", {
            let mut e = cloudtrail();
            e["detail"]["userIdentity"] = json!([1, 2]);
            e
        }),
        ("accessKeyId a number", {
            let mut e = cloudtrail();
            e["detail"]["userIdentity"]["accessKeyId"] = json!(12345);
            e
        }),
        (
            "a finding whose resource is a string",
            envelope(
                "GuardDuty Finding",
                "aws.guardduty",
                json!({"schemaVersion": "2.0", "id": "x", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": 8, "resource": "AKIAIOSFODNN7EXAMPLE"}),
            ),
        ),
        (
            "detail nested 120 deep",
            envelope(
                "AWS API Call via CloudTrail",
                "aws.iam",
                nested(120, json!({})),
            ),
        ),
        ("userIdentity nested 120 deep", {
            let mut e = cloudtrail();
            e["detail"]["userIdentity"] = nested(120, json!("x"));
            e
        }),
        (
            "a huge string where a number belongs",
            envelope(
                "GuardDuty Finding",
                "aws.guardduty",
                json!({"schemaVersion": "2.0", "id": "x", "type": "UnauthorizedAccess:IAMUser/MaliciousIPCaller", "severity": huge.clone(), "resource": {"resourceType": "AccessKey", "accessKeyDetails": {"accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "ci", "userType": "IAMUser"}}}),
            ),
        ),
        ("a huge detail-type", envelope(&huge, "aws.iam", json!({}))),
        (
            "a huge field name",
            json!({ huge.clone(): 1, "detail-type": "x" }),
        ),
        (
            "a rotation step of the wrong name",
            json!({"Step": "dropEverything", "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf", "ClientRequestToken": "7f9c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"}),
        ),
        (
            "a rotation step with a huge token",
            json!({"Step": "createSecret", "SecretId": huge.clone(), "ClientRequestToken": huge.clone()}),
        ),
    ];
    let bad_keys: [(&'static str, &str); 5] = [
        ("a key id too short", "AKIA123"),
        ("a key id in lower case", "akiaiosfodnn7example"),
        ("a key id with a NUL", "AKIAIOSFODNN7EXAMPL\u{0}"),
        ("a key id of the wrong prefix", "XKIAIOSFODNN7EXAMPLE"),
        ("a key id of 200 KiB", &huge),
    ];
    for (case, bad) in bad_keys {
        out.push((case, handoff(user(), json!(bad))));
    }
    let bad_users: [(&'static str, &str); 5] = [
        ("a user name with a newline", "alice\nadmin"),
        (
            "a user name with a bell and a right-to-left override",
            "ali\u{7}ce\u{202e}nimda",
        ),
        (
            "a user name with a mention and markdown",
            "@everyone **[click](https://evil.example)**",
        ),
        ("a user name with a path", "../../admin"),
        ("a user name of 200 KiB", &huge),
    ];
    for (case, bad) in bad_users {
        out.push((case, handoff(json!(bad), key())));
    }
    out
}

/// Well-formed events whose attacker-chosen text the detector alerts on: a refused
/// CreateAccessKey records whatever user name was sent (failed-key-creation), so the
/// text reaches every channel (Discord, Slack, SNS). Bounded and clean, or the test fails.
pub fn alerted_events() -> Vec<(&'static str, Value)> {
    let huge = "A".repeat(HUGE);
    let mut out = Vec::new();
    let alerted: [(&'static str, String); 2] = [
        (
            "a refused CreateAccessKey for a 200 KiB user name with bidi controls",
            format!("admin\u{202e}{huge}"),
        ),
        (
            "a refused CreateAccessKey for a user name with line and paragraph separators",
            "ad\u{2028}min\u{2029}@everyone\u{2066}<!channel>\u{2069}".to_owned(),
        ),
    ];
    for (case, name) in alerted {
        let mut e = cloudtrail();
        e["detail"]["errorCode"] = json!("AccessDenied");
        e["detail"]["requestParameters"] = json!({"userName": name});
        e["detail"]["responseElements"] = Value::Null;
        out.push((case, e));
    }
    out
}

/// Characters that reorder or break text where a reader does not expect it: none may
/// reach a report, a log line or a post.
pub const DECEPTIVE: &[char] = &['\u{202e}', '\u{2028}', '\u{2029}', '\u{2066}', '\u{2069}'];

/// (case, bytes) for the intake: what never reaches a handler as a JSON value, because the
/// Lambda runtime must decode it first, but reaches `keyguard parse` and `keyguard replay`.
pub fn bytes() -> Vec<(&'static str, Vec<u8>)> {
    let event = serde_json::to_vec(&cloudtrail()).expect("an event serializes");
    vec![
        ("empty", Vec::new()),
        ("truncated JSON", event[..event.len() / 2].to_vec()),
        (
            "invalid UTF-8",
            [&event[..20], &[0xff, 0xfe], &event[20..]].concat(),
        ),
        ("trailing bytes", [&event[..], b" {}"].concat()),
        (
            "nested 100,000 deep",
            [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
        ),
        ("a NUL byte", b"\0".to_vec()),
    ]
}

/// Panics, naming the case, unless the report refused the event outright, with no step: a
/// 4xx, or a 200 `ignored` from a function for which a well-formed event is not its kind.
pub fn assert_turned_away(case: &str, report: &Value) {
    let status = report["statusCode"].as_u64().unwrap_or(0);
    let ignored = status == 200 && report["decision"] == "ignored";
    assert!(
        (400..500).contains(&status) || ignored,
        "{case}: status {status}: {}",
        brief(report)
    );
    let steps = report["steps"].as_array().map_or(0, Vec::len);
    assert_eq!(steps, 0, "{case}: {}", brief(report));
    assert_small(case, report);
}

/// Panics, naming the case, unless the report acted on nothing: below 500, and no step
/// applied but notices (`alert`, `notify`), whose text the notifiers escape.
pub fn assert_no_action(case: &str, report: &Value) {
    let status = report["statusCode"].as_u64().unwrap_or(0);
    assert!(status < 500, "{case}: status {status}: {}", brief(report));
    for step in report["steps"].as_array().into_iter().flatten() {
        let action = step["action"]["type"].as_str().unwrap_or("?");
        let outcome = step["outcome"].as_str().unwrap_or("?");
        assert!(
            outcome != "applied" || matches!(action, "alert" | "notify"),
            "{case}: {action} {outcome}"
        );
    }
    assert_small(case, report);
}

fn assert_small(case: &str, report: &Value) {
    let text = report.to_string();
    let size = text.len();
    assert!(
        size <= MAX_REPORT_BYTES,
        "{case}: a report of {size} bytes: {}",
        brief(report)
    );
    for step in report["steps"].as_array().into_iter().flatten() {
        let size = step.to_string().len();
        assert!(size < MAX_STEP_BYTES, "{case}: a step of {size} bytes");
    }
    // serde_json writes these characters as they are, so they would show here.
    assert!(
        !text.contains(DECEPTIVE),
        "{case}: a bidi control or line separator in the report: {}",
        brief(report)
    );
}

fn brief(report: &Value) -> String {
    report.to_string().chars().take(600).collect()
}
