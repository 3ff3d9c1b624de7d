//! The organisation scan's walk over accounts (`accounts::each_account`), against moto:
//! an organisation that cannot be listed still has keyguard's own account scanned, and
//! says why the rest were not; no account is begun too near the invocation's deadline;
//! each day begins at a different account. Its own test process: it makes the
//! organisation of this process's moto.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_aws::accounts::{each_account, ACCOUNT_MARGIN};
use keyguard_core::org_scan::AccountScan;
use keyguard_testkit::moto;
use std::sync::Mutex;

fn scanned() -> AccountScan {
    AccountScan::Outside("scanned by the test".into())
}

#[tokio::test]
async fn accounts_are_walked_from_the_days_start_none_too_near_the_deadline() {
    moto::shared();
    let sdk = keyguard_aws::load_config().await;
    let own = keyguard_aws::identity::account(&sdk).await.unwrap();
    let begun = Mutex::new(Vec::<(String, bool)>::new());
    let scan = |account: String, is_own: bool| {
        begun.lock().unwrap().push((account, is_own));
        async { scanned() }
    };

    // The listing fails (every request through this proxy does): keyguard's own account
    // is still scanned, and the failure is named beside it.
    let proxy = keyguard_testkit::faults::FaultProxy::start(&moto::shared().endpoint, 1.0, 7);
    let failing =
        keyguard_aws::load_config_at(&proxy.endpoint(), std::time::Duration::from_millis(1)).await;
    let alone = each_account(&failing, Some(&own), (4, 0), scan).await;
    assert_eq!(alone.len(), 2, "{alone:?}");
    assert_eq!(alone[0], (own.clone(), scanned()));
    assert!(
        matches!(&alone[1], (o, AccountScan::Failed(why)) if o == "organization" && why.starts_with("listing the organisation's accounts")),
        "{alone:?}"
    );
    assert_eq!(*begun.lock().unwrap(), [(own.clone(), true)]);

    // An organisation of three members besides keyguard's account (its management one).
    let members = keyguard_testkit::org::members(&sdk, 3).await;
    let mut all: Vec<String> = members.iter().cloned().chain([own.clone()]).collect();
    all.sort();

    // One at a time from the second account on: begun in that order, reported sorted;
    // only keyguard's own account is told it is.
    begun.lock().unwrap().clear();
    let walked = each_account(&sdk, Some(&own), (1, 1), scan).await;
    let reported: Vec<&String> = walked.iter().map(|(a, _)| a).collect();
    assert_eq!(reported, all.iter().collect::<Vec<_>>());
    let order = begun.lock().unwrap().clone();
    let mut expected: Vec<(String, bool)> = all.iter().map(|a| (a.clone(), *a == own)).collect();
    expected.rotate_left(1);
    assert_eq!(order, expected, "the walk begins at the day's account");
    // The next day begins one further on.
    begun.lock().unwrap().clear();
    each_account(&sdk, Some(&own), (1, 2), scan).await;
    expected.rotate_left(1);
    assert_eq!(*begun.lock().unwrap(), expected);

    // Less than the margin left of the invocation: no account is begun, each is named.
    begun.lock().unwrap().clear();
    let deadline = std::time::Instant::now() + ACCOUNT_MARGIN / 2;
    let late =
        keyguard_aws::lambda::within(deadline, each_account(&sdk, Some(&own), (4, 0), scan)).await;
    assert!(begun.lock().unwrap().is_empty());
    assert_eq!(late.len(), all.len());
    assert!(late
        .iter()
        .all(|(_, s)| matches!(s, AccountScan::Failed(why) if why.contains("deadline"))));
}
