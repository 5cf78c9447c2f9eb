//! Helpers of the `testca` command-line tests: run the real binary in a
//! fresh directory, and look at what it made with OpenSSL (the crate, and
//! the `openssl` command line where the crate has no API), never with rcgen.

use std::fs;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use openssl::nid::Nid;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509StoreContext};
use serde_json::Value;
use tempfile::TempDir;
use testca::{Store, StoreOptions};

pub mod backend;

use backend::{Backend, TestDb};

/// Set to `postgres` to run the command-line suite with every lab's
/// database in PostgreSQL (`OCSPLAB_TEST_PG` names the cluster): `scripts/test`
/// runs this suite once per backend.
pub const TEST_BACKEND: &str = "OCSPLAB_TEST_BACKEND";

/// The backend the command-line suite runs on.
pub fn suite_backend() -> Backend {
    match std::env::var(TEST_BACKEND).as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// The `testca` binary with a clean environment: no lab directory, lock
/// timeout or log filter inherited from whoever runs the tests.
pub fn testca() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_testca"));
    cmd.env_remove("OCSPLAB_DIR")
        .env_remove("OCSPLAB_DB")
        .env_remove("OCSPLAB_LOCK_TIMEOUT")
        .env_remove("RUST_LOG");
    cmd
}

/// What a finished process showed.
#[derive(Debug)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Captures a process run.
    pub fn of(cmd: &mut Command) -> Out {
        let Output {
            status,
            stdout,
            stderr,
        } = cmd.output().expect("cannot run testca");
        Out {
            code: status.code(),
            stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
        }
    }

    /// Asserts exit code 0 and returns self.
    #[track_caller]
    pub fn success(self) -> Out {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        self
    }

    /// Asserts a failure reported by testca itself: non-zero exit, nothing on
    /// stdout, and one line on stderr starting with `testca: ` and containing
    /// every needle.
    #[track_caller]
    pub fn testca_error(&self, needles: &[&str]) {
        assert_ne!(self.code, Some(0), "expected failure: {self:#?}");
        assert!(self.code.is_some(), "killed by a signal: {self:#?}");
        assert_eq!(self.stdout, "", "nothing on stdout on failure: {self:#?}");
        let line = self.stderr.trim_end();
        assert!(!line.contains('\n'), "one-line error expected: {self:#?}");
        assert!(line.starts_with("testca: "), "{self:#?}");
        for needle in needles {
            assert!(
                line.contains(needle),
                "error should name {needle:?}: {self:#?}"
            );
        }
    }

    /// Asserts a command-line parse error reported by clap: exit code 2 and a
    /// first stderr line starting with `prefix` and containing every needle.
    #[track_caller]
    pub fn clap_error(&self, prefix: &str, needles: &[&str]) {
        assert_eq!(self.code, Some(2), "expected a usage error: {self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        let first = self.stderr.lines().next().unwrap_or_default();
        assert!(first.starts_with(prefix), "{self:#?}");
        for needle in needles {
            assert!(
                first.contains(needle),
                "error should name {needle:?}: {self:#?}"
            );
        }
    }
}

/// A lab directory inside a fresh temporary directory.
pub struct Lab {
    /// Kept so that the directory lives as long as the test.
    pub tmp: TempDir,
    /// The lab directory (`<tmp>/lab`).
    pub dir: PathBuf,
    /// The lab's PostgreSQL database, passed to every command as OCSPLAB_DB
    /// (`None`: the SQLite file in the lab directory).
    pub db: Option<TestDb>,
}

impl Lab {
    /// A temporary directory; the lab directory in it does not exist yet.
    /// Its database is on the suite's backend ([`suite_backend`]).
    pub fn empty() -> Lab {
        Lab::empty_on(suite_backend())
    }

    /// A temporary directory whose lab keeps its database on `backend`.
    pub fn empty_on(backend: Backend) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let db = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                Some(TestDb::new(Backend::Postgres).expect("OCSPLAB_TEST_PG names the cluster"))
            }
        };
        Lab { tmp, dir, db }
    }

    /// Whether the lab's database is in PostgreSQL (no `revocation.db` file).
    pub fn on_postgres(&self) -> bool {
        self.db.is_some()
    }

    /// A lab made by `testca init` with `args`.
    pub fn init(args: &[&str]) -> Lab {
        let lab = Lab::empty();
        let mut all = vec!["init"];
        all.extend_from_slice(args);
        lab.run(&all).success();
        lab
    }

    /// The bare `testca` command (no `--dir`), with the lab's database in
    /// its environment when that is PostgreSQL.
    pub fn testca(&self) -> Command {
        let mut cmd = testca();
        if let Some(db) = &self.db {
            cmd.env("OCSPLAB_DB", &db.url_text);
        }
        cmd
    }

    /// `testca --dir <lab> ARGS`, run in the temporary directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.testca();
        cmd.current_dir(self.tmp.path())
            .arg("--dir")
            .arg(&self.dir)
            .args(args);
        cmd
    }

    /// Runs `testca --dir <lab> ARGS`.
    pub fn run(&self, args: &[&str]) -> Out {
        Out::of(&mut self.cmd(args))
    }

    /// A path inside the lab.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// A certificate of the lab, parsed by OpenSSL.
    pub fn cert(&self, rel: &str) -> X509 {
        load_cert(&self.path(rel))
    }

    /// `openssl x509 -text` of a certificate of the lab.
    pub fn text(&self, rel: &str) -> String {
        openssl_text(&self.path(rel))
    }

    /// `testca list --json`, as text.
    pub fn list_text(&self) -> String {
        self.run(&["list", "--json"]).success().stdout
    }

    /// `testca list --json`, parsed.
    pub fn list(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.list_text())
            .unwrap()
            .as_array()
            .expect("list --json prints an array")
            .clone()
    }

    /// Every entry of `list --json` with this name, oldest first.
    pub fn entries(&self, name: &str) -> Vec<Value> {
        self.list()
            .into_iter()
            .filter(|e| e["name"] == name)
            .collect()
    }

    /// The only entry of `list --json` with this name.
    #[track_caller]
    pub fn entry(&self, name: &str) -> Value {
        let mut found = self.entries(name);
        assert_eq!(found.len(), 1, "one certificate named {name}: {found:#?}");
        found.remove(0)
    }

    /// The revocation database, opened with the library as another process would.
    pub async fn store(&self) -> Store {
        match &self.db {
            Some(db) => Store::open_in(&db.url, &StoreOptions::default()).await,
            None => Store::open(&self.path("revocation.db"), &StoreOptions::default()).await,
        }
        .unwrap()
    }

    /// What must not change when a command fails: `list --json` and the
    /// database generation.
    pub fn snapshot(&self) -> (String, i64) {
        let generation = block_on(async {
            let store = self.store().await;
            let generation = store.generation().await.unwrap();
            store.close().await;
            generation
        });
        (self.list_text(), generation)
    }
}

/// A fresh single-threaded runtime.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Runs a future to completion on a fresh single-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// A PEM certificate file, parsed by OpenSSL.
pub fn load_cert(path: &Path) -> X509 {
    let pem = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    X509::from_pem(&pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every certificate of a PEM file (none for an empty file).
pub fn load_certs(path: &Path) -> Vec<X509> {
    let pem = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    X509::stack_from_pem(&pem).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `openssl x509 -noout -text -in PATH`.
pub fn openssl_text(path: &Path) -> String {
    let out = Out::of(
        Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(path),
    )
    .success();
    out.stdout
}

/// The value of an extension in `openssl x509 -text` output: the rest of the
/// header line (e.g. `critical`) and the more indented lines below it.
pub fn extension(text: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let header = format!("{name}:");
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&header))?;
    let indent = |l: &str| l.len() - l.trim_start().len();
    let own = indent(lines[at]);
    let mut value = vec![lines[at].trim_start()[header.len()..].trim().to_string()];
    value.extend(
        lines[at + 1..]
            .iter()
            .take_while(|l| l.trim().is_empty() || indent(l) > own)
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty()),
    );
    Some(value.join(" ").trim().to_string())
}

/// Verifies `leaf` against the single trust anchor `root`, with the
/// certificates of `untrusted` as intermediates, at the current time.
pub fn verify(root: &Path, untrusted: &Path, leaf: &Path) -> Result<(), String> {
    let mut builder = X509StoreBuilder::new().unwrap();
    builder.add_cert(load_cert(root)).unwrap();
    let store = builder.build();
    let mut chain = Stack::new().unwrap();
    for cert in load_certs(untrusted) {
        chain.push(cert).unwrap();
    }
    let leaf = load_cert(leaf);
    let mut ctx = X509StoreContext::new().unwrap();
    let (ok, error) = ctx
        .init(&store, &leaf, &chain, |c| Ok((c.verify_cert()?, c.error())))
        .unwrap();
    if ok {
        Ok(())
    } else {
        Err(error.error_string().to_string())
    }
}

/// The serial of a certificate as upper-case hex of its magnitude, and
/// whether OpenSSL reads it as negative.
pub fn serial_of(cert: &X509) -> (String, bool) {
    let bn = cert.serial_number().to_bn().unwrap();
    (hex_upper(&bn.to_vec()), bn.is_negative())
}

/// Upper-case hex.
pub fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The DNS names and IP addresses of a certificate's subjectAltName.
pub fn sans(cert: &X509) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in cert.subject_alt_names().into_iter().flatten() {
        if let Some(d) = name.dnsname() {
            dns.push(d.to_string());
        }
        if let Some(ip) = name.ipaddress() {
            ips.push(match ip.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(ip).unwrap()),
                16 => IpAddr::from(<[u8; 16]>::try_from(ip).unwrap()),
                n => panic!("IP address of {n} bytes"),
            });
        }
    }
    (dns, ips)
}

/// The URIs of a certificate's Authority Information Access with this method.
fn aia_uris(cert: &X509, method: Nid) -> Vec<String> {
    cert.authority_info()
        .into_iter()
        .flatten()
        .filter(|ad| ad.method().nid() == method)
        .filter_map(|ad| ad.location().uri().map(str::to_string))
        .collect()
}

/// The CA Issuers URIs of a certificate's Authority Information Access.
pub fn ca_issuers(cert: &X509) -> Vec<String> {
    aia_uris(cert, Nid::AD_CA_ISSUERS)
}

/// The OCSP URIs of a certificate's Authority Information Access.
pub fn ocsp_uris(cert: &X509) -> Vec<String> {
    aia_uris(cert, Nid::AD_OCSP)
}

/// The full-name URIs of a certificate's CRL distribution points.
pub fn crl_uris(cert: &X509) -> Vec<String> {
    let mut uris = Vec::new();
    for point in cert.crl_distribution_points().into_iter().flatten() {
        let names = point.distpoint().and_then(|d| d.fullname());
        for name in names.into_iter().flatten() {
            if let Some(uri) = name.uri() {
                uris.push(uri.to_string());
            }
        }
    }
    uris
}

/// Unix permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file under `dir`, relative, with its content, sorted.
pub fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                let content = fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), content));
            }
        }
    }
    out.sort();
    out
}
