//! `keyguard` as a CLI people live in: completions a shell accepts, an example in every
//! subcommand's help, and the plan as a table or JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::process::Command;

mod common;

use common::{keyguard, plan_deactivate};

const SUBCOMMANDS: &[&[&str]] = &[
    &["parse"],
    &["plan"],
    &["replay"],
    &["scan"],
    &["audit"],
    &["undo"],
    &["canary"],
    &["canary", "create"],
    &["canary", "list"],
    &["canary", "delete"],
    &["completions"],
];

#[test]
fn the_bash_completion_script_is_one_bash_accepts_and_every_shell_gets_one() {
    let (code, script, err) = keyguard(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    let path =
        std::env::temp_dir().join(format!("keyguard-completion-{}.bash", std::process::id()));
    std::fs::write(&path, &script).unwrap();
    let checked = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        checked.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    for shell in ["bash", "zsh", "fish"] {
        let (code, script, err) = keyguard(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for sub in ["plan", "replay", "audit", "undo", "canary", "completions"] {
            assert!(script.contains(sub), "{shell}'s script completes no {sub}");
        }
    }
    let (code, _, err) = keyguard(&["completions", "tcsh"]);
    assert_eq!(code, 2, "an unknown shell is bad input: {err}");
}

#[test]
fn every_subcommands_help_shows_an_example() {
    for sub in SUBCOMMANDS {
        let mut args = sub.to_vec();
        args.push("--help");
        let (code, help, err) = keyguard(&args);
        assert_eq!(code, 0, "{sub:?}: {err}");
        let example = help
            .split("Example:")
            .nth(1)
            .unwrap_or_else(|| panic!("{sub:?} --help shows no example:\n{help}"));
        assert!(
            example.contains(&format!("keyguard {}", sub[0])),
            "{sub:?}'s example does not run it:\n{help}"
        );
    }
}

#[test]
fn a_plan_is_a_table_or_json_as_asked() {
    let (facts, event) = (
        "events/deactivate-key/facts.json",
        "events/deactivate-key/handoff.json",
    );
    let args = |output: &str| plan_deactivate(facts, event, &["--output", output]);
    let (code, json, err) = args("json");
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"]["type"].as_str().unwrap())
        .collect();
    let (code, table, err) = args("table");
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].ends_with(": act"), "{table}");
    assert_eq!(lines.len(), 1 + steps.len(), "{table}");
    for (line, step) in lines[1..].iter().zip(&steps) {
        assert!(line.contains(step), "{line} is not {step}");
    }
    // Piped and unasked: JSON, for scripts.
    let (_, piped, _) = plan_deactivate(facts, event, &[]);
    assert_eq!(piped, json);
}

#[test]
fn replay_shows_no_progress_bar_where_a_script_reads_stderr() {
    let (code, _, err) = keyguard(&["replay", "events/createkey-detector"]);
    assert!(code == 0 || code == 1, "{err}");
    assert!(!err.contains("ETA") && !err.contains('\r'), "{err}");
    assert!(err.contains("keyguard replay:"), "the summary stays: {err}");
}
