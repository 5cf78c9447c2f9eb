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
