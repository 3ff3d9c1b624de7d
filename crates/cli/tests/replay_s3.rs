//! `keyguard replay s3://BUCKET/PREFIX` against moto's S3: the same findings as the
//! replay of the same files on disk, and only what the window may hold is listed and
//! fetched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use keyguard_testkit::faults::FaultProxy;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const A: &str = "111111111111";
const B: &str = "222222222222";
const PREFIX: &str = "org/AWSLogs/o-abc123def4/";

/// One `CreateAccessKey` record: each is a finding, named by its event id.
fn created(id: &str, account: &str, region: &str, time: &str) -> Value {
    json!({"eventVersion": "1.09", "eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com",
        "eventID": id, "eventTime": time, "awsRegion": region, "recipientAccountId": account,
        "userIdentity": {"type": "IAMUser", "userName": "dev", "accessKeyId": "AKIADEVKEY0000000001",
            "arn": format!("arn:aws:iam::{account}:user/dev"), "accountId": account},
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2",
        "responseElements": {"accessKey": {"accessKeyId": "AKIADEVNEWKEY0000002", "userName": "dev"}}})
}

/// A history of two accounts, two Regions and three days, laid out under `root` as an
/// organisation trail writes it, with a digest and a stray file beside the logs. Each
/// day's folder holds a file written at 09:00 and at 21:00; the 24th's also one written
/// at 00:05 that holds a record of the 23rd delivered late.
fn history(root: &Path, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut put = |key: String, body: Vec<u8>| {
        let path = root.join(&key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        keys.push(key);
    };
    let gz = |records: Vec<Value>| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(json!({ "Records": records }).to_string().as_bytes())
            .unwrap();
        e.finish().unwrap()
    };
    for account in [A, B] {
        for region in ["us-east-1", "eu-west-1"] {
            for day in [22, 23, 24] {
                let folder = format!("{prefix}{account}/CloudTrail/{region}/2026/11/{day}/");
                let mut files = vec![("0900", vec![("08:58", format!("{day}-09"))])];
                files.push(("2100", vec![("20:58", format!("{day}-21"))]));
                let mut written = |stamp: &str, records: Vec<Value>| {
                    put(
                        format!(
                            "{folder}{account}_CloudTrail_{region}_202611{day}T{stamp}Z_x1.json.gz"
                        ),
                        gz(records),
                    )
                };
                for (stamp, records) in files {
                    written(
                        stamp,
                        records
                            .into_iter()
                            .map(|(t, id)| {
                                created(
                                    &format!("{account}-{region}-{id}"),
                                    account,
                                    region,
                                    &format!("2026-11-{day}T{t}:00Z"),
                                )
                            })
                            .collect(),
                    );
                }
                if day == 24 {
                    written(
                        "0005",
                        vec![
                            created(
                                &format!("{account}-{region}-late"),
                                account,
                                region,
                                "2026-11-23T23:58:00Z",
                            ),
                            created(
                                &format!("{account}-{region}-24-00"),
                                account,
                                region,
                                "2026-11-24T00:01:00Z",
                            ),
                        ],
                    );
                }
                put(format!("{folder}notes.txt"), b"not a log".to_vec());
                put(
                    format!("{prefix}{account}/CloudTrail-Digest/{region}/2026/11/{day}/{account}_CloudTrail-Digest_{region}_x_202611{day}T0900Z.json.gz"),
                    gz(vec![]),
                );
            }
        }
    }
    keys
}

/// The history on disk, and in a fresh bucket of moto's S3.
fn uploaded() -> (PathBuf, String) {
    uploaded_under(PREFIX, |_| {})
}

/// The history under `prefix` (and whatever `more` adds to the folder) on disk, and in
/// a fresh bucket of moto's S3.
fn uploaded_under(prefix: &str, more: impl FnOnce(&Path)) -> (PathBuf, String) {
    let moto = keyguard_testkit::moto::shared();
    let root = std::env::temp_dir().join(keyguard_testkit::unique("keyguard-replay-s3"));
    history(&root, prefix);
    more(&root);
    let bucket = keyguard_testkit::s3::upload_tree(&moto.endpoint, &root, "trail");
    (root, bucket)
}

fn replay(input: &str, endpoint: &str, window: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .arg("replay")
        .arg(input)
        .args(window)
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .unwrap()
}

fn event_ids(out: &Output) -> Vec<String> {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// What [`WINDOW`] finds: the 23rd's records of A in eu-west-1, and the late one.
fn windowed() -> Vec<String> {
    ["23-09", "23-21", "late"]
        .iter()
        .map(|id| format!("{A}-eu-west-1-{id}"))
        .collect()
}

const WINDOW: [&str; 8] = [
    "--account",
    A,
    "--region",
    "eu-west-1",
    "--since",
    "2026-11-23",
    "--until",
    "2026-11-24",
];

#[test]
fn a_replay_of_s3_finds_what_the_replay_of_the_same_files_on_disk_finds() {
    let moto = keyguard_testkit::moto::shared();
    let (root, bucket) = uploaded();
    let local = event_ids(&replay(root.to_str().unwrap(), &moto.endpoint, &[]));
    let remote = event_ids(&replay(&format!("s3://{bucket}/org"), &moto.endpoint, &[]));
    // Every record of the history, in the order CloudTrail wrote the files.
    assert_eq!(local.len(), 2 * 2 * (3 * 2 + 2), "{local:?}");
    assert_eq!(remote, local);

    let local = event_ids(&replay(root.to_str().unwrap(), &moto.endpoint, &WINDOW));
    assert_eq!(
        local,
        windowed(),
        "the 23rd's records and the late one, only"
    );
    let remote = event_ids(&replay(
        &format!("s3://{bucket}/org/"),
        &moto.endpoint,
        &WINDOW,
    ));
    assert_eq!(remote, local);
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every S3 call fails once (throttled, an internal error or a dropped connection), as
/// a busy bucket's do: each is retried, and the replay lists and fetches exactly the
/// window's folders and files, nothing of the other account, Region or days.
#[test]
fn a_windowed_replay_of_s3_fetches_only_what_the_window_may_hold_through_faults() {
    let moto = keyguard_testkit::moto::shared();
    let (root, bucket) = uploaded();
    let proxy = FaultProxy::start(&moto.endpoint, 0.0, 31);
    proxy.fail_each_once();
    let out = replay(&format!("s3://{bucket}/org"), &proxy.endpoint(), &WINDOW);
    assert_eq!(event_ids(&out), windowed());
    assert!(proxy.counts().faults() > 0);

    let served = proxy.served();
    let path = |line: &String| line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut fetched: Vec<String> = served
        .iter()
        .filter(|l| l.starts_with("GET ") && !l.contains("list-type=2"))
        .map(|l| {
            let p = path(l);
            let key = p.split('?').next().unwrap_or("");
            key.trim_start_matches(&format!("/{bucket}/")).to_owned()
        })
        .collect();
    fetched.sort();
    let day = |d: u32, stamp: &str| {
        format!("{PREFIX}{A}/CloudTrail/eu-west-1/2026/11/{d}/{A}_CloudTrail_eu-west-1_202611{d}T{stamp}Z_x1.json.gz")
    };
    let mut want = vec![
        day(23, "0900"),
        day(23, "2100"),
        // Written after --until, so it may hold the 23rd's late records: read.
        day(24, "0005"),
        day(24, "0900"),
        day(24, "2100"),
    ];
    want.sort();
    assert_eq!(
        fetched, want,
        "each file in the window fetched once, no other"
    );

    let listed: Vec<String> = served
        .iter()
        .filter(|l| l.contains("list-type=2"))
        .map(|l| {
            let query = path(l);
            let prefix = query
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("prefix="))
                .unwrap_or("")
                .replace("%2F", "/");
            prefix
        })
        .collect();
    assert!(
        listed.iter().any(|p| p.ends_with("/eu-west-1/2026/11/23/")),
        "{listed:?}"
    );
    for never in [B, "us-east-1", "/2026/11/22/", "CloudTrail-Digest"] {
        assert!(
            listed.iter().all(|p| !p.contains(never)),
            "listed under {never}: {listed:?}"
        );
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_bucket_that_is_not_there_or_not_a_bucket_name_is_an_error_before_any_replay() {
    let moto = keyguard_testkit::moto::shared();
    let out = replay("s3://no-such-bucket-keyguard/x", &moto.endpoint, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such bucket"),
        "{out:?}"
    );
    let out = replay("s3://not a bucket/x", &moto.endpoint, &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not an S3 bucket name"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty());
}

/// A trail whose own prefix ends in `AWSLogs` (keys `central/AWSLogs/AWSLogs/ACCOUNT/…`),
/// and a day folder of more than one page of keys (ListObjectsV2 answers 1,000 a page):
/// the layout is still found, and every page read.
#[test]
fn a_prefix_ending_in_awslogs_and_a_day_of_many_pages_are_read_whole() {
    let moto = keyguard_testkit::moto::shared();
    let prefix = "central/AWSLogs/AWSLogs/";
    let day = format!("{prefix}{A}/CloudTrail/eu-west-1/2026/11/23/");
    let (root, bucket) = uploaded_under(prefix, |root| {
        let folder = root.join(&day);
        for i in 0..1_001 {
            let name = format!(
                "{A}_CloudTrail_eu-west-1_20261123T1{:03}Z_p{i}.json",
                i % 60
            );
            std::fs::write(folder.join(name), br#"{"Records": []}"#).unwrap();
        }
    });
    let out = replay(
        &format!("s3://{bucket}/central/AWSLogs"),
        &moto.endpoint,
        &WINDOW,
    );
    assert_eq!(event_ids(&out), windowed());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 1,001 page files and the day's two logs on the 23rd, three logs on the 24th.
    assert!(stderr.contains("1006 file(s)"), "{stderr}");
    std::fs::remove_dir_all(&root).unwrap();
}

/// Every object's download breaks off half way once (the connection closes after half
/// its promised bytes): each is fetched again from where it broke, and the records are
/// the same; a re-fetch from the start would hand the inflater its first half twice.
#[test]
fn a_download_that_breaks_off_is_resumed_where_it_broke() {
    let moto = keyguard_testkit::moto::shared();
    let (root, bucket) = uploaded();
    let proxy = FaultProxy::start(&moto.endpoint, 0.0, 32);
    proxy.cut_each_body_once("x-id=GetObject");
    let out = replay(&format!("s3://{bucket}/org"), &proxy.endpoint(), &WINDOW);
    assert_eq!(event_ids(&out), windowed());
    let gets = proxy
        .served()
        .iter()
        .filter(|l| l.contains("x-id=GetObject"))
        .count();
    assert_eq!(
        gets,
        2 * 5,
        "each of the window's five files fetched, cut, and resumed"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
