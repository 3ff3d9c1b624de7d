//! Test harness shared by keyguard's test suites.
//!
//! - [`cloudtrail`]: generated CloudTrail log files (gzipped, any size).
//! - [`corpus`]: the published sample events in `../shared/corpus` (or `$KEYGUARD_CORPUS`),
//!   read in place and never copied into the project.
//! - [`faults`]: a proxy in front of moto that throttles, fails and drops a share of requests.
//! - [`hostile`]: the hostile-input table every function's tests run.
//! - [`iam`]: users and keys to act on.
//! - [`infra`]: a function's SAM template against the variables the function reads.
//! - [`logs`]: every log line of the test process, to search for secrets.
//! - [`receiver`]: a scripted HTTP server standing in for webhooks and the Lambda Invoke API.
//! - [`moto`]: the project's moto launcher (`tools/moto_launcher.py`) on a free loopback
//!   port, one per test process, reached by the real SDK clients through `AWS_ENDPOINT_URL`.

#![allow(clippy::panic, clippy::expect_used)] // a harness that cannot set up must fail the test loudly

pub mod cloudtrail;
pub mod corpus;
pub mod faults;
pub mod hostile;
#[cfg(feature = "iam")]
pub mod iam;
pub mod infra;
pub mod latency;
pub mod logs;
pub mod moto;
#[cfg(feature = "org")]
pub mod org;
pub mod policy;
pub mod receiver;
pub mod report;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "securityhub")]
pub mod security_hub;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A name no other test in this process (or another test process) uses.
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(PathBuf::from).unwrap_or(here)
}

/// `CI=true` turns every "skip, it is missing here" into a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
