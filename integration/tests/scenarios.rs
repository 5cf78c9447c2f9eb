//! Every QA scenario of the catalogue, as a test: the report is printed
//! (shown on failure) and every expectation must hold.

use integration::scenario::{CATALOGUE, find};

fn play(name: &str) {
    let scenario = find(name).unwrap_or_else(|| panic!("no scenario named {name}"));
    let mut report = Vec::new();
    let outcome = scenario.play(&mut report);
    let text = String::from_utf8_lossy(&report);
    println!("{text}");
    if let Some(reason) = &outcome.skipped {
        integration::harness::skip(&format!("scenario {name}: {reason}"));
        return;
    }
    assert!(outcome.passed(), "scenario {name} failed:\n{text}");
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
        fn every_scenario_of_the_catalogue_has_a_test() {
            let tested = [$($name),*];
            for s in CATALOGUE {
                assert!(tested.contains(&s.name), "scenario {} has no test", s.name);
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
    let scenario = integration::harness::bin_dir().join("scenario");
    let mut cmd = std::process::Command::new(&scenario);
    cmd.arg("good").env("PATH", path.path()).env_remove("CI");
    let out = integration::harness::run(&mut cmd, std::time::Duration::from_secs(60));
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
    let out = integration::harness::run(&mut cmd, std::time::Duration::from_secs(60));
    assert_eq!(out.code, Some(1), "under CI a skip fails:\n{out}");
    assert!(out.stderr.contains("skipped, and CI is set"), "{out}");
}

#[test]
fn a_skipped_test_is_recorded_as_skipped_and_fails_under_ci() {
    // This test binary again, running only the `good` scenario's test, with no openssl on PATH.
    let path = empty_path();
    let log = path.path().join("skipped.log");
    let me = std::env::current_exe().expect("test executable");
    let mut cmd = std::process::Command::new(&me);
    cmd.args(["good", "--exact", "--nocapture"])
        .env("PATH", path.path())
        .env(integration::harness::SKIP_LOG, &log)
        .env_remove("CI");
    let out = integration::harness::run(&mut cmd, std::time::Duration::from_secs(60));
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
    let out = integration::harness::run(&mut cmd, std::time::Duration::from_secs(60));
    assert_ne!(out.code, Some(0), "under CI a skip fails:\n{out}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("skipped, and CI is set"),
        "{out}"
    );
}
