//! `keyguard`: look at events the way the functions will, without calling AWS.
//!
//! - `keyguard parse FILE...`: one JSON line per file, its kind or its error.
//! - `keyguard plan --function NAME [--facts FILE] FILE`: the plan a function would make.
//! - `keyguard scan [--apply [--yes]]`: age-rotation's scan against the configured
//!   account; it only looks unless `--apply` is given.
//! - `keyguard replay PATH...`: createkey-detector's rules over CloudTrail log files.
//! - `keyguard canary create|list|delete`: decoy keys whose every use is an alarm.
//! - `keyguard audit`, `keyguard undo`: what keyguard did, and taking a containment back.
//! - `keyguard completions bash|zsh|fish`: a shell completion script on stdout.
//!
//! Exit codes: 0 success, 1 a step failed (scan), 2 invalid input or configuration. Never a
//! panic (101).

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[cfg(feature = "aws")]
mod audit;
#[cfg(feature = "aws")]
mod canary;
mod facts;
#[cfg(feature = "aws")]
mod ledger;
mod output;
mod replay;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "aws")]
mod scan;
#[cfg(feature = "aws")]
mod undo;

#[derive(Parser)]
#[command(
    name = "keyguard",
    version,
    about = "keyguard: detection and response for AWS IAM access keys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse event files and print each one's kind or error, one JSON line per file.
    #[command(after_help = "Example:\n  keyguard parse events/deactivate-key/*.json")]
    Parse {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the plan a function would make for an event, without calling AWS.
    #[command(
        after_help = "Example:\n  keyguard plan --function deactivate-key --facts events/deactivate-key/facts.json \\\n    --now 2026-11-23T12:00:00Z events/deactivate-key/handoff.json"
    )]
    Plan {
        #[arg(long, value_enum)]
        function: Function,
        /// JSON with what the function would otherwise read from AWS (see docs/deactivate-key.md, "keyguard plan").
        #[arg(long)]
        facts: Option<PathBuf>,
        /// The time to decide at (RFC 3339); default now.
        #[arg(long)]
        now: Option<String>,
        /// `table` or `json`; by default a table on a terminal, JSON when piped.
        #[arg(long, value_enum)]
        output: Option<output::Format>,
        file: PathBuf,
    },
    /// Run createkey-detector's rules over CloudTrail log files (`.json`, `.json.gz`,
    /// directories): one JSON line per finding, a summary on stderr. Configuration from
    /// the environment (THREAT_CIDRS, MANY_INSTANCES, ...). A progress bar with rate
    /// and ETA on stderr when it is a terminal.
    #[command(
        after_help = "Example:\n  THREAT_CIDRS=203.0.113.0/24 keyguard replay ~/cloudtrail/2026/12/ > findings.jsonl"
    )]
    Replay {
        /// Files, folders (walked recursively) or `s3://BUCKET/PREFIX` (a trail's
        /// bucket, read in place).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The most bytes one record may hold; a larger one is skipped and named, so one
        /// hostile record cannot bloat the replay.
        #[arg(long, default_value_t = keyguard_core::events::DEFAULT_MAX_RECORD_BYTES)]
        max_record_bytes: usize,
        /// `keyguard` (its own JSON lines) or `ocsf` (OCSF Detection Findings, class 2004).
        #[arg(long, value_enum, default_value = "keyguard")]
        format: replay::Lines,
        /// Files read at once; the findings and their order do not depend on it.
        /// Default: the machine's cores (at least 4 when reading S3).
        #[arg(long)]
        jobs: Option<std::num::NonZeroUsize>,
        /// Only records at or after this day or time (2026-12-01, 2026-12-01T10:00:00Z).
        /// Log files that cannot hold one are not read (in S3, not listed or fetched).
        #[arg(long, value_parser = replay::window::parse_bound)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only records before this day or time (exclusive).
        #[arg(long, value_parser = replay::window::parse_bound)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Only this account's records (repeat for several).
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// Only this Region's records (repeat for several).
        #[arg(long = "region")]
        regions: Vec<String>,
    },
    /// Print the keys by stage and what age-rotation would do, against the account the
    /// environment names (configuration as for the Lambda: SENDER_EMAIL, LEDGER_TABLE,
    /// ...). It only looks: --apply acts, after showing the plan and asking.
    #[cfg(feature = "aws")]
    #[command(
        after_help = "Example:\n  SENDER_EMAIL=keyguard@example.com LEDGER_TABLE=keyguard-ledger keyguard scan"
    )]
    Scan {
        /// Act on the plan (deactivate, delete, email) with your credentials, after
        /// showing it and asking.
        #[arg(long)]
        apply: bool,
        /// With --apply: do not ask (for scripts).
        #[arg(long, requires = "apply")]
        yes: bool,
        /// The default, kept for old scripts: plan and print, apply nothing.
        #[arg(long, conflicts_with = "apply", hide = true)]
        dry_run: bool,
        /// `table` (the default, as before, piped or not) or `json` (the run's report).
        #[arg(long, value_enum)]
        output: Option<output::Format>,
    },
    /// keyguard's timeline from the ledger (LEDGER_TABLE): time, function, action,
    /// outcome, event, source (or who undid it) and reason, oldest first. A table on a
    /// terminal, JSON lines when piped.
    #[cfg(feature = "aws")]
    #[command(
        after_help = "Example:\n  LEDGER_TABLE=keyguard-ledger keyguard audit --key AKIAIOSFODNN7EXAMPLE"
    )]
    Audit {
        #[command(flatten)]
        whose: Whose,
        /// Every step since this time (RFC 3339).
        #[arg(long, group = "whose")]
        since: Option<String>,
        /// `table` or `json` (lines); by default a table on a terminal, JSON when piped.
        #[arg(long, value_enum, alias = "output")]
        format: Option<audit::Format>,
    },
    /// Reverse what keyguard's containment did for an event or a key: re-activate a key
    /// it deactivated (if nobody changed it since) and take back its revocation policy.
    /// Refuses, saying why, whatever it cannot prove it did.
    #[cfg(feature = "aws")]
    #[command(
        after_help = "Example:\n  LEDGER_TABLE=keyguard-ledger keyguard undo --key AKIAIOSFODNN7EXAMPLE \\\n    --reason \"nightly export key, rotated on schedule\" --dry-run"
    )]
    Undo {
        #[command(flatten)]
        whose: Whose,
        /// Why: recorded in the ledger with your identity, and in the notice.
        #[arg(long)]
        reason: String,
        /// Print what it would do, and do nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Decoy keys: an IAM user that may do nothing and one access key, planted where
    /// real keys leak; any use of one is a critical alert, and keyguard never contains it.
    #[cfg(feature = "aws")]
    #[command(
        after_help = "Example:\n  keyguard canary create ci-secrets --out ./canary-credentials\n  keyguard canary list"
    )]
    Canary {
        #[command(subcommand)]
        command: CanaryCommand,
    },
    /// Print a completion script for a shell on stdout.
    #[command(
        after_help = "Example:\n  keyguard completions bash > /etc/bash_completion.d/keyguard\n  keyguard completions zsh > \"${fpath[1]}/_keyguard\""
    )]
    Completions { shell: clap_complete::Shell },
}

#[cfg(feature = "aws")]
#[derive(Subcommand)]
enum CanaryCommand {
    /// Make canary NAME (user keyguard-canary-NAME under /keyguard/canary/, denied
    /// everything, one key). The credentials go to a new file (mode 0600, credentials
    /// format) or a new secret, never to the screen. A canary that exists is left as is.
    #[command(group(clap::ArgGroup::new("to").required(true).args(["out", "secret_id"])))]
    #[command(
        after_help = "Example:\n  keyguard canary create ci-secrets --out ./canary-credentials"
    )]
    Create {
        name: String,
        /// A new file to write the credentials to (never overwritten).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The profile name in that file.
        #[arg(long, default_value = "default", requires = "out")]
        profile: String,
        /// A new Secrets Manager secret to hold the credentials instead.
        #[arg(long)]
        secret_id: Option<String>,
    },
    /// Every canary key: its user, id, status, creation and last use (one JSON line each).
    #[command(after_help = "Example:\n  keyguard canary list")]
    List,
    /// Remove canary NAME: its keys, its deny policy, its user. Only a canary.
    #[command(after_help = "Example:\n  keyguard canary delete ci-secrets")]
    Delete { name: String },
}

/// Whose steps: exactly one of these (or, for audit, --since).
#[derive(clap::Args)]
#[group(id = "whose", required = true, multiple = false)]
struct Whose {
    /// An access key id.
    #[arg(long)]
    key: Option<String>,
    /// An IAM user name (audit only).
    #[arg(long)]
    user: Option<String>,
    /// The event id keyguard keyed the steps on (the EventBridge id, a GuardDuty
    /// finding's id, a hand-off's).
    #[arg(long)]
    event: Option<String>,
}

#[cfg(feature = "aws")]
impl Whose {
    fn find(&self, since: Option<&str>) -> Result<keyguard_aws::history::Find, InputError> {
        use keyguard_aws::history::Find;
        if let Some(raw) = since {
            let t = keyguard_core::parse_time(raw)
                .ok_or_else(|| InputError(format!("--since: not a time: {raw:?}")))?;
            return Ok(Find::Since(t));
        }
        match (&self.key, &self.user, &self.event) {
            (Some(k), _, _) => keyguard_core::AccessKeyId::parse(k)
                .map(|k| Find::Key(k.to_string()))
                .map_err(|e| InputError(format!("--key: {e}"))),
            (_, Some(u), _) => Ok(Find::User(u.clone())),
            (_, _, Some(e)) => Ok(Find::Event(e.clone())),
            _ => Err(InputError("name a --key, --user or --event".into())),
        }
    }
}

/// A command's answer to its exit code: 0 when all went, 1 when not, 2 for bad input.
#[cfg(feature = "aws")]
fn exit(result: Result<bool, InputError>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(InputError(e)) => {
            eprintln!("keyguard: {e}");
            ExitCode::from(2)
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Function {
    DeactivateKey,
    GuarddutyTranslator,
    SecretsRotator,
    AgeRotation,
    CreatekeyDetector,
}

/// Prints a line; a closed stdout (`keyguard plan … | head`) ends the output quietly
/// instead of panicking.
fn emit(line: &dyn std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// A failure that is the input's fault: printed, exit 2.
struct InputError(String);

fn read(path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

fn parse_files(files: &[PathBuf]) -> ExitCode {
    let mut all_ok = true;
    for file in files {
        let name = file.display().to_string();
        let line = match read(file)
            .and_then(|b| keyguard_core::parse(&b).map_err(|e| InputError(e.to_string())))
        {
            Ok(t) => json!({"file": name, "kind": t.kind()}),
            Err(InputError(e)) => {
                all_ok = false;
                json!({"file": name, "error": e})
            }
        };
        emit(&line);
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn plan(
    function: Function,
    facts_file: Option<&Path>,
    now: Option<&str>,
    file: &Path,
) -> Result<Value, InputError> {
    let now = match now {
        Some(raw) => keyguard_core::parse_time(raw)
            .ok_or_else(|| InputError(format!("--now: not a time: {raw:?}")))?,
        None => chrono::Utc::now(),
    };
    let bytes = read(file)?;
    let raw: Value = serde_json::from_slice(&bytes)
        .map_err(|e| InputError(format!("{}: {e}", file.display())))?;
    let trigger = keyguard_core::parse_value(&raw)
        .map_err(|e| InputError(format!("{}: {e}", file.display())))?;
    let facts = match facts_file {
        Some(f) => facts::Supplied::read(&read(f)?)
            .map_err(|e| InputError(format!("{}: {e}", f.display())))?,
        None => facts::Supplied::default(),
    };
    let plan = facts::plan(function, &trigger, &raw, &facts, now)?;
    serde_json::to_value(&plan).map_err(|e| InputError(e.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Parse { files } => parse_files(&files),
        Command::Replay {
            paths,
            max_record_bytes,
            format,
            jobs,
            since,
            until,
            accounts,
            regions,
        } => {
            // Replay judges records, it contains nothing: it needs no identity.
            let cfg = match keyguard_core::policy::detector::DetectorConfig::from_env(
                &keyguard_core::config::process_env,
                keyguard_core::guard::SelfIdentity::default(),
            ) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("keyguard: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = replay::Options {
                max_record_bytes,
                lines: format,
                jobs: jobs.map(std::num::NonZeroUsize::get),
                window: replay::window::Window {
                    since,
                    until,
                    accounts,
                    regions,
                },
            };
            match replay::replay(&paths, &cfg, &opts) {
                Ok(s) => {
                    eprintln!(
                        "keyguard replay: {} file(s), {} record(s), {} unreadable, {} path(s) not read whole, {} outside the window, findings: {:?}",
                        s.files, s.records, s.unreadable, s.unreadable_paths, s.outside, s.by_rule
                    );
                    // Findings stand either way; 1 says some of the input was not read.
                    if s.unreadable_paths > 0 {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(InputError(e)) => {
                    eprintln!("keyguard: {e}");
                    ExitCode::from(2)
                }
            }
        }
        #[cfg(feature = "aws")]
        Command::Scan {
            apply, yes, output, ..
        } => exit(scan::scan(
            apply,
            yes,
            output.unwrap_or(output::Format::Table),
        )),
        #[cfg(feature = "aws")]
        Command::Audit {
            whose,
            since,
            format,
        } => exit(
            whose
                .find(since.as_deref())
                .and_then(|f| audit::audit(f, format)),
        ),
        #[cfg(feature = "aws")]
        Command::Undo {
            whose,
            reason,
            dry_run,
        } => exit(match whose.user {
            Some(_) => Err(InputError(
                "undo takes --key or --event: a user's every containment is too much to reverse at once".into(),
            )),
            None => whose.find(None).and_then(|f| undo::undo(f, &reason, dry_run)),
        }),
        #[cfg(feature = "aws")]
        Command::Canary { command } => exit(match command {
            CanaryCommand::Create {
                name,
                out,
                profile,
                secret_id,
            } => match (out, secret_id) {
                (Some(path), _) => canary::create(&name, canary::Destination::File { path, profile }),
                (None, Some(id)) => canary::create(&name, canary::Destination::Secret { id }),
                (None, None) => Err(InputError("name --out FILE or --secret-id ID".into())),
            },
            CanaryCommand::List => canary::list(),
            CanaryCommand::Delete { name } => canary::delete(&name),
        }),
        Command::Completions { shell } => {
            // Made in memory, then written: a closed stdout (`| head`) is not a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "keyguard", &mut script);
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(&script);
            ExitCode::SUCCESS
        }
        Command::Plan {
            function,
            facts,
            now,
            output,
            file,
        } => match plan(function, facts.as_deref(), now.as_deref(), &file) {
            Ok(plan) => {
                match output::Format::chosen(output) {
                    output::Format::Json => emit(&format!("{plan:#}")),
                    output::Format::Table => emit(&output::plan_table(&plan).trim_end()),
                }
                ExitCode::SUCCESS
            }
            Err(InputError(e)) => {
                eprintln!("keyguard: {e}");
                ExitCode::from(2)
            }
        },
    }
}
