//! `keyguard plan` plans exactly what each function would do. Every sample in `events/`
//! and in the shared corpus goes through each of the five functions twice: through the
//! function itself (its `plan_at`, reading moto through the real SDK clients) and
//! through `keyguard plan` (the binary, reading a facts file written from the same moto
//! state). The two plans must be equal, field for field.
//!
//! The world is made from the samples: every user and role a sample names exists in
//! moto, each user with one key (tagged as a machine or with an email, in turn), so the
//! plans act, refuse and find nothing, not only "not found". Every secret a rotation
//! step names in moto's account exists too, tagged for keyguard and holding its user's
//! key, and the steps name it by moto's ARN: a role that may read only keyguard's
//! secrets is never sent to one AWS would deny. Hand-offs are signed with moto's KMS
//! key, and the facts say their MACs verify. The plans are made 100 days after the keys
//! were created, so age-rotation and the sweep have keys to act on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_core::config::FromEnv;
use keyguard_core::policy::containment::{ContainmentConfig, Lookup, SelfIdentity};
use keyguard_core::policy::translator::TranslatorConfig;
use keyguard_core::{Policy, Principal, Timestamp, Trigger};
use keyguard_testkit::infra::FUNCTIONS;
use keyguard_testkit::moto;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every sample: `events/**.json` but the facts files, and the corpus's files.
fn samples() -> Vec<(String, Value)> {
    let root = keyguard_testkit::workspace_root();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for dir in std::fs::read_dir(root.join("events")).unwrap().flatten() {
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let p = f.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.extension().is_some_and(|e| e == "json") && !name.contains("facts") {
                files.push((p.strip_prefix(&root).unwrap().display().to_string(), p));
            }
        }
    }
    let in_events = files.len();
    if let Some(corpus) = keyguard_testkit::corpus::dir() {
        for rel in keyguard_testkit::corpus::files(&corpus) {
            files.push((format!("corpus/{rel}"), corpus.join(&rel)));
        }
    }
    assert!(in_events >= 20, "events/ has only {in_events} samples");
    files.sort();
    // Every file is compared: one that is not JSON fails here rather than drop out.
    files
        .into_iter()
        .map(|(name, path)| {
            let value = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"));
            (name, value)
        })
        .collect()
}

/// What deactivate-key and the translator would look up for a sample.
fn lookups(raw: &Value, me: &SelfIdentity) -> Vec<Lookup> {
    let env = |name: &str| (name == "RESPONSE_PLAN_ARN").then(|| "arn:x".to_owned());
    let containment = ContainmentConfig::from_env(&env, me.clone()).unwrap();
    let translator = TranslatorConfig::from_env(&env, me.clone()).unwrap();
    let Ok(trigger) = keyguard_core::parse_value(raw) else {
        return Vec::new();
    };
    let mut lookups = Vec::new();
    if let Ok(t) = containment.target(&trigger, "x", &Some(verified())) {
        lookups.extend(t.lookups());
    }
    if let Ok(t) = translator.target(&trigger, "x", &()) {
        lookups.push(t.lookup());
    }
    lookups
}

/// The users and roles the samples name.
fn named(samples: &[(String, Value)], me: &SelfIdentity) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut users, mut roles) = (BTreeSet::new(), BTreeSet::new());
    for (_, raw) in samples {
        for lookup in lookups(raw, me) {
            match lookup {
                Lookup::UserKey { user: Some(u), .. } | Lookup::Principal(Principal::User(u)) => {
                    users.insert(u.to_string());
                }
                Lookup::Principal(Principal::Role(r)) => {
                    roles.insert(r.to_string());
                }
                _ => {}
            }
        }
    }
    (users, roles)
}

/// The secrets the samples' rotation steps name in `account`, by ARN, each with the
/// name it was created under (the ARN's name without Secrets Manager's six-character
/// suffix) and the user its last path segment names.
fn named_secrets(samples: &[(String, Value)], account: &str) -> BTreeMap<String, (String, String)> {
    let mut secrets = BTreeMap::new();
    for (_, raw) in samples {
        let Ok(Trigger::Rotation(step)) = keyguard_core::parse_value(raw) else {
            continue;
        };
        let parts: Vec<&str> = step.secret_id.splitn(7, ':').collect();
        let [_, _, "secretsmanager", _, acct, "secret", name] = parts[..] else {
            continue;
        };
        let Some((name, _suffix)) = name.rsplit_once('-') else {
            continue;
        };
        let user = name.rsplit('/').next().unwrap_or(name);
        if acct == account {
            secrets.insert(step.secret_id.clone(), (name.to_owned(), user.to_owned()));
        }
    }
    secrets
}

/// The sample with each key it pairs with a named user replaced by that user's key in
/// moto (moto makes its own key ids), so the plans find the key and act.
fn with_world_keys(raw: &Value, me: &SelfIdentity, keys: &BTreeMap<String, String>) -> Value {
    let mut text = raw.to_string();
    for lookup in lookups(raw, me) {
        if let Lookup::UserKey {
            key_id,
            user: Some(user),
        } = lookup
        {
            if let Some(ours) = keys.get(user.as_str()) {
                text = text.replace(key_id.as_str(), ours);
            }
        }
    }
    serde_json::from_str(&text).unwrap()
}

fn verified() -> keyguard_core::guard::HandoffCheck {
    keyguard_core::guard::HandoffCheck::Verified
}

/// The facts file that says what moto holds.
async fn facts_from(
    sdk: &keyguard_aws::SdkConfig,
    users: &BTreeSet<String>,
    roles: &BTreeSet<String>,
    secrets: &BTreeSet<String>,
    me: &SelfIdentity,
    env: &BTreeMap<String, String>,
) -> Value {
    let iam = aws_sdk_iam::Client::new(sdk);
    let mut facts_users = serde_json::Map::new();
    for user in users {
        let listed = iam.list_access_keys().user_name(user).send().await.unwrap();
        let mut keys = serde_json::Map::new();
        for k in listed.access_key_metadata() {
            let created = k.create_date().unwrap().to_string();
            keys.insert(
                k.access_key_id().unwrap().into(),
                json!({"status": k.status().unwrap().as_str(), "created": created}),
            );
        }
        let tags: BTreeMap<String, String> = iam
            .list_user_tags()
            .user_name(user)
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        facts_users.insert(user.clone(), json!({"keys": keys, "tags": tags}));
    }
    let mut facts_roles = serde_json::Map::new();
    for role in roles {
        let tags: BTreeMap<String, String> = iam
            .list_role_tags()
            .role_name(role)
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect();
        facts_roles.insert(role.clone(), json!({"tags": tags}));
    }
    let mut facts_secrets = serde_json::Map::new();
    for arn in secrets {
        facts_secrets.insert(arn.clone(), secret_facts(sdk, arn).await);
    }
    // The report the functions will read: moto makes it from the same users.
    let report = loop {
        let _ = iam.generate_credential_report().send().await.unwrap();
        if let Ok(out) = iam.get_credential_report().send().await {
            break String::from_utf8(out.content().unwrap().as_ref().to_vec()).unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    json!({
        "users": facts_users,
        "roles": facts_roles,
        "secrets": facts_secrets,
        "me": {"key_id": me.key_id, "user": me.user, "role": me.role, "account": me.account},
        "handoff_verified": true,
        "credential_report": report,
        "canaries": keyguard_aws::Iam::new(sdk).canaries().await.unwrap(),
        "env": env,
    })
}

/// What moto holds for a secret, as a facts file says it: its tags, its versions'
/// stages, the keys its staged versions hold, and when its current version took over.
async fn secret_facts(sdk: &keyguard_aws::SdkConfig, arn: &str) -> Value {
    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    let meta = sm.describe_secret().secret_id(arn).send().await.unwrap();
    let tags: BTreeMap<&str, &str> = meta
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    let versions = meta.version_ids_to_stages().cloned().unwrap_or_default();
    let held = |id: Option<&str>, stage: &str| {
        let call = sm
            .get_secret_value()
            .secret_id(arn)
            .version_stage(stage)
            .set_version_id(id.map(str::to_owned));
        async move {
            let value: Value =
                serde_json::from_str(call.send().await.ok()?.secret_string()?).ok()?;
            Some(json!({"UserName": value["UserName"], "AccessKeyId": value["AccessKeyId"]}))
        }
    };
    let mut pending = serde_json::Map::new();
    let mut current_since = None;
    for (id, stages) in &versions {
        if stages.iter().any(|s| s == "AWSPENDING") {
            if let Some(h) = held(Some(id), "AWSPENDING").await {
                pending.insert(id.clone(), h);
            }
        }
    }
    let listed = sm
        .list_secret_version_ids()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    for v in listed.versions() {
        if v.version_stages().iter().any(|s| s == "AWSCURRENT") {
            current_since = v.created_date().map(ToString::to_string);
        }
    }
    let last_rotated = meta
        .last_rotated_date()
        .map(ToString::to_string)
        .or(current_since);
    json!({
        "tags": tags,
        "versions": versions,
        "current": held(None, "AWSCURRENT").await,
        "pending": pending,
        "previous": held(None, "AWSPREVIOUS").await,
        "last_rotated": last_rotated,
    })
}

/// What a function makes of `raw` at `now`: its plan as JSON, or "invalid" for input
/// that is no event.
async fn function_plan(
    function: &str,
    sdk: &keyguard_aws::SdkConfig,
    env: &BTreeMap<String, String>,
    me: &SelfIdentity,
    raw: &Value,
    now: Timestamp,
) -> Value {
    let vars = |k: &str| env.get(k).cloned();
    let me = me.clone();
    let plan = match function {
        "deactivate-key" => {
            let settings = deactivate_key::Settings::from_env(&vars, me).unwrap();
            deactivate_key::App::new(sdk, settings)
                .plan_at(raw, now)
                .await
        }
        "guardduty-translator" => {
            let settings = guardduty_translator::Settings::from_env(&vars, me).unwrap();
            guardduty_translator::App::new(sdk, settings)
                .plan_at(raw, now)
                .await
        }
        "createkey-detector" => {
            let settings = createkey_detector::Settings::from_env(&vars, me).unwrap();
            createkey_detector::App::new(sdk, settings)
                .unwrap()
                .plan_at(raw, now)
                .await
        }
        "secrets-rotator" => {
            let settings = secrets_rotator::Settings::from_env(&vars, me).unwrap();
            secrets_rotator::App::new(sdk, settings)
                .plan_at(raw, now)
                .await
        }
        "age-rotation" => {
            let settings = age_rotation::Settings::from_env(&vars, me).unwrap();
            age_rotation::App::new(sdk, settings)
                .plan_at(raw, now)
                .await
        }
        other => panic!("no function {other}"),
    };
    match plan {
        Ok(plan) => serde_json::to_value(plan).unwrap(),
        Err(_) => json!("invalid"),
    }
}

/// What `keyguard plan` makes of the same file.
fn cli_plan(function: &str, facts: &Path, file: &Path, now: Timestamp) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(["plan", "--function", function, "--facts"])
        .arg(facts)
        .args(["--now", &now.to_rfc3339()])
        .arg(file)
        .output()
        .unwrap();
    match out.status.code() {
        Some(0) => serde_json::from_slice(&out.stdout).unwrap(),
        Some(2) if String::from_utf8_lossy(&out.stderr).contains(&file.display().to_string()) => {
            json!("invalid")
        }
        code => panic!(
            "keyguard plan {function} {}: exit {code:?}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keyguard_plan_plans_what_each_function_would() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    let me = SelfIdentity {
        role: Some("keyguard-deactivate-key".into()),
        ..keyguard_aws::identity::whoami(&sdk).await.unwrap()
    };
    let mut samples = samples();

    // The world the samples name.
    let (mut users, roles) = named(&samples, &me);
    let account = me.account.as_ref().unwrap().to_string();
    let secrets = named_secrets(&samples, &account);
    users.extend(secrets.values().map(|(_, user)| user.clone()));
    assert!(users.len() >= 3, "the samples name only {users:?}");
    let mut keys = BTreeMap::new();
    for (i, user) in users.iter().enumerate() {
        let tag = if i % 2 == 0 {
            ("UserType", "machine".to_owned())
        } else {
            ("Email", format!("{user}@example.com"))
        };
        iam.create_user()
            .user_name(user)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(tag.0)
                    .value(tag.1)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let key = iam
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .unwrap();
        let id = key.access_key().unwrap().access_key_id().to_owned();
        keys.insert(user.clone(), id);
    }
    // A canary whose key was used: every schedule sample makes the detector's hourly
    // check read it, from moto in the function and from the facts in the CLI.
    let canary = keyguard_core::canary::user_name("equivalence").unwrap();
    let made = keyguard_aws::Iam::new(&sdk)
        .create_canary(&canary)
        .await
        .unwrap();
    keyguard_testkit::iam::use_key(&iam, &made.key_id, &made.secret).await;
    for (_, raw) in &mut samples {
        *raw = with_world_keys(raw, &me, &keys);
    }
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let mut secret_arns = BTreeSet::new();
    for (named_arn, (name, user)) in &secrets {
        let arn = match secret_arns
            .iter()
            .find(|a: &&String| a.contains(&format!(":{name}-")))
        {
            Some(arn) => arn.clone(),
            None => sm
                .create_secret()
                .name(name)
                .secret_string(json!({"UserName": user, "AccessKeyId": keys[user]}).to_string())
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
                .unwrap(),
        };
        secret_arns.insert(arn.clone());
        for (_, raw) in &mut samples {
            let text = raw.to_string().replace(named_arn.as_str(), &arn);
            *raw = serde_json::from_str(&text).unwrap();
        }
    }
    for role in &roles {
        iam.create_role()
            .role_name(role)
            .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
            .send()
            .await
            .unwrap();
    }

    let handoff_key = keyguard_aws::HandoffKey::create(&sdk).await.unwrap();
    let signer = keyguard_aws::HandoffKey::new(&sdk, &handoff_key);
    let now = chrono::Utc::now() + chrono::Duration::days(100);
    // Every hand-off issued just before `now` and signed, as the detector sends it.
    for (_, raw) in &mut samples {
        if let Ok(Trigger::Handoff(mut h)) = keyguard_core::parse_value(raw) {
            h.issued_at = Some((now - chrono::Duration::minutes(1)).to_rfc3339());
            h.mac = Some(signer.sign(&h).await.unwrap());
            *raw = serde_json::to_value(&h).unwrap();
        }
    }

    let table = keyguard_testkit::unique("ledger");
    let env: BTreeMap<String, String> = [
        ("LEDGER_TABLE", table.as_str()),
        ("HANDOFF_KEY_ID", handoff_key.as_str()),
        (
            "RESPONSE_PLAN_ARN",
            "arn:aws:ssm-incidents::123456789012:response-plan/keyguard",
        ),
        ("SENDER_EMAIL", "keyguard@example.com"),
        ("NOT_FOUND_RECHECK_SECONDS", "0"),
        ("REPORT_WAIT_SECONDS", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let vars = |k: &str| env.get(k).cloned();
    let settings = deactivate_key::Settings::from_env(&vars, me.clone()).unwrap();
    let app = deactivate_key::App::new(&sdk, settings);
    app.containing.ledger.create_table().await.unwrap();

    let dir = std::env::temp_dir().join(keyguard_testkit::unique("equivalence"));
    std::fs::create_dir_all(&dir).unwrap();
    let facts = dir.join("facts.json");
    let mut written = facts_from(&sdk, &users, &roles, &secret_arns, &me, &env).await;
    written["memory"] = remembered(&app.containing.ledger, &keys["ci-deployer"]).await;
    std::fs::write(&facts, serde_json::to_vec(&written).unwrap()).unwrap();

    let mut compared = BTreeMap::<(&str, String), usize>::new();
    let mut differ = Vec::new();
    let mut canary_checks = 0;
    let mut correlations = std::collections::BTreeSet::new();
    for (i, (name, raw)) in samples.iter().enumerate() {
        let file = dir.join(format!("{i}.json"));
        std::fs::write(&file, serde_json::to_vec(raw).unwrap()).unwrap();
        for function in FUNCTIONS {
            let ours = function_plan(function, &sdk, &env, &me, raw, now).await;
            let offline = cli_plan(function, &facts, &file, now);
            let decision = ours["decision"].as_str().unwrap_or("invalid").to_owned();
            for step in ours["steps"].as_array().into_iter().flatten() {
                let action = step["action"]["type"].as_str().unwrap_or_default();
                assert!(
                    keyguard_core::policy::policies::actions_of(function).unwrap().contains(&action),
                    "{function} planned {action} for {name}, which its policy does not declare: its cold start would not have checked for its client"
                );
            }
            *compared.entry((function, decision)).or_default() += 1;
            // The plans are made 100 days on (for the age samples): the canary's use is
            // then old news to both, which only a read of it can tell.
            if function == "createkey-detector"
                && ours
                    .to_string()
                    .contains("1 use(s) already reported or older than 7 days")
            {
                canary_checks += 1;
            }
            for rule in [
                "new-key-used-elsewhere",
                "user-created-with-key",
                "launches within the window",
            ] {
                if ours.to_string().contains(rule) {
                    correlations.insert(rule);
                }
            }
            if ours != offline {
                differ.push(format!(
                    "{function} {name}:\n  function: {ours}\n  keyguard plan: {offline}"
                ));
            }
        }
    }
    eprintln!(
        "{} samples; plans by function and decision: {compared:?}",
        samples.len()
    );
    assert!(
        differ.is_empty(),
        "{} plans differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    assert!(
        canary_checks > 0,
        "no schedule sample made the detector's canary check read the used canary"
    );
    assert_eq!(
        correlations.len(),
        3,
        "the detector's memory was not read by every rule that reads it: {correlations:?}"
    );
    // The comparison covered plans that act, for every function that can.
    for function in FUNCTIONS {
        assert!(
            compared.contains_key(&(function, "act".to_owned())),
            "{function} never acted: {compared:?}"
        );
    }
}

/// The detector's memory as the samples meet it: the samples' leaked key (ci-deployer's,
/// as the world's keys replaced it) was made ten
/// minutes before them from another address, it launched eight instances just before
/// the GPU sample, and its user made the user it gives a key to. Written to the
/// function's table, and returned as the facts file says it.
async fn remembered(ledger: &keyguard_aws::DynamoLedger, leaked: &str) -> Value {
    use keyguard_core::policy::detector::memory::{Ask, KeyCreation, Launch, Memo, UserCreation};
    let memory = keyguard_aws::memory::Memory::new(ledger);
    let account = keyguard_core::AccountId::parse("123456789012").unwrap();
    let key = keyguard_core::AccessKeyId::parse(leaked).unwrap();
    let at = |t: &str| keyguard_core::parse_time(t).unwrap();
    let created = KeyCreation {
        key_id: key.clone(),
        user: "ci-deployer".into(),
        created_by: "arn:aws:iam::123456789012:user/admin-bootstrap".into(),
        source_ip: Some("198.51.100.1".into()),
        user_agent: Some("console.amazonaws.com".into()),
        at: at("2026-11-23T09:55:00Z"),
        event_id: "made-the-leaked-key".into(),
    };
    let user = UserCreation {
        user: "admin".into(),
        created_by: "arn:aws:iam::123456789012:user/ci-deployer".into(),
        at: at("2026-11-23T09:50:00Z"),
        event_id: "made-admin".into(),
    };
    let launch = Launch {
        event_id: "launched-eight".into(),
        at: at("2026-11-23T09:58:00Z"),
        count: 8,
    };
    let until = at("2026-11-23T11:00:00Z");
    for memo in [
        Memo::KeyCreated(created.clone()),
        Memo::UserCreated(user.clone()),
    ] {
        assert!(memory.remember(&account, &memo, until).await.unwrap());
    }
    let ask = Ask {
        account: account.clone(),
        signer: None,
        created_user: None,
        session: None,
        launch: Some((key.clone(), launch.clone())),
    };
    memory.recall(&ask, 60, true).await.unwrap();
    json!({
        "created_keys": {key.as_str(): created},
        "created_users": {"admin": user},
        "launches": {key.as_str(): [launch]},
    })
}
