//! `scripts/lab up` / `status` / `down` end to end: a running lab in which
//! clients see a good staple, no duplicate processes, and a clean stop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::clients::{self, require};
use integration::harness::{self, free_port, run};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab")
}

struct Lab {
    tmp: tempfile::TempDir,
    responder: String,
    stapler: String,
}

impl Lab {
    fn cmd(&self, action: &str) -> Command {
        let mut cmd = Command::new(script());
        cmd.arg(action)
            .current_dir(self.tmp.path())
            .env("OCSPLAB_DIR", self.tmp.path().join("lab"))
            .env("OCSPLAB_RESPONDER_LISTEN", &self.responder)
            .env("OCSPLAB_STAPLER_LISTEN", &self.stapler)
            // The binaries this test run built: no cargo inside cargo test.
            .env("OCSPLAB_BIN_DIR", harness::bin_dir())
            .env_remove("RUST_LOG");
        cmd
    }

    fn pids(&self) -> Vec<String> {
        ["responder", "stapler"]
            .iter()
            .map(|n| {
                std::fs::read_to_string(self.tmp.path().join(format!("lab/run/{n}.pid")))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = run(&mut self.cmd("down"), Duration::from_secs(30));
    }
}

#[test]
fn lab_up_gives_a_stapled_lab_and_down_stops_exactly_what_it_started() {
    if !require("openssl") || !require("curl") {
        return;
    }
    let lab = Lab {
        tmp: tempfile::tempdir().expect("tempdir"),
        responder: format!("127.0.0.1:{}", free_port()),
        stapler: format!("127.0.0.1:{}", free_port()),
    };
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(90));
    assert_eq!(up.code, Some(0), "scripts/lab up:\n{up}");
    assert!(up.stdout.contains("The OCSP Lab is up."), "{up}");
    assert!(
        up.stdout.contains("stapler check") && up.stdout.contains("openssl s_client"),
        "it prints commands to try:\n{up}"
    );

    let ca = lab.tmp.path().join("lab/ca/root/cert.pem");
    let addr = lab.stapler.parse().expect("address");
    let seen = clients::s_client(addr, "localhost", &ca);
    assert_eq!(
        seen.status.as_deref(),
        Some("good"),
        "openssl s_client -status shows Cert Status: good:\n{}",
        seen.output
    );
    let seen = clients::curl_cert_status(addr, "localhost", &ca);
    assert!(
        seen.accepted,
        "curl --cert-status succeeds:\n{}",
        seen.output
    );

    let status = run(&mut lab.cmd("status"), Duration::from_secs(10));
    assert!(
        status.stdout.contains("responder: running") && status.stdout.contains("stapler: running"),
        "{status}"
    );

    // Twice: no duplicates, the lab is kept.
    let pids = lab.pids();
    let root_before = std::fs::read(&ca).expect("root");
    let again = run(lab.cmd("up").arg("--detach"), Duration::from_secs(90));
    assert_eq!(again.code, Some(0), "{again}");
    assert!(again.stdout.contains("already runs"), "{again}");
    assert_eq!(lab.pids(), pids, "no second responder or stapler");
    assert_eq!(
        std::fs::read(&ca).expect("root"),
        root_before,
        "the lab was not re-created"
    );

    let down = run(&mut lab.cmd("down"), Duration::from_secs(30));
    assert!(
        down.stdout.contains("stopped the stapler")
            && down.stdout.contains("stopped the responder"),
        "{down}"
    );
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} was stopped"
        );
    }
    let status = run(&mut lab.cmd("status"), Duration::from_secs(10));
    assert!(
        status.stdout.contains("responder: not running")
            && status.stdout.contains("stapler: not running"),
        "{status}"
    );
}

#[test]
fn lab_up_reports_a_port_already_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let lab = Lab {
        tmp: tempfile::tempdir().expect("tempdir"),
        responder: taken.local_addr().expect("addr").to_string(),
        stapler: format!("127.0.0.1:{}", free_port()),
    };
    let up = run(lab.cmd("up").arg("--detach"), Duration::from_secs(60));
    assert_ne!(up.code, Some(0), "{up}");
    assert!(
        up.stderr.contains("already in use") && up.stderr.contains(&lab.responder),
        "{up}"
    );
}
