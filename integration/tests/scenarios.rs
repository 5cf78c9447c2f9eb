//! Every built-in QA scenario (`scenarios/*.toml`), as a test: the report
//! is printed (shown on failure) and every expectation must hold. Then the
//! `scenario` command itself: files of one's own, bad files, reports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::harness::{self, run};
use integration::scenario::{self, file};

fn play(name: &str) {
    let path = scenario::catalogue_file(name).unwrap_or_else(|| panic!("no scenario named {name}"));
    let scenario = file::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut report = Vec::new();
    let played = scenario::play(&scenario, &mut report);
    let text = String::from_utf8_lossy(&report);
    println!("{text}");
    if let Some(reason) = &played.skipped {
        harness::skip(&format!("scenario {name}: {reason}"));
        return;
    }
    assert!(played.passed(), "scenario {name} failed:\n{text}");
}

macro_rules! scenarios {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                play($name);
            }
        )*

        #[test]
        fn every_scenario_file_has_a_test_and_is_named_after_its_file() {
            let tested = [$($name),*];
            let all = scenario::catalogue().unwrap_or_else(|errors| {
                panic!("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
            });
            assert_eq!(all.len(), tested.len(), "one test per file of scenarios/");
            for s in all {
                assert!(tested.contains(&s.name.as_str()), "scenario {} has no test", s.name);
                assert_eq!(
                    s.path.file_stem().and_then(|n| n.to_str()),
                    Some(s.name.as_str()),
                    "scenarios/NAME.toml is named NAME"
                );
            }
        }
    };
}

scenarios! {
    good => "good",
    revoked => "revoked",
    revoked_key_compromise_backdated => "revoked-key-compromise-backdated",
    expired_cert => "expired-cert",
    stale_response => "stale-response",
    responder_down => "responder-down",
    responder_recovers => "responder-recovers",
    try_later => "try-later",
    internal_error => "internal-error",
    unauthorized => "unauthorized",
    bad_signature => "bad-signature",
    wrong_signer => "wrong-signer",
    expired_signer => "expired-signer",
    signer_without_eku => "signer-without-eku",
    wrong_cert_id => "wrong-cert-id",
    missing_issuer => "missing-issuer",
    no_aia => "no-aia",
    must_staple => "must-staple",
    unknown_cert => "unknown-cert",
    nginx_good => "nginx-good",
    nginx_revoked => "nginx-revoked",
    nginx_missing_issuer => "nginx-missing-issuer",
    apache_good => "apache-good",
    apache_revoked => "apache-revoked",
    apache_stale_staple => "apache-stale-staple",
    apache_missing_issuer => "apache-missing-issuer",
}

/// A PATH without any program: every scenario's peer is missing.
fn empty_path() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn a_scenario_that_cannot_run_says_skip_not_pass() {
    let path = empty_path();
    let mut cmd = Command::new(scenario_bin());
    cmd.arg("good").env("PATH", path.path()).env_remove("CI");
    let out = harness::run(&mut cmd, Duration::from_secs(60));
    assert_eq!(
        out.code,
        Some(0),
        "skipped is not a failure outside CI:\n{out}"
    );
    assert!(
        out.stdout.contains("skipped: openssl is not installed")
            && out.stdout.contains("result: SKIP")
            && !out.stdout.contains("PASS")
            && out
                .stdout
                .contains("scenario: 0 passed, 0 failed, 1 skipped"),
        "{out}"
    );

    cmd.env("CI", "true");
    let out = harness::run(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.code, Some(1), "under CI a skip fails:\n{out}");
    assert!(out.stderr.contains("skipped, and CI is set"), "{out}");
}

#[test]
fn a_skipped_test_is_recorded_as_skipped_and_fails_under_ci() {
    // This test binary again, running only the `good` scenario's test, with no openssl on PATH.
    let path = empty_path();
    let log = path.path().join("skipped.log");
    let me = std::env::current_exe().expect("test executable");
    let mut cmd = Command::new(&me);
    cmd.args(["good", "--exact", "--nocapture"])
        .env("PATH", path.path())
        .env(harness::SKIP_LOG, &log)
        .env_remove("CI");
    let out = harness::run(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stderr
            .contains("skipped: scenario good: openssl is not installed"),
        "the skip is said:\n{out}"
    );
    let recorded = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        recorded.lines().count(),
        1,
        "one skip recorded: {recorded:?}"
    );

    cmd.env("CI", "true");
    let out = harness::run(&mut cmd, Duration::from_secs(60));
    assert_ne!(out.code, Some(0), "under CI a skip fails:\n{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("skipped, and CI is set"),
        "{out}"
    );
}

fn scenario_bin() -> PathBuf {
    harness::bin_dir().join("scenario")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The scenario file of the README's section "QA: console, API, scenario files".
fn readme_example() -> String {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("QA: console, API, scenario files"))
        .expect("README.md has a section \"QA: console, API, scenario files\"");
    let start = section
        .find("```toml\n")
        .expect("a ```toml block in the section")
        + 8;
    let end = start + section[start..].find("```").expect("the block ends");
    section[start..end].to_string()
}

#[test]
fn the_readme_example_runs_and_passes_and_the_reports_have_one_testcase_per_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = readme_example();
    assert!(example.contains("[[step]]"), "{example}");
    std::fs::write(dir.path().join("my-case.toml"), &example).expect("write");
    // A second file whose expectation cannot hold: its failure is reported, not hidden.
    std::fs::write(
        dir.path().join("wrong.toml"),
        "description = \"expects revoked from a good staple\"\n\
         [[step]]\nstart = \"responder\"\n[[step]]\nstart = \"stapler\"\n\
         [[step]]\nexpect.stapler-check = \"revoked\"\n",
    )
    .expect("write");
    let (junit, json) = (
        dir.path().join("report.xml"),
        dir.path().join("report.json"),
    );

    let mut alone = Command::new(scenario_bin());
    alone.arg("--file").arg(dir.path().join("my-case.toml"));
    let out = run(&mut alone, Duration::from_secs(180));
    if out.stdout.contains("result: SKIP") {
        harness::skip(&format!("the README's scenario was skipped:\n{out}"));
        return;
    }
    assert_eq!(out.code, Some(0), "the README's example passes:\n{out}");
    assert!(
        out.stdout.contains("result: PASS")
            && out
                .stdout
                .contains("scenario: 1 passed, 0 failed, 0 skipped"),
        "{out}"
    );

    let mut both = Command::new(scenario_bin());
    both.arg("--file")
        .arg(dir.path())
        .arg("--junit")
        .arg(&junit)
        .arg("--json")
        .arg(&json);
    let out = run(&mut both, Duration::from_secs(300));
    assert_eq!(
        out.code,
        Some(1),
        "a failed expectation fails the run:\n{out}"
    );
    assert!(
        out.stdout
            .contains("scenario: 1 passed, 1 failed, 0 skipped"),
        "{out}"
    );

    let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
    let doc =
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("well-formed XML: {e}\n{xml}"));
    let cases: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2, "one testcase per scenario run:\n{xml}");
    let case = |name: &str| {
        *cases
            .iter()
            .find(|c| c.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("no testcase {name}:\n{xml}"))
    };
    let passed = case("my-case");
    assert!(
        !passed
            .children()
            .any(|n| n.has_tag_name("failure") || n.has_tag_name("skipped")),
        "{xml}"
    );
    let steps = passed
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .and_then(|n| n.text())
        .unwrap_or_default();
    assert!(
        steps.contains("[1] start the responder") && steps.contains("result: PASS"),
        "its steps in system-out:\n{xml}"
    );
    let failure = case("wrong")
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("a failure");
    let message = failure.attribute("message").unwrap_or_default();
    assert!(
        message.starts_with("stapler check: expected revoked; observed stapler check")
            && message.contains("exit 0"),
        "the expectation that failed, expected and observed: {message}"
    );

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("JSON");
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let wrong = &report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .find(|s| s["name"] == "wrong")
        .cloned()
        .unwrap_or_default();
    assert_eq!(wrong["verdict"], "fail");
    assert_eq!(wrong["failures"][0]["line"], 7, "{report}");
    assert_eq!(wrong["failures"][0]["expected"], "revoked", "{report}");
}

#[test]
fn a_bad_file_names_file_line_and_field_and_nothing_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("a-good.toml");
    let bad = dir.path().join("b-bad.toml");
    std::fs::write(
        &good,
        "description = \"fine\"\n[[step]]\nstart = \"responder\"\n",
    )
    .expect("write");
    std::fs::write(
        &bad,
        "description = \"a typo\"\n[[step]]\nstart = \"responder\"\n\n[[step]]\nexpect.firefox = \"good\"\n",
    )
    .expect("write");
    let junit = dir.path().join("report.xml");
    let mut cmd = Command::new(scenario_bin());
    cmd.arg("--file")
        .arg(&good)
        .arg("--file")
        .arg(&bad)
        .arg("--junit")
        .arg(&junit);
    let out = run(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.code, Some(2), "{out}");
    let first = out.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("{}:6:", bad.display()))
            && first.contains("expect.firefox")
            && first.contains("unknown field `firefox`"),
        "file:line:field: {out}"
    );
    assert!(out.stderr.contains("nothing ran"), "{out}");
    assert!(
        !out.stdout.contains("scenario a-good"),
        "the good file did not run either: {out}"
    );
    assert!(!junit.exists(), "no report of a run that did not happen");

    let mut cmd = Command::new(scenario_bin());
    cmd.arg("--bogus");
    let out = run(&mut cmd, Duration::from_secs(60));
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr.contains("unknown option '--bogus'") && out.stderr.contains("usage"),
        "{out}"
    );
    let mut script = Command::new(repo().join("scripts/scenario"));
    script
        .args(["good", "--junit"])
        .env("OCSPLAB_BIN_DIR", harness::bin_dir());
    let out = run(&mut script, Duration::from_secs(60));
    assert_eq!(out.code, Some(2), "{out}");
    assert!(
        out.stderr.contains("--junit needs a path") && out.stderr.contains("usage"),
        "{out}"
    );
}
