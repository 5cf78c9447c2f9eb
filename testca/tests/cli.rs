//! The `testca` command line as a user sees it: exit codes, messages, files,
//! and the certificates as OpenSSL (not rcgen) reads them.

mod common;

use std::fs;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::backend::{Backend, WriteLockHolder};
use common::{
    Lab, Out, block_on, ca_issuers, crl_uris, extension, hex_upper, load_cert, load_certs, mode,
    ocsp_uris, openssl_text, runtime, sans, serial_of, testca, tree, verify,
};
use labcore::RevocationReason;
use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::x509::X509VerifyResult;
use testca::store::DatabaseUrl;
use testca::{RevocationStatus, Serial};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const ROOT: &str = "ca/root/cert.pem";
const INTERMEDIATE: &str = "ca/intermediate/cert.pem";
const INTERMEDIATE_SIGNER: &str = "ca/intermediate/ocsp-signer/cert.pem";
const ROOT_SIGNER: &str = "ca/root/ocsp-signer/cert.pem";
const LOCALHOST: &str = "certs/localhost/cert.pem";
const LOCALHOST_CHAIN: &str = "certs/localhost/chain.pem";

/// Verifies `certs/NAME` against the lab's root with its own chain.pem.
#[track_caller]
fn assert_leaf_verifies(lab: &Lab, name: &str) {
    let dir = format!("certs/{name}");
    verify(
        &lab.path(ROOT),
        &lab.path(&format!("{dir}/chain.pem")),
        &lab.path(&format!("{dir}/cert.pem")),
    )
    .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
}

/// `testca issue ARGS`: the serial printed on stdout.
fn issue(lab: &Lab, args: &[&str]) -> String {
    let mut all = vec!["issue"];
    all.extend_from_slice(args);
    let out = lab.run(&all).success();
    let serial = out.stdout.trim().to_string();
    assert_eq!(
        out.stdout,
        format!("{serial}\n"),
        "only the serial on stdout"
    );
    serial
}

fn now_plus_days(days: i64) -> Asn1Time {
    Asn1Time::from_unix(OffsetDateTime::now_utc().unix_timestamp() + days * 86_400).unwrap()
}

fn revoked_at(entry: &serde_json::Value) -> OffsetDateTime {
    OffsetDateTime::parse(entry["revoked_at"].as_str().unwrap(), &Rfc3339).unwrap()
}

// ---------------------------------------------------------------- init

#[test]
fn init_makes_a_chain_that_openssl_verifies() {
    let lab = Lab::init(&[]);
    // The openssl crate, with the intermediates from chain.pem.
    assert_leaf_verifies(&lab, "localhost");
    let chain = load_certs(&lab.path(LOCALHOST_CHAIN));
    assert_eq!(chain.len(), 1, "chain.pem holds the intermediate only");
    assert_eq!(
        chain[0].to_der().unwrap(),
        lab.cert(INTERMEDIATE).to_der().unwrap()
    );
    // fullchain.pem is leaf + intermediate; bundle.pem is intermediate + root.
    let full = load_certs(&lab.path("certs/localhost/fullchain.pem"));
    assert_eq!(full.len(), 2);
    assert_eq!(
        full[0].to_der().unwrap(),
        lab.cert(LOCALHOST).to_der().unwrap()
    );
    let bundle = load_certs(&lab.path("ca/bundle.pem"));
    assert_eq!(bundle.len(), 2);
    assert_eq!(
        bundle[1].to_der().unwrap(),
        lab.cert(ROOT).to_der().unwrap()
    );
    // The intermediate verifies against the root alone (its chain.pem is the root).
    verify(
        &lab.path(ROOT),
        &lab.path("ca/root/chain.pem"),
        &lab.path(INTERMEDIATE),
    )
    .unwrap();
    assert_eq!(fs::read(lab.path("ca/root/chain.pem")).unwrap(), b"");

    // The openssl command line.
    let out = Out::of(Command::new("openssl").current_dir(&lab.dir).args([
        "verify",
        "-CAfile",
        ROOT,
        "-untrusted",
        LOCALHOST_CHAIN,
        LOCALHOST,
    ]))
    .success();
    assert_eq!(out.stdout.trim(), format!("{LOCALHOST}: OK"));
}

#[test]
fn init_prints_where_things_are_and_writes_the_layout() {
    let lab = Lab::empty();
    let out = lab.run(&["init"]).success();
    assert!(out.stdout.starts_with("created lab in "), "{out:#?}");
    assert!(out.stdout.contains("http://127.0.0.1:8080/"), "{out:#?}");
    assert!(out.stdout.contains("fullchain.pem"), "{out:#?}");
    // The SQLite file, or nothing on disk when the database is in PostgreSQL.
    let database = if lab.on_postgres() {
        assert!(!lab.path("revocation.db").exists());
        let db = lab.db.as_ref().unwrap();
        assert!(
            out.stdout.contains(&format!("database:        {}", db.url)),
            "{out:#?}"
        );
        "lab.toml"
    } else {
        "revocation.db"
    };
    for file in [
        "lab.toml",
        database,
        "ca/bundle.pem",
        "ca/root/cert.pem",
        "ca/root/key.pem",
        "ca/root/chain.pem",
        "ca/root/ocsp-signer/cert.pem",
        "ca/root/ocsp-signer/key.pem",
        "ca/intermediate/cert.pem",
        "ca/intermediate/key.pem",
        "ca/intermediate/chain.pem",
        "ca/intermediate/ocsp-signer/cert.pem",
        "ca/intermediate/ocsp-signer/key.pem",
        "certs/localhost/cert.pem",
        "certs/localhost/key.pem",
        "certs/localhost/chain.pem",
        "certs/localhost/fullchain.pem",
    ] {
        assert!(lab.path(file).is_file(), "{file} missing");
    }
    let names: Vec<_> = lab.list().iter().map(|e| e["name"].clone()).collect();
    assert_eq!(
        names,
        [
            "intermediate",
            "root-ocsp-signer",
            "intermediate-ocsp-signer",
            "localhost"
        ]
    );
    assert!(lab.list().iter().all(|e| e["status"] == "good"));
}

#[test]
fn init_points_aia_and_crl_at_the_lab_responder() {
    let lab = Lab::init(&[]);

    let leaf_text = lab.text(LOCALHOST);
    assert!(
        leaf_text.contains("OCSP - URI:http://127.0.0.1:8080/\n"),
        "{leaf_text}"
    );
    assert!(
        leaf_text.contains("CA Issuers - URI:http://127.0.0.1:8080/ca/intermediate.der"),
        "{leaf_text}"
    );
    let crl = extension(&leaf_text, "X509v3 CRL Distribution Points").expect("CRL DP");
    assert!(
        crl.contains("URI:http://127.0.0.1:8080/crl/intermediate.crl"),
        "{crl}"
    );

    let int_text = lab.text(INTERMEDIATE);
    assert!(
        int_text.contains("OCSP - URI:http://127.0.0.1:8080/\n"),
        "{int_text}"
    );
    assert!(
        int_text.contains("CA Issuers - URI:http://127.0.0.1:8080/ca/root.der"),
        "{int_text}"
    );
    let crl = extension(&int_text, "X509v3 CRL Distribution Points").expect("CRL DP");
    assert!(
        crl.contains("URI:http://127.0.0.1:8080/crl/root.crl"),
        "{crl}"
    );

    // The same through the crate's accessors.
    let leaf = lab.cert(LOCALHOST);
    assert_eq!(ocsp_uris(&leaf), ["http://127.0.0.1:8080/"]);
    assert_eq!(
        ca_issuers(&leaf),
        ["http://127.0.0.1:8080/ca/intermediate.der"]
    );
    assert_eq!(
        crl_uris(&leaf),
        ["http://127.0.0.1:8080/crl/intermediate.crl"]
    );
    let int = lab.cert(INTERMEDIATE);
    assert_eq!(ocsp_uris(&int), ["http://127.0.0.1:8080/"]);
    assert_eq!(ca_issuers(&int), ["http://127.0.0.1:8080/ca/root.der"]);
    // The root has no issuer to point at.
    assert!(lab.cert(ROOT).authority_info().is_none());
}

#[test]
fn init_localhost_has_dns_and_ip_sans() {
    let lab = Lab::init(&[]);
    let (dns, ips) = sans(&lab.cert(LOCALHOST));
    assert_eq!(dns, ["localhost"]);
    let want: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    assert_eq!(ips, want);
    let cn = lab.cert(LOCALHOST);
    let cn = cn
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .unwrap();
    assert_eq!(cn.data().as_slice(), b"localhost");
}

#[test]
fn init_keys_are_readable_by_the_owner_only() {
    let lab = Lab::init(&[]);
    for key in [
        "ca/root/key.pem",
        "ca/root/ocsp-signer/key.pem",
        "ca/intermediate/key.pem",
        "ca/intermediate/ocsp-signer/key.pem",
        "certs/localhost/key.pem",
    ] {
        assert_eq!(mode(&lab.path(key)), 0o600, "{key}");
        // And it is the key of the certificate next to it.
        let pem = fs::read(lab.path(key)).unwrap();
        let private = openssl::pkey::PKey::private_key_from_pem(&pem).unwrap();
        let cert = lab.cert(&key.replace("key.pem", "cert.pem"));
        assert!(
            cert.public_key().unwrap().public_eq(&private),
            "{key} does not match its certificate"
        );
    }
}

#[test]
fn init_serials_are_16_positive_bytes_and_distinct() {
    let lab = Lab::init(&[]);
    let mut seen = Vec::new();
    for file in [
        ROOT,
        INTERMEDIATE,
        ROOT_SIGNER,
        INTERMEDIATE_SIGNER,
        LOCALHOST,
    ] {
        let (hex, negative) = serial_of(&lab.cert(file));
        assert!(!negative, "{file}: negative serial");
        assert_eq!(hex.len(), 32, "{file}: serial {hex} is not 16 bytes");
        assert!(!seen.contains(&hex), "{file}: serial {hex} repeated");
        seen.push(hex);
    }
    // list shows the serials of the files.
    let listed: Vec<String> = lab
        .list()
        .iter()
        .map(|e| e["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, seen[1..]);
}

#[test]
fn init_delegated_signers_are_ocsp_signing_certificates() {
    let lab = Lab::init(&[]);
    for (signer_path, ca_path) in [(INTERMEDIATE_SIGNER, INTERMEDIATE), (ROOT_SIGNER, ROOT)] {
        let signer = lab.cert(signer_path);
        let ca = lab.cert(ca_path);
        assert_eq!(ca.issued(&signer), X509VerifyResult::OK, "{signer_path}");
        assert!(signer.verify(&ca.public_key().unwrap()).unwrap());

        let text = lab.text(signer_path);
        assert_eq!(
            extension(&text, "X509v3 Extended Key Usage").as_deref(),
            Some("OCSP Signing"),
            "{text}"
        );
        assert!(extension(&text, "OCSP No Check").is_some(), "{text}");
        assert_eq!(
            extension(&text, "X509v3 Key Usage").as_deref(),
            Some("critical Digital Signature"),
            "{text}"
        );
        assert_eq!(
            extension(&text, "X509v3 Basic Constraints").as_deref(),
            Some("critical CA:FALSE"),
            "{text}"
        );
    }
    // The intermediate's signer chains to the root through the intermediate.
    verify(
        &lab.path(ROOT),
        &lab.path(INTERMEDIATE),
        &lab.path(INTERMEDIATE_SIGNER),
    )
    .unwrap();
}

#[test]
fn init_ocsp_url_option_goes_into_aia() {
    let lab = Lab::init(&["--ocsp-url", "http://127.0.0.1:9999/ocsp/"]);
    for file in [LOCALHOST, INTERMEDIATE] {
        let text = lab.text(file);
        assert!(
            text.contains("OCSP - URI:http://127.0.0.1:9999/ocsp/\n"),
            "{file}: {text}"
        );
        assert_eq!(ocsp_uris(&lab.cert(file)), ["http://127.0.0.1:9999/ocsp/"]);
    }
    // CA Issuers and CRLs default to the responder's host.
    assert_eq!(
        ca_issuers(&lab.cert(LOCALHOST)),
        ["http://127.0.0.1:9999/ca/intermediate.der"]
    );
    assert_eq!(
        crl_uris(&lab.cert(LOCALHOST)),
        ["http://127.0.0.1:9999/crl/intermediate.crl"]
    );
    // Later certificates repeat the lab's URL.
    issue(&lab, &["later"]);
    assert_eq!(
        ocsp_uris(&lab.cert("certs/later/cert.pem")),
        ["http://127.0.0.1:9999/ocsp/"]
    );
}

#[test]
fn init_refuses_a_bad_ocsp_url() {
    let lab = Lab::empty();
    let out = lab.run(&["init", "--ocsp-url", "ftp://example/"]);
    out.testca_error(&["OCSP URL", "ftp://example/"]);
    assert!(!lab.dir.exists(), "nothing is created");
}

/// `init --key-alg ALG` makes a lab whose every certificate verifies and whose
/// keys are of that algorithm.
fn key_alg_lab(alg: &str, want: Id, bits: u32) {
    let lab = Lab::init(&["--key-alg", alg]);
    assert_leaf_verifies(&lab, "localhost");
    verify(&lab.path(ROOT), &lab.path(ROOT), &lab.path(INTERMEDIATE)).unwrap();
    verify(
        &lab.path(ROOT),
        &lab.path(INTERMEDIATE),
        &lab.path(INTERMEDIATE_SIGNER),
    )
    .unwrap();
    verify(&lab.path(ROOT), &lab.path(ROOT), &lab.path(ROOT_SIGNER)).unwrap();
    for file in [
        ROOT,
        INTERMEDIATE,
        ROOT_SIGNER,
        INTERMEDIATE_SIGNER,
        LOCALHOST,
    ] {
        let key = lab.cert(file).public_key().unwrap();
        assert_eq!(key.id(), want, "{alg}: {file}");
        assert_eq!(key.bits(), bits, "{alg}: {file}");
    }
    // A leaf issued later uses the lab's algorithm too.
    issue(&lab, &["later"]);
    assert_leaf_verifies(&lab, "later");
    assert_eq!(
        lab.cert("certs/later/cert.pem").public_key().unwrap().id(),
        want
    );
}

#[test]
fn init_key_alg_ecdsa_p256() {
    key_alg_lab("ecdsa-p256", Id::EC, 256);
}

#[test]
fn init_key_alg_ecdsa_p384() {
    key_alg_lab("ecdsa-p384", Id::EC, 384);
}

#[test]
fn init_key_alg_ed25519() {
    key_alg_lab("ed25519", Id::ED25519, 256);
}

#[test]
fn init_key_alg_rsa2048() {
    key_alg_lab("rsa2048", Id::RSA, 2048);
}

#[test]
fn init_refuses_an_unknown_key_alg() {
    let lab = Lab::empty();
    lab.run(&["init", "--key-alg", "dsa"])
        .clap_error("error: invalid value", &["dsa", "--key-alg"]);
    assert!(!lab.dir.exists());
}

// ------------------------------------------------------ where the lab is

#[test]
fn dir_is_accepted_before_and_after_the_subcommand() {
    let lab = Lab::empty();
    let out = Out::of(
        lab.testca()
            .current_dir(lab.tmp.path())
            .arg("--dir")
            .arg(&lab.dir)
            .arg("init"),
    );
    out.success();
    let after = Out::of(
        lab.testca()
            .current_dir(lab.tmp.path())
            .args(["list", "--json", "--dir"])
            .arg(&lab.dir),
    )
    .success();
    assert_eq!(after.stdout, lab.list_text());
    let issued = Out::of(
        lab.testca()
            .current_dir(lab.tmp.path())
            .args(["issue", "after"])
            .arg(format!("--dir={}", lab.dir.display())),
    )
    .success();
    assert_eq!(lab.entry("after")["serial"], issued.stdout.trim());
}

#[test]
fn ocsplab_dir_env_is_honoured() {
    let lab = Lab::empty();
    Out::of(
        lab.testca()
            .current_dir(lab.tmp.path())
            .env("OCSPLAB_DIR", &lab.dir)
            .arg("init"),
    )
    .success();
    assert!(lab.path("lab.toml").is_file());
    assert!(!lab.tmp.path().join("lab").join("lab").exists());
    let listed = Out::of(
        lab.testca()
            .current_dir(lab.tmp.path())
            .env("OCSPLAB_DIR", &lab.dir)
            .args(["list", "--json"]),
    )
    .success();
    assert_eq!(listed.stdout, lab.list_text());

    // --dir wins over the environment.
    let elsewhere = lab.tmp.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    let out = Out::of(
        lab.testca()
            .current_dir(lab.tmp.path())
            .env("OCSPLAB_DIR", &lab.dir)
            .arg("--dir")
            .arg(&elsewhere)
            .arg("list"),
    );
    out.testca_error(&["not an OCSP Lab directory", "elsewhere"]);
}

#[test]
fn default_dir_is_lab_in_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    Out::of(testca().current_dir(tmp.path()).arg("init")).success();
    assert!(tmp.path().join("lab/lab.toml").is_file());
    assert!(tmp.path().join("lab/certs/localhost/cert.pem").is_file());
}

#[test]
fn init_in_an_existing_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    Out::of(testca().arg("--dir").arg(tmp.path()).arg("init")).success();
    assert!(tmp.path().join("lab.toml").is_file());
}

// ---------------------------------------------------------------- issue

#[test]
fn issue_prints_the_serial_of_the_new_certificate() {
    let lab = Lab::init(&[]);
    let out = lab.run(&["issue", "www.example.test"]).success();
    let serial = out.stdout.trim();
    assert_eq!(out.stdout, format!("{serial}\n"));
    assert!(out.stderr.contains("issued www.example.test"), "{out:#?}");

    let cert = lab.cert("certs/www.example.test/cert.pem");
    let (hex, negative) = serial_of(&cert);
    assert!(!negative);
    assert_eq!(hex, serial);
    assert_eq!(serial.len(), 32);
    assert_ne!(serial, serial_of(&lab.cert(LOCALHOST)).0);

    // Default SAN is the name; files are where the layout says.
    assert_eq!(sans(&cert).0, ["www.example.test"]);
    assert_eq!(mode(&lab.path("certs/www.example.test/key.pem")), 0o600);
    assert_leaf_verifies(&lab, "www.example.test");
    let full = load_certs(&lab.path("certs/www.example.test/fullchain.pem"));
    assert_eq!(full.len(), 2);
    assert_eq!(full[0].to_der().unwrap(), cert.to_der().unwrap());

    let entry = lab.entry("www.example.test");
    assert_eq!(entry["serial"], serial);
    assert_eq!(entry["kind"], "leaf");
    assert_eq!(entry["issuer"], "intermediate");
    assert_eq!(entry["status"], "good");
}

#[test]
fn issue_san_takes_dns_names_and_ip_addresses() {
    let lab = Lab::init(&[]);
    issue(
        &lab,
        &[
            "multi",
            "--san",
            "a.example.test",
            "--san",
            "b.example.test",
            "--san",
            "192.0.2.7",
            "--san",
            "2001:db8::1",
        ],
    );
    let (dns, ips) = sans(&lab.cert("certs/multi/cert.pem"));
    assert_eq!(dns, ["a.example.test", "b.example.test"]);
    let want: Vec<IpAddr> = vec!["192.0.2.7".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    assert_eq!(ips, want);
    assert_leaf_verifies(&lab, "multi");
}

#[test]
fn issue_days_sets_the_validity() {
    let lab = Lab::init(&[]);
    issue(&lab, &["short", "--days", "30"]);
    let cert = lab.cert("certs/short/cert.pem");
    assert!(cert.not_after() > now_plus_days(29));
    assert!(cert.not_after() < now_plus_days(31));
    assert!(cert.not_before() < now_plus_days(0));
    // The default is a year.
    let localhost = lab.cert(LOCALHOST);
    assert!(localhost.not_after() > now_plus_days(364));
    assert!(localhost.not_after() < now_plus_days(366));
}

#[test]
fn issue_expired_has_a_past_not_after() {
    let lab = Lab::init(&[]);
    issue(&lab, &["old", "--expired"]);
    let cert = lab.cert("certs/old/cert.pem");
    assert!(cert.not_after() < now_plus_days(0));
    assert!(cert.not_before() < cert.not_after());
    let err = verify(
        &lab.path(ROOT),
        &lab.path("certs/old/chain.pem"),
        &lab.path("certs/old/cert.pem"),
    )
    .unwrap_err();
    assert!(err.contains("expired"), "{err}");
    let out = lab.run(&["show", "old"]).success();
    assert!(out.stdout.contains("(expired)"), "{out:#?}");
}

#[test]
fn issue_not_yet_valid_has_a_future_not_before() {
    let lab = Lab::init(&[]);
    issue(&lab, &["early", "--not-yet-valid"]);
    let cert = lab.cert("certs/early/cert.pem");
    assert!(cert.not_before() > now_plus_days(0));
    assert!(cert.not_after() > cert.not_before());
    let err = verify(
        &lab.path(ROOT),
        &lab.path("certs/early/chain.pem"),
        &lab.path("certs/early/cert.pem"),
    )
    .unwrap_err();
    assert!(err.contains("not yet valid"), "{err}");
}

#[test]
fn issue_expired_and_not_yet_valid_conflict() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    lab.run(&["issue", "both", "--expired", "--not-yet-valid"])
        .clap_error("error: ", &["--expired", "--not-yet-valid"]);
    assert_eq!(lab.snapshot(), before);
    assert!(!lab.path("certs/both").exists());
}

#[test]
fn issue_must_staple_adds_tls_feature_status_request() {
    let lab = Lab::init(&[]);
    issue(&lab, &["stapled", "--must-staple"]);
    let text = lab.text("certs/stapled/cert.pem");
    let feature = extension(&text, "TLS Feature").unwrap_or_else(|| panic!("{text}"));
    assert!(feature.contains("status_request"), "{text}");
    // Without the flag there is none.
    assert!(!lab.text(LOCALHOST).contains("TLS Feature"));
}

#[test]
fn issue_no_aia_leaves_out_authority_information_access() {
    let lab = Lab::init(&[]);
    issue(&lab, &["quiet", "--no-aia"]);
    let text = lab.text("certs/quiet/cert.pem");
    assert!(!text.contains("Authority Information Access"), "{text}");
    assert!(!text.contains("OCSP - URI"), "{text}");
    assert!(lab.cert("certs/quiet/cert.pem").authority_info().is_none());
    // The CRL pointer stays.
    assert!(text.contains("X509v3 CRL Distribution Points"), "{text}");
    assert_leaf_verifies(&lab, "quiet");
}

#[test]
fn issue_by_the_root_verifies_against_the_root_alone() {
    let lab = Lab::init(&[]);
    let serial = issue(&lab, &["direct", "--issuer", "root"]);
    assert_eq!(fs::read(lab.path("certs/direct/chain.pem")).unwrap(), b"");
    let cert = lab.cert("certs/direct/cert.pem");
    assert_eq!(lab.cert(ROOT).issued(&cert), X509VerifyResult::OK);
    verify(
        &lab.path(ROOT),
        &lab.path("certs/direct/chain.pem"),
        &lab.path("certs/direct/cert.pem"),
    )
    .unwrap();
    assert_eq!(load_certs(&lab.path("certs/direct/fullchain.pem")).len(), 1);
    assert_eq!(ca_issuers(&cert), ["http://127.0.0.1:8080/ca/root.der"]);
    assert_eq!(crl_uris(&cert), ["http://127.0.0.1:8080/crl/root.crl"]);
    let entry = lab.entry("direct");
    assert_eq!(entry["issuer"], "root");
    assert_eq!(entry["serial"], serial);
}

#[test]
fn issue_replace_supersedes_a_certificate_of_the_same_name() {
    let lab = Lab::init(&[]);
    let old = serial_of(&lab.cert(LOCALHOST)).0;
    let new = issue(&lab, &["localhost", "--replace", "--san", "localhost"]);
    assert_ne!(old, new);
    assert_eq!(serial_of(&lab.cert(LOCALHOST)).0, new);
    assert_leaf_verifies(&lab, "localhost");
    assert_eq!(mode(&lab.path("certs/localhost/key.pem")), 0o600);
    // The new key belongs to the new certificate.
    let key = openssl::pkey::PKey::private_key_from_pem(
        &fs::read(lab.path("certs/localhost/key.pem")).unwrap(),
    )
    .unwrap();
    assert!(lab.cert(LOCALHOST).public_key().unwrap().public_eq(&key));
    // No staging directories are left behind.
    let leftovers: Vec<_> = fs::read_dir(lab.path("certs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["localhost"]);
    // The old one stays in the database, still answerable; the name means the new one.
    let serials: Vec<_> = lab
        .entries("localhost")
        .iter()
        .map(|e| e["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(serials, [old.clone(), new.clone()]);
    let out = lab.run(&["revoke", "localhost"]).success();
    assert!(out.stdout.contains(&new), "{out:#?}");
    let entries = lab.entries("localhost");
    assert_eq!(entries[0]["status"], "good");
    assert_eq!(entries[1]["status"], "revoked");
}

#[test]
fn issue_refuses_a_taken_name_without_replace() {
    let lab = Lab::init(&[]);
    let files = tree(&lab.path("certs"));
    let before = lab.snapshot();
    lab.run(&["issue", "localhost"])
        .testca_error(&["'localhost'", "already exists", "--replace"]);
    assert_eq!(lab.snapshot(), before);
    assert_eq!(tree(&lab.path("certs")), files);
}

#[test]
fn issue_refuses_invalid_names() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    let files = tree(&lab.dir.join("certs"));
    for bad in [
        "../escape",
        "a/b",
        ".hidden",
        "has space",
        "",
        "root",
        "intermediate",
        "intermediate-ocsp-signer",
    ] {
        let out = lab.run(&["issue", bad]);
        out.testca_error(&["invalid certificate name", &format!("'{bad}'")]);
    }
    let long = "x".repeat(65);
    lab.run(&["issue", &long])
        .testca_error(&["invalid certificate name"]);
    assert_eq!(lab.snapshot(), before);
    assert_eq!(tree(&lab.dir.join("certs")), files);
    assert!(!lab.tmp.path().join("escape").exists());
    assert!(!lab.path("escape").exists());
}

// --------------------------------------------------------------- signer

/// The newest delegated signer of a CA according to the database, by serial.
fn newest_signer_serial(lab: &Lab, ca: &str) -> String {
    block_on(async {
        let store = lab.store().await;
        let issuer = store.issuer_by_name(ca).await.unwrap().unwrap();
        let signer = store.newest_signer(issuer.id).await.unwrap().unwrap();
        store.close().await;
        signer.certificate.serial.to_hex()
    })
}

/// `testca signer ARGS`: the new signer's serial, checked against its file
/// and the database.
fn reissue_signer(lab: &Lab, args: &[&str], path: &str, ca: &str) -> String {
    let before = serial_of(&lab.cert(path)).0;
    let mut all = vec!["signer"];
    all.extend_from_slice(args);
    let out = lab.run(&all).success();
    let serial = out.stdout.trim().to_string();
    assert_eq!(out.stdout, format!("{serial}\n"));
    assert_ne!(serial, before);
    assert_eq!(serial_of(&lab.cert(path)).0, serial);
    assert_eq!(newest_signer_serial(lab, ca), serial);
    assert_eq!(mode(&lab.path(&path.replace("cert.pem", "key.pem"))), 0o600);
    serial
}

#[test]
fn signer_reissues_a_good_signer() {
    let lab = Lab::init(&[]);
    reissue_signer(&lab, &[], INTERMEDIATE_SIGNER, "intermediate");
    let text = lab.text(INTERMEDIATE_SIGNER);
    assert_eq!(
        extension(&text, "X509v3 Extended Key Usage").as_deref(),
        Some("OCSP Signing")
    );
    assert!(extension(&text, "OCSP No Check").is_some());
    let signer = lab.cert(INTERMEDIATE_SIGNER);
    assert!(signer.not_after() > now_plus_days(0));
    assert_eq!(lab.cert(INTERMEDIATE).issued(&signer), X509VerifyResult::OK);
    // Both signers are listed.
    assert_eq!(lab.entries("intermediate-ocsp-signer").len(), 2);
}

#[test]
fn signer_expired() {
    let lab = Lab::init(&[]);
    reissue_signer(&lab, &["--expired"], INTERMEDIATE_SIGNER, "intermediate");
    let signer = lab.cert(INTERMEDIATE_SIGNER);
    assert!(signer.not_after() < now_plus_days(0));
    let text = lab.text(INTERMEDIATE_SIGNER);
    assert!(extension(&text, "OCSP No Check").is_some());
    assert_eq!(
        extension(&text, "X509v3 Extended Key Usage").as_deref(),
        Some("OCSP Signing")
    );
}

#[test]
fn signer_without_nocheck() {
    let lab = Lab::init(&[]);
    reissue_signer(&lab, &["--no-nocheck"], INTERMEDIATE_SIGNER, "intermediate");
    let text = lab.text(INTERMEDIATE_SIGNER);
    assert!(!text.contains("OCSP No Check"), "{text}");
    assert_eq!(
        extension(&text, "X509v3 Extended Key Usage").as_deref(),
        Some("OCSP Signing")
    );
    assert!(lab.cert(INTERMEDIATE_SIGNER).not_after() > now_plus_days(0));
}

#[test]
fn signer_without_eku() {
    let lab = Lab::init(&[]);
    reissue_signer(&lab, &["--no-eku"], INTERMEDIATE_SIGNER, "intermediate");
    let text = lab.text(INTERMEDIATE_SIGNER);
    assert!(!text.contains("Extended Key Usage"), "{text}");
    assert!(!text.contains("OCSP Signing"), "{text}");
    assert!(extension(&text, "OCSP No Check").is_some(), "{text}");
    assert_eq!(
        extension(&text, "X509v3 Key Usage").as_deref(),
        Some("critical Digital Signature")
    );
}

#[test]
fn signer_for_the_root() {
    let lab = Lab::init(&[]);
    let intermediate_signer = serial_of(&lab.cert(INTERMEDIATE_SIGNER)).0;
    reissue_signer(
        &lab,
        &["--issuer", "root", "--expired", "--no-nocheck", "--no-eku"],
        ROOT_SIGNER,
        "root",
    );
    let signer = lab.cert(ROOT_SIGNER);
    assert_eq!(lab.cert(ROOT).issued(&signer), X509VerifyResult::OK);
    assert!(signer.not_after() < now_plus_days(0));
    let text = lab.text(ROOT_SIGNER);
    assert!(!text.contains("OCSP No Check"), "{text}");
    assert!(!text.contains("Extended Key Usage"), "{text}");
    // The intermediate's signer is untouched.
    assert_eq!(
        serial_of(&lab.cert(INTERMEDIATE_SIGNER)).0,
        intermediate_signer
    );
    assert_eq!(
        newest_signer_serial(&lab, "intermediate"),
        intermediate_signer
    );
}

// ---------------------------------------- revoke, unrevoke, list, show

#[test]
fn revoke_with_reason_and_time_shows_in_list() {
    let lab = Lab::init(&[]);
    let serial = serial_of(&lab.cert(LOCALHOST)).0;
    let out = lab
        .run(&[
            "revoke",
            "localhost",
            "--reason",
            "keyCompromise",
            "--at",
            "2026-01-01T00:00:00Z",
        ])
        .success();
    assert_eq!(
        out.stdout,
        format!(
            "localhost (serial {serial}): revoked at 2026-01-01T00:00:00Z, reason keyCompromise\n"
        )
    );
    let entry = lab.entry("localhost");
    assert_eq!(entry["status"], "revoked");
    assert_eq!(entry["reason"], "keyCompromise");
    assert_eq!(entry["revoked_at"], "2026-01-01T00:00:00Z");
    assert_eq!(entry["serial"], serial);
    // Only that one.
    for other in [
        "intermediate",
        "intermediate-ocsp-signer",
        "root-ocsp-signer",
    ] {
        assert_eq!(lab.entry(other)["status"], "good", "{other}");
    }
    // The table says the same.
    let table = lab.run(&["list"]).success().stdout;
    let row = table
        .lines()
        .find(|l| l.starts_with("localhost "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("revoked"), "{row}");
    assert!(row.contains("keyCompromise"), "{row}");
    assert!(row.contains("2026-01-01T00:00:00Z"), "{row}");
    assert!(table.starts_with("NAME"), "{table}");
}

#[test]
fn revoke_defaults_to_now_without_a_reason() {
    let lab = Lab::init(&[]);
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let out = lab.run(&["revoke", "localhost"]).success();
    let end = OffsetDateTime::now_utc();
    assert!(out.stdout.contains("reason unspecified"), "{out:#?}");
    let entry = lab.entry("localhost");
    assert_eq!(entry["status"], "revoked");
    assert_eq!(entry["reason"], "unspecified");
    let at = revoked_at(&entry);
    assert!(start <= at && at <= end, "{at} not in [{start}, {end}]");
}

#[test]
fn revoke_by_serial_with_colons_in_lower_case() {
    let lab = Lab::init(&[]);
    let serial = serial_of(&lab.cert(LOCALHOST)).0;
    let colons = serial
        .to_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|pair| std::str::from_utf8(pair).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let out = lab
        .run(&["revoke", "--serial", &colons, "--reason", "superseded"])
        .success();
    assert!(out.stdout.starts_with("localhost (serial "), "{out:#?}");
    let entry = lab.entry("localhost");
    assert_eq!(entry["status"], "revoked");
    assert_eq!(entry["reason"], "superseded");
    // Unrevoke and show take serials too; reasons are also accepted by code.
    lab.run(&["unrevoke", "--serial", &colons]).success();
    lab.run(&["revoke", "--serial", &serial, "--reason", "1"])
        .success();
    assert_eq!(lab.entry("localhost")["reason"], "keyCompromise");
    let shown = lab.run(&["show", "--serial", &colons]).success();
    assert!(
        shown.stdout.contains("name:        localhost"),
        "{shown:#?}"
    );
}

#[test]
fn revoke_a_ca_and_a_signer() {
    let lab = Lab::init(&[]);
    lab.run(&["revoke", "intermediate", "--reason", "cACompromise"])
        .success();
    lab.run(&["revoke", "intermediate-ocsp-signer"]).success();
    assert_eq!(lab.entry("intermediate")["reason"], "cACompromise");
    assert_eq!(lab.entry("intermediate-ocsp-signer")["status"], "revoked");
    assert_eq!(lab.entry("localhost")["status"], "good");
}

#[test]
fn unrevoke_makes_it_good_again() {
    let lab = Lab::init(&[]);
    let serial = serial_of(&lab.cert(LOCALHOST)).0;
    lab.run(&["revoke", "localhost", "--reason", "keyCompromise"])
        .success();
    let out = lab.run(&["unrevoke", "localhost"]).success();
    assert_eq!(out.stdout, format!("localhost (serial {serial}): good\n"));
    let entry = lab.entry("localhost");
    assert_eq!(entry["status"], "good");
    assert!(entry["reason"].is_null());
    assert!(entry["revoked_at"].is_null());
    // And it can be revoked again, with another reason.
    lab.run(&["revoke", "localhost", "--reason", "superseded"])
        .success();
    assert_eq!(lab.entry("localhost")["reason"], "superseded");
}

#[test]
fn show_prints_the_certificate_and_its_files() {
    let lab = Lab::init(&[]);
    let serial = serial_of(&lab.cert(LOCALHOST)).0;
    let out = lab.run(&["show", "localhost"]).success();
    let text = out.stdout;
    assert!(text.contains("name:        localhost\n"), "{text}");
    assert!(text.contains("kind:        leaf\n"), "{text}");
    assert!(text.contains(&format!("serial:      {serial}\n")), "{text}");
    assert!(text.contains("issuer:      intermediate\n"), "{text}");
    assert!(text.contains("status:      good\n"), "{text}");
    assert!(text.contains("(valid)"), "{text}");
    for file in ["cert.pem", "key.pem", "chain.pem", "fullchain.pem"] {
        let path = lab.path(&format!("certs/localhost/{file}"));
        assert!(
            text.contains(&format!("file:        {}\n", path.display())),
            "{file}: {text}"
        );
    }

    lab.run(&["revoke", "localhost", "--reason", "keyCompromise"])
        .success();
    let text = lab.run(&["show", "localhost"]).success().stdout;
    assert!(text.contains("status:      revoked\n"), "{text}");
    assert!(text.contains("reason:      keyCompromise\n"), "{text}");
    assert!(text.contains("revoked at:  "), "{text}");

    // JSON, and a CA's and a signer's files.
    let json: serde_json::Value =
        serde_json::from_str(&lab.run(&["show", "--json", "localhost"]).success().stdout).unwrap();
    assert_eq!(json["serial"], serial);
    assert_eq!(json["files"].as_array().unwrap().len(), 4);
    let json: serde_json::Value = serde_json::from_str(
        &lab.run(&["show", "intermediate-ocsp-signer", "--json"])
            .success()
            .stdout,
    )
    .unwrap();
    let files: Vec<_> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        files,
        [
            lab.path(INTERMEDIATE_SIGNER).display().to_string(),
            lab.path("ca/intermediate/ocsp-signer/key.pem")
                .display()
                .to_string()
        ]
    );
    let text = lab.run(&["show", "intermediate"]).success().stdout;
    assert!(
        text.contains(&format!(
            "file:        {}\n",
            lab.path(INTERMEDIATE).display()
        )),
        "{text}"
    );
}

// ------------------------------------- visible to another process at once

#[tokio::test]
async fn a_revocation_is_visible_to_an_open_store_at_once() {
    let lab = Lab::init(&[]);
    let store = lab.store().await;
    let issuer = store.issuer_by_name("intermediate").await.unwrap().unwrap();
    let serial: Serial = serial_of(&lab.cert(LOCALHOST)).0.parse().unwrap();
    assert_eq!(
        store.status(issuer.id, &serial).await.unwrap(),
        Some(RevocationStatus::Good)
    );
    let generation = store.generation().await.unwrap();

    lab.run(&[
        "revoke",
        "localhost",
        "--reason",
        "keyCompromise",
        "--at",
        "2026-01-01T00:00:00Z",
    ])
    .success();
    let at = OffsetDateTime::parse("2026-01-01T00:00:00Z", &Rfc3339).unwrap();
    assert_eq!(
        store.status(issuer.id, &serial).await.unwrap(),
        Some(RevocationStatus::Revoked {
            at,
            reason: Some(RevocationReason::KeyCompromise)
        })
    );
    let revoked_generation = store.generation().await.unwrap();
    assert!(revoked_generation > generation);

    lab.run(&["unrevoke", "localhost"]).success();
    assert_eq!(
        store.status(issuer.id, &serial).await.unwrap(),
        Some(RevocationStatus::Good)
    );
    assert!(store.generation().await.unwrap() > revoked_generation);

    // A newly issued certificate is known at once too.
    let new: Serial = issue(&lab, &["fresh"]).parse().unwrap();
    assert_eq!(
        store.status(issuer.id, &new).await.unwrap(),
        Some(RevocationStatus::Good)
    );
    store.close().await;
}

// ------------------------------------------------------------ bad input

#[test]
fn issue_days_out_of_range_is_a_one_line_error() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    for args in [
        &["issue", "far", "--days", "4294967295"][..],
        &["issue", "far", "--days", "3000000"],
        &["issue", "far", "--days", "4294967295", "--expired"],
    ] {
        let out = Out::of(lab.cmd(args).env("RUST_BACKTRACE", "0"));
        out.clap_error("error: invalid value", &["--days", "36500"]);
    }
    assert_eq!(lab.snapshot(), before);
    assert!(!lab.path("certs/far").exists());
}

#[test]
fn issue_invalid_san_names_the_san() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    lab.run(&["issue", "x", "--san", "ex\u{e4}mple.test"])
        .testca_error(&["invalid subject alternative name 'ex\u{e4}mple.test'"]);
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn show_of_a_superseded_certificate_lists_only_its_own_files() {
    let lab = Lab::init(&[]);
    let old = serial_of(&lab.cert(LOCALHOST)).0;
    issue(&lab, &["localhost", "--replace"]);
    let text = lab.run(&["show", "--serial", &old]).success().stdout;
    assert!(text.contains(&format!("serial:      {old}")), "{text}");
    // certs/localhost/ now holds the successor: it is not this certificate's file.
    assert!(!text.contains("file:"), "{text}");
    // The same for a re-issued signer.
    let old_signer = serial_of(&lab.cert(INTERMEDIATE_SIGNER)).0;
    lab.run(&["signer"]).success();
    let text = lab.run(&["show", "--serial", &old_signer]).success().stdout;
    assert!(!text.contains("file:"), "{text}");
}

#[test]
fn lab_dir_that_is_a_file_is_not_reported_as_missing() {
    let lab = Lab::empty();
    fs::write(&lab.dir, "not a directory").unwrap();
    let out = lab.run(&["list"]);
    out.testca_error(&[&lab.dir.display().to_string()]);
    assert!(!out.stderr.contains("does not exist"), "{out:#?}");
}

#[test]
fn unknown_name_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    for cmd in ["revoke", "unrevoke", "show"] {
        lab.run(&[cmd, "nosuch"])
            .testca_error(&["no certificate named 'nosuch'"]);
    }
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn unknown_serial_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    for cmd in ["revoke", "unrevoke", "show"] {
        lab.run(&[cmd, "--serial", "0badc0de"])
            .testca_error(&["no certificate with serial 0BADC0DE"]);
    }
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn malformed_serial_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    lab.run(&["revoke", "--serial", "xyz"])
        .clap_error("error: invalid value", &["'xyz'", "--serial"]);
    lab.run(&["revoke", "--serial", "00"])
        .clap_error("error: invalid value", &["'00'", "--serial"]);
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn revoking_twice_is_refused_and_keeps_the_first_revocation() {
    let lab = Lab::init(&[]);
    lab.run(&[
        "revoke",
        "localhost",
        "--reason",
        "keyCompromise",
        "--at",
        "2026-01-01T00:00:00Z",
    ])
    .success();
    let before = lab.snapshot();
    lab.run(&["revoke", "localhost", "--reason", "superseded"])
        .testca_error(&["localhost", "already revoked", "unrevoke"]);
    assert_eq!(lab.snapshot(), before);
    assert_eq!(lab.entry("localhost")["reason"], "keyCompromise");
}

#[test]
fn unrevoking_a_good_certificate_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    lab.run(&["unrevoke", "localhost"])
        .testca_error(&["localhost", "is not revoked"]);
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn invalid_reason_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    let out = lab.run(&["revoke", "localhost", "--reason", "stolen"]);
    out.clap_error("error: invalid value", &["'stolen'", "--reason"]);
    assert!(
        out.stderr.contains("keyCompromise"),
        "lists the valid reasons"
    );
    lab.run(&["revoke", "localhost", "--reason", "7"])
        .clap_error("error: invalid value", &["'7'", "--reason"]);
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn malformed_revocation_time_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    for bad in ["yesterday", "2026-01-01", "2026-13-01T00:00:00Z"] {
        lab.run(&["revoke", "localhost", "--at", bad])
            .clap_error("error: invalid value", &[&format!("'{bad}'"), "--at"]);
    }
    assert_eq!(lab.snapshot(), before);
}

#[test]
fn future_revocation_time_is_refused() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();
    let tomorrow = (OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    lab.run(&["revoke", "localhost", "--at", &tomorrow])
        .testca_error(&["revocation time", &tomorrow, "future"]);
    assert_eq!(lab.snapshot(), before);
    // A minute ahead is within the clock-skew tolerance.
    let soon = (OffsetDateTime::now_utc() + time::Duration::minutes(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    lab.run(&["revoke", "localhost", "--at", &soon]).success();
}

#[test]
fn missing_lab_directory_is_reported() {
    let lab = Lab::empty();
    for args in [
        &["list"][..],
        &["revoke", "localhost"],
        &["issue", "x"],
        &["signer"],
    ] {
        lab.run(args)
            .testca_error(&[&lab.dir.display().to_string(), "does not exist", "init"]);
    }
    assert!(!lab.dir.exists(), "nothing is created");
}

#[test]
fn directory_without_a_lab_is_reported() {
    let lab = Lab::empty();
    fs::create_dir(&lab.dir).unwrap();
    fs::write(lab.path("notes.txt"), "mine").unwrap();
    for args in [&["list"][..], &["revoke", "localhost"], &["issue", "x"]] {
        lab.run(args).testca_error(&[
            &lab.dir.display().to_string(),
            "not an OCSP Lab directory",
            "lab.toml",
        ]);
    }
    assert_eq!(
        tree(&lab.dir),
        [("notes.txt".into(), b"mine".to_vec())],
        "nothing is created"
    );
}

#[test]
fn init_over_an_existing_lab_is_refused_without_force() {
    let lab = Lab::init(&[]);
    let root = fs::read(lab.path(ROOT)).unwrap();
    let key = fs::read(lab.path("ca/root/key.pem")).unwrap();
    let before = lab.snapshot();
    lab.run(&["init"])
        .testca_error(&["lab already exists", "--force"]);
    assert_eq!(fs::read(lab.path(ROOT)).unwrap(), root);
    assert_eq!(fs::read(lab.path("ca/root/key.pem")).unwrap(), key);
    assert_eq!(lab.snapshot(), before);
}

/// The compose init service: a lab kept in the volume is left alone when it
/// is usable for the responder asked for, and refused in one line naming the
/// fix when it is stale (made for another address, or unreadable).
#[test]
fn init_if_missing_keeps_a_matching_lab_and_refuses_a_stale_one() {
    let url = "http://responder:8080/";
    let lab = Lab::init(&["--ocsp-url", url]);
    let before = lab.snapshot();
    let out = lab
        .run(&["init", "--if-missing", "--ocsp-url", url])
        .success();
    assert!(out.stdout.contains("leaving it as it is"), "{out:#?}");
    assert_eq!(lab.snapshot(), before);

    lab.run(&["init", "--if-missing"]).testca_error(&[
        "made for OCSP URL http://responder:8080/",
        "docker compose down -v",
    ]);
    assert_eq!(lab.snapshot(), before, "a stale lab is not touched");

    fs::write(lab.path("lab.toml"), "ocsp_url = 3\n").unwrap();
    lab.run(&["init", "--if-missing", "--ocsp-url", url])
        .testca_error(&["cannot be used", "lab.toml", "docker compose down -v"]);
}

#[test]
fn init_in_a_non_empty_directory_is_refused() {
    let lab = Lab::empty();
    fs::create_dir_all(lab.path("src")).unwrap();
    fs::write(lab.path("notes.txt"), "mine").unwrap();
    fs::write(lab.path("src/main.rs"), "fn main() {}").unwrap();
    let files = tree(&lab.dir);
    for args in [&["init"][..], &["init", "--force"]] {
        lab.run(args)
            .testca_error(&[&lab.dir.display().to_string(), "not empty"]);
        assert_eq!(tree(&lab.dir), files, "{args:?} touched files");
    }
    assert!(!lab.path("lab.toml").exists());
    assert!(!lab.path("ca").exists());
}

#[test]
fn init_force_replaces_a_lab() {
    let lab = Lab::init(&[]);
    let old_root = serial_of(&lab.cert(ROOT)).0;
    let old_leaf = serial_of(&lab.cert(LOCALHOST)).0;
    issue(&lab, &["extra"]);
    lab.run(&["revoke", "localhost"]).success();
    let out = lab.run(&["init", "--force"]).success();
    assert!(out.stdout.starts_with("created lab in "), "{out:#?}");
    let new_root = serial_of(&lab.cert(ROOT)).0;
    assert_ne!(new_root, old_root);
    assert_ne!(serial_of(&lab.cert(LOCALHOST)).0, old_leaf);
    assert_leaf_verifies(&lab, "localhost");
    // The old lab's certificates are gone, files and database alike.
    assert!(!lab.path("certs/extra").exists());
    let list = lab.list();
    assert_eq!(list.len(), 4, "{list:#?}");
    assert!(list.iter().all(|e| e["status"] == "good"));
    assert!(list.iter().all(|e| e["serial"] != old_leaf.as_str()));
}

#[test]
fn init_force_keeps_foreign_files_next_to_a_lab() {
    let lab = Lab::init(&[]);
    let old_root = serial_of(&lab.cert(ROOT)).0;
    fs::write(lab.path("notes.txt"), "mine").unwrap();
    lab.run(&["init", "--force"]).success();
    assert_ne!(serial_of(&lab.cert(ROOT)).0, old_root);
    assert_eq!(fs::read(lab.path("notes.txt")).unwrap(), b"mine");
}

#[test]
fn locked_database_is_reported_and_nothing_changes() {
    let lab = Lab::init(&[]);
    let before = lab.snapshot();

    // Another writer holds the write lock.
    let rt = runtime();
    let sqlite = DatabaseUrl::sqlite(lab.path("revocation.db"));
    let (url, url_text) = match &lab.db {
        Some(db) => (&db.url, db.url_text.as_str()),
        None => (&sqlite, ""),
    };
    let writer = rt.block_on(WriteLockHolder::take(url, url_text));

    let start = Instant::now();
    let out = lab.run(&["--lock-timeout", "300ms", "revoke", "localhost"]);
    let took = start.elapsed();
    out.testca_error(&["revocation database", "locked"]);
    assert!(
        took < Duration::from_secs(4),
        "--lock-timeout 300ms took {took:?}"
    );
    // The environment variable sets the timeout too.
    let start = Instant::now();
    let out = Out::of(
        lab.cmd(&["revoke", "localhost"])
            .env("OCSPLAB_LOCK_TIMEOUT", "200ms"),
    );
    let took = start.elapsed();
    out.testca_error(&["revocation database", "locked"]);
    assert!(
        took < Duration::from_secs(4),
        "OCSPLAB_LOCK_TIMEOUT=200ms took {took:?}"
    );
    // Issuing under the lock fails the same way and leaves no files behind.
    let signer = fs::read(lab.path(INTERMEDIATE_SIGNER)).unwrap();
    let certs = tree(&lab.path("certs"));
    lab.run(&["--lock-timeout", "200ms", "issue", "blocked"])
        .testca_error(&["locked"]);
    lab.run(&["--lock-timeout", "200ms", "signer"])
        .testca_error(&["locked"]);
    assert_eq!(tree(&lab.path("certs")), certs);
    assert_eq!(fs::read(lab.path(INTERMEDIATE_SIGNER)).unwrap(), signer);
    // Readers are not blocked by the writer.
    lab.run(&["list"]).success();

    rt.block_on(writer.release());

    assert_eq!(lab.snapshot(), before);
    assert_eq!(lab.entry("localhost")["status"], "good");
    // Once the lock is gone the same command works.
    lab.run(&["--lock-timeout", "300ms", "revoke", "localhost"])
        .success();
}

// ----------------------------------------------------------------- help

/// Help text with runs of white space made single spaces, so that wrapping
/// does not matter.
fn help(args: &[&str]) -> String {
    let out = Out::of(testca().args(args)).success();
    assert!(out.stdout.contains("Usage:"), "{args:?}: {out:#?}");
    out.stdout.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every subcommand, nested ones as several words.
const SUBCOMMANDS: [&[&str]; 11] = [
    &["init"],
    &["issue"],
    &["signer"],
    &["revoke"],
    &["unrevoke"],
    &["list"],
    &["show"],
    &["fault"],
    &["fault", "set"],
    &["fault", "list"],
    &["fault", "clear"],
];

#[test]
fn help_works_on_every_subcommand() {
    for sub in SUBCOMMANDS {
        let mut args = sub.to_vec();
        args.push("--help");
        let text = help(&args);
        let usage = format!("Usage: testca {}", sub.join(" "));
        assert!(text.contains(&usage), "{sub:?}: {text}");
        assert!(text.contains("[default: lab]"), "{sub:?}: {text}");
        assert!(text.contains("OCSPLAB_DIR"), "{sub:?}: {text}");
        assert!(text.contains("[default: 5s]"), "{sub:?}: {text}");
        let mut args = vec!["help"];
        args.extend_from_slice(sub);
        assert_eq!(help(&args), text, "`testca help {}`", sub.join(" "));
    }
    let top = help(&["--help"]);
    for sub in SUBCOMMANDS.iter().filter(|s| s.len() == 1) {
        assert!(top.contains(sub[0]), "{top}");
    }
    assert!(top.contains("[default: lab]"), "{top}");
    assert!(top.contains("[env: OCSPLAB_DIR="), "{top}");
    assert!(top.contains("[default: 5s]"), "{top}");
    let version = Out::of(testca().arg("--version")).success();
    assert!(version.stdout.starts_with("testca "), "{version:#?}");
}

#[test]
fn help_shows_the_defaults() {
    let init = help(&["init", "--help"]);
    assert!(init.contains("[default: http://127.0.0.1:8080/]"), "{init}");
    assert!(init.contains("[default: ecdsa-p256]"), "{init}");
    let issue = help(&["issue", "--help"]);
    assert!(issue.contains("[default: 365]"), "{issue}");
    assert!(issue.contains("[default: intermediate]"), "{issue}");
    let signer = help(&["signer", "--help"]);
    assert!(signer.contains("[default: intermediate]"), "{signer}");
    let revoke = help(&["revoke", "--help"]);
    assert!(revoke.contains("--reason"), "{revoke}");
    assert!(revoke.contains("--at"), "{revoke}");
    assert!(revoke.contains("--serial"), "{revoke}");
}

#[test]
fn a_subcommand_is_required() {
    let out = Out::of(&mut testca());
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.contains("Usage:"), "{out:#?}");
}

#[test]
fn hex_helper_matches_testca_serials() {
    // Guards the tests' own serial comparison: upper-case, two digits per byte.
    assert_eq!(hex_upper(&[0x0a, 0xff]), "0AFF");
    let lab = Lab::init(&[]);
    let text = openssl_text(&lab.path(LOCALHOST));
    let (hex, _) = serial_of(&load_cert(&lab.path(LOCALHOST)));
    let colon = hex
        .to_lowercase()
        .as_bytes()
        .chunks(2)
        .map(|p| std::str::from_utf8(p).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    assert!(text.contains(&colon), "{text}");
}

// ----------------------------------------------------------------- --db

/// A lab whose database is in PostgreSQL, made by `testca init` with `--db`
/// in the environment; `None` (reported skipped) without a test cluster.
fn postgres_lab() -> Option<Lab> {
    testkit::postgres::test_cluster()?;
    let lab = Lab::empty_on(Backend::Postgres);
    lab.run(&["init"]).success();
    Some(lab)
}

#[test]
fn db_keeps_the_revocation_database_in_postgres() {
    let Some(lab) = postgres_lab() else { return };
    let db = lab.db.as_ref().unwrap();
    assert!(!lab.path("revocation.db").exists(), "no SQLite file");
    let toml = fs::read_to_string(lab.path("lab.toml")).unwrap();
    assert!(
        toml.contains(&format!("database = \"{}\"", db.url)),
        "{toml}"
    );
    let password = url::Url::parse(&db.url_text)
        .unwrap()
        .password()
        .unwrap()
        .to_string();
    assert!(!toml.contains(&password), "no password in lab.toml: {toml}");
    lab.run(&["revoke", "localhost", "--reason", "keyCompromise"])
        .success();
    assert_eq!(lab.entry("localhost")["status"], "revoked");
    let status = lab.run(&["db", "status"]).success().stdout;
    assert!(status.contains("backend:        PostgreSQL"), "{status}");
    assert!(status.contains("schema version: 2"), "{status}");
    assert!(status.contains(&db.url.to_string()), "{status}");
}

#[test]
fn a_postgres_lab_needs_its_db_on_every_command() {
    let Some(lab) = postgres_lab() else { return };
    let db = lab.db.as_ref().unwrap();
    let before = lab.snapshot();
    // Without --db: the lab names where its database is.
    let out = Out::of(
        testca()
            .current_dir(lab.tmp.path())
            .arg("--dir")
            .arg(&lab.dir)
            .args(["revoke", "localhost"]),
    );
    out.testca_error(&[&db.url.to_string(), "pass its URL", "OCSPLAB_DB"]);
    // Another database: refused, naming both.
    let other = testkit::postgres::url_with(&db.url_text, "another_lab", None);
    let out = Out::of(lab.cmd(&["revoke", "localhost"]).env("OCSPLAB_DB", &other));
    out.testca_error(&["another_lab", &db.url.to_string(), "the lab's own database"]);
    assert_eq!(lab.snapshot(), before, "nothing changed");
}

#[test]
fn a_sqlite_lab_refuses_a_db_url() {
    let lab = Lab::empty_on(Backend::Sqlite);
    lab.run(&["init"]).success();
    let out = lab.run(&[
        "--db",
        "postgres://lab:secret-pw@127.0.0.1:5432/lab",
        "list",
    ]);
    out.testca_error(&["revocation.db", "leave out --db"]);
    assert!(!out.stderr.contains("secret-pw"), "{out:#?}");
    let status = lab.run(&["db", "status"]).success().stdout;
    assert!(status.contains("backend:        SQLite"), "{status}");
    lab.run(&["db", "grant-reader", "ocsplab_reader"])
        .testca_error(&["PostgreSQL", "SQLite has no roles"]);
}

#[test]
fn bad_db_urls_get_one_line_naming_them_without_the_password() {
    let lab = Lab::empty_on(Backend::Sqlite);
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://lab:secret-pw@127.0.0.1:{port}/lab");
    let out = lab.run(&["--db", &url, "init"]);
    out.testca_error(&[
        &format!("postgres://lab@127.0.0.1:{port}/lab"),
        "cannot reach",
        "check the host and port",
    ]);
    assert!(!out.stderr.contains("secret-pw"), "{out:#?}");
    assert!(!lab.dir.exists(), "the lab directory is not made");
    // Not a PostgreSQL URL: a usage error.
    lab.run(&["--db", "mysql://root:secret-pw@db/lab", "init"])
        .clap_error("error: invalid value", &["--db", "postgres://"]);
    lab.run(&["--db", "revocation.db", "init"])
        .clap_error("error: invalid value", &["not a PostgreSQL URL"]);
}

#[test]
fn a_wrong_db_password_is_a_refused_login() {
    let Some(lab) = postgres_lab() else { return };
    let db = lab.db.as_ref().unwrap();
    let wrong = db.url_as("postgres", "secret-pw");
    let out = Out::of(lab.cmd(&["list"]).env("OCSPLAB_DB", &wrong));
    out.testca_error(&["refused the login", "check the user and password"]);
    assert!(!out.stderr.contains("secret-pw"), "{out:#?}");
}

#[test]
fn db_grant_reader_lets_a_role_read_statuses_but_not_signer_keys() {
    let Some(_) = testkit::postgres::test_cluster() else {
        return;
    };
    let lab = Lab::empty_on(Backend::Postgres);
    let db = lab.db.as_ref().unwrap();
    // Owned: the database is dropped (with `lab`) before the roles are.
    let (name, admin) = db
        .postgres()
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .unwrap();
    let (name, admin) = (name.as_str(), admin.as_str());
    let (writer, reader) = (format!("{name}_w"), format!("{name}_r"));
    let in_db = testkit::postgres::url_with(admin, name, None);
    common::backend::admin_sql(
        admin,
        &[
            &format!("CREATE ROLE \"{writer}\" LOGIN PASSWORD 'writer-pw'"),
            &format!("CREATE ROLE \"{reader}\" LOGIN PASSWORD 'reader-pw'"),
            &format!("ALTER DATABASE \"{name}\" OWNER TO \"{writer}\""),
        ],
    );
    common::backend::admin_sql(
        &in_db,
        &[&format!("ALTER SCHEMA public OWNER TO \"{writer}\"")],
    );
    let as_writer = db.url_as(&writer, "writer-pw");
    Out::of(lab.cmd(&["init"]).env("OCSPLAB_DB", &as_writer)).success();
    let out = Out::of(
        lab.cmd(&["db", "grant-reader", &reader])
            .env("OCSPLAB_DB", &as_writer),
    )
    .success();
    assert!(out.stdout.contains("no signer keys"), "{out:#?}");
    // A bad role name is refused before any SQL is built from it.
    Out::of(
        lab.cmd(&["db", "grant-reader", "x; DROP TABLE certificates"])
            .env("OCSPLAB_DB", &as_writer),
    )
    .testca_error(&["invalid role name"]);

    let as_reader = db.url_as(&reader, "reader-pw");
    let rt = runtime();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(&as_reader).await.unwrap();
        let good: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM certificates WHERE name = 'localhost' AND revoked_at IS NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(good, 1, "the reader reads statuses");
        let refused = sqlx::query("SELECT key_pem FROM ocsp_signers")
            .fetch_all(&pool)
            .await
            .unwrap_err();
        let code = refused.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("42501"), "{refused}");
        let refused = sqlx::query("UPDATE certificates SET revoked_at = 0")
            .execute(&pool)
            .await
            .unwrap_err();
        let code = refused.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("42501"), "{refused}");
        pool.close().await;
    });
    // A testca command as the reader: a one-line refusal naming the fix.
    Out::of(
        lab.cmd(&["revoke", "localhost"])
            .env("OCSPLAB_DB", &as_reader),
    )
    .testca_error(&["refused", "writer role"]);
    assert_eq!(lab.entry("localhost")["status"], "good");
    common::backend::admin_sql(
        &in_db,
        &[&format!(
            "REASSIGN OWNED BY \"{writer}\" TO postgres; DROP OWNED BY \"{writer}\", \"{reader}\""
        )],
    );
    drop(lab);
    common::backend::admin_sql(
        admin,
        &[
            &format!("DROP ROLE IF EXISTS \"{reader}\""),
            &format!("DROP ROLE IF EXISTS \"{writer}\""),
        ],
    );
}
