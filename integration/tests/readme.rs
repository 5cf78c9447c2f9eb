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

/// `a/{b,c}.rs` → `a/b.rs`, `a/c.rs` (one brace group at most, as the map writes them).
fn expand(path: &str) -> Vec<String> {
    match (path.find('{'), path.find('}')) {
        (Some(open), Some(close)) if open < close => path[open + 1..close]
            .split(',')
            .map(|alt| format!("{}{alt}{}", &path[..open], &path[close + 1..]))
            .collect(),
        _ => vec![path.to_string()],
    }
}

#[test]
fn where_things_live_names_files_that_exist() {
    let readme = read("README.md");
    let start = readme
        .find("## Where things live")
        .expect("README has a \"Where things live\" section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut named = 0;
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| behaviour"))
    {
        let Some(files) = row.trim_end_matches('|').rsplit('|').next() else {
            continue;
        };
        for quoted in files.split('`').skip(1).step_by(2) {
            for path in expand(quoted) {
                let glob = path.ends_with("*.toml");
                let check = if glob {
                    path.trim_end_matches("*.toml")
                } else {
                    &path
                };
                assert!(
                    repo().join(check).exists(),
                    "README's \"Where things live\" names {path}, which does not exist: update the map"
                );
                named += 1;
            }
        }
    }
    assert!(
        named >= 30,
        "the map names {named} files; expected the whole table"
    );
}
