//! Crashes: `testca` writers and the responder killed with SIGKILL at any
//! moment. What was acknowledged stays (every revocation a command reported
//! is in `testca list` and in a fresh responder's answers), every
//! certificate has all its files or does not exist, the next command
//! completes or rolls back what a crashed one left (saying so in one line),
//! and SQLite's integrity check passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use integration::harness::{COMMAND_TIMEOUT, Server, StartError, TestLab, http_post, run};
use integration::ocsp::{HashAlg, basic, load_cert, openssl_request};
use openssl::ocsp::{OcspCertId, OcspCertStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The four files of a leaf.
const LEAF_FILES: [&str; 4] = ["cert.pem", "key.pem", "chain.pem", "fullchain.pem"];

/// How long the random part of the crash test runs.
const CRASH_PHASE: Duration = Duration::from_secs(20);

/// Entries of `certs/` (and of `certs/NAME/`) that only an unfinished command leaves.
fn leftovers(lab: &TestLab) -> Vec<String> {
    let mut found = Vec::new();
    let certs = lab.path("certs");
    for entry in std::fs::read_dir(&certs).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            found.push(name);
        } else if entry.path().is_dir() {
            for inner in std::fs::read_dir(entry.path()).unwrap().flatten() {
                let inner = inner.file_name().to_string_lossy().into_owned();
                if inner.starts_with('.') {
                    found.push(format!("{name}/{inner}"));
                }
            }
        }
    }
    found
}

/// `testca list --json`: name → (kind, serial, status) of the newest certificate of each name.
fn listed(lab: &TestLab) -> (BTreeMap<String, (String, String, String)>, String) {
    let out = lab.testca(&["list", "--json"]).success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("list --json is JSON");
    let mut certs = BTreeMap::new();
    for cert in json.as_array().expect("an array") {
        let field = |k: &str| cert[k].as_str().unwrap_or_default().to_string();
        // Oldest first: a later one of the same name (a --replace) wins.
        certs.insert(
            field("name"),
            (field("kind"), field("serial"), field("status")),
        );
    }
    (certs, out.stderr)
}

/// The serial of the first certificate in a PEM file (upper-case hex).
fn serial_of(path: &Path) -> String {
    let cert = load_cert(path);
    let bn = cert.serial_number().to_bn().unwrap();
    bn.to_hex_str().unwrap().to_string().to_uppercase()
}

/// Asserts every leaf in the database has its four files, holding it.
#[track_caller]
fn assert_every_leaf_has_its_files(
    lab: &TestLab,
    certs: &BTreeMap<String, (String, String, String)>,
) {
    for (name, (kind, serial, _)) in certs {
        if kind != "leaf" {
            continue;
        }
        for file in LEAF_FILES {
            let path = lab.path(&format!("certs/{name}/{file}"));
            assert!(
                path.is_file(),
                "{name} is in the database but {file} is missing"
            );
        }
        let on_disk = serial_of(&lab.path(&format!("certs/{name}/cert.pem")));
        assert_eq!(
            on_disk.trim_start_matches('0'),
            serial.trim_start_matches('0'),
            "certs/{name}/cert.pem holds the certificate the database has"
        );
    }
}

/// SQLite's own check of the database file, run by an independent client.
fn integrity_check(db: &Path) -> String {
    let script = "import sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1])\n\
        print('; '.join(r[0] for r in c.execute('PRAGMA integrity_check')))\n";
    let out = run(
        Command::new("python3").args(["-c", script]).arg(db),
        COMMAND_TIMEOUT,
    )
    .success();
    out.stdout.trim().to_string()
}

/// The status a responder gives for `certs/NAME`.
fn responder_status(lab: &TestLab, responder: &Server, name: &str) -> OcspCertStatus {
    let cert = load_cert(&lab.cert(name));
    let issuer = load_cert(&lab.intermediate_cert());
    let request = openssl_request(&[(&cert, &issuer)], HashAlg::Sha1);
    let response = http_post(responder.addr(), "/", "application/ocsp-request", &request)
        .unwrap_or_else(|e| panic!("POST to the responder: {e}"));
    let basic = basic(&response.body);
    let id = OcspCertId::from_cert(HashAlg::Sha1.digest(), &cert, &issuer).unwrap();
    basic
        .find_status(&id)
        .unwrap_or_else(|| panic!("no answer for {name}"))
        .status
}

/// Starts a responder on the lab's port, waiting while a killed one's port lingers.
fn start_responder(lab: &TestLab) -> Server {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match lab.start_responder(&[]) {
            Ok(server) => return server,
            Err(StartError::AddrInUse(_)) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("the responder did not start: {e}"),
        }
    }
}

fn sigkill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

// ------------------------------------------------------------------ recovery, step by step

#[test]
fn an_issue_interrupted_after_its_commit_is_completed_and_an_uncommitted_one_rolled_back() {
    let lab = TestLab::init(&[]);
    let serial = lab.issue("shop", &[]);
    // A crash after the commit, before the rename: the files are still staged.
    std::fs::rename(lab.path("certs/shop"), lab.path("certs/.shop.new-AbC123")).unwrap();
    // A crash before the commit: staged files (a key among them) of a certificate that never was.
    std::fs::create_dir(lab.path("certs/.ghost.new-XyZ789")).unwrap();
    for file in LEAF_FILES {
        std::fs::copy(
            lab.path(&format!("certs/localhost/{file}")),
            lab.path(&format!("certs/.ghost.new-XyZ789/{file}")),
        )
        .unwrap();
    }
    // Temporary files of atomic writes that never finished.
    std::fs::write(lab.path("certs/.tmp-Qw1234"), "half").unwrap();
    std::fs::write(lab.path("ca/intermediate/.tmp-Er5678"), "half").unwrap();

    let (certs, stderr) = listed(&lab);
    assert_eq!(
        stderr.trim(),
        "testca: recovered from an interrupted command: completed the issue of shop; \
         rolled back 1 unfinished issue (1 private key deleted); removed 2 temporary files"
    );
    assert_eq!(certs["shop"].1, serial);
    assert_every_leaf_has_its_files(&lab, &certs);
    assert_eq!(leftovers(&lab), Vec::<String>::new());
    assert!(!lab.path("ca/intermediate/.tmp-Er5678").exists());
    // The name of the rolled-back issue is free, and nothing is left to recover.
    lab.issue("ghost", &[]);
    let (_, stderr) = listed(&lab);
    assert_eq!(stderr, "", "a second command has nothing to recover");
}

#[test]
fn a_replace_interrupted_between_its_renames_is_completed() {
    let lab = TestLab::init(&[]);
    lab.issue("shop", &[]);
    let new_serial = lab.issue("shop", &["--replace"]);
    // The crash left the new files staged and the old directory moved aside.
    std::fs::rename(lab.path("certs/shop"), lab.path("certs/.shop.new-Rp0001")).unwrap();
    std::fs::create_dir(lab.path("certs/.shop.old-4242")).unwrap();
    std::fs::write(lab.path("certs/.shop.old-4242/key.pem"), "old key").unwrap();
    let (certs, stderr) = listed(&lab);
    assert!(stderr.contains("completed the issue of shop"), "{stderr}");
    assert_eq!(certs["shop"].1, new_serial);
    assert_every_leaf_has_its_files(&lab, &certs);
    assert_eq!(leftovers(&lab), Vec::<String>::new());
}

#[test]
fn signer_files_left_stale_by_a_crash_are_rewritten_from_the_database() {
    let lab = TestLab::init(&[]);
    let signer = lab.path("ca/intermediate/ocsp-signer/cert.pem");
    let good = std::fs::read(&signer).unwrap();
    // A crash after the signer's commit, before its files were written.
    std::fs::copy(lab.root_cert(), &signer).unwrap();
    let (_, stderr) = listed(&lab);
    assert_eq!(
        stderr.trim(),
        "testca: recovered from an interrupted command: rewrote the files of intermediate-ocsp-signer"
    );
    assert_eq!(std::fs::read(&signer).unwrap(), good);
}

// ------------------------------------------------------------------ kill -9 at random

/// What a writer was doing.
#[derive(Debug)]
enum Job {
    Issue(String),
    Revoke(String),
}

#[test]
fn acknowledged_revocations_survive_writers_and_responder_killed_at_random() {
    let seed: u64 = std::env::var("OCSPLAB_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    println!("crash test seed {seed} (rerun with OCSPLAB_CRASH_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);

    let lab = TestLab::init(&[]);
    let mut responder = start_responder(&lab);
    let mut issued: Vec<String> = Vec::new(); // acknowledged, not yet asked to be revoked
    let mut revoked: BTreeSet<String> = BTreeSet::new(); // acknowledged revocations
    let (mut next, mut killed, mut acknowledged, mut responder_kills) = (0, 0, 0, 0);
    let started = Instant::now();
    while started.elapsed() < CRASH_PHASE {
        // Up to three writers at once, issuing and revoking.
        let mut writers: Vec<(Job, Child)> = Vec::new();
        for _ in 0..rng.random_range(1..=3) {
            let job = if !issued.is_empty() && rng.random_bool(0.5) {
                Job::Revoke(issued.swap_remove(rng.random_range(0..issued.len())))
            } else {
                next += 1;
                Job::Issue(format!("c{next}"))
            };
            let mut cmd = lab.testca_command();
            match &job {
                Job::Issue(name) => cmd.args(["issue", name]),
                Job::Revoke(name) => cmd.args(["revoke", name, "--reason", "keyCompromise"]),
            };
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn testca");
            writers.push((job, child));
        }
        // Kill some of them at a random moment of their run.
        thread::sleep(Duration::from_millis(rng.random_range(0..150)));
        for (_, child) in &mut writers {
            if rng.random_bool(0.5) {
                let _ = child.kill();
            }
        }
        if rng.random_bool(0.1) {
            sigkill(responder.pid());
            let _ = responder.stop();
            responder = start_responder(&lab);
            responder_kills += 1;
        }
        for (job, child) in writers {
            let out = child.wait_with_output().expect("wait for testca");
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                // Killed: the outcome is unknown, and a later command's recovery decides it.
                None => killed += 1,
                Some(0) => {
                    acknowledged += 1;
                    match job {
                        Job::Issue(name) => issued.push(name),
                        Job::Revoke(name) => {
                            revoked.insert(name);
                        }
                    }
                }
                Some(code) => panic!(
                    "seed {seed}: testca {job:?} failed (exit {code}) without being killed: {stderr}"
                ),
            }
        }
    }
    println!(
        "{acknowledged} acknowledged, {killed} killed writers, {responder_kills} responder kills, \
         {} acknowledged revocations",
        revoked.len()
    );
    assert!(
        killed > 0 && !revoked.is_empty(),
        "seed {seed}: the test exercised nothing"
    );

    // The next command recovers; afterwards nothing is left over.
    let (certs, _) = listed(&lab);
    assert_eq!(leftovers(&lab), Vec::<String>::new(), "seed {seed}");
    assert_every_leaf_has_its_files(&lab, &certs);
    for name in &revoked {
        let status = certs.get(name).map(|c| c.2.as_str());
        assert_eq!(
            status,
            Some("revoked"),
            "seed {seed}: {name} in testca list"
        );
    }
    for name in &issued {
        assert!(
            certs.contains_key(name),
            "seed {seed}: acknowledged issue of {name} is lost"
        );
    }
    // A fresh responder answers from what is on disk.
    sigkill(responder.pid());
    let _ = responder.stop();
    let fresh = start_responder(&lab);
    for name in &revoked {
        assert_eq!(
            responder_status(&lab, &fresh, name),
            OcspCertStatus::REVOKED,
            "seed {seed}: the responder's answer for {name}"
        );
    }
    for name in issued.iter().take(5) {
        assert_eq!(responder_status(&lab, &fresh, name), OcspCertStatus::GOOD);
    }
    drop(fresh);
    assert_eq!(
        integrity_check(&lab.path("revocation.db")),
        "ok",
        "seed {seed}"
    );
}
