//! A fleet of users whose keys are back-dated across every band, and what a correct scan
//! leaves behind for each kind: shared by the fleet test and the fault test.

use futures::stream::{self, StreamExt};
use keyguard_testkit::moto;
use serde_json::Value;
use std::collections::BTreeMap;

pub const SENDER: &str = "keyguard@example.com";

/// Ten kinds of user, each a tenth of the fleet: (UserType, Email?, key age, Active?, exempt?).
pub const KINDS: [(Option<&str>, bool, i64, bool, bool); 10] = [
    (Some("employee"), true, 71, true, false),  // 0: warned
    (Some("employee"), true, 85, true, false),  // 1: deactivated
    (Some("Employee"), true, 95, false, false), // 2: deleted
    (Some("employee"), true, 95, true, false),  // 3: overdue: deactivated, not yet deleted
    (Some("machine"), true, 85, true, false),   // 4: machine warning
    (Some("Machine"), true, 95, true, false),   // 5: machine critical
    (None, true, 100, true, false),             // 6: untagged: summary only
    (Some("employee"), false, 85, true, false), // 7: no Email: deactivated, no email
    (Some("employee"), true, 10, true, false),  // 8: young: nothing
    (Some("employee"), true, 100, true, true),  // 9: exempt: email only
];

pub struct Member {
    pub user: String,
    pub key: String,
    pub kind: usize,
}

impl Member {
    /// The key's status once the scan has done its work (`None`: deleted).
    pub fn final_status(&self) -> Option<&'static str> {
        match self.kind {
            1 | 3 | 7 => Some("Inactive"),
            2 => None,
            _ => Some("Active"),
        }
    }

    /// Whether the person gets (exactly one) email.
    pub fn mailed(&self) -> bool {
        matches!(self.kind, 0..=5 | 9)
    }
}

pub fn email_of(user: &str) -> String {
    format!("{user}@example.com")
}

/// The sender's identity in moto's SES.
pub async fn verify_sender(sdk: &keyguard_aws::SdkConfig) {
    aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(SENDER)
        .send()
        .await
        .unwrap();
}

/// `size` users, `prefix-0000` on, kinds in turn.
pub async fn fleet(iam: &aws_sdk_iam::Client, prefix: &str, size: usize) -> Vec<Member> {
    let now = chrono::Utc::now();
    stream::iter(0..size)
        .map(|i| async move {
            let kind = i % KINDS.len();
            let (user_type, email, days, active, exempt) = KINDS[kind];
            let user = format!("{prefix}-{i:04}");
            let mut tags = Vec::new();
            if let Some(t) = user_type {
                tags.push(("UserType", t.to_owned()));
            }
            if email {
                tags.push(("Email", email_of(&user)));
            }
            if exempt {
                tags.push(("keyguard:exempt", "true".to_owned()));
            }
            let mut req = iam.create_user().user_name(&user);
            for (k, v) in &tags {
                req = req.tags(
                    aws_sdk_iam::types::Tag::builder()
                        .key(*k)
                        .value(v)
                        .build()
                        .unwrap(),
                );
            }
            req.send().await.unwrap();
            let (key, _) = keyguard_testkit::iam::key(iam, &user).await;
            let created = now - chrono::Duration::days(days) - chrono::Duration::hours(1);
            moto::shared().backdate_key(&user, &key, &created.to_rfc3339());
            if !active {
                iam.update_access_key()
                    .user_name(&user)
                    .access_key_id(&key)
                    .status(aws_sdk_iam::types::StatusType::Inactive)
                    .send()
                    .await
                    .unwrap();
            }
            Member { user, key, kind }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Emails moto's SES holds for the fleet: recipient → bodies.
pub fn mailbox(prefix: &str) -> BTreeMap<String, Vec<Value>> {
    let mut boxes: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in moto::shared().data()["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let to: Vec<String> = m["destinations"]["ToAddresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            to.len(),
            1,
            "one recipient per message, never a shared To: list"
        );
        if to[0].starts_with(prefix) {
            boxes.entry(to[0].clone()).or_default().push(m.clone());
        }
    }
    boxes
}

/// Steps of `report` with this action and outcome.
pub fn count(report: &Value, action: &str, outcome: &str) -> usize {
    report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"]["type"] == action && s["outcome"] == outcome)
        .count()
}

pub fn schedule() -> Value {
    serde_json::json!({"version": "0", "id": keyguard_testkit::unique("sched"),
        "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-11-23T09:00:00Z", "detail": {}})
}
