//! The lab's files as another local user would find them: no secret
//! readable, whatever the umask of the commands that made them. Directories
//! are 0700; the database (which holds the delegated signers' keys), its
//! -wal and -shm, the lock file and every key are 0600.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use integration::harness::{
    COMMAND_TIMEOUT, Output, Server, ServerSpec, TestLab, binary, free_port, run,
};

/// `sh -c 'umask U; exec PROGRAM ARGS'`: the program runs under that umask.
fn under_umask(umask: &str, program: &Path) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(program);
    cmd
}

#[track_caller]
fn testca(umask: &str, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = under_umask(umask, &binary("testca"));
    cmd.arg("--dir").arg(dir).args(args);
    run(&mut cmd, COMMAND_TIMEOUT).success()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every path under `dir` (itself included).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// Asserts the rule of this file on the lab in `dir`.
#[track_caller]
fn assert_private(dir: &Path, context: &str) {
    for path in walk(dir) {
        let m = mode(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            assert_eq!(m, 0o700, "{context}: directory {} is {m:o}", path.display());
        } else if name.starts_with("revocation.db") || name == ".lock" {
            assert_eq!(m, 0o600, "{context}: {} is {m:o}", path.display());
        } else if std::fs::read_to_string(&path).is_ok_and(|t| t.contains("PRIVATE KEY-----")) {
            assert_eq!(m, 0o600, "{context}: key {} is {m:o}", path.display());
        }
    }
}

#[test]
fn lab_directories_are_private_and_database_files_secret_under_any_umask() {
    for umask in ["022", "000"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        testca(
            umask,
            &dir,
            &["init", "--ocsp-url", &format!("http://{addr}/")],
        );
        testca(umask, &dir, &["issue", "shop"]);
        testca(umask, &dir, &["signer", "--issuer", "root"]);
        testca(umask, &dir, &["revoke", "shop"]);
        // A running responder keeps the database open: -wal and -shm exist.
        let mut args: Vec<OsString> = vec![
            "-c".into(),
            format!("umask {umask}; exec \"$0\" \"$@\"").into(),
        ];
        args.push(binary("responder").into());
        args.extend([
            "--dir".into(),
            dir.clone().into(),
            "--listen".into(),
            addr.to_string().into(),
        ]);
        let mut responder = Server::start(&ServerSpec {
            name: "responder".into(),
            program: "sh".into(),
            args,
            env: Vec::new(),
            addr,
            ready_line: Some(format!("responder listening on http://{addr}/")),
            health_path: Some("/health".into()),
            log_dir: tmp.path().join("logs"),
        })
        .unwrap_or_else(|e| panic!("the responder did not start: {e}"));
        testca(umask, &dir, &["issue", "cart"]);
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.join(format!("revocation.db{suffix}"));
            assert!(file.is_file(), "umask {umask}: {} exists", file.display());
        }
        assert_private(&dir, &format!("umask {umask}"));
        responder.stop();
    }
}

#[test]
fn a_lab_made_readable_by_others_is_made_private_on_next_use() {
    let lab = TestLab::init(&[]);
    let loosen = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // What an older testca left under umask 000 / 022.
    loosen(lab.dir(), 0o777);
    loosen(&lab.path("revocation.db"), 0o644);
    lab.testca_ok(&["list"]);
    assert_eq!(mode(lab.dir()), 0o700);
    assert_eq!(mode(&lab.path("revocation.db")), 0o600);
}
