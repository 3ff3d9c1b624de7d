//! Replay: `keyguard replay` (release build, one thread) over a generated gzipped log of
//! 1,000,000 records, beside `zcat | jq` selecting `CreateAccessKey` from the same file:
//! records per second and peak memory, both measured by `tools/measure.py`.

use crate::table::{row, Better};

const RECORDS: u32 = 1_000_000;

/// (seconds, peak KiB, stdout lines) of a command, through `tools/measure.py`.
fn measure(cmd: &[&str]) -> (f64, f64, u64) {
    let v = crate::tool::run("measure.py", cmd);
    assert_eq!(v["exit"], 0, "{cmd:?} failed");
    (
        v["seconds"].as_f64().unwrap(),
        v["max_rss_kb"].as_f64().unwrap(),
        v["lines"].as_u64().unwrap(),
    )
}

/// Every 100th record a `CreateAccessKey` (one in ten of them for another user).
pub fn rows() {
    let dir = std::env::temp_dir().join(format!("keyguard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("cloudtrail.json.gz");
    keyguard_testkit::cloudtrail::write_gz_log(&log, RECORDS, |i| {
        if i % 100 != 0 {
            return keyguard_testkit::cloudtrail::routine(i);
        }
        let target = if i % 1000 == 0 { "admin" } else { "ci" };
        serde_json::json!({"eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "eventID": format!("k-{i}"),
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/ci", "userName": "ci", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
            "requestParameters": {"userName": target},
            "responseElements": {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE", "userName": target, "status": "Active"}}})
    });
    let path = log.to_str().unwrap();
    let keyguard = keyguard_testkit::workspace_root().join("target/release/keyguard");
    let (ours, our_kb, our_lines) = measure(&[keyguard.to_str().unwrap(), "replay", path]);
    let jq =
        format!("zcat {path} | jq -c '.Records[] | select(.eventName == \"CreateAccessKey\")'");
    let (theirs, their_kb, their_lines) = measure(&["bash", "-c", &jq]);
    // keyguard reports the backdoors (high) and the self-made keys (info): every one.
    assert_eq!(our_lines, their_lines, "both find every CreateAccessKey");
    let n = f64::from(RECORDS);
    let size = RECORDS.to_string();
    row(
        "replay: records per second",
        &size,
        n / ours,
        n / theirs,
        0,
        Better::Higher,
    );
    row(
        "replay: peak memory (MiB)",
        &size,
        our_kb / 1024.0,
        their_kb / 1024.0,
        1,
        Better::Lower,
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
