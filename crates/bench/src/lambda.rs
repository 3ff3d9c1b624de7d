//! Containment and cold start: the functions' release `bootstrap`s (cargo lambda's x86_64
//! build, in `target/lambda-bench`) under the runtime API of [`crate::runtime`], against
//! moto, beside seed 000's boto3 handler (`tools/bench_boto3_lambda.py`) served the same
//! way.

use crate::runtime::{Outcome, Runtime};
use crate::table::{median, percentile, row, Better};
use keyguard_testkit::{moto, workspace_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const FUNCTIONS: [&str; 5] = [
    "deactivate-key",
    "guardduty-translator",
    "age-rotation",
    "createkey-detector",
    "secrets-rotator",
];
const CONTAINMENTS: usize = 200;
const WARM_UP: usize = 5;
const COLD_STARTS: usize = 10;

pub fn bootstrap(function: &str) -> PathBuf {
    workspace_root().join(format!("target/lambda-bench/{function}/bootstrap"))
}

/// A process under test, killed when dropped.
struct Process(Child);

impl Process {
    fn start(mut cmd: Command) -> Self {
        Self(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program())),
        )
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a Lambda gives every process, plus what the demo gives keyguard's functions.
fn command(program: &[PathBuf], runtime: &Runtime, world: &Value, dry_run: bool) -> Command {
    command_at(program, runtime, world, dry_run, &moto::shared().endpoint)
}

/// [`command`], its AWS calls sent to `endpoint` (the fault proxy, modelling latency).
fn command_at(
    program: &[PathBuf],
    runtime: &Runtime,
    world: &Value,
    dry_run: bool,
    endpoint: &str,
) -> Command {
    // What the processes print goes to target/bench-logs/<program>.log, as to CloudWatch.
    let logs = workspace_root().join("target/bench-logs");
    std::fs::create_dir_all(&logs).expect("target/bench-logs");
    let name = program
        .last()
        .and_then(|p| p.parent())
        .and_then(|p| p.file_name());
    let name = name.map_or("process".into(), |n| n.to_string_lossy().into_owned());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join(format!("{name}.log")))
        .expect("a log file");
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.addr())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("DRY_RUN", dry_run.to_string())
        // The sweep runs after the key is Inactive and is paced at CloudTrail's rate: the
        // containment row measures the containment, not the sweep.
        .env("LOOKBACK_HOURS", "0")
        .env(
            "RESPONSE_PLAN_ARN",
            "arn:aws:ssm-incidents::123456789012:response-plan/keyguard-key-compromise",
        )
        .env(
            "NOTICE_TOPIC_ARN",
            world["topic"].as_str().unwrap_or_default(),
        )
        .env("SENDER_EMAIL", "keyguard@example.com")
        .env("REPORT_WAIT_SECONDS", "10")
        .env("DISCORD_WEBHOOK_SECRET_ID", "keyguard/discord-webhook")
        .env("SLACK_WEBHOOK_SECRET_ID", "keyguard/slack-webhook")
        .env("DEACTIVATE_FUNCTION_NAME", "deactivate-key")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a log file"))
        .stderr(log);
    cmd
}

fn boto3() -> Vec<PathBuf> {
    vec![
        moto::python(),
        workspace_root().join("tools/bench_boto3_lambda.py"),
    ]
}

/// The demo's account (users, ledger table, topic, webhook secrets) in a reset moto.
pub fn world() -> Value {
    moto::shared().reset();
    crate::tool::run("demo_world.py", &["setup", &moto::shared().endpoint])
}

fn event(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join(path)).expect("read an event");
    serde_json::from_str(&text).expect("events/ holds JSON")
}

/// Seed 000's event (a CloudTrail call by `user` with `key`), unique per invocation.
fn containment_event(user: &str, key: &str) -> Value {
    let mut e = event("events/deactivate-key/cloudtrail-iam-user.json");
    e["id"] = keyguard_testkit::unique("event").into();
    e["detail"]["eventID"] = keyguard_testkit::unique("call").into();
    let identity = &mut e["detail"]["userIdentity"];
    identity["userName"] = user.into();
    identity["accessKeyId"] = key.into();
    identity["arn"] = format!("arn:aws:iam::123456789012:user/{user}").into();
    e
}

async fn victim(iam: &aws_sdk_iam::Client) -> (String, String) {
    let user = keyguard_testkit::iam::user(iam, &[("UserType", "employee")]).await;
    let (key, _) = keyguard_testkit::iam::key(iam, &user).await;
    (user, key)
}

fn wait(runtime: &Runtime, what: &str) -> Outcome {
    runtime
        .result(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("{what}: no result within 60 s"))
}

/// Containment, warm: event in → key Inactive, and the AWS calls each one made.
pub async fn containment_rows(iam: &aws_sdk_iam::Client, world: &Value) {
    let ours = containments(iam, world, &[bootstrap("deactivate-key")], None).await;
    let theirs = containments(iam, world, &boto3(), None).await;
    let n = CONTAINMENTS;
    for (name, p) in [("p50", 50.0), ("p99", 99.0)] {
        row(
            &format!("containment: {name} event → key Inactive (ms)"),
            &n.to_string(),
            percentile(&ours.millis, p),
            percentile(&theirs.millis, p),
            1,
            Better::Lower,
        );
    }
    let per = |calls: &BTreeMap<String, u64>, f: &dyn Fn(&str) -> bool| {
        calls
            .iter()
            .filter(|(k, _)| f(k))
            .map(|(_, v)| *v)
            .sum::<u64>() as f64
            / n as f64
    };
    let write = |k: &str| k == "iam:UpdateAccessKey";
    let iam_read = |k: &str| k.starts_with("iam:") && !write(k);
    let other = |k: &str| !k.starts_with("iam:");
    for (name, f) in [
        ("IAM writes", &write as &dyn Fn(&str) -> bool),
        ("IAM reads", &iam_read),
        ("other AWS calls (ledger)", &other),
    ] {
        row(
            &format!("containment: {name} per key"),
            &n.to_string(),
            per(&ours.calls, f),
            per(&theirs.calls, f),
            1,
            Better::Lower,
        );
    }
}

/// A proxy in front of moto that faults nothing and adds the latency model to every call
/// (`BENCH_LATENCY`, else [`keyguard_testkit::latency::Latency::aws`]), and the model's
/// IAM round trip.
pub fn aws_like(seed: u64) -> (keyguard_testkit::faults::FaultProxy, Duration) {
    let model = match std::env::var("BENCH_LATENCY") {
        Ok(spec) => keyguard_testkit::latency::Latency::parse(&spec)
            .unwrap_or_else(|e| panic!("BENCH_LATENCY: {e}")),
        Err(_) => keyguard_testkit::latency::Latency::aws(),
    };
    let iam = model.base("iam");
    let proxy = keyguard_testkit::faults::FaultProxy::start(&moto::shared().endpoint, 0.0, seed);
    proxy.set_latency(Some(model));
    (proxy, iam)
}

/// Containment under a model of AWS's latency ([`aws_like`]): the time until
/// IAM's answer to `UpdateAccessKey` (the key is Inactive) and until the result, beside
/// the seed's handler, and keyguard's time to Inactive beside the floor a safe
/// containment cannot beat: one IAM read (whose key, whether exempt), then the write.
pub async fn latency_rows(iam: &aws_sdk_iam::Client, world: &Value) {
    let (proxy, iam_trip) = aws_like(1);
    let floor = iam_trip.as_secs_f64() * 2.0 * 1000.0;
    let ours = containments(iam, world, &[bootstrap("deactivate-key")], Some(&proxy)).await;
    let theirs = containments(iam, world, &boto3(), Some(&proxy)).await;
    let n = CONTAINMENTS.to_string();
    row(
        "containment, AWS-like latency: p50 event → key Inactive (ms)",
        &n,
        median(&ours.inactive),
        median(&theirs.inactive),
        1,
        Better::Lower,
    );
    row(
        "containment, AWS-like latency: p50 event → result (ms)",
        &n,
        median(&ours.millis),
        median(&theirs.millis),
        1,
        Better::Lower,
    );
    row(
        "containment, AWS-like latency: p50 → key Inactive vs the safe floor (2 IAM round trips)",
        &n,
        median(&ours.inactive),
        floor,
        1,
        Better::Lower,
    );
}

struct Containments {
    millis: Vec<f64>,
    /// Event → IAM's answer to the key's write, where a proxy saw it.
    inactive: Vec<f64>,
    calls: BTreeMap<String, u64>,
}

async fn containments(
    iam: &aws_sdk_iam::Client,
    world: &Value,
    program: &[PathBuf],
    proxy: Option<&keyguard_testkit::faults::FaultProxy>,
) -> Containments {
    let m = moto::shared();
    let runtime = Runtime::start();
    let endpoint = proxy.map_or_else(|| m.endpoint.clone(), |p| p.endpoint());
    let _process = Process::start(command_at(program, &runtime, world, false, &endpoint));
    let mut out = Containments {
        millis: Vec::with_capacity(CONTAINMENTS),
        inactive: Vec::with_capacity(CONTAINMENTS),
        calls: BTreeMap::new(),
    };
    for i in 0..WARM_UP + CONTAINMENTS {
        let (user, key) = victim(iam).await;
        m.reset_requests();
        if let Some(p) = proxy {
            p.forget_answers();
        }
        let started = Instant::now();
        let (took, outcome) =
            tokio::task::block_in_place(|| runtime.invoke(&containment_event(&user, &key)));
        let written = proxy.and_then(|p| p.answered("UpdateAccessKey"));
        let calls = m.requests_by_action();
        assert!(
            !outcome.error && outcome.body["statusCode"] == 200,
            "{program:?}: {:?}",
            outcome.body
        );
        let status = keyguard_testkit::iam::statuses(iam, &user).await;
        assert_eq!(status.get(&key).map(String::as_str), Some("Inactive"));
        if i >= WARM_UP {
            out.millis.push(took.as_secs_f64() * 1000.0);
            if let Some(at) = written {
                out.inactive
                    .push(at.saturating_duration_since(started).as_secs_f64() * 1000.0);
            }
            for (k, v) in calls {
                *out.calls.entry(k).or_default() += v;
            }
        }
    }
    out
}

/// Process start → first result, the median of several starts, each function with an
/// event of its own (deactivate-key acting for real on a fresh key; the others in dry run,
/// so that every start finds the same world). The figure includes that event's work:
/// age-rotation's is a scan of the demo's users.
pub async fn cold_start_rows(iam: &aws_sdk_iam::Client, world: &Value) {
    let mut baseline = Vec::new();
    for _ in 0..COLD_STARTS {
        let (user, key) = victim(iam).await;
        baseline.push(cold_start(
            &boto3(),
            world,
            false,
            &containment_event(&user, &key),
        ));
    }
    let baseline = median(&baseline);
    for function in FUNCTIONS {
        let mut ours = Vec::new();
        for _ in 0..COLD_STARTS {
            let (event, dry_run) = match function {
                "deactivate-key" => {
                    let (user, key) = victim(iam).await;
                    (containment_event(&user, &key), false)
                }
                _ => (first_event(function, world), true),
            };
            ours.push(cold_start(&[bootstrap(function)], world, dry_run, &event));
        }
        row(
            &format!("cold start: {function} → first result (ms)"),
            &format!("median of {COLD_STARTS}"),
            median(&ours),
            baseline,
            0,
            Better::Lower,
        );
    }
}

fn first_event(function: &str, world: &Value) -> Value {
    let text =
        |path: &str| std::fs::read_to_string(workspace_root().join(path)).expect("read an event");
    let field = |k: &str| world[k].as_str().unwrap_or_default().to_owned();
    let parse = |json: String| serde_json::from_str(&json).expect("events/ holds JSON");
    match function {
        "guardduty-translator" => parse(
            text("events/guardduty-translator/iam-user.json")
                .replace("AKIAIOSFODNN7EXAMPLE", &field("carol_leaked"))
                .replace("\"alice\"", "\"carol\"")
                .replace("user/alice", "user/carol"),
        ),
        "age-rotation" => event("events/age-rotation/schedule.json"),
        "createkey-detector" => parse(
            text("events/createkey-detector/backdoor-key.json")
                .replace("AKIAIOSFODNN7EXAMPLE", &field("ci_leaked"))
                .replace("AKIAI44QH8DHBEXAMPLE", &field("admin_backdoor")),
        ),
        // The rotation's first step rather than the sweep, which reads every user of the
        // account: a cold start, not a scan.
        _ => {
            let mut step = event("events/secrets-rotator/create-secret.json");
            step["SecretId"] = field("dave_secret").into();
            step
        }
    }
}

/// Milliseconds from spawning the process (its event already waiting) to its first result.
fn cold_start(program: &[PathBuf], world: &Value, dry_run: bool, event: &Value) -> f64 {
    let runtime = Runtime::start();
    runtime.queue(event);
    let cmd = command(program, &runtime, world, dry_run);
    let started = Instant::now();
    let _process = Process::start(cmd);
    let outcome = tokio::task::block_in_place(|| wait(&runtime, &format!("{program:?}")));
    let status = outcome.body["statusCode"].as_u64().unwrap_or_default();
    assert!(
        !outcome.error && (200..300).contains(&status),
        "{program:?}: {:?}",
        outcome.body
    );
    outcome.at.duration_since(started).as_secs_f64() * 1000.0
}
