//! Labs whose revocation database is in PostgreSQL, for the scale-out tests
//! and the revocation-visibility benchmark: a fresh database (and reader
//! role) in a cluster, a lab made on it by the real `testca init --db`, and
//! responders connected as the reader role.
//!
//! The cluster is either the one `scripts/test` starts and names in
//! `OCSPLAB_TEST_PG` (shared by the tests, so nothing here stops it), or a
//! [`Cluster`] of a test's own (`scripts/pg-cluster`), which it may stop and
//! resume. Statements run through `psql`, which Debian's `postgresql` brings.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tempfile::TempDir;

use crate::harness::{
    COMMAND_TIMEOUT, Output, Server, ServerSpec, StartError, TestLab, binary, free_port, run, skip,
};

pub use testkit::postgres::{TEST_PG, test_cluster, url_with};

/// `scripts/pg-cluster` of the workspace.
fn pg_cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-cluster")
}

/// A throw-away PostgreSQL cluster of one test (`scripts/pg-cluster`), which
/// it may stop and resume; stopped and deleted on drop.
#[derive(Debug)]
pub struct Cluster {
    dir: TempDir,
    /// The superuser's URL, with its password.
    pub admin: String,
    running: bool,
}

impl Cluster {
    /// Starts a cluster; `None` after reporting the test skipped when
    /// PostgreSQL is not installed.
    #[track_caller]
    pub fn start() -> Option<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("ocsplab-pg-")
            .tempdir()
            .expect("cannot create a temporary directory");
        // As root the cluster runs as the `postgres` user, who must reach DIR inside.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("cannot open the temporary directory to the postgres user");
        }
        let data = dir.path().join("cluster");
        let out = run(
            Command::new(pg_cluster_script()).arg("start").arg(&data),
            COMMAND_TIMEOUT * 2,
        );
        if out.code == Some(77) {
            skip(&format!("no PostgreSQL here: {}", out.stderr.trim()));
            return None;
        }
        let out = out.success();
        Some(Cluster {
            admin: out.stdout.trim().to_string(),
            dir,
            running: true,
        })
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    /// Stops the server (fast shutdown: sessions are ended).
    #[track_caller]
    pub fn stop(&mut self) {
        run(
            Command::new(pg_cluster_script())
                .arg("stop")
                .arg(self.data()),
            COMMAND_TIMEOUT,
        )
        .success();
        self.running = false;
    }

    /// Starts the stopped server again, on the same port.
    #[track_caller]
    pub fn resume(&mut self) {
        run(
            Command::new(pg_cluster_script())
                .arg("resume")
                .arg(self.data()),
            COMMAND_TIMEOUT,
        )
        .success();
        self.running = true;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let _ = run(
                Command::new(pg_cluster_script())
                    .arg("stop")
                    .arg(self.data()),
                COMMAND_TIMEOUT,
            );
        }
    }
}

/// Runs SQL statements as `url`'s user with `psql`; their output (unaligned, tuples only).
#[track_caller]
pub fn psql(url: &str, statements: &[&str]) -> String {
    let mut cmd = Command::new("psql");
    cmd.arg(url)
        .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
    for statement in statements {
        cmd.arg("-c").arg(statement);
    }
    run(&mut cmd, COMMAND_TIMEOUT).success().stdout
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A lab on a fresh PostgreSQL database: the writer is the cluster's
/// superuser (as `testca`), the responders connect as a reader role made for
/// it and granted with `testca db grant-reader`. The database and the role
/// are dropped on drop (when the cluster is still up).
#[derive(Debug)]
pub struct PgLab {
    /// The lab (its directory holds the signers' key files the responders read).
    pub lab: TestLab,
    admin: String,
    database: String,
    reader: String,
    /// The writer's URL (with password), for `testca --db`.
    pub writer_url: String,
    /// The reader's URL (with password), for `responder --db`.
    pub reader_url: String,
    /// The reader's password (to check it is never shown).
    pub reader_password: String,
}

impl PgLab {
    /// A lab on a new database of the cluster whose superuser URL is `admin`.
    #[track_caller]
    pub fn init(admin: &str) -> PgLab {
        let tag = format!(
            "{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand_suffix()
        );
        let database = format!("lab_{tag}");
        let reader = format!("reader_{tag}");
        let reader_password = format!("pw{}", rand_suffix());
        psql(
            admin,
            &[
                &format!("CREATE DATABASE \"{database}\""),
                &format!("CREATE ROLE \"{reader}\" LOGIN PASSWORD '{reader_password}'"),
            ],
        );
        let writer_url = url_with(admin, &database, None);
        let reader_url = url_with(admin, &database, Some((&reader, &reader_password)));
        let lab = TestLab::init(&["--db", &writer_url]);
        let pg = PgLab {
            lab,
            admin: admin.to_string(),
            database,
            reader,
            writer_url,
            reader_url,
            reader_password,
        };
        pg.testca(&["db", "grant-reader", &pg.reader]).success();
        pg
    }

    /// The database's name.
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The reader role's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Runs `testca --dir LAB --db WRITER ARGS` (bounded by [`COMMAND_TIMEOUT`]).
    pub fn testca(&self, args: &[&str]) -> Output {
        run(
            self.lab
                .testca_command()
                .arg("--db")
                .arg(&self.writer_url)
                .args(args),
            COMMAND_TIMEOUT,
        )
    }

    /// `testca issue NAME`: the new certificate's serial (hex).
    #[track_caller]
    pub fn issue(&self, name: &str) -> String {
        self.testca(&["issue", name])
            .success()
            .stdout
            .trim()
            .to_string()
    }

    /// `testca revoke NAME ARGS`.
    #[track_caller]
    pub fn revoke(&self, name: &str, args: &[&str]) {
        let mut all = vec!["revoke", name];
        all.extend_from_slice(args);
        self.testca(&all).success();
    }

    /// Runs SQL as the cluster's superuser, in this lab's database.
    #[track_caller]
    pub fn admin_sql(&self, statements: &[&str]) -> String {
        psql(&url_with(&self.admin, &self.database, None), statements)
    }

    /// Starts `responder --dir LAB --db READER --listen 127.0.0.1:PORT ARGS`
    /// on a free port and waits until `/health` answers 200.
    pub fn start_responder(&self, args: &[&str]) -> Result<Server, StartError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let mut all: Vec<std::ffi::OsString> = vec![
            "--dir".into(),
            self.lab.dir().into(),
            "--db".into(),
            self.reader_url.clone().into(),
            "--listen".into(),
            addr.to_string().into(),
        ];
        all.extend(args.iter().map(Into::into));
        Server::start(&ServerSpec {
            name: "responder".into(),
            program: binary("responder"),
            args: all,
            env: Vec::new(),
            addr,
            ready_line: Some(format!("responder listening on http://{addr}/")),
            health_path: Some("/health".into()),
            log_dir: self.lab.tmp().join("logs"),
        })
    }

    /// [`PgLab::start_responder`], retried on another port when the port was taken.
    #[track_caller]
    pub fn responder(&self, args: &[&str]) -> Server {
        let mut last = None;
        for _ in 0..crate::harness::START_ATTEMPTS {
            match self.start_responder(args) {
                Ok(server) => return server,
                Err(StartError::AddrInUse(log)) => last = Some(log),
                Err(e) => panic!("the responder did not start: {e}"),
            }
        }
        panic!("no free port for the responder: {last:?}")
    }
}

impl Drop for PgLab {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let statements = [
            format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database),
            format!("DROP ROLE IF EXISTS \"{}\"", self.reader),
        ];
        // Best effort: a test's own cluster may be stopped already.
        let mut cmd = Command::new("psql");
        cmd.arg(&admin).args(["-X", "-q", "-v", "ON_ERROR_STOP=1"]);
        for statement in &statements {
            cmd.arg("-c").arg(statement);
        }
        let _ = run(&mut cmd, COMMAND_TIMEOUT);
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}
