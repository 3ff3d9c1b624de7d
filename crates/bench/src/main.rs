//! `make bench`: one markdown table, each row keyguard's figure beside a baseline's,
//! measured in the same run against the same moto. Figures only: nothing here is a test.
//!
//! - Containment ([`lambda`]): deactivate-key's release `bootstrap`, warm, under a local
//!   Lambda Runtime API ([`runtime`]), beside seed 000's boto3 handler served the same way.
//! - Cold start ([`lambda`]): every function's `bootstrap` from process start to its first
//!   result, beside the boto3 handler's.
//! - Age scan ([`age`]), replay ([`replay`]) and size ([`sizes`]).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark that cannot set up must stop loudly

mod age;
mod custodian;
mod lambda;
mod org;
mod replay;
mod runtime;
mod sizes;
mod table;
mod tool;

/// `BENCH_ONLY=containment,cold-start,latency,age,apply,custodian,org,replay,size` measures
/// only those rows.
fn wanted(section: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|s| s.trim() == section))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    keyguard_testkit::moto::shared(); // first: it points the SDK's environment at moto
    let sdk = keyguard_aws::load_config().await;
    let iam = aws_sdk_iam::Client::new(&sdk);
    table::header();
    if wanted("containment") || wanted("cold-start") || wanted("latency") {
        let world = lambda::world();
        // Cold starts first, while the account holds only the demo's users.
        if wanted("cold-start") {
            lambda::cold_start_rows(&iam, &world).await;
        }
        if wanted("containment") {
            lambda::containment_rows(&iam, &world).await;
        }
        if wanted("latency") {
            lambda::latency_rows(&iam, &world).await;
        }
    }
    if wanted("age") {
        age::rows(&sdk).await;
    }
    if wanted("apply") {
        age::apply_rows(&sdk).await;
    }
    if wanted("custodian") {
        custodian::rows(&sdk).await;
    }
    if wanted("org") {
        org::rows(&sdk).await;
    }
    if wanted("replay") {
        replay::rows();
    }
    if wanted("size") {
        sizes::rows();
    }
    println!();
    println!(
        "Containment and cold start: release x86_64 `bootstrap`s (cargo lambda) and `tools/bench_boto3_lambda.py` (seed 000's one `update_access_key`, boto3 client made at import), each a process under the same local Lambda Runtime API, against moto 5.2.5 on this machine (its latency dominates both); warm page cache. Cold start: deactivate-key acts on a fresh key, the other functions run a sample event in dry run (age-rotation: a scan of the demo's 11 users; secrets-rotator: createSecret); baseline = the boto3 process acting on a fresh key. Calls per key counted by the moto launcher (`service:Action`)."
    );
    println!(
        "Age scan: a tenth of the users have an 85-day key. keyguard: credential report + 2 calls per user with an old key; baseline: 2 calls per user + ListUsers pages."
    );
    println!(
        "Age apply: 1,100 people with a 95-day key, each an email then the key made Inactive, and the day's summary; the same plan applied with APPLY_CONCURRENCY=1 (the default) and 8, each on a fresh fleet, against the same moto."
    );
    println!(
        "Age run vs Cloud Custodian 0.9.53 (pinned in .venv-bench): a tenth of the users have a 95-day key. keyguard = age-rotation's daily run, not dry (credential report, the ladder, every old key made Inactive and its owner emailed, each step claimed and settled in the ledger); baseline = `custodian run` of an `iam-user` policy with the `credential` filter (access_keys.last_rotated past 90 days) and `remove-keys` (disable, age 90). Requests = every AWS request moto served, all services, for the run alone (the fleet made before counting)."
    );
    println!(
        "Org age scan: 50 member accounts of 100 users (a tenth with an 85-day key) and the management account, dry run. keyguard = the SQS fan-out (schedule, then one message per account, 10 workers taking one message at a time (the template's BatchSize 1), the workers' own receive and delete calls counted); baseline = the same function scanning every account in one invocation (ACCOUNT_CONCURRENCY 4). One moto process serves both, so parallel workers gain little here; on AWS each message is its own invocation, each within Lambda's 15 minutes."
    );
    println!(
        "Replay: keyguard = `keyguard replay` (release; files decoded on every core, `--jobs` defaults to the machine's cores, 2 here); `zcat | jq -c '.Records[] | select(.eventName == \"CreateAccessKey\")'` over the same files in the same order; DuckDB 1.4.2 `read_json(..., columns = {{Records: 'JSON[]'}})` + `unnest`, counting the same records (its own threads, 2 here). The three counts are checked equal. Realistic = records shaped like the shared corpus's CloudTrail records, about 1.4 KB each. Peak memory = the largest process's."
    );
    println!(
        "Size: baseline = the boto3 handler plus boto3, botocore, s3transfer, jmespath, dateutil, urllib3 and six as installed (Lambda's Python runtime provides them; the handler alone zips to about 1 KiB)."
    );
}
