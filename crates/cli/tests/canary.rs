//! `keyguard canary` against moto: the user, its path, tag and deny, one key whose
//! secret reaches only the file (mode 0600) or the secret named; a second create
//! changes nothing; list shows the key's last use; delete removes only a canary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use serde_json::Value;
use std::process::Command;

struct Run {
    code: i32,
    lines: Vec<Value>,
    stdout: String,
    stderr: String,
}

fn keyguard(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(args)
        .env(
            "AWS_ENDPOINT_URL",
            &keyguard_testkit::moto::shared().endpoint,
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Run {
        code: out.status.code().unwrap_or(-1),
        lines: stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect(),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn clients() -> (
    tokio::runtime::Runtime,
    aws_sdk_iam::Client,
    aws_sdk_secretsmanager::Client,
) {
    keyguard_testkit::moto::shared();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sdk = rt.block_on(keyguard_aws::load_config());
    (
        rt,
        aws_sdk_iam::Client::new(&sdk),
        aws_sdk_secretsmanager::Client::new(&sdk),
    )
}

/// The credentials file's profile: (profile, key id, secret).
fn profile(text: &str) -> (String, String, String) {
    let mut lines = text.lines();
    let head = lines.next().unwrap();
    let value = |l: Option<&str>, name: &str| {
        let (k, v) = l.unwrap().split_once(" = ").unwrap();
        assert_eq!(k, name);
        v.to_owned()
    };
    let id = value(lines.next(), "aws_access_key_id");
    let secret = value(lines.next(), "aws_secret_access_key");
    (head.trim_matches(['[', ']']).to_owned(), id, secret)
}

#[test]
fn a_canary_is_made_once_its_secret_goes_only_to_its_file_and_delete_removes_it() {
    let (rt, iam, _) = clients();
    let name = keyguard_testkit::unique("ci");
    let user = format!("keyguard-canary-{name}");
    let dir = std::env::temp_dir().join(keyguard_testkit::unique("canary"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("credentials");
    let path = file.to_str().unwrap();

    let made = keyguard(&["canary", "create", &name, "--out", path, "--profile", "ci"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let text = std::fs::read_to_string(&file).unwrap();
    let (prof, key_id, secret) = profile(&text);
    assert_eq!(prof, "ci");
    assert_eq!(made.lines[0]["key_id"], key_id.as_str());
    assert!(!secret.is_empty());
    for out in [&made.stdout, &made.stderr] {
        assert!(
            !out.contains(&secret),
            "the secret must reach the file only: {out}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    let (got, policy, keys) = rt.block_on(async {
        let got = iam.get_user().user_name(&user).send().await.unwrap();
        let policy = iam
            .get_user_policy()
            .user_name(&user)
            .policy_name("keyguard-canary-deny-all")
            .send()
            .await
            .unwrap();
        let keys = iam
            .list_access_keys()
            .user_name(&user)
            .send()
            .await
            .unwrap();
        (got, policy, keys)
    });
    let u = got.user().unwrap();
    assert_eq!(u.path(), "/keyguard/canary/");
    assert!(u
        .tags()
        .iter()
        .any(|t| t.key() == "keyguard:canary" && t.value() == "true"));
    let doc: Value =
        serde_json::from_str(&keyguard_aws::iam::plain_policy(policy.policy_document())).unwrap();
    assert_eq!(doc["Statement"][0]["Effect"], "Deny");
    assert_eq!(doc["Statement"][0]["Action"], "*");
    assert_eq!(doc["Statement"][0]["Resource"], "*");
    assert_eq!(keys.access_key_metadata().len(), 1);

    // Again: it says so, and nothing changes (no second key, no second file).
    let other = dir.join("second");
    let again = keyguard(&["canary", "create", &name, "--out", other.to_str().unwrap()]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.lines[0]["exists"], true);
    assert!(again.stderr.contains("nothing done"), "{}", again.stderr);
    assert!(!other.exists());
    let keys = rt
        .block_on(iam.list_access_keys().user_name(&user).send())
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);

    // Listed, unused; then used once (a denied call still counts), listed with its use.
    let listed = |r: &Run| -> Value {
        r.lines
            .iter()
            .find(|l| l["key_id"] == key_id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{} not in {:?}", key_id, r.lines))
    };
    let before = keyguard(&["canary", "list"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert_eq!(listed(&before)["user"], user.as_str());
    assert!(listed(&before)["last_used"].is_null());
    rt.block_on(keyguard_testkit::iam::use_key(&iam, &key_id, &secret));
    let after = keyguard(&["canary", "list"]);
    assert!(listed(&after)["last_used"].is_string(), "{:?}", after.lines);
    assert!(!after.stdout.contains(&secret));

    // Its deny rewritten into an allow: no longer complete, and still deleted whole.
    rt.block_on(
        iam.put_user_policy()
            .user_name(&user)
            .policy_name("keyguard-canary-deny-all")
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#)
            .send(),
    )
    .unwrap();
    let loosened = keyguard(&["canary", "create", &name, "--out", other.to_str().unwrap()]);
    assert_eq!(loosened.lines[0]["denied"], false, "{:?}", loosened.lines);
    assert_eq!(loosened.code, 1, "an incomplete canary is not a success");
    assert!(!other.exists());
    let gone = keyguard(&["canary", "delete", &name]);
    assert_eq!(gone.code, 0, "{}", gone.stderr);
    assert_eq!(gone.lines[0]["deleted"], true);
    let err = rt
        .block_on(iam.get_user().user_name(&user).send())
        .unwrap_err();
    assert!(format!("{err:?}").contains("NoSuchEntity"), "{err:?}");
    let twice = keyguard(&["canary", "delete", &name]);
    assert_eq!(
        (twice.code, &twice.lines[0]["deleted"]),
        (0, &Value::Bool(false))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_or_secret_that_exists_and_a_user_that_is_no_canary_are_refused_before_any_write() {
    let (rt, iam, sm) = clients();
    let dir = std::env::temp_dir().join(keyguard_testkit::unique("canary"));
    std::fs::create_dir_all(&dir).unwrap();
    let taken = dir.join("taken");
    std::fs::write(&taken, "someone's credentials\n").unwrap();

    let name = keyguard_testkit::unique("laptop");
    let refused = keyguard(&["canary", "create", &name, "--out", taken.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("never overwrites"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&taken).unwrap(),
        "someone's credentials\n"
    );
    let missing = rt
        .block_on(
            iam.get_user()
                .user_name(format!("keyguard-canary-{name}"))
                .send(),
        )
        .unwrap_err();
    assert!(
        format!("{missing:?}").contains("NoSuchEntity"),
        "no user was made"
    );

    // A secret: made once, holding the key; a second canary may not reuse its name.
    let secret_id = keyguard_testkit::unique("canary-secret");
    let made = keyguard(&["canary", "create", &name, "--secret-id", &secret_id]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let value = rt
        .block_on(sm.get_secret_value().secret_id(&secret_id).send())
        .unwrap();
    let held: Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(held["AccessKeyId"], made.lines[0]["key_id"]);
    let secret = held["SecretAccessKey"].as_str().unwrap();
    assert!(!made.stdout.contains(secret) && !made.stderr.contains(secret));
    let second = keyguard_testkit::unique("other");
    let reused = keyguard(&["canary", "create", &second, "--secret-id", &secret_id]);
    assert_eq!(reused.code, 2, "{}", reused.stderr);
    assert!(rt
        .block_on(
            iam.get_user()
                .user_name(format!("keyguard-canary-{second}"))
                .send()
        )
        .is_err());

    // A user of a canary's name without the tag is not keyguard's.
    let plain = keyguard_testkit::unique("plain");
    rt.block_on(
        iam.create_user()
            .user_name(format!("keyguard-canary-{plain}"))
            .send(),
    )
    .unwrap();
    for args in [
        vec!["canary", "create", &plain, "--out", "/nonexistent/never"],
        vec!["canary", "delete", &plain],
    ] {
        let r = keyguard(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("not a canary"), "{}", r.stderr);
    }
    assert!(rt
        .block_on(
            iam.get_user()
                .user_name(format!("keyguard-canary-{plain}"))
                .send()
        )
        .is_ok());
    // Bad names say what is wrong.
    let bad = keyguard(&["canary", "create", "a/b", "--out", "/tmp/x"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("canary name"), "{}", bad.stderr);
    assert_eq!(keyguard(&["canary", "delete", &name]).code, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
