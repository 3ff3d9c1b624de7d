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
