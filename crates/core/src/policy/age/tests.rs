use super::*;
use KeyStatus::{Active, Inactive};

fn cfg_with(extra: &[(&str, &str)]) -> AgeConfig {
    let mut m: BTreeMap<String, String> =
        BTreeMap::from([("SENDER_EMAIL".to_owned(), "keyguard@example.com".to_owned())]);
    m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    AgeConfig::from_env(&move |k: &str| m.get(k).cloned(), SelfIdentity::default()).unwrap()
}

fn cfg() -> AgeConfig {
    cfg_with(&[])
}

fn now() -> Timestamp {
    crate::parse_time("2026-11-23T09:00:00Z").unwrap()
}

fn person(
    user: &str,
    kind: Option<&str>,
    email: Option<&str>,
    keys: &[(&str, KeyStatus, i64)],
) -> Person {
    let mut tags = BTreeMap::new();
    if let Some(k) = kind {
        tags.insert("UserType".to_owned(), k.to_owned());
    }
    if let Some(e) = email {
        tags.insert("Email".to_owned(), e.to_owned());
    }
    Person {
        user: user.into(),
        tags,
        keys: keys
            .iter()
            .map(|(id, status, days)| KeyAge {
                key_id: (*id).into(),
                status: *status,
                created: now() - chrono::Duration::days(*days) - chrono::Duration::hours(1),
                deactivated_at: None,
                contained_at: None,
            })
            .collect(),
    }
}

const K1: &str = "AKIAAGEKEY0000000001";
const K2: &str = "AKIAAGEKEY0000000002";

/// (actions on keys, emails) for one person.
fn outcome(p: Person, cfg: &AgeConfig) -> (Vec<&'static str>, usize) {
    let plan = decide_scan("run-1", cfg, &[p], now());
    let actions = plan
        .steps
        .iter()
        .filter(|s| {
            matches!(
                s.action,
                Action::DeactivateKey { .. } | Action::DeleteKey { .. }
            )
        })
        .map(|s| s.action.name())
        .collect();
    let emails = plan
        .steps
        .iter()
        .filter(|s| s.action.name() == "send_email")
        .count();
    (actions, emails)
}

#[test]
fn the_ladders_around_every_boundary() {
    /// (UserType, status, age in days, stage, actions)
    type Case = (
        Option<&'static str>,
        KeyStatus,
        i64,
        Option<Stage>,
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (Some("employee"), Active, 69, None, &[]),
        (Some("employee"), Active, 70, Some(Stage::Warn), &[]),
        (Some("employee"), Active, 79, Some(Stage::Warn), &[]),
        (
            Some("employee"),
            Active,
            80,
            Some(Stage::Deactivate),
            &["deactivate_key"],
        ),
        (Some("employee"), Inactive, 80, Some(Stage::Deactivate), &[]),
        (
            Some("employee"),
            Active,
            89,
            Some(Stage::Deactivate),
            &["deactivate_key"],
        ),
        (
            Some("employee"),
            Active,
            90,
            Some(Stage::Overdue),
            &["deactivate_key"],
        ),
        (
            Some("employee"),
            Inactive,
            90,
            Some(Stage::Delete),
            &["delete_key"],
        ),
        (
            Some("Employee"),
            Active,
            200,
            Some(Stage::Overdue),
            &["deactivate_key"],
        ),
        (
            Some("EMPLOYEE"),
            Inactive,
            200,
            Some(Stage::Delete),
            &["delete_key"],
        ),
        (Some("machine"), Active, 69, None, &[]),
        (Some("machine"), Active, 70, Some(Stage::Warn), &[]),
        (
            Some("machine"),
            Active,
            80,
            Some(Stage::MachineWarning),
            &[],
        ),
        (
            Some("Machine"),
            Active,
            90,
            Some(Stage::MachineCritical),
            &[],
        ),
        (
            Some("machine"),
            Inactive,
            200,
            Some(Stage::MachineCritical),
            &[],
        ),
        (None, Active, 200, None, &[]),
        (Some("contractor"), Active, 200, None, &[]),
    ];
    for (kind, status, days, want_stage, want_actions) in cases {
        let k = match kind.map(str::to_ascii_lowercase).as_deref() {
            Some("employee") => Some(Kind::Employee),
            Some("machine") => Some(Kind::Machine),
            _ => None,
        };
        let key = KeyAge {
            key_id: K1.into(),
            status: *status,
            created: now() - chrono::Duration::days(*days),
            deactivated_at: None,
            contained_at: None,
        };
        let got = k.and_then(|k| stage(k, &key, now(), &cfg()));
        assert_eq!(got, *want_stage, "{kind:?} {status:?} {days}");
        let (actions, emails) = outcome(
            person("u", *kind, Some("u@example.com"), &[(K1, *status, *days)]),
            &cfg(),
        );
        assert_eq!(actions, *want_actions, "{kind:?} {status:?} {days}");
        assert_eq!(
            emails,
            usize::from(want_stage.is_some()),
            "{kind:?} {status:?} {days}"
        );
    }
}

#[test]
fn exempt_users_and_keyguard_itself_get_notices_only() {
    let p = || {
        person(
            "breakglass",
            Some("employee"),
            Some("b@example.com"),
            &[(K1, Active, 200)],
        )
    };
    let (actions, emails) = outcome(p(), &cfg_with(&[("EXEMPT_USERS", "breakglass")]));
    assert!(actions.is_empty());
    assert_eq!(emails, 1);
    let mut tagged = p();
    tagged.tags.insert("keyguard:exempt".into(), "True".into());
    assert!(outcome(tagged, &cfg()).0.is_empty());
    let me = AgeConfig {
        guard: crate::guard::Guard {
            me: SelfIdentity {
                user: Some("BreakGlass".into()),
                ..SelfIdentity::default()
            },
            ..cfg().guard
        },
        ..cfg()
    };
    assert!(outcome(p(), &me).0.is_empty());
}

#[test]
fn one_email_per_person_with_all_their_keys_and_the_seed_messages() {
    let alice = person(
        "alice",
        Some("employee"),
        Some("alice@example.com"),
        &[(K1, Active, 85), (K2, Inactive, 95)],
    );
    let bob = person(
        "bob",
        Some("employee"),
        Some("bob@example.com"),
        &[(K1, Active, 71)],
    );
    let plan = decide_scan("run-1", &cfg(), &[alice, bob], now());
    let emails: Vec<&Email> = plan
        .steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::SendEmail { email } => Some(email),
            _ => None,
        })
        .collect();
    assert_eq!(emails.len(), 2);
    assert_eq!(
        emails[0].to, "alice@example.com",
        "one recipient per message"
    );
    assert_eq!(emails[0].from, "keyguard@example.com");
    assert_eq!(emails[0].subject, "AWS Access Key - Renewal - Alerts");
    assert!(emails[0].text.contains(K1) && emails[0].text.contains(K2));
    assert!(emails[0].text.contains("has been deleted"));
    assert!(emails[0].text.contains("set to inactive"));
    assert!(emails[1]
        .text
        .contains("will be set to inactive from another 10 days"));
    assert!(
        !emails[1].text.contains("alice"),
        "nobody sees another person's keys"
    );
    assert!(emails[0].html.contains("<table"));
}

#[test]
fn emails_repeat_only_when_what_they_say_changes() {
    let key = |p: &Person, run: &str, days_later: i64| {
        let plan = decide_scan(
            run,
            &cfg(),
            std::slice::from_ref(p),
            now() + chrono::Duration::days(days_later),
        );
        plan.steps
            .iter()
            .find(|s| s.action.name() == "send_email")
            .map(|s| s.idempotency_key.clone())
    };
    let p = person(
        "carol",
        Some("machine"),
        Some("c@example.com"),
        &[(K1, Active, 70)],
    );
    // Still a warning the next day: the same key, so the ledger sends nothing new.
    assert_eq!(key(&p, "run-1", 0), key(&p, "run-2", 1));
    // A new stage: a new email.
    assert_ne!(key(&p, "run-1", 0), key(&p, "run-3", 10));
}

#[test]
fn the_summary_lists_counts_actions_and_who_cannot_be_reached() {
    let people = [
        person(
            "alice",
            Some("employee"),
            Some("alice@example.com"),
            &[(K1, Active, 85)],
        ),
        person("nomail", Some("employee"), None, &[(K2, Active, 95)]),
        person(
            "bademail",
            Some("machine"),
            Some("a@b.com, c@d.com"),
            &[(K2, Active, 95)],
        ),
        person(
            "untagged",
            None,
            Some("u@example.com"),
            &[(K1, Active, 300)],
        ),
    ];
    let plan = decide_scan("run-1", &cfg(), &people, now());
    let summary = plan
        .steps
        .iter()
        .find_map(|s| match &s.action {
            Action::Notify { notice } => Some(notice),
            _ => None,
        })
        .unwrap();
    assert_eq!(summary.facts["keys_deactivate"], "1");
    assert_eq!(summary.facts["keys_overdue"], "1");
    assert_eq!(summary.facts["keys_machine_critical"], "1");
    assert_eq!(summary.facts["users_without_user_type"], "untagged");
    assert_eq!(summary.facts["users_without_email"], "nomail, bademail");
    assert!(summary.facts["actions"].contains("deactivate_key"));
    // The no-email employee's key is still deactivated.
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.action.name() == "deactivate_key")
            .count(),
        2
    );
    let nothing = decide_scan(
        "run-1",
        &cfg(),
        &[person("x", Some("employee"), None, &[(K1, Active, 3)])],
        now(),
    );
    assert_eq!(nothing.decision.name(), "nothing_to_do");
}

#[test]
fn configuration_is_checked() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    let no_sender = AgeConfig::from_env(&env(&[]), SelfIdentity::default()).unwrap_err();
    assert_eq!(no_sender.variable, "SENDER_EMAIL");
    let upside_down = AgeConfig::from_env(
        &env(&[
            ("SENDER_EMAIL", "k@example.com"),
            ("DEACTIVATE_DAYS", "100"),
        ]),
        SelfIdentity::default(),
    );
    assert!(upside_down.unwrap_err().message.contains("rise"));
}

#[test]
fn html_escapes_what_comes_from_outside() {
    let mut c = cfg();
    c.messages.warn = "<script>alert(1)</script>".into();
    let plan = decide_scan(
        "run-1",
        &c,
        &[person(
            "eve",
            Some("machine"),
            Some("e@example.com"),
            &[(K1, Active, 75)],
        )],
        now(),
    );
    let Action::SendEmail { email } = &plan.steps[0].action else {
        panic!()
    };
    assert!(!email.html.contains("<script>"));
    assert!(email.html.contains("&lt;script&gt;"));
}

#[test]
fn a_key_keyguard_just_deactivated_waits_out_its_grace_before_deletion() {
    let mut p = person(
        "dan",
        Some("employee"),
        Some("d@example.com"),
        &[(K1, Inactive, 95)],
    );
    p.keys[0].deactivated_at = Some(now() - chrono::Duration::hours(2));
    let plan = decide_scan("run-2", &cfg(), std::slice::from_ref(&p), now());
    assert!(
        plan.steps.iter().all(|s| s.action.name() != "delete_key"),
        "{plan:#?}"
    );
    assert_eq!(
        stage(Kind::Employee, &p.keys[0], now(), &cfg()),
        Some(Stage::Overdue)
    );
    // Seven days later it goes.
    let later = now() + chrono::Duration::days(7);
    assert_eq!(
        stage(Kind::Employee, &p.keys[0], later, &cfg()),
        Some(Stage::Delete)
    );
    // Deactivation is keyed by key and stage, deletion by key, the summary by day.
    let active = person("dan", Some("employee"), None, &[(K1, Active, 85)]);
    let plan = decide_scan("run-1", &cfg(), &[active], now());
    let keys: Vec<&str> = plan
        .steps
        .iter()
        .map(|s| s.idempotency_key.as_str())
        .collect();
    assert_eq!(
        keys[0],
        format!("age-rotation:deactivate_key:{K1}:deactivate")
    );
    assert_eq!(deactivation_keys(K1)[0], keys[0]);
    assert_eq!(keys[1], "age-rotation:notify:summary:2026-11-23");
}

#[test]
fn an_organisation_scan_reports_every_account_and_names_the_ones_that_failed() {
    let ok = |account: &str| {
        let plan = decide_scan_in(
            Some(account),
            "run-1",
            &cfg(),
            &[person(
                "alice",
                Some("employee"),
                Some("a@example.com"),
                &[(K1, Active, 85)],
            )],
            now(),
        );
        let steps = plan
            .steps
            .iter()
            .map(|s| crate::report::StepReport {
                step: s.clone(),
                outcome: crate::report::Outcome::Applied { detail: None },
                retried: false,
            })
            .collect();
        crate::report::Report::new(plan, false, steps)
    };
    let a = ok("111111111111");
    let summary_key = &a.steps.last().unwrap().step.idempotency_key;
    assert_eq!(
        summary_key,
        "age-rotation:notify:summary:111111111111:2026-11-23"
    );
    let combined = combine(
        "run-1",
        false,
        vec![
            ("111111111111".into(), Ok(a.clone()).into()),
            (
                "222222222222".into(),
                Err("AssumeRole: Throttling".into()).into(),
            ),
            ("333333333333".into(), Ok(ok("333333333333")).into()),
        ],
    );
    assert_eq!(combined.status_code, 500);
    assert!(combined
        .decision
        .explanation()
        .unwrap()
        .contains("222222222222: AssumeRole: Throttling"));
    assert_eq!(combined.steps.len(), 6, "both good accounts' steps stand");
    assert!(combined.steps[0]
        .step
        .reason
        .starts_with("account 111111111111: "));
    let all_good = combine(
        "run-1",
        false,
        vec![("111111111111".into(), Ok(ok("111111111111")).into())],
    );
    assert_eq!(all_good.status_code, 200);
    // An account whose member role cannot be assumed (the management account, which a
    // service-managed StackSet skips): named, alerted once, and the run does not fail.
    let notices = unassumable_notices(
        "run-1",
        "keyguard-age-rotation-member",
        &[("444444444444".into(), "AccessDenied".into())],
    );
    assert_eq!(notices.steps.len(), 1);
    let key = &notices.steps[0].idempotency_key;
    assert!(
        !key.contains("run-1"),
        "alerted once, not once per run: {key}"
    );
    let again = unassumable_notices(
        "run-2",
        "keyguard-age-rotation-member",
        &[("444444444444".into(), "x".into())],
    );
    assert_eq!(&again.steps[0].idempotency_key, key);
    let with_unassumable = combine(
        "run-1",
        false,
        vec![
            (
                "111111111111".into(),
                AccountScan::Scanned(ok("111111111111")),
            ),
            (
                "444444444444".into(),
                AccountScan::Unassumable("AccessDenied".into()),
            ),
        ],
    );
    assert_eq!(with_unassumable.status_code, 200, "{with_unassumable:#?}");
    let nothing = combine(
        "run-1",
        false,
        vec![(
            "444444444444".into(),
            AccountScan::Unassumable("AccessDenied".into()),
        )],
    );
    assert!(nothing
        .decision
        .explanation()
        .unwrap()
        .contains("444444444444"));
}

#[test]
fn a_person_is_told_before_their_keys_are_touched() {
    let people = [
        person(
            "alice",
            Some("employee"),
            Some("a@example.com"),
            &[(K1, Inactive, 95), (K2, Active, 85)],
        ),
        person("nomail", Some("employee"), None, &[(K1, Active, 85)]),
    ];
    let plan = decide_scan("run", &cfg(), &people, chrono::Utc::now());
    let names: Vec<&str> = plan.steps.iter().map(|s| s.action.name()).collect();
    assert_eq!(
        names,
        [
            "send_email",
            "delete_key",
            "deactivate_key",
            "deactivate_key",
            "notify"
        ]
    );
    let email = &plan.steps[0].idempotency_key;
    assert_eq!(plan.steps[1].after.as_ref(), Some(email));
    assert_eq!(plan.steps[2].after.as_ref(), Some(email));
    // No address, nobody to wait for.
    assert_eq!(plan.steps[3].after, None);
    assert_eq!(plan.steps[4].after, None);
}

#[test]
fn a_key_re_activated_after_keyguard_deactivated_it_is_deactivated_again_and_said_so() {
    let first = decide_scan(
        "day-1",
        &cfg(),
        &[person(
            "eve",
            Some("employee"),
            Some("e@example.com"),
            &[(K1, Active, 81)],
        )],
        now(),
    );
    let deactivation = |p: &Plan| {
        p.steps
            .iter()
            .find(|s| s.action.name() == "deactivate_key")
            .map(|s| s.idempotency_key.clone())
    };
    let first_key = deactivation(&first).unwrap();
    // Eve turns it back on; the next day it is Active again, and the ledger says keyguard
    // deactivated it yesterday.
    let mut again = person(
        "eve",
        Some("employee"),
        Some("e@example.com"),
        &[(K1, Active, 82)],
    );
    again.keys[0].deactivated_at = Some(now() - chrono::Duration::days(1));
    let later = now() + chrono::Duration::days(1);
    let second = decide_scan("day-2", &cfg(), std::slice::from_ref(&again), later);
    let second_key = deactivation(&second).expect("deactivated again");
    assert_ne!(
        first_key, second_key,
        "not a duplicate of the first deactivation"
    );
    let Action::SendEmail { email } = &second.steps[0].action else {
        panic!("{second:#?}")
    };
    assert!(email.text.contains("re-activated"), "{}", email.text);
    let summary = second.steps.last().unwrap();
    assert!(format!("{:?}", summary.action).contains("re-activated"));
}

#[test]
fn grace_counts_from_any_keyguard_deactivation_and_a_contained_key_is_kept_as_evidence() {
    let at = |days: i64| Some(now() - chrono::Duration::days(days));
    let deleted = |deactivated: Option<Timestamp>, contained: Option<Timestamp>| {
        let mut p = person(
            "fay",
            Some("employee"),
            Some("f@example.com"),
            &[(K1, Inactive, 95)],
        );
        p.keys[0].deactivated_at = deactivated;
        p.keys[0].contained_at = contained;
        decide_scan("run", &cfg(), &[p], now())
            .steps
            .iter()
            .any(|s| s.action.name() == "delete_key")
    };
    assert!(
        deleted(None, None),
        "set aside by hand long ago: the seed's rule"
    );
    assert!(
        !deleted(at(2), None),
        "retired by secrets-rotator two days ago: in grace"
    );
    assert!(deleted(at(8), None), "its grace is over");
    assert!(
        !deleted(at(20), at(20)),
        "contained 20 days ago: evidence for 30"
    );
    assert!(deleted(at(31), at(31)), "evidence kept its 30 days");
    let keep = cfg_with(&[("CONTAINED_KEY_RETENTION_DAYS", "60")]);
    let mut p = person(
        "fay",
        Some("employee"),
        Some("f@example.com"),
        &[(K1, Inactive, 95)],
    );
    p.keys[0].deactivated_at = at(31);
    p.keys[0].contained_at = at(31);
    let plan = decide_scan("run", &keep, &[p], now());
    assert!(plan.steps.iter().all(|s| s.action.name() != "delete_key"));
    let Action::SendEmail { email } = &plan.steps[0].action else {
        panic!("{plan:#?}")
    };
    assert!(email.text.contains("kept as evidence"), "{}", email.text);
}

#[test]
fn an_address_ses_cannot_take_is_no_usable_email_and_never_holds_key_actions_back() {
    for (address, ok) in [
        ("alice@example.com", true),
        ("a.b+tag@sub.example.co.uk", true),
        ("jurgen@xn--bcher-kva.example", true),
        ("jürgen@example.com", false),
        ("alice@bücher.example", false),
        ("alice@example", false),
        ("alice@-bad-.example.com", false),
        ("alice@@example.com", false),
        ("al ice@example.com", false),
        ("alice@example.com,bob@example.com", false),
        ("", false),
    ] {
        assert_eq!(deliverable_by_ses(address), ok, "{address:?}");
    }
    // jürgen can never be mailed: his key is deactivated anyway, without waiting, and
    // the summary names him.
    let plan = decide_scan(
        "run",
        &cfg(),
        &[person(
            "jurgen",
            Some("employee"),
            Some("jürgen@example.com"),
            &[(K1, Active, 85)],
        )],
        now(),
    );
    let deactivate = plan
        .steps
        .iter()
        .find(|s| s.action.name() == "deactivate_key")
        .expect("deactivated");
    assert_eq!(deactivate.after, None, "waits for no email");
    assert!(plan.steps.iter().all(|s| s.action.name() != "send_email"));
    let summary = format!("{:?}", plan.steps.last().unwrap().action);
    assert!(summary.contains("jurgen"), "{summary}");
}

#[test]
fn the_summary_is_rewritten_from_what_happened() {
    use crate::report::{Outcome, StepReport};
    let people = [
        person(
            "alice",
            Some("employee"),
            Some("alice@example.com"),
            &[(K1, Active, 85)],
        ),
        person(
            "bob",
            Some("employee"),
            Some("bob@example.com"),
            &[(K2, Active, 85)],
        ),
    ];
    let mut plan = decide_scan("run-1", &cfg(), &people, now());
    let summary = take_summary(&mut plan).unwrap();
    assert!(
        plan.steps.iter().all(|s| s.action.name() != "notify"),
        "the summary is taken out"
    );
    // alice's email: rejected for good, her key deactivated; bob's email failed, his key
    // waits for it.
    let done: Vec<StepReport> = plan
        .steps
        .iter()
        .map(|step| {
            let about_alice = format!("{:?}", step.action).contains("alice");
            let outcome = match (step.action.name(), about_alice) {
                ("send_email", true) => Outcome::Rejected {
                    code: Some("MessageRejected".into()),
                    message: "not verified".into(),
                },
                ("send_email", false) => Outcome::Failed {
                    code: Some("Throttling".into()),
                    message: "slow".into(),
                },
                (_, true) => Outcome::Applied { detail: None },
                (_, false) => Outcome::Failed {
                    code: Some("Waiting".into()),
                    message: "waits for the email".into(),
                },
            };
            StepReport {
                step: step.clone(),
                outcome,
                retried: false,
            }
        })
        .collect();
    let rewritten = summary_after(summary.clone(), &done);
    assert_eq!(rewritten.idempotency_key, summary.idempotency_key);
    let Action::Notify { notice } = &rewritten.action else {
        panic!("a notice")
    };
    assert_eq!(notice.severity, Severity::High);
    assert_eq!(notice.facts["emails_rejected_by_ses"], "alice");
    assert_eq!(notice.facts["emails_not_sent"], "bob");
    assert_eq!(notice.facts["actions_unfinished"], "1");
    let actions = &notice.facts["actions"];
    assert!(
        actions.contains(&format!("deactivate_key {K1} (alice): done")),
        "{actions}"
    );
    assert!(
        actions.contains(&format!("deactivate_key {K2} (bob): not taken")),
        "{actions}"
    );
    // The counts of keys in each stage are facts, and stay.
    assert_eq!(notice.facts["keys_deactivate"], "2");
}

#[test]
fn a_400_day_old_canary_is_passed_by_untold_and_unlisted() {
    let mut canary = person("keyguard-canary-ci", None, None, &[(K1, Active, 400)]);
    canary.tags.insert("keyguard:canary".into(), "true".into());
    let plan = decide_scan("run-1", &cfg(), &[canary.clone()], now());
    assert_eq!(outcome(canary.clone(), &cfg()), (vec![], 0));
    let text = serde_json::to_string(&plan).unwrap();
    assert!(!text.contains("keyguard-canary-ci"), "{text}");
    // The same user without the tag is no canary: an untagged user, listed as such.
    canary.tags.clear();
    let plan = decide_scan("run-1", &cfg(), &[canary], now());
    assert!(serde_json::to_string(&plan)
        .unwrap()
        .contains("keyguard-canary-ci"));
    // Tagged as an employee and a canary, it is still a canary: never deactivated.
    let mut both = person(
        "keyguard-canary-ci",
        Some("employee"),
        Some("x@example.com"),
        &[(K1, Active, 400)],
    );
    both.tags.insert("keyguard:canary".into(), "true".into());
    assert_eq!(outcome(both, &cfg()), (vec![], 0));
}

#[test]
fn in_an_organisation_a_bare_exempt_name_holds_in_keyguards_account_only() {
    const HOME: &str = "111111111111";
    const MEMBER: &str = "222222222222";
    // keyguard in HOME, in organisation mode, with these exemptions.
    let in_org = |exempt: &str| {
        let mut cfg = cfg_with(&[("EXEMPT_USERS", exempt)]);
        cfg.guard.me.account = Some(crate::scope::AccountId::parse(HOME).unwrap());
        cfg.guard.organization = Some(crate::organization::Organization {
            member_role: "keyguard-age-rotation-member".into(),
            allowed: None,
        });
        cfg
    };
    let cfg = in_org(&format!("breakglass,{MEMBER}:ops-admin"));
    let old = |user: &str| {
        person(
            user,
            Some("employee"),
            Some("x@example.com"),
            &[(K1, Active, 200)],
        )
    };
    let acted = |account: &str, user: &str| {
        decide_scan_in(Some(account), "run-1", &cfg, &[old(user)], now())
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::DeactivateKey { .. }))
    };
    // keyguard's own account: the bare name holds, as without an organisation.
    assert!(!acted(HOME, "breakglass"));
    // A member's user who took the name is scanned like anyone else.
    assert!(acted(MEMBER, "breakglass"));
    // A member's exemption is written with its account, and holds only there.
    assert!(!acted(MEMBER, "ops-admin"));
    assert!(acted("333333333333", "ops-admin"));
    assert!(acted(HOME, "ops-admin"));
    // keyguard's own member role is not an exemption for a user of that name.
    assert!(acted(MEMBER, "keyguard-age-rotation-member"));
    // keyguard's own account scanned without naming it (the function's home scan,
    // `keyguard scan`, `keyguard plan`): its user written `HOME:NAME` is exempt there,
    // as containment reads it, and a member's is not.
    let cfg = in_org(&format!("{HOME}:deploy-bot,{MEMBER}:ops-admin"));
    let at_home = |user: &str| {
        decide_scan("run-1", &cfg, &[old(user)], now())
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::DeactivateKey { .. }))
    };
    assert!(!at_home("deploy-bot"));
    assert!(at_home("ops-admin"));
}
