//! `keyguard audit` and `keyguard undo` against moto: deactivate-key contains a key (the
//! real function, through the SDK), the audit shows why, undo puts it back exactly and
//! once, and what undo cannot prove or must not reverse is refused with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_aws::lambda::Handler;
use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::SelfIdentity;
use keyguard_testkit::report::{pairs, steps};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;

struct World {
    rt: tokio::runtime::Runtime,
    iam: aws_sdk_iam::Client,
    app: deactivate_key::App,
    signer: keyguard_aws::HandoffKey,
    table: String,
}

fn world() -> World {
    world_with(&[])
}

fn world_with(extra: &[(&str, &str)]) -> World {
    keyguard_testkit::moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let table = keyguard_testkit::unique("undo-ledger");
    let (sdk, app, signer) = rt.block_on(async {
        let sdk = keyguard_aws::load_config().await;
        let handoff = keyguard_aws::HandoffKey::create(&sdk).await.unwrap();
        let env: BTreeMap<String, String> = [
            ("LEDGER_TABLE", table.clone()),
            ("HANDOFF_KEY_ID", handoff.clone()),
            // Undo is about the containment's own rows; the sweep is tested by itself.
            ("LOOKBACK_HOURS", "0".into()),
        ]
        .into_iter()
        .chain(extra.iter().map(|(k, v)| (*k, (*v).to_owned())))
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let me = SelfIdentity {
            role: Some("keyguard-deactivate-key".into()),
            ..keyguard_aws::identity::whoami(&sdk).await.unwrap()
        };
        let settings =
            deactivate_key::Settings::from_env(&|k: &str| env.get(k).cloned(), me).unwrap();
        let app = deactivate_key::App::new(&sdk, settings);
        app.containing.ledger.create_table().await.unwrap();
        let signer = keyguard_aws::HandoffKey::new(&sdk, &handoff);
        (sdk, app, signer)
    });
    World {
        iam: aws_sdk_iam::Client::new(&sdk),
        rt,
        app,
        signer,
        table,
    }
}

impl World {
    /// A user with a key the attacker used and a good one: (user, used, good).
    fn user(&self) -> (String, String, String) {
        self.rt.block_on(async {
            let user = keyguard_testkit::iam::user(&self.iam, &[]).await;
            let (used, secret) = keyguard_testkit::iam::key(&self.iam, &user).await;
            let (good, _) = keyguard_testkit::iam::key(&self.iam, &user).await;
            keyguard_testkit::iam::use_key(&self.iam, &used, &secret).await;
            (user, used, good)
        })
    }

    /// A signed hand-off naming the key, as createkey-detector sends it.
    fn contain(&self, user: &str, key: &str, event: &str) -> Value {
        self.rt.block_on(async {
            let raw = json!({"accessKeyId": key, "userName": user, "accountId": "123456789012",
                             "eventId": event, "classifierSource": "createkey-detector/backdoor-key"});
            let keyguard_core::Trigger::Handoff(mut h) = keyguard_core::parse_value(&raw).unwrap()
            else {
                panic!()
            };
            h.issued_at = Some(chrono::Utc::now().to_rfc3339());
            h.mac = Some(self.signer.sign(&h).await.unwrap());
            let report = self.app.handle(&serde_json::to_value(&h).unwrap()).await;
            serde_json::to_value(report).unwrap()
        })
    }

    fn status(&self, user: &str, key: &str) -> String {
        self.rt
            .block_on(keyguard_testkit::iam::statuses(&self.iam, user))[key]
            .clone()
    }

    fn revocation(&self, user: &str) -> Option<String> {
        self.rt.block_on(async {
            self.iam
                .get_user_policy()
                .user_name(user)
                .policy_name("keyguard-revoke-older-sessions")
                .send()
                .await
                .ok()
                .map(|o| keyguard_aws::iam::plain_policy(o.policy_document()))
        })
    }

    /// The CLI, piped: (exit code, JSON lines, stderr).
    fn keyguard(&self, args: &[&str]) -> (i32, Vec<Value>, String) {
        self.keyguard_with(args, &[])
    }

    /// The same, with more of the environment set.
    fn keyguard_with(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
            .args(args)
            .envs(env.iter().copied())
            .env(
                "AWS_ENDPOINT_URL",
                &keyguard_testkit::moto::shared().endpoint,
            )
            .env("LEDGER_TABLE", &self.table)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        (
            out.status.code().unwrap_or(-1),
            lines,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn a_false_positive_is_audited_undone_once_and_the_audit_shows_who_and_why() {
    let w = world();
    let (user, key, good) = w.user();
    let event = keyguard_testkit::unique("ev");
    let contained = w.contain(&user, &key, &event);
    assert_eq!(
        steps(&contained),
        pairs(&[
            ("deactivate_key", "applied"),
            ("revoke_sessions", "applied")
        ])
    );
    assert_eq!(w.status(&user, &key), "Inactive");
    assert!(w.revocation(&user).is_some());

    // The audit: why it was touched, in order, from the ledger.
    let (code, rows, err) = w.keyguard(&["audit", "--key", &key]);
    assert_eq!(code, 0, "{err}");
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["deactivate_key", "revoke_sessions"], "{rows:#?}");
    for r in &rows {
        assert_eq!(r["function"], "deactivate-key");
        assert_eq!(r["status"], "done");
        assert_eq!(r["event_id"], event.as_str());
        assert_eq!(r["classifier_source"], "createkey-detector/backdoor-key");
        assert!(!r["reason"].as_str().unwrap().is_empty());
    }
    let (_, by_user, _) = w.keyguard(&["audit", "--user", &user.to_uppercase()]);
    assert_eq!(
        by_user, rows,
        "a user is found whatever the case of the name"
    );
    let (_, by_event, _) = w.keyguard(&["audit", "--event", &event]);
    assert_eq!(by_event, rows);

    // --dry-run says what it would do and does nothing.
    let (code, out, err) = w.keyguard(&[
        "undo",
        "--key",
        &key,
        "--reason",
        "CI's own key",
        "--dry-run",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        steps(&out[0]),
        pairs(&[
            ("restore_policy", "planned"),
            ("reactivate_key", "planned"),
            ("notify", "planned")
        ])
    );
    assert_eq!(w.status(&user, &key), "Inactive");

    // Undo: the key Active again, the policy gone (there was none before), the good key
    // as it was.
    let (code, out, err) = w.keyguard(&["undo", "--key", &key, "--reason", "CI's own key"]);
    assert_eq!(code, 0, "{err}\n{out:#?}");
    assert_eq!(
        steps(&out[0]),
        pairs(&[
            ("restore_policy", "applied"),
            ("reactivate_key", "applied"),
            ("notify", "applied")
        ])
    );
    assert_eq!(w.status(&user, &key), "Active");
    assert_eq!(w.status(&user, &good), "Active");
    assert_eq!(w.revocation(&user), None);

    // Twice acts once.
    let (code, out, err) = w.keyguard(&["undo", "--key", &key, "--reason", "again"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.len(), 2, "{out:#?}");
    assert!(
        out.iter().all(|l| l.get("already_undone").is_some()),
        "{out:#?}"
    );

    // The same event again does not contain it again: the ledger has it done.
    let again = w.contain(&user, &key, &event);
    assert!(
        steps(&again).iter().all(|(_, o)| o == "duplicate"),
        "{again:#}"
    );
    assert_eq!(w.status(&user, &key), "Active");

    // The audit shows the undo: who (moto's caller) and why.
    let (_, rows, _) = w.keyguard(&["audit", "--key", &key]);
    let undone: Vec<&Value> = rows
        .iter()
        .filter(|r| r["function"] == "keyguard-undo")
        .collect();
    let actions: Vec<&str> = undone
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["restore_policy", "reactivate_key"], "{rows:#?}");
    for r in undone {
        assert!(
            r["classifier_source"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:"),
            "{r}"
        );
        assert!(
            r["reason"].as_str().unwrap().contains("CI's own key"),
            "{r}"
        );
        assert_eq!(r["event_id"], event.as_str());
    }
    // A new event about the key acts as usual.
    let new = w.contain(&user, &key, &keyguard_testkit::unique("ev-new"));
    assert_eq!(
        steps(&new)[0],
        ("deactivate_key".to_owned(), "applied".to_owned())
    );
}

#[test]
fn undo_refuses_what_changed_since_and_what_it_cannot_restore() {
    let w = world();
    // Someone re-activated the key after keyguard contained it: left to them.
    let (user, key, _) = w.user();
    w.contain(&user, &key, &keyguard_testkit::unique("ev"));
    w.rt.block_on(async {
        w.iam
            .update_access_key()
            .user_name(&user)
            .access_key_id(&key)
            .status(aws_sdk_iam::types::StatusType::Active)
            .send()
            .await
            .unwrap();
    });
    let (code, out, _) = w.keyguard(&["undo", "--key", &key, "--reason", "r"]);
    assert_eq!(code, 1, "{out:#?}");
    let refused: Vec<&str> = out
        .iter()
        .filter_map(|l| l["refused"]["why"].as_str())
        .collect();
    assert!(
        refused.iter().any(|w| w.contains("status changed since")),
        "{out:#?}"
    );
    // The revocation is still keyguard's own, so it is taken back all the same.
    assert_eq!(w.revocation(&user), None);

    // A deleted key cannot be restored.
    let (user, key, _) = w.user();
    w.contain(&user, &key, &keyguard_testkit::unique("ev"));
    w.rt.block_on(async {
        w.iam
            .delete_access_key()
            .user_name(&user)
            .access_key_id(&key)
            .send()
            .await
            .unwrap();
    });
    let (code, out, _) = w.keyguard(&["undo", "--key", &key, "--reason", "r"]);
    assert_eq!(code, 1);
    assert!(
        out.iter().any(|l| l["refused"]["why"]
            .as_str()
            .is_some_and(|w| w.contains("deleted key"))),
        "{out:#?}"
    );

    // Nothing on record; a reason that says nothing; --user for undo.
    let (code, _, err) = w.keyguard(&["undo", "--key", "AKIAI44QH8DHBEXAMPLE", "--reason", "r"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing keyguard did"), "{err}");
    let (code, _, err) = w.keyguard(&["undo", "--key", &key, "--reason", " "]);
    assert_eq!(code, 2);
    assert!(err.contains("--reason"), "{err}");
    let (code, _, err) = w.keyguard(&["undo", "--user", &user, "--reason", "r"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn an_undo_suppresses_the_security_hub_finding_of_what_it_reversed() {
    let w = world_with(&[("SECURITY_HUB", "true")]);
    let (user, key, _) = w.user();
    let event = keyguard_testkit::unique("ev");
    let contained = w.contain(&user, &key, &event);
    let id = keyguard_testkit::security_hub::imported_id(&contained);
    let sdk = w.rt.block_on(keyguard_aws::load_config());
    let before = keyguard_testkit::security_hub::findings_with_id(&sdk, &id);
    assert_eq!(before.len(), 1);
    assert_ne!(
        before[0]
            .workflow()
            .and_then(|wf| wf.status())
            .map(|s| s.as_str()),
        Some("SUPPRESSED")
    );

    let (code, lines, err) = w.keyguard_with(
        &["undo", "--key", &key, "--reason", "nightly export key"],
        &[("SECURITY_HUB", "true")],
    );
    assert_eq!(code, 0, "{err} {lines:?}");
    assert!(
        lines.contains(&json!({"security_hub": {"suppressed": id}})),
        "{lines:?}"
    );
    assert_eq!(w.status(&user, &key), "Active");
    let after = keyguard_testkit::security_hub::findings_with_id(&sdk, &id);
    let status = after[0]
        .workflow()
        .and_then(|wf| wf.status())
        .map(|s| s.as_str().to_owned());
    assert_eq!(status.as_deref(), Some("SUPPRESSED"));
    let note = after[0].note().unwrap();
    assert!(
        note.text().unwrap().contains("nightly export key"),
        "{note:?}"
    );
    assert_eq!(note.updated_by(), Some("keyguard undo"));

    let workflow = |id: &str| {
        keyguard_testkit::security_hub::findings_with_id(&sdk, id)[0]
            .workflow()
            .and_then(|wf| wf.status())
            .map(|s| s.as_str().to_owned())
    };
    // A SECURITY_HUB that does not parse stops the undo before it undoes anything.
    let (user, key, _) = w.user();
    let second = keyguard_testkit::security_hub::imported_id(&w.contain(
        &user,
        &key,
        &keyguard_testkit::unique("ev"),
    ));
    let (code, _, err) = w.keyguard_with(
        &["undo", "--key", &key, "--reason", "another"],
        &[("SECURITY_HUB", "maybe")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("SECURITY_HUB"), "{err}");
    assert_eq!(w.status(&user, &key), "Inactive");
    // Without SECURITY_HUB the undo leaves Security Hub alone (and says nothing of it).
    let (code, lines, err) = w.keyguard(&["undo", "--key", &key, "--reason", "another"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(w.status(&user, &key), "Active");
    assert!(
        lines.iter().all(|l| l.get("security_hub").is_none()),
        "{lines:?}"
    );
    assert_ne!(workflow(&second).as_deref(), Some("SUPPRESSED"));
}
