//! The README stays true: its first screen gives the two commands, CI runs
//! the test command it gives, and its configuration reference is the
//! binaries' current `--help`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::harness::{self, run};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_first_screen_gives_the_two_commands_and_ci_runs_the_test_command() {
    let readme = read("README.md");
    let first_screen: String = readme.lines().take(24).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen.contains("scripts/lab up"),
        "the command that brings up the lab"
    );
    assert!(
        first_screen.contains("cargo test --workspace"),
        "the command that runs every test"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --workspace"),
        ".ci/run runs the README's test command"
    );
    assert!(
        ci.contains("scripts/install-deps"),
        ".ci/run installs the peers first"
    );
}

#[test]
fn the_configuration_reference_is_the_binaries_help() {
    let mut cmd = Command::new(repo().join("scripts/readme-help"));
    cmd.arg("--check")
        .env("OCSPLAB_BIN_DIR", harness::bin_dir());
    let out = run(&mut cmd, Duration::from_secs(60));
    assert_eq!(
        out.code,
        Some(0),
        "README.md's configuration reference is out of date: run scripts/readme-help\n{out}"
    );
}
