//! Every `--key-alg` the lab offers gives certificates and keys that real
//! servers and libraries use: a stapled handshake through our stapler and
//! through nginx, and every key file the lab writes loaded by `openssl pkey`
//! and by Python's `cryptography` (the independent loaders that refused the
//! PKCS#8 v2 Ed25519 keys rcgen makes by default).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::clients;
use integration::harness::{COMMAND_TIMEOUT, LabOptions, LabResponder, TestLab, run, wait_for};
use integration::ocsp::{HashAlg, Trust, basic, load_cert};
use integration::peers::{Peer, PeerKind, PeerSite};
use openssl::ocsp::{OcspCertId, OcspCertStatus};

const ALGS: [&str; 4] = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa2048"];

/// Debian's interpreter, whose `python3-cryptography` scripts/install-deps
/// installs (the `python3` first on PATH may be another one).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Every `*.pem` under the lab whose content is a private key.
fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path)
                .is_ok_and(|text| text.contains("PRIVATE KEY-----"))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn lab_with(alg: &str) -> LabResponder {
    LabResponder::start_with(&LabOptions {
        init_args: vec!["--key-alg".into(), alg.into()],
        ..LabOptions::default()
    })
}

/// Asserts `der` is a staple for `certs/localhost` that verifies against the lab's root and says good.
#[track_caller]
fn assert_good_staple(lab: &TestLab, der: &[u8], via: &str) {
    let basic = basic(der);
    integration::ocsp::verify(&basic, &Trust::of_lab(lab))
        .unwrap_or_else(|e| panic!("{via}: the staple does not verify: {e}"));
    let id = OcspCertId::from_cert(
        HashAlg::Sha1.digest(),
        &load_cert(&lab.cert("localhost")),
        &load_cert(&lab.intermediate_cert()),
    )
    .unwrap();
    let status = basic
        .find_status(&id)
        .unwrap_or_else(|| panic!("{via}: the staple does not answer for localhost"));
    assert_eq!(status.status, OcspCertStatus::GOOD, "{via}");
}

#[test]
fn every_key_alg_gives_a_stapled_handshake_through_the_stapler() {
    for alg in ALGS {
        let r = lab_with(alg);
        let lab = &r.lab;
        // Four more keys: a leaf issued after init and a reissued signer.
        lab.issue("shop", &[]);
        lab.testca_ok(&["signer"]);
        let stapler = lab.start_stapler(&[]);
        let h = lab
            .tls_client()
            .handshake(stapler.addr())
            .unwrap_or_else(|e| {
                panic!("{alg}: handshake with the stapler: {e}\n{}", stapler.log())
            });
        let der = h
            .staple
            .unwrap_or_else(|| panic!("{alg}: no staple\n{}", stapler.log()));
        assert_good_staple(lab, &der, &format!("{alg} through the stapler"));
        let check = clients::stapler_check(stapler.addr(), "localhost", &lab.root_cert(), false);
        assert!(check.accepted, "{alg}: stapler check: {}", check.output);
    }
}

#[test]
fn every_key_alg_gives_a_stapled_handshake_through_nginx() {
    if !clients::require("nginx") {
        println!("skipped: nginx is not installed");
        return;
    }
    for alg in ALGS {
        let r = lab_with(alg);
        let lab = &r.lab;
        let site = PeerSite {
            chain: lab.path("certs/localhost/fullchain.pem"),
            key: lab.path("certs/localhost/key.pem"),
            trusted: lab.path("ca/bundle.pem"),
            apache_cache_timeout: None,
        };
        let peer = Peer::start(PeerKind::Nginx, &site, &lab.tmp().join("peers"))
            .unwrap_or_else(|e| panic!("{alg}: nginx did not start: {e}"));
        // nginx fetches its staple after the first handshake that asks for it.
        let der = wait_for(
            &format!("{alg}: a staple from nginx"),
            Duration::from_secs(20),
            Duration::from_millis(250),
            || lab.tls_client().handshake(peer.addr()).ok()?.staple,
        );
        assert_good_staple(lab, &der, &format!("{alg} through nginx"));
        let _ = peer.error_log();
    }
}

#[test]
fn every_key_file_the_lab_writes_loads_in_openssl_and_python_cryptography() {
    let python = Path::new(SYSTEM_PYTHON).is_file()
        && run(
            Command::new(SYSTEM_PYTHON).args(["-c", "import cryptography"]),
            COMMAND_TIMEOUT,
        )
        .code
            == Some(0);
    if !python && std::env::var_os("CI").is_some() {
        panic!("python3-cryptography is missing, and CI is set: scripts/install-deps installs it");
    }
    for alg in ALGS {
        let lab = TestLab::init(&["--key-alg", alg]);
        lab.issue("shop", &["--must-staple"]);
        lab.testca_ok(&["signer", "--issuer", "root"]);
        let keys = key_files(lab.dir());
        // root, intermediate, two signers, localhost and shop.
        assert_eq!(keys.len(), 6, "{alg}: {keys:?}");
        for key in &keys {
            let out = run(
                Command::new("openssl")
                    .args(["pkey", "-noout", "-in"])
                    .arg(key),
                COMMAND_TIMEOUT,
            );
            assert_eq!(
                out.code,
                Some(0),
                "{alg}: openssl pkey refuses {}: {}",
                key.display(),
                out.combined()
            );
            if python {
                let script = "import sys\n\
                    from cryptography.hazmat.primitives.serialization import load_pem_private_key\n\
                    load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)\n";
                let out = run(
                    Command::new(SYSTEM_PYTHON).args(["-c", script]).arg(key),
                    COMMAND_TIMEOUT,
                );
                assert_eq!(
                    out.code,
                    Some(0),
                    "{alg}: Python cryptography refuses {}: {}",
                    key.display(),
                    out.combined()
                );
            }
        }
    }
    if !python {
        println!(
            "skipped: Python cryptography checks ({SYSTEM_PYTHON} with python3-cryptography is not installed)"
        );
    }
}
