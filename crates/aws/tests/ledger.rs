//! The DynamoDB ledger's claim rules, against moto's DynamoDB: the conditional put is the
//! whole of "exactly once", so each of its branches is exercised for real here. The same
//! suite runs against the in-memory ledger (`keyguard_core::effects::memory`), which the
//! core's tests use, so the two follow one set of rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_aws::DynamoLedger;
use keyguard_core::effects::memory::MemoryLedger;
use keyguard_core::{Claim, Ledger, LedgerEntry, Outcome, Prior, Window};
use keyguard_testkit::moto;

/// What the suite reads back from a ledger: a row's status, the step holding a window and
/// until when, and whether a step counts as done for a grace period.
trait Inspect: Ledger + Sync {
    async fn status(&self, key: &str) -> Option<String>;
    async fn held(&self, window: &str) -> (Option<String>, Option<i64>);
    async fn done(&self, key: &str) -> bool;
    async fn prior(&self, key: &str) -> Option<Prior>;
}

impl Inspect for DynamoLedger {
    async fn status(&self, key: &str) -> Option<String> {
        let rows = self.rows().await.unwrap();
        rows.iter()
            .find(|r| r["idempotency_key"] == key)
            .map(|r| r["status"].clone())
    }
    async fn held(&self, window: &str) -> (Option<String>, Option<i64>) {
        let rows = self.rows().await.unwrap();
        let row = rows.iter().find(|r| r["idempotency_key"] == window);
        (
            row.and_then(|r| r.get("held_by").cloned()),
            row.and_then(|r| r.get("held_until").and_then(|v| v.parse().ok())),
        )
    }
    async fn done(&self, key: &str) -> bool {
        self.done_at(key).await.unwrap().is_some()
    }
    async fn prior(&self, key: &str) -> Option<Prior> {
        let rows = self.rows().await.unwrap();
        let row = rows.iter().find(|r| r["idempotency_key"] == key)?;
        row.get("replaces")
            .map(|p| serde_json::from_str(p).unwrap())
    }
}

impl Inspect for MemoryLedger {
    async fn status(&self, key: &str) -> Option<String> {
        self.row(key).map(|r| r.status)
    }
    async fn held(&self, window: &str) -> (Option<String>, Option<i64>) {
        self.row(window)
            .map_or((None, None), |r| (r.held_by, r.held_until))
    }
    async fn done(&self, key: &str) -> bool {
        self.done_at(key).is_some()
    }
    async fn prior(&self, key: &str) -> Option<Prior> {
        self.row(key).and_then(|r| r.prior)
    }
}

const LEASE_SECONDS: u32 = 300;

fn entry(key: &str, at: chrono::DateTime<chrono::Utc>) -> LedgerEntry {
    LedgerEntry {
        idempotency_key: key.to_owned(),
        action: "deactivate_key",
        function: "deactivate-key".into(),
        reason: "test".into(),
        event_id: Some("ev-1".into()),
        classifier_source: None,
        user: Some("bob".into()),
        key_id: Some("AKIAIOSFODNN7EXAMPLE".into()),
        account: Some("123456789012".into()),
        at,
        window: None,
        repeatable: true,
        prior: None,
    }
}

fn windowed(key: &str, at: chrono::DateTime<chrono::Utc>) -> LedgerEntry {
    LedgerEntry {
        window: Some(Window {
            key: "incident:user/alice".into(),
            until: at + chrono::Duration::minutes(15),
        }),
        ..entry(key, at)
    }
}

async fn ledger(table: &str) -> DynamoLedger {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let ledger = DynamoLedger::new(&sdk, table, 90, LEASE_SECONDS);
    ledger.create_table().await.unwrap();
    ledger.create_table().await.unwrap(); // a second create is not an error
    ledger
}

#[tokio::test]
async fn claims_follow_the_rules() {
    let dynamo = ledger("ledger-rules").await;
    claims_follow_the_rules_on(&dynamo).await;
    let rows = dynamo.rows().await.unwrap();
    let a = rows.iter().find(|r| r["idempotency_key"] == "a").unwrap();
    assert_eq!(a["key_id"], "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(
        a["account"], "123456789012",
        "every row names where its step acted"
    );
    assert!(a["outcome"].contains("applied"));
    claims_follow_the_rules_on(&MemoryLedger::new(LEASE_SECONDS)).await;
}

async fn claims_follow_the_rules_on(l: &impl Inspect) {
    let now = chrono::Utc::now();
    let failed = Outcome::Failed {
        code: Some("Throttling".into()),
        message: "slow down".into(),
    };

    // Absent → won; then in progress while claimed and unsettled: not done, as far as
    // anyone knows, so never a duplicate.
    assert_eq!(l.claim(&entry("a", now)).await.unwrap(), Claim::Won);
    assert_eq!(l.claim(&entry("a", now)).await.unwrap(), Claim::InProgress);
    // A failed attempt releases the key for a retry, which knows it retries.
    l.settle(&entry("a", now), &failed).await.unwrap();
    assert_eq!(l.claim(&entry("a", now)).await.unwrap(), Claim::Retry);
    // Done stays done, even long after.
    l.settle(&entry("a", now), &Outcome::Applied { detail: None })
        .await
        .unwrap();
    let later = now + chrono::Duration::days(1);
    assert_eq!(l.claim(&entry("a", later)).await.unwrap(), Claim::Taken);

    // A claim never settled (its invocation died) is reclaimable only after the lease.
    assert_eq!(l.claim(&entry("b", now)).await.unwrap(), Claim::Won);
    assert!(
        l.done("b").await,
        "an unsettled claim may have happened: a grace period counts from it"
    );
    let within = now + chrono::Duration::seconds(i64::from(LEASE_SECONDS) - 10);
    assert_eq!(
        l.claim(&entry("b", within)).await.unwrap(),
        Claim::InProgress
    );
    let after = now + chrono::Duration::seconds(i64::from(LEASE_SECONDS) + 10);
    assert_eq!(l.claim(&entry("b", after)).await.unwrap(), Claim::Won);

    // The same for a step that must not happen twice (an email): its outcome is unknown,
    // said once, and it is never taken again.
    let email = |at| LedgerEntry {
        action: "send_email",
        repeatable: false,
        prior: None,
        ..entry("c", at)
    };
    assert_eq!(l.claim(&email(now)).await.unwrap(), Claim::Won);
    assert_eq!(l.claim(&email(within)).await.unwrap(), Claim::InProgress);
    assert_eq!(l.claim(&email(after)).await.unwrap(), Claim::Unsettled);
    // Never taken again, and never counted as done.
    assert_eq!(l.claim(&email(after)).await.unwrap(), Claim::SettledUndone);
    let much_later = after + chrono::Duration::days(1);
    assert_eq!(
        l.claim(&email(much_later)).await.unwrap(),
        Claim::SettledUndone
    );
    // A failed email is still retried.
    l.settle(&email(now), &failed).await.unwrap();
    assert_eq!(l.claim(&email(much_later)).await.unwrap(), Claim::Retry);
    // A permanent rejection is settled: not retried.
    let rejected = Outcome::Rejected {
        code: Some("MessageRejected".into()),
        message: "not verified".into(),
    };
    l.settle(&email(much_later), &rejected).await.unwrap();
    assert_eq!(
        l.claim(&email(much_later)).await.unwrap(),
        Claim::SettledUndone
    );

    assert_eq!(l.status("a").await.as_deref(), Some("done"));
    assert_eq!(l.status("c").await.as_deref(), Some("rejected"));
}

#[tokio::test]
async fn windows_hold_across_events_and_free_on_failure() {
    windows_on(&ledger("ledger-windows").await).await;
    windows_on(&MemoryLedger::new(LEASE_SECONDS)).await;
}

async fn windows_on(l: &impl Inspect) {
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:14:59Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let done = Outcome::Applied { detail: None };
    let one_second = chrono::Duration::seconds(1);

    assert_eq!(l.claim(&windowed("ev-a", t0)).await.unwrap(), Claim::Won);
    l.settle(&windowed("ev-a", t0), &done).await.unwrap();
    // A second finding one second later, across the quarter hour: held.
    let t1 = t0 + one_second;
    assert_eq!(l.claim(&windowed("ev-b", t1)).await.unwrap(), Claim::Held);
    // Both events redelivered after the window: duplicates, never a second action.
    let after = t0 + chrono::Duration::minutes(16);
    assert_eq!(
        l.claim(&windowed("ev-a", after)).await.unwrap(),
        Claim::Taken
    );
    assert_eq!(
        l.claim(&windowed("ev-b", after)).await.unwrap(),
        Claim::Taken
    );
    // A new finding after the window acts, holds the window anew, and is told the one
    // the window kept quiet.
    assert_eq!(
        l.claim(&windowed("ev-c", after)).await.unwrap(),
        Claim::WonAfterHeld(1)
    );
    let failed = Outcome::Failed {
        code: Some("InternalServerError".into()),
        message: "x".into(),
    };
    l.settle(&windowed("ev-c", after), &failed).await.unwrap();
    // Its failure frees the window for the next finding.
    let d = after + one_second;
    assert_eq!(l.claim(&windowed("ev-d", d)).await.unwrap(), Claim::Won);

    assert_eq!(l.status("ev-b").await.as_deref(), Some("suppressed"));
    let (held_by, held_until) = l.held("incident:user/alice").await;
    assert_eq!(held_by.as_deref(), Some("ev-d"));
    assert_eq!(
        held_until,
        Some((d + chrono::Duration::minutes(15)).timestamp())
    );
}

/// A windowed step (the translator's runbook) whose invocation died after claiming it is
/// taken over once its lease ends, while its own window still runs: the window it holds
/// must not keep it out, or the containment would be lost as "suppressed".
#[tokio::test]
async fn a_stale_windowed_claim_is_taken_over_inside_its_own_window() {
    stale_window_on(&ledger("ledger-stale-window").await).await;
    stale_window_on(&MemoryLedger::new(LEASE_SECONDS)).await;
}

async fn stale_window_on(l: &impl Inspect) {
    let t0 = chrono::Utc::now();
    let step = |at| LedgerEntry {
        window: Some(Window {
            key: "runbook:user/carol/AKIA".into(),
            until: t0 + chrono::Duration::minutes(15),
        }),
        ..entry("runbook-ev", at)
    };
    assert_eq!(l.claim(&step(t0)).await.unwrap(), Claim::Won);
    let within = t0 + chrono::Duration::seconds(60);
    assert_eq!(l.claim(&step(within)).await.unwrap(), Claim::InProgress);
    let after = t0 + chrono::Duration::seconds(i64::from(LEASE_SECONDS) + 10);
    assert_eq!(l.claim(&step(after)).await.unwrap(), Claim::Won);
    // Another finding inside the window is still held off.
    let other = LedgerEntry {
        idempotency_key: "runbook-ev-2".into(),
        ..step(after)
    };
    assert_eq!(l.claim(&other).await.unwrap(), Claim::Held);
}

#[tokio::test]
async fn a_retry_keeps_the_snapshot_its_first_attempt_took() {
    retry_prior_on(&ledger("ledger-prior").await).await;
    retry_prior_on(&MemoryLedger::new(LEASE_SECONDS)).await;
}

async fn retry_prior_on(l: &impl Inspect) {
    let t0 = chrono::Utc::now();
    let after = t0 + chrono::Duration::seconds(i64::from(LEASE_SECONDS) + 10);
    let was = |status: &str| Prior::KeyStatus {
        status: status.into(),
    };
    let failed = Outcome::Failed {
        code: None,
        message: "timed out".into(),
    };
    // The first attempt kept Active, wrote, and died before settling: the takeover reads
    // the key Inactive (its own write), but the row still says what the step replaced.
    assert_eq!(l.claim(&entry("p", t0)).await.unwrap(), Claim::Won);
    l.record_prior(&entry("p", t0), &was("Active"))
        .await
        .unwrap();
    assert_eq!(l.claim(&entry("p", after)).await.unwrap(), Claim::Won);
    l.record_prior(&entry("p", after), &was("Inactive"))
        .await
        .unwrap();
    assert_eq!(l.prior("p").await, Some(was("Active")));
    // The same after a failure that may have written (a timeout).
    assert_eq!(l.claim(&entry("q", t0)).await.unwrap(), Claim::Won);
    l.record_prior(&entry("q", t0), &was("Active"))
        .await
        .unwrap();
    l.settle(&entry("q", t0), &failed).await.unwrap();
    assert_eq!(l.claim(&entry("q", t0)).await.unwrap(), Claim::Retry);
    l.record_prior(&entry("q", t0), &was("Inactive"))
        .await
        .unwrap();
    assert_eq!(l.prior("q").await, Some(was("Active")));
    // A first attempt that kept nothing: the retry's own snapshot is the first.
    assert_eq!(l.claim(&entry("r", t0)).await.unwrap(), Claim::Won);
    l.settle(&entry("r", t0), &failed).await.unwrap();
    assert_eq!(l.claim(&entry("r", t0)).await.unwrap(), Claim::Retry);
    l.record_prior(&entry("r", t0), &was("Active"))
        .await
        .unwrap();
    assert_eq!(l.prior("r").await, Some(was("Active")));
    // A claim that carries what its step replaces (containment's plan knew it) keeps
    // it; a retry's claim, carrying what it read after the first attempt's write, keeps
    // the first.
    let with = |key: &str, status: &str| LedgerEntry {
        prior: Some(was(status)),
        ..entry(key, t0)
    };
    assert_eq!(l.claim(&with("s", "Active")).await.unwrap(), Claim::Won);
    assert_eq!(l.prior("s").await, Some(was("Active")));
    l.settle(&entry("s", t0), &failed).await.unwrap();
    assert_eq!(l.claim(&with("s", "Inactive")).await.unwrap(), Claim::Retry);
    assert_eq!(l.prior("s").await, Some(was("Active")));
    // A settled row takes no snapshot: the step is not this invocation's any more.
    l.settle(&entry("r", t0), &Outcome::Applied { detail: None })
        .await
        .unwrap();
    assert!(l
        .record_prior(&entry("r", t0), &was("Expired"))
        .await
        .is_err());
    assert_eq!(l.prior("r").await, Some(was("Active")));
}

#[tokio::test]
async fn a_window_counts_what_it_kept_quiet_for_the_next_step_that_takes_it() {
    held_count_on(&ledger("ledger-held-count").await).await;
    held_count_on(&MemoryLedger::new(LEASE_SECONDS)).await;
}

async fn held_count_on(l: &impl Inspect) {
    let t0 = chrono::Utc::now();
    let call = |key: &str, at: chrono::DateTime<chrono::Utc>| LedgerEntry {
        window: Some(Window {
            key: "canary:AKIACANARY:discord".into(),
            until: at + chrono::Duration::minutes(15),
        }),
        action: "alert",
        repeatable: false,
        prior: None,
        ..entry(key, at)
    };
    let soon = t0 + chrono::Duration::minutes(1);
    let later = t0 + chrono::Duration::minutes(20);
    let much_later = t0 + chrono::Duration::minutes(40);
    assert_eq!(l.claim(&call("c1", t0)).await.unwrap(), Claim::Won);
    assert_eq!(l.claim(&call("c2", soon)).await.unwrap(), Claim::Held);
    assert_eq!(l.claim(&call("c3", soon)).await.unwrap(), Claim::Held);
    // A redelivery of a quiet step is a duplicate, and is not counted again.
    assert_eq!(l.claim(&call("c3", soon)).await.unwrap(), Claim::Taken);
    assert_eq!(
        l.claim(&call("c4", later)).await.unwrap(),
        Claim::WonAfterHeld(2)
    );
    assert_eq!(
        l.claim(&call("c5", much_later)).await.unwrap(),
        Claim::Won,
        "the count starts again"
    );
}

/// A deactivation that failed may have landed (its answer lost after IAM acted): the
/// key's record says keyguard tried, and when, apart from what it knows it did. A
/// containment's attempt keeps the key as evidence; a rotation's failed retirement is no
/// retirement, so the sweep deletes nothing on it.
#[tokio::test]
async fn a_failed_deactivation_is_remembered_as_one_that_may_have_landed() {
    let l = ledger(&keyguard_testkit::unique("ledger")).await;
    let at = chrono::Utc::now() - chrono::Duration::days(2);
    let failed = Outcome::Failed {
        code: None,
        message: "timed out".into(),
    };
    let settled = |function: &str, key_id: &str, outcome: Outcome| {
        let e = LedgerEntry {
            function: function.into(),
            key_id: Some(key_id.into()),
            ..entry(&keyguard_testkit::unique("step"), at)
        };
        let l = &l;
        async move {
            l.claim(&e).await.unwrap();
            l.settle(&e, &outcome).await.unwrap();
        }
    };
    let contained = "AKIAFAILEDCONTAIN001";
    settled("deactivate-key", contained, failed.clone()).await;
    let seen = l.deactivations(contained).await.unwrap();
    assert_eq!((seen.last, seen.contained), (None, None), "{seen:?}");
    let when = Some(keyguard_core::parse_time(&at.to_rfc3339()).unwrap());
    assert_eq!(seen.tried, when);
    assert_eq!(
        seen.contained_or_tried(),
        when,
        "kept as evidence from the attempt"
    );
    assert_eq!(seen.last_or_tried(), when);

    let rotated = "AKIAFAILEDRETIRE0001";
    settled("secrets-rotator", rotated, failed.clone()).await;
    let seen = l.deactivations(rotated).await.unwrap();
    assert_eq!(
        (seen.retired, seen.contained_or_tried()),
        (None, None),
        "{seen:?}"
    );
    assert_eq!(seen.last_or_tried(), when);

    // A later deactivation that lands is what it is; the attempt stays beside it.
    let later = Outcome::Applied { detail: None };
    settled("age-rotation", contained, later).await;
    let seen = l.deactivations(contained).await.unwrap();
    assert_eq!(seen.last, when);
    assert_eq!(seen.tried_to_contain, when);
    // A step that was refused for good, or never ran, tells nothing about the key.
    let refused = "AKIAREFUSEDNOTRIED01";
    let rejected = Outcome::Rejected {
        code: None,
        message: "no".into(),
    };
    settled("deactivate-key", refused, rejected).await;
    assert_eq!(l.deactivations(refused).await.unwrap(), Default::default());

    // secrets-rotator: a rotation's deactivation of the key it replaced retires it; the
    // sweep's deactivation of an unused key does not, though it deactivates it.
    for (key_id, step, retires) in [
        (
            "AKIAROTATIONRETIRED1",
            "secrets-rotator:deactivate_key:-:app/AKIAROTATIONRETIRED1:tok",
            true,
        ),
        (
            "AKIASWEPTUNUSEDKEY01",
            "secrets-rotator:deactivate_key:unused:AKIASWEPTUNUSEDKEY01:ev",
            false,
        ),
    ] {
        let e = LedgerEntry {
            function: "secrets-rotator".into(),
            key_id: Some(key_id.into()),
            ..entry(step, at)
        };
        l.claim(&e).await.unwrap();
        l.settle(&e, &Outcome::Applied { detail: None })
            .await
            .unwrap();
        let seen = l.deactivations(key_id).await.unwrap();
        assert_eq!(seen.last, when, "{step}");
        assert_eq!(seen.retired.is_some(), retires, "{step}");
    }
}
