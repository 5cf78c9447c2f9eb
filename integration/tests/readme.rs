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
    let first_screen: Vec<&str> = readme.lines().take(24).collect();
    // The first code block of the first screen holds exactly the two commands.
    let open = first_screen
        .iter()
        .position(|l| l.starts_with("```"))
        .expect("a code block on the first screen");
    let close = first_screen[open + 1..]
        .iter()
        .position(|l| l.starts_with("```"))
        .map(|i| open + 1 + i)
        .expect("the code block ends on the first screen");
    let commands: Vec<&str> = first_screen[open + 1..close]
        .iter()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        commands,
        ["scripts/lab up", "scripts/test"],
        "the two commands, in one block"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == "scripts/test"),
        ".ci/run runs the README's test command"
    );
    let test = read("scripts/test");
    assert!(
        test.contains("scripts/install-deps") && test.contains("cargo test --workspace"),
        "scripts/test installs the peers, then runs the Rust tests"
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
