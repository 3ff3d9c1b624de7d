//! Cloud Custodian beside age-rotation, on the same moto users: 100, 1,000 and 5,000
//! employees with one key each, a tenth of them made 95 days ago. Custodian runs its
//! credential-report policy (`iam-user`, the `credential` filter on
//! `access_keys.last_rotated` past 90 days, `remove-keys` with `disable`); age-rotation
//! runs its daily schedule, not dry (the same keys made Inactive, and each owner told).
//! Each on a fresh fleet: wall time and every AWS request moto served, whatever the
//! service (keyguard's ledger and emails included).

use crate::table::{row, Better};
use keyguard_aws::lambda::Handler;
use keyguard_testkit::{moto, workspace_root};
use std::time::Instant;

const SIZES: [usize; 3] = [100, 1_000, 5_000];
const OLD_SHARE: usize = 10;

const POLICY: &str = "policies:
  - name: old-keys
    resource: iam-user
    filters:
      - type: credential
        key: access_keys.last_rotated
        value_type: age
        value: 90
        op: greater-than
    actions:
      - type: remove-keys
        disable: true
        age: 90
";

/// age-rotation's scheduled run: (seconds, requests, keys made Inactive).
async fn keyguard(sdk: &keyguard_aws::SdkConfig, n: usize) -> (f64, u64, usize) {
    let m = moto::shared();
    m.reset();
    crate::age::verify_sender(sdk).await;
    crate::age::fleet(&aws_sdk_iam::Client::new(sdk), n, OLD_SHARE, 95).await;
    let app = age_rotation::App::new(sdk, crate::age::settings(&[]));
    app.ledger.create_table().await.unwrap();
    m.reset_requests();
    let started = Instant::now();
    let report = app.handle(&crate::age::schedule()).await;
    let seconds = started.elapsed().as_secs_f64();
    let requests = m.requests();
    let report = serde_json::to_value(&report).unwrap();
    let deactivated = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"]["type"] == "deactivate_key" && s["outcome"] == "applied")
        .count();
    (seconds, requests, deactivated)
}

/// `custodian run` of [`POLICY`]: (seconds, requests, users whose keys it disabled).
async fn custodian(
    sdk: &keyguard_aws::SdkConfig,
    n: usize,
    dir: &std::path::Path,
) -> (f64, u64, usize) {
    let m = moto::shared();
    m.reset();
    crate::age::fleet(&aws_sdk_iam::Client::new(sdk), n, OLD_SHARE, 95).await;
    let policy = dir.join("policy.yml");
    std::fs::write(&policy, POLICY).unwrap();
    let out = dir.join(format!("out-{n}"));
    m.reset_requests();
    let started = Instant::now();
    // The SDK's environment (AWS_ENDPOINT_URL and the test credentials) points at moto;
    // boto3 reads the same variables.
    let status = std::process::Command::new(workspace_root().join(".venv-bench/bin/custodian"))
        // No cache: Custodian keeps a resource list (and so the report's verdicts) for
        // 15 minutes by default, which would answer each fleet with the last one's.
        .args(["run", "--cache-period", "0", "--region", "us-east-1", "-s"])
        .arg(&out)
        .arg(&policy)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let requests = m.requests();
    assert!(status.success(), "custodian run failed");
    let resources: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("old-keys/resources.json")).unwrap())
            .unwrap();
    (seconds, requests, resources.as_array().map_or(0, Vec::len))
}

pub async fn rows(sdk: &keyguard_aws::SdkConfig) {
    let dir = std::env::temp_dir().join(format!("keyguard-bench-c7n-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for n in SIZES {
        let (ours, our_calls, deactivated) = keyguard(sdk, n).await;
        let (theirs, their_calls, disabled) = custodian(sdk, n, &dir).await;
        assert_eq!(
            deactivated,
            n.div_ceil(OLD_SHARE),
            "keyguard deactivates every old key"
        );
        assert_eq!(
            disabled,
            n.div_ceil(OLD_SHARE),
            "Custodian disables every old key"
        );
        let size = n.to_string();
        row(
            "age run vs Cloud Custodian: wall time (s)",
            &size,
            ours,
            theirs,
            2,
            Better::Lower,
        );
        row(
            "age run vs Cloud Custodian: AWS requests",
            &size,
            our_calls as f64,
            their_calls as f64,
            0,
            Better::Lower,
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
