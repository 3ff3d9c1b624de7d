//! What the CLI's test binaries share: running `keyguard` as a user does.

#![allow(dead_code)] // each test binary uses part of it

use std::process::Command;

/// `keyguard ARGS` from the workspace root: (exit code, stdout, stderr).
pub fn keyguard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyguard"))
        .args(args)
        .current_dir(keyguard_testkit::workspace_root())
        .output()
        .expect("run keyguard");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `keyguard plan` of deactivate-key for `event` with `facts`, at the samples' time, with
/// `extra` arguments before the event.
pub fn plan_deactivate(facts: &str, event: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "plan",
        "--function",
        "deactivate-key",
        "--facts",
        facts,
        "--now",
        "2026-11-23T12:00:00Z",
    ];
    args.extend_from_slice(extra);
    args.push(event);
    keyguard(&args)
}
