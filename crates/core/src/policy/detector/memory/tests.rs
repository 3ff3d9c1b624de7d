use super::*;
use crate::policy::detector::fixtures::{call, cfg_with, iam_user, record, role_session, HOME};
use serde_json::{json, Value};

const ALICE_KEY: &str = "AKIAALICEKEY00000001";
const NEW_KEY: &str = "AKIANEWKEY0000000001";
const HERE: (&str, &str) = ("198.51.100.7", "aws-cli/2.15");

fn account() -> AccountId {
    AccountId::parse(HOME).unwrap()
}

fn create_key(identity: Value, for_user: Option<&str>, time: &str) -> Value {
    let mut v = call("iam.amazonaws.com", "CreateAccessKey", identity, time, HERE);
    v["requestParameters"] = for_user.map_or(Value::Null, |u| json!({"userName": u}));
    v["responseElements"] = json!({"accessKey": {"accessKeyId": NEW_KEY, "status": "Active",
        "userName": for_user.unwrap_or("alice")}});
    v
}

fn run(identity: Value, time: &str, n: u64) -> Value {
    let mut v = call("ec2.amazonaws.com", "RunInstances", identity, time, HERE);
    v["requestParameters"] = json!({"instanceType": "t3.micro", "instancesSet": {"items": [{"minCount": n, "maxCount": n}]}});
    v
}

#[test]
fn a_call_asks_for_its_signer_the_user_it_makes_a_key_for_and_its_launch() {
    let alice = iam_user("alice", ALICE_KEY);
    let r = record(create_key(
        alice.clone(),
        Some("bob"),
        "2026-12-07T10:00:00Z",
    ));
    let asked = ask(&r, None).unwrap();
    assert_eq!(asked.account, account());
    assert_eq!(
        asked.signer,
        Some((account(), AccessKeyId::parse(ALICE_KEY).unwrap()))
    );
    assert_eq!(
        asked.created_user.as_ref().map(UserName::as_str),
        Some("bob")
    );
    assert_eq!(asked.launch, None);

    // A session signs with no long-term key: only the created user is asked for.
    let r = record(create_key(
        role_session("ops", "s"),
        Some("bob"),
        "2026-12-07T10:00:00Z",
    ));
    let asked = ask(&r, None).unwrap();
    assert_eq!(asked.signer, None);
    assert!(asked.created_user.is_some());

    // A failed CreateAccessKey of a session asks nothing.
    let mut failed = create_key(
        role_session("ops", "s"),
        Some("bob"),
        "2026-12-07T10:00:00Z",
    );
    failed["errorCode"] = json!("AccessDenied");
    assert_eq!(ask(&record(failed), None), None);

    // A launch is counted under its key, by its event id.
    let r = record(run(alice.clone(), "2026-12-07T10:00:00Z", 4));
    let (key, launch) = ask(&r, None).unwrap().launch.unwrap();
    assert_eq!(key.as_str(), ALICE_KEY);
    assert_eq!(launch.count, 4);
    assert_eq!(launch.event_id, "RunInstances-2026-12-07T10:00:00Z");

    // A failed launch started nothing.
    let mut denied = run(alice, "2026-12-07T10:00:00Z", 4);
    denied["errorCode"] = json!("UnauthorizedOperation");
    assert_eq!(ask(&record(denied), None).unwrap().launch, None);

    // A call that names no account cannot be kept apart from another account's.
    let mut nowhere = run(iam_user("alice", ALICE_KEY), "2026-12-07T10:00:00Z", 1);
    nowhere
        .as_object_mut()
        .unwrap()
        .remove("recipientAccountId");
    assert_eq!(ask(&record(nowhere), None), None);
}

#[test]
fn a_created_key_or_user_is_remembered_unless_a_trusted_creator_or_root_made_it() {
    let trusted = cfg_with(&[("TRUSTED_KEY_CREATORS", "onboarding")]).trusted_creators;
    let r = record(create_key(
        iam_user("alice", ALICE_KEY),
        Some("bob"),
        "2026-12-07T10:00:00Z",
    ));
    let kept = memos(&r, None, &trusted);
    let [(acc, Memo::KeyCreated(k))] = kept.as_slice() else {
        panic!("{kept:?}")
    };
    assert_eq!(acc, &account());
    assert_eq!(k.key_id.as_str(), NEW_KEY);
    assert_eq!(k.user, "bob");
    assert_eq!(k.created_by, format!("arn:aws:iam::{HOME}:user/alice"));
    assert_eq!(k.source_ip.as_deref(), Some(HERE.0));
    assert_eq!(k.user_agent.as_deref(), Some(HERE.1));

    let mut user = call(
        "iam.amazonaws.com",
        "CreateUser",
        iam_user("alice", ALICE_KEY),
        "2026-12-07T10:00:00Z",
        HERE,
    );
    user["requestParameters"] = json!({"userName": "Bob"});
    let kept = memos(&record(user.clone()), None, &trusted);
    assert!(
        matches!(kept.as_slice(), [(_, Memo::UserCreated(u))] if u.user == "Bob"),
        "{kept:?}"
    );

    let by_pipeline = create_key(
        role_session("Onboarding", "run-7"),
        Some("bob"),
        "2026-12-07T10:00:00Z",
    );
    let root =
        json!({"type": "Root", "arn": format!("arn:aws:iam::{HOME}:root"), "accountId": HOME});
    let mut failed = user.clone();
    failed["errorCode"] = json!("EntityAlreadyExists");
    let mut bad_name = user;
    bad_name["requestParameters"] = json!({"userName": "no spaces allowed"});
    for v in [
        by_pipeline,
        create_key(root, Some("bob"), "2026-12-07T10:00:00Z"),
        failed,
        bad_name,
    ] {
        assert_eq!(memos(&record(v.clone()), None, &trusted), vec![], "{v}");
    }
}

#[test]
fn the_same_caller_is_the_same_principal_of_the_same_account() {
    let user = |n: &str| format!("arn:aws:iam::{HOME}:user/{n}");
    let session = |role: &str, s: &str| format!("arn:aws:sts::{HOME}:assumed-role/{role}/{s}");
    assert!(same_caller(&user("alice"), &user("ALICE")));
    assert!(same_caller(
        &user("alice"),
        &format!("arn:aws:iam::{HOME}:user/team/alice")
    ));
    assert!(same_caller(&session("ops", "a"), &session("OPS", "b")));
    assert!(!same_caller(&user("alice"), &user("alicea")));
    assert!(!same_caller(&user("ops"), &session("ops", "a")));
    assert!(!same_caller(
        &user("alice"),
        "arn:aws:iam::210987654321:user/alice"
    ));
    assert!(!same_caller("unknown", "unknown"));
    assert!(!same_caller(
        &format!("arn:aws:iam::{HOME}:root"),
        &format!("arn:aws:iam::{HOME}:root")
    ));
}

#[test]
fn a_memo_is_kept_where_it_is_looked_up_and_the_latest_event_wins() {
    let at = |t: &str| crate::parse_time(t).unwrap();
    let key = AccessKeyId::parse(NEW_KEY).unwrap();
    let created = |by: &str, t: &str| KeyCreation {
        key_id: key.clone(),
        user: "bob".into(),
        created_by: by.into(),
        source_ip: None,
        user_agent: None,
        at: at(t),
        event_id: t.into(),
    };
    let mut held = InProcess::default();
    held.remember(
        &account(),
        &Memo::KeyCreated(created("later", "2026-12-07T10:05:00Z")),
    );
    // Delivered after, made before: the later one stays.
    held.remember(
        &account(),
        &Memo::KeyCreated(created("earlier", "2026-12-07T10:00:00Z")),
    );
    let ask = Ask {
        account: account(),
        signer: Some((account(), key.clone())),
        created_user: Some(UserName::parse("BOB").unwrap()),
        session: None,
        launch: None,
    };
    assert_eq!(
        held.recall(&ask, 60).signer_created.map(|k| k.created_by),
        Some("later".into())
    );
    assert_eq!(
        Memo::KeyCreated(created("x", "2026-12-07T10:00:00Z")).item(&account()),
        key_item(&account(), &key)
    );
    let user = Memo::UserCreated(UserCreation {
        user: "Bob".into(),
        created_by: "x".into(),
        at: at("2026-12-07T10:00:00Z"),
        event_id: "e".into(),
    });
    assert_eq!(user.item(&account()), user_item(&account(), "BOB"));
    held.remember(&account(), &user);
    assert!(held.recall(&ask, 60).user_created.is_some());
    // Another account's memory is its own.
    let other = AccountId::parse("210987654321").unwrap();
    let elsewhere = Ask {
        account: other.clone(),
        signer: Some((other, key)),
        ..ask
    };
    assert_eq!(held.recall(&elsewhere, 60), Recall::default());
}

#[test]
fn launches_count_within_the_window_either_side_once_each() {
    let cfg = cfg_with(&[("MANY_INSTANCES", "10")]);
    let mut held = InProcess::default();
    let alice = iam_user("alice", ALICE_KEY);
    let mut seen = Vec::new();
    // Five launches of two, one delivered twice and one out of order.
    for t in [
        "2026-12-07T10:00:00Z",
        "2026-12-07T10:10:00Z",
        "2026-12-07T10:10:00Z",
        "2026-12-07T10:30:00Z",
        "2026-12-07T10:20:00Z",
        "2026-12-07T10:40:00Z",
    ] {
        let r = record(run(alice.clone(), t, 2));
        let recall = held.recall(&ask(&r, None).unwrap(), cfg.correlation_minutes);
        let alert = super::super::evaluate_with(&r, &cfg, &recall)
            .into_iter()
            .find(|a| a.rule == "long-term-key-runs-instances")
            .unwrap();
        seen.push((recall.instances(), alert.severity));
    }
    use crate::notice::Severity::{High, Medium};
    assert_eq!(
        seen,
        vec![
            ((2, 1), Medium),
            ((4, 2), Medium),
            ((4, 2), Medium),
            ((6, 3), Medium),
            ((8, 4), Medium),
            ((10, 5), High),
        ]
    );
    // Two hours on, the window holds only the new launch.
    let r = record(run(alice, "2026-12-07T12:41:00Z", 2));
    assert_eq!(held.recall(&ask(&r, None).unwrap(), 60).instances(), (2, 1));
}

#[test]
fn only_a_trusted_record_reads_the_memory_and_one_that_cannot_be_read_still_alerts() {
    use crate::pipeline::Policy;
    use crate::policy::policies::DetectorTarget;
    let cfg = cfg_with(&[]);
    let detail = create_key(
        iam_user("alice", ALICE_KEY),
        Some("bob"),
        "2026-12-07T10:00:00Z",
    );
    let envelope = |source: &str| {
        json!({"version": "0", "id": "ev-1", "detail-type": "AWS API Call via CloudTrail",
               "source": source, "account": HOME, "time": "2026-12-07T10:00:00Z",
               "region": "us-east-1", "resources": [], "detail": detail})
    };
    let trigger =
        |source: &str| crate::events::parse(envelope(source).to_string().as_bytes()).unwrap();

    // A forged source is refused before anything is read or remembered.
    let forged = cfg.target(&trigger("custom.iam"), "ev-1", &()).unwrap_err();
    assert_eq!(forged.decision.name(), "refused");
    assert!(forged.steps.iter().all(|s| s.action.name() != "remember"));

    let Ok(target @ DetectorTarget::Recall { .. }) = cfg.target(&trigger("aws.iam"), "ev-1", &())
    else {
        panic!("a trusted record signed by a long-term key asks the memory")
    };
    let error = crate::EffectError::new(
        crate::ErrorKind::Other,
        Some("ThrottlingException"),
        "slow down",
    );
    let plan = cfg.unreadable(
        &target,
        &error,
        "ev-1",
        crate::parse_time("2026-12-07T10:00:00Z").unwrap(),
    );
    let actions: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(actions, ["remember", "hand_off", "notify"], "{plan:?}");
    assert!(
        plan.unread_also.as_deref().is_some_and(|w| w.contains("reading the detector's memory") && w.contains("slow down")),
        "{plan:?}"
    );
}

const SESSION_KEY: &str = "ASIASESSIONKEY000001";

fn mint(time: &str, duration: Option<i64>) -> Value {
    let mut v = call(
        "sts.amazonaws.com",
        "GetSessionToken",
        iam_user("alice", ALICE_KEY),
        time,
        HERE,
    );
    v["requestParameters"] = duration.map_or(Value::Null, |d| json!({"durationSeconds": d}));
    v["responseElements"] = json!({"credentials": {"accessKeyId": SESSION_KEY, "sessionToken": "x",
        "expiration": "Dec 7, 2026, 10:00:00 PM"}});
    v
}

/// alice's session (`GetSessionToken`) signing a call, with or without MFA.
fn session_identity(mfa: bool) -> Value {
    let mut id = iam_user("alice", SESSION_KEY);
    id["sessionContext"] = json!({"attributes": {"mfaAuthenticated": mfa.to_string(), "creationDate": "2026-12-07T10:00:00Z"}});
    id
}

#[test]
fn a_session_a_key_minted_is_remembered_for_as_long_as_it_lives() {
    let trusted = cfg_with(&[]).trusted_creators;
    for (duration, hours) in [(None, 12), (Some(3_600), 1), (Some(999_999), 36)] {
        let kept = memos(
            &record(mint("2026-12-07T10:00:00Z", duration)),
            None,
            &trusted,
        );
        let [(_, Memo::SessionMinted(m))] = kept.as_slice() else {
            panic!("{kept:?}")
        };
        assert_eq!(m.session_key.as_str(), SESSION_KEY);
        assert_eq!(m.parent_key.as_str(), ALICE_KEY);
        assert_eq!(m.user, "alice");
        assert_eq!((m.until - m.at).num_hours(), hours, "{duration:?}");
        assert_eq!(
            Memo::SessionMinted(m.clone()).until(chrono::Duration::minutes(60)),
            Some(m.until)
        );
    }
    // Minted by a session (no long-term key), or refused: nothing to remember.
    let mut by_session = mint("2026-12-07T10:00:00Z", None);
    by_session["userIdentity"] = role_session("ops", "s");
    let mut refused = mint("2026-12-07T10:00:00Z", None);
    refused["errorCode"] = json!("AccessDenied");
    for v in [by_session, refused] {
        assert_eq!(memos(&record(v.clone()), None, &trusted), vec![], "{v}");
    }
}

#[test]
fn a_launch_through_a_minted_session_is_the_minting_keys_counted_and_contained() {
    let cfg = cfg_with(&[("MANY_INSTANCES", "10")]);
    let mut held = InProcess::default();
    let rule = |r: &crate::events::CloudTrailRecord, recall: &Recall| {
        super::super::evaluate_with(r, &cfg, recall)
            .into_iter()
            .find(|a| a.rule == "long-term-key-runs-instances")
    };
    // Six instances with the key itself, then the session it minted launches six more.
    let own = record(run(iam_user("alice", ALICE_KEY), "2026-12-07T10:00:00Z", 6));
    let recall = held.recall(&ask(&own, None).unwrap(), 60);
    assert_eq!(
        rule(&own, &recall).unwrap().severity,
        crate::notice::Severity::Medium
    );
    for (account, memo) in memos(
        &record(mint("2026-12-07T10:01:00Z", None)),
        None,
        &cfg.trusted_creators,
    ) {
        held.remember(&account, &memo);
    }
    let through = record(run(session_identity(false), "2026-12-07T10:02:00Z", 6));
    let asked = ask(&through, None).unwrap();
    assert_eq!(
        asked.session.as_ref().map(|(_, k)| k.as_str()),
        Some(SESSION_KEY)
    );
    let recall = held.recall(&asked, 60);
    assert_eq!(
        recall.instances(),
        (12, 2),
        "counted with the key's own launch"
    );
    let alert = rule(&through, &recall).unwrap();
    assert_eq!(alert.severity, crate::notice::Severity::High);
    let (key, user) = alert.contain.unwrap();
    assert_eq!(key.as_str(), ALICE_KEY, "the key that minted the session");
    assert_eq!(user.unwrap().as_str(), "alice");
    assert!(alert.summary.contains(SESSION_KEY), "{}", alert.summary);

    // A user's session nobody saw minted: contained as a session (its user's sessions).
    let unknown = record(run(session_identity(false), "2026-12-07T10:02:00Z", 1));
    let alert = rule(&unknown, &Recall::default()).unwrap();
    assert_eq!(alert.contain.unwrap().0.as_str(), SESSION_KEY);
    // A session seen minted by the key is the key's, whatever it says of MFA (a leaked
    // key can enrol a device of its own).
    let with_mfa = record(run(session_identity(true), "2026-12-07T10:02:00Z", 1));
    assert_eq!(
        rule(&with_mfa, &recall)
            .unwrap()
            .contain
            .unwrap()
            .0
            .as_str(),
        ALICE_KEY
    );
    // Of unknown origin, a session opened with MFA or from the console is a person's;
    // a role's session is not judged here.
    assert!(rule(&with_mfa, &Recall::default()).is_none());
    let mut console = run(session_identity(false), "2026-12-07T10:02:00Z", 1);
    console["sessionCredentialFromConsole"] = json!("true");
    assert!(rule(&record(console), &Recall::default()).is_none());
    let role = record(run(role_session("ops", "s"), "2026-12-07T10:02:00Z", 1));
    assert!(rule(&role, &Recall::default()).is_none());
    // A federated user's session of unknown origin answers to the user that minted it.
    let federated = json!({"type": "FederatedUser", "accessKeyId": "ASIAFEDERATEDKEY0001",
        "arn": format!("arn:aws:sts::{HOME}:federated-user/x"), "accountId": HOME,
        "sessionContext": {"sessionIssuer": {"type": "IAMUser", "userName": "alice",
            "arn": format!("arn:aws:iam::{HOME}:user/alice"), "accountId": HOME}}});
    let alert = rule(
        &record(run(federated.clone(), "2026-12-07T10:02:00Z", 1)),
        &Recall::default(),
    )
    .unwrap();
    let (key, user) = alert.contain.unwrap();
    assert_eq!(
        (key.as_str(), user.unwrap().as_str()),
        ("ASIAFEDERATEDKEY0001", "alice")
    );
    // With no user behind it, alerted and not handed off.
    let mut orphan = federated;
    orphan["sessionContext"] = json!({});
    let alert = rule(
        &record(run(orphan, "2026-12-07T10:02:00Z", 1)),
        &Recall::default(),
    )
    .unwrap();
    assert_eq!(alert.contain, None);
}
