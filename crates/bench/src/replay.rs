//! Replay: `keyguard replay` (release build, every core) beside the tools an analyst would
//! use instead, all measured by `tools/measure.py` on the same files in the same run:
//!
//! - 1,000 gzipped CloudTrail log files of 1,000 records each, shaped like real records
//!   (`keyguard_testkit::cloudtrail::realistic`, about 1.4 KB each, 1.4 GB inflated),
//!   beside `zcat | jq` and DuckDB (`tools/bench_duckdb.py`, pinned in `.venv-bench`)
//!   selecting `CreateAccessKey`. All three must count the same records.
//! - The same 1,000 files read from moto's S3 (`keyguard replay s3://…`), beside the
//!   replay of them on disk: what reading in place costs; and with two readers beside
//!   the default four, what the readers' memory buys. moto serves S3 from one
//!   Python process, so this is a floor on S3's cost, not a figure for AWS.
//! - The single file of 1,000,000 short synthetic records, beside `zcat | jq`.

use crate::table::{row, Better};
use keyguard_testkit::workspace_root;

const RECORDS: u32 = 1_000_000;
const FILES: u64 = 1_000;
const PER_FILE: u64 = 1_000;

struct Run {
    seconds: f64,
    peak_mib: f64,
    lines: u64,
    last: String,
}

fn measure(cmd: &[&str]) -> Run {
    let v = crate::tool::run("measure.py", cmd);
    assert_eq!(v["exit"], 0, "{cmd:?} failed");
    Run {
        seconds: v["seconds"].as_f64().unwrap(),
        peak_mib: v["max_rss_kb"].as_f64().unwrap() / 1024.0,
        lines: v["lines"].as_u64().unwrap(),
        last: v["last"].as_str().unwrap_or_default().to_owned(),
    }
}

fn keyguard() -> String {
    workspace_root()
        .join("target/release/keyguard")
        .to_string_lossy()
        .into_owned()
}

pub fn rows() {
    let dir = std::env::temp_dir().join(format!("keyguard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    realistic_rows(&dir.join("trail"));
    single_file_rows(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn realistic_rows(root: &std::path::Path) {
    let created =
        keyguard_testkit::cloudtrail::write_realistic_tree(root, FILES, PER_FILE).unwrap();
    let path = root.to_str().unwrap();
    let ours = measure(&[&keyguard(), "replay", path]);
    let one_core = measure(&[&keyguard(), "replay", "--jobs", "1", path]);
    // Files in the order keyguard reads them (by name within the one day's folder).
    let jq = format!(
        "find {path} -name '*.json.gz' -print0 | sort -z | xargs -0 zcat | jq -c '.Records[] | select(.eventName == \"CreateAccessKey\")'"
    );
    let jq = measure(&["bash", "-c", &jq]);
    let python = workspace_root().join(".venv-bench/bin/python");
    let script = workspace_root().join("tools/bench_duckdb.py");
    let duck = measure(&[python.to_str().unwrap(), script.to_str().unwrap(), path]);
    // keyguard reports every CreateAccessKey (backdoors high, self-made keys info) and
    // nothing else in this set: the three counts must agree, or the figures mean nothing.
    assert_eq!(ours.lines, created, "keyguard finds every CreateAccessKey");
    assert_eq!(one_core.lines, created, "keyguard --jobs 1 too");
    assert_eq!(jq.lines, created, "jq selects every CreateAccessKey");
    assert_eq!(duck.last, created.to_string(), "DuckDB counts every one");
    let moto = keyguard_testkit::moto::shared();
    let bucket = keyguard_testkit::s3::upload_tree(&moto.endpoint, root, "bench-trail");
    let s3 = measure(&[&keyguard(), "replay", &format!("s3://{bucket}/")]);
    assert_eq!(
        s3.lines, created,
        "keyguard finds every CreateAccessKey in S3 too"
    );
    let s3_two = measure(&[
        &keyguard(),
        "replay",
        "--jobs",
        "2",
        &format!("s3://{bucket}/"),
    ]);
    assert_eq!(s3_two.lines, created, "and with two readers");
    let size = format!("{FILES} files × {PER_FILE}");
    let n = (FILES * PER_FILE) as f64;
    row(
        "replay realistic records/s, vs zcat + jq (goal ≥ 10×)",
        &size,
        n / ours.seconds,
        n / jq.seconds,
        0,
        Better::Higher,
    );
    row(
        "replay realistic records/s, vs DuckDB read_json (goal ≥ 10×)",
        &size,
        n / ours.seconds,
        n / duck.seconds,
        0,
        Better::Higher,
    );
    row(
        "replay realistic records/s: every core vs `--jobs 1`",
        &size,
        n / ours.seconds,
        n / one_core.seconds,
        0,
        Better::Higher,
    );
    row(
        "replay realistic peak memory (MiB), vs DuckDB",
        &size,
        ours.peak_mib,
        duck.peak_mib,
        1,
        Better::Lower,
    );
    row(
        "replay realistic records/s from moto's S3, vs the same files on disk",
        &size,
        n / s3.seconds,
        n / ours.seconds,
        0,
        Better::Higher,
    );
    row(
        "replay realistic peak memory (MiB) from moto's S3, vs on disk",
        &size,
        s3.peak_mib,
        ours.peak_mib,
        1,
        Better::Lower,
    );
    row(
        "replay from moto's S3, `--jobs 2` vs the default 4: records/s",
        &size,
        n / s3_two.seconds,
        n / s3.seconds,
        0,
        Better::Higher,
    );
    row(
        "replay from moto's S3, `--jobs 2` vs the default 4: peak memory (MiB)",
        &size,
        s3_two.peak_mib,
        s3.peak_mib,
        1,
        Better::Lower,
    );
}

/// Every 100th record a `CreateAccessKey` (one in ten of them for another user).
fn single_file_rows(dir: &std::path::Path) {
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
    let ours = measure(&[&keyguard(), "replay", path]);
    let jq =
        format!("zcat {path} | jq -c '.Records[] | select(.eventName == \"CreateAccessKey\")'");
    let jq = measure(&["bash", "-c", &jq]);
    assert_eq!(ours.lines, jq.lines, "both find every CreateAccessKey");
    let n = f64::from(RECORDS);
    let size = format!("1 file × {RECORDS}");
    row(
        "replay short records/s, one file, vs zcat + jq",
        &size,
        n / ours.seconds,
        n / jq.seconds,
        0,
        Better::Higher,
    );
    row(
        "replay peak memory (MiB), one file, vs zcat + jq",
        &size,
        ours.peak_mib,
        jq.peak_mib,
        1,
        Better::Lower,
    );
}
