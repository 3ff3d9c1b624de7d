//! The ledger's lease against each function's timeout and Lambda's retries, read from the
//! templates that deploy them. A claim taken over while its invocation still runs could
//! act twice; a lease longer than Lambda's retries would leave a died-mid-step
//! containment `in_progress` until Lambda gave up on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_core::config::DEFAULT_LEASE_SECONDS;
use keyguard_testkit::infra::{self, FUNCTIONS};

/// Lambda retries an asynchronous invocation about one minute, then two more, after a
/// failed attempt: the second retry comes at least three minutes after the claim.
const SECOND_RETRY_AFTER_SECONDS: u64 = 180;

#[test]
fn every_lease_outlasts_its_timeout_and_event_functions_reclaim_before_lambdas_second_retry() {
    let organisation: &[(&str, &str)] = &[("OrganizationMode", "true")];
    for function in FUNCTIONS {
        // As deployed by default, and in organisation mode where the template has one (a
        // sweep of every account runs longer, and its lease with it).
        let modes: &[&[(&str, &str)]] =
            match infra::template(function)["Parameters"]["OrganizationMode"].is_null() {
                true => &[&[]],
                false => &[&[], organisation],
            };
        for &mode in modes {
            let t = infra::template_with(function, mode);
            let timeout = t["Resources"]["Function"]["Properties"]["Timeout"]
                .as_u64()
                .unwrap_or_else(|| panic!("{function}: no Timeout"));
            let lease: u64 = infra::template_env_with(function, mode)
                .get("LEDGER_LEASE_SECONDS")
                .map_or(u64::from(DEFAULT_LEASE_SECONDS), |v| v.parse().unwrap());
            assert!(
                timeout < lease,
                "{function} {mode:?}: Timeout {timeout} s must be under the lease {lease} s, or a running claim is taken over"
            );
        }
        let lease: u64 = infra::template_env(function)
            .get("LEDGER_LEASE_SECONDS")
            .map_or(u64::from(DEFAULT_LEASE_SECONDS), |v| v.parse().unwrap());
        if [
            "deactivate-key",
            "guardduty-translator",
            "createkey-detector",
        ]
        .contains(&function)
        {
            assert!(
                lease < SECOND_RETRY_AFTER_SECONDS,
                "{function}: a lease of {lease} s outlasts Lambda's second retry: a containment that died mid-step would never be retried"
            );
        }
    }
}

/// AWS keeps 100 of an account's concurrency unreserved, and new accounts often have a
/// quota of 10: a template that reserves any by default fails to deploy there.
#[test]
fn no_template_reserves_concurrency_unless_asked() {
    for function in FUNCTIONS {
        let t = infra::template(function);
        assert_eq!(
            t["Parameters"]["ReservedConcurrency"]["Default"], "",
            "{function}: reserves concurrency by default"
        );
        let reserved = &t["Resources"]["Function"]["Properties"]["ReservedConcurrentExecutions"];
        assert!(
            reserved.is_null() || reserved["If"][2]["Ref"] == "AWS::NoValue",
            "{function}: ReservedConcurrentExecutions is {reserved}, not left out by default"
        );
    }
}
