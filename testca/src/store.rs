//! The revocation database: its schema (in `migrations/`) and every query on
//! it. Other modules and crates go through the typed API here; no SQL is
//! written anywhere else.
//!
//! Two backends behind one API, chosen by [`DatabaseUrl`]:
//!
//! * SQLite, the default: the lab's `revocation.db`, in WAL mode with
//!   `synchronous=FULL`, so a revocation is acknowledged only once it is on
//!   disk and readers in other processes see it at once;
//! * PostgreSQL, for several responders on several machines: every write is
//!   a transaction, acknowledged only once committed.
//!
//! The backends share every query (runtime strings with `$N` placeholders,
//! which both accept) and differ only in their migrations
//! (`migrations/sqlite`, `migrations/postgres`), in how they are opened, and
//! in how readers learn of changes ([`ChangeProbe`] for SQLite, `LISTEN` for
//! PostgreSQL, a generation counter for both: see [`Changes`]).
//!
//! An enum of the two typed pools rather than sqlx's `Any` driver: `Any`
//! takes its options from the URL only (not SQLite's journal mode,
//! synchronous level or busy timeout), copies every row into its own value
//! type on the responder's hot path, needs a process-wide driver
//! registration, and has no `LISTEN`; the backends' error codes, roles and
//! change detection differ anyway. The `on_pool!` macro writes each query once for both.

mod database_url;
mod watch;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::cert_id::{HashAlg, IssuerHashes};
use crate::error::{Error, Result};
use crate::faults::{Fault, FaultMode, FaultTarget};
use crate::ids::{CertificateId, IssuerId};
use crate::serial::Serial;
use labcore::RevocationReason;

pub use database_url::{DatabaseUrl, EXPECTED_URL, PostgresUrl};
pub use watch::{Changes, DEFAULT_POLL, Listening};

/// How long a writer waits for another writer's lock before giving up.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How long opening a PostgreSQL database may take before it counts as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the connected role may do, and so what opening the database does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Reads and writes; opening brings the schema up to date (testca).
    #[default]
    Write,
    /// Reads only (a responder connected as the reader role): opening checks
    /// that the schema is the one this build knows, and migrates nothing.
    Read,
}

/// How to open the database.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long to wait for a lock held by another process.
    pub lock_timeout: Duration,
    /// Connections in the pool (readers run in parallel in WAL mode).
    pub max_connections: u32,
    /// Reader or writer.
    pub access: Access,
    /// How long connecting to a PostgreSQL server may take.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_connections: 1,
            access: Access::Write,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// A CA certificate (the intermediate; the root is only an issuer).
    Ca,
    /// An end-entity (TLS server) certificate.
    Leaf,
    /// A delegated OCSP signing certificate.
    OcspSigner,
}

impl CertKind {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            CertKind::Ca => "ca",
            CertKind::Leaf => "leaf",
            CertKind::OcspSigner => "ocsp-signer",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [CertKind::Ca, CertKind::Leaf, CertKind::OcspSigner]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// The revocation state of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationStatus {
    /// Not revoked.
    Good,
    /// Revoked at a time, with or without a reason code.
    Revoked {
        /// When the certificate was (or is said to have been) revoked.
        at: OffsetDateTime,
        /// The CRLReason, when one was given.
        reason: Option<RevocationReason>,
    },
}

impl RevocationStatus {
    /// Whether the certificate is revoked.
    pub fn is_revoked(&self) -> bool {
        matches!(self, RevocationStatus::Revoked { .. })
    }
}

/// A CA that the lab answers for.
#[derive(Clone, Debug)]
pub struct IssuerRecord {
    /// Row id.
    pub id: IssuerId,
    /// Short name (`root`, `intermediate`).
    pub name: String,
    /// Subject, for people.
    pub subject: String,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
}

/// A certificate and its state.
#[derive(Clone, Debug)]
pub struct CertRecord {
    /// Row id.
    pub id: CertificateId,
    /// The issuer's row id.
    pub issuer_id: IssuerId,
    /// The issuer's short name.
    pub issuer_name: String,
    /// Serial number.
    pub serial: Serial,
    /// The lab's name for it (`localhost`, `intermediate-ocsp-signer`…).
    pub name: String,
    /// What it is for.
    pub kind: CertKind,
    /// Subject, for people.
    pub subject: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Revocation state.
    pub status: RevocationStatus,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// A certificate to record.
#[derive(Clone, Debug)]
pub struct NewCertificate<'a> {
    /// Who issued it.
    pub issuer_id: IssuerId,
    /// Its serial (unique per issuer).
    pub serial: &'a Serial,
    /// The lab's name for it.
    pub name: &'a str,
    /// What it is for.
    pub kind: CertKind,
    /// Subject, for people.
    pub subject: &'a str,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The certificate, DER.
    pub der: &'a [u8],
}

/// A certificate to record together with its revocation state, for bulk loads.
#[derive(Clone, Debug)]
pub struct BulkCertificate<'a> {
    /// The certificate.
    pub cert: NewCertificate<'a>,
    /// When and why it is revoked; `None` for a good certificate.
    pub revoked: Option<(OffsetDateTime, Option<RevocationReason>)>,
}

/// A delegated signer as the responder needs it.
#[derive(Clone, Debug)]
pub struct SignerRecord {
    /// The signer's certificate.
    pub certificate: CertRecord,
    /// Its PKCS#8 private key, PEM.
    pub key_pem: String,
}

/// How to find a certificate.
#[derive(Clone, Debug)]
pub enum CertSelector {
    /// By the lab's name (the newest with that name).
    Name(String),
    /// By serial number, whatever the issuer.
    Serial(Serial),
}

/// The revocation database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    database: DatabaseUrl,
    /// The SQLite file, or the PostgreSQL URL without its password: see [`Store::path`].
    shown_path: PathBuf,
}

/// The connection pool of one backend.
#[derive(Clone, Debug)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's typed pool: each query is
/// written once and compiled for both backends.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` in a transaction `$tx` on the backend's pool, with the
/// generation bumped in the same transaction, and commits. An early return
/// (an error) rolls back: nothing is acknowledged that was not committed.
///
/// The bump comes first: it takes the write lock on the one `lab_meta` row,
/// so writers run one at a time on PostgreSQL as on SQLite (a name check
/// then sees the other writer's committed insert), waiting at most the lock
/// timeout; and SQLite takes its write lock at the first statement, under
/// its busy timeout, rather than upgrading a read mid-transaction.
macro_rules! write_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        on_pool!($store, pool => {
            let mut $tx = pool.begin().await.map_err($store.err())?;
            sqlx::query(BUMP_GENERATION)
                .execute(&mut *$tx)
                .await
                .map_err($store.err())?;
            let out = $body;
            $tx.commit().await.map_err($store.err())?;
            out
        })
    };
}

/// Inserts a certificate (already revoked when `revoked` says so) in the
/// transaction `$tx`. Unless `replace`, a name already taken leaves it out
/// and gives `None`. A macro so that it compiles for either backend's transaction.
macro_rules! insert_certificate {
    ($store:expr, $tx:ident, $cert:expr, $revoked:expr, $replace:expr) => {{
        let cert: &NewCertificate<'_> = $cert;
        let (revoked_at, reason) = match $revoked {
            Some((at, reason)) => (
                Some(OffsetDateTime::unix_timestamp(at)),
                Option::<RevocationReason>::map(reason, |r| i64::from(r.code())),
            ),
            None => (None, None),
        };
        // Name check and insert in one statement, so two writers cannot both take a name.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO certificates (issuer_id, serial, name, kind, subject, not_before, not_after, der, created_at, revoked_at, reason) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $11, $12 \
             WHERE $10 OR NOT EXISTS (SELECT 1 FROM certificates WHERE name = $3) \
             RETURNING id",
        )
        .bind(cert.issuer_id.0)
        .bind(cert.serial.to_hex())
        .bind(cert.name)
        .bind(cert.kind.name())
        .bind(cert.subject)
        .bind(cert.not_before.unix_timestamp())
        .bind(cert.not_after.unix_timestamp())
        .bind(cert.der)
        .bind(unix_now())
        .bind($replace)
        .bind(revoked_at)
        .bind(reason)
        .fetch_optional(&mut *$tx)
        .await
        .map_err($store.err())?;
        id.map(CertificateId)
    }};
}

/// Every change a reader must notice bumps this counter, in the change's own
/// transaction (in PostgreSQL a trigger on it sends `NOTIFY`).
const BUMP_GENERATION: &str = "UPDATE lab_meta SET generation = generation + 1 WHERE id = 1";

/// The PostgreSQL channel that hears of every committed change; the payload is the new generation.
pub const CHANGE_CHANNEL: &str = "ocsplab_generation";

/// The lab's tables, children first (the order to drop them).
const LAB_TABLES: [&str; 7] = [
    "faults",
    "ocsp_signers",
    "certificates",
    "issuer_hashes",
    "issuers",
    "lab_meta",
    "_sqlx_migrations",
];

/// The tables a reader may read whole; of `ocsp_signers` it may read only
/// which certificates are signers, never their keys.
const READER_TABLES: &str =
    "lab_meta, issuers, issuer_hashes, certificates, faults, _sqlx_migrations";

/// A certificate query: the columns `cert_from_row` reads (plus `$extra`
/// columns), then `$tail`.
macro_rules! select_certificates {
    ($tail:literal) => {
        select_certificates!("", $tail)
    };
    ($extra:literal, $tail:literal) => {
        concat!(
            "SELECT c.id, c.issuer_id, i.name AS issuer_name, c.serial, c.name, c.kind, c.subject, ",
            "c.not_before, c.not_after, c.revoked_at, c.reason, c.der",
            $extra,
            " FROM certificates c JOIN issuers i ON i.id = c.issuer_id ",
            $tail
        )
    };
}

impl Store {
    /// Creates a new SQLite database at `path` (which must not exist) with the current schema.
    pub async fn create(path: &Path, options: &StoreOptions) -> Result<Store> {
        Self::create_in(&DatabaseUrl::sqlite(path), options, false).await
    }

    /// Opens an existing SQLite database, bringing its schema up to date.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Store> {
        Self::open_in(&DatabaseUrl::sqlite(path), options).await
    }

    /// Creates the lab's tables in `database`. An SQLite file must not exist
    /// yet; a PostgreSQL database that already holds a lab is refused unless
    /// `replace`, which drops its tables first.
    pub async fn create_in(
        database: &DatabaseUrl,
        options: &StoreOptions,
        replace: bool,
    ) -> Result<Store> {
        match database {
            DatabaseUrl::Sqlite(path) => {
                // Made here with mode 0600 rather than by SQLite under the umask:
                // SQLite gives the -wal and -shm files the database file's mode.
                let mut file = std::fs::OpenOptions::new();
                file.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
                file.open(path)
                    .map_err(|e| Error::io("cannot create", path, e))?;
                let store = Self::connect_sqlite(path, options, true).await?;
                store.migrate(options.access).await?;
                Ok(store)
            }
            DatabaseUrl::Postgres(url) => {
                let store = Self::connect_postgres(database, url, options).await?;
                if store.holds_lab().await? {
                    if !replace {
                        return Err(Error::LabDatabaseExists {
                            database: database.to_string(),
                        });
                    }
                    store.replace_lab().await?;
                    return Ok(store);
                }
                store.migrate(options.access).await?;
                Ok(store)
            }
        }
    }

    /// Opens an existing database: checks its schema version and, for a
    /// writer, brings the schema up to date.
    pub async fn open_in(database: &DatabaseUrl, options: &StoreOptions) -> Result<Store> {
        let store = match database {
            DatabaseUrl::Sqlite(path) => {
                if !path.is_file() {
                    return Err(Error::Damaged {
                        path: path.to_path_buf(),
                        reason: "the revocation database is missing".into(),
                    });
                }
                Self::connect_sqlite(path, options, false).await?
            }
            DatabaseUrl::Postgres(url) => {
                let store = Self::connect_postgres(database, url, options).await?;
                if !store.holds_lab().await? {
                    return Err(Error::NoLabDatabase {
                        database: database.to_string(),
                    });
                }
                store
            }
        };
        store.migrate(options.access).await?;
        Ok(store)
    }

    async fn connect_sqlite(path: &Path, options: &StoreOptions, create: bool) -> Result<Store> {
        let database = DatabaseUrl::sqlite(path);
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.lock_timeout)
            .foreign_keys(true);
        if create {
            // A new file is turned to WAL by one connection first: when the
            // pool's connections race to switch the journal mode, the loser
            // gets SQLITE_BUSY at once, without waiting for the busy timeout.
            let first = sqlx::ConnectOptions::connect(&connect)
                .await
                .map_err(|e| db_error(&database, e))?;
            sqlx::Connection::close(first)
                .await
                .map_err(|e| db_error(&database, e))?;
        }
        // One connection stays open for the pool's life: the WAL index that
        // `ChangeProbe` reads exists only while some connection is open.
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect)
            .await
            .map_err(|e| db_error(&database, e))?;
        let store = Store {
            pool: Pool::Sqlite(pool),
            database,
            shown_path: path.to_path_buf(),
        };
        store.restrict_files();
        Ok(store)
    }

    async fn connect_postgres(
        database: &DatabaseUrl,
        url: &PostgresUrl,
        options: &StoreOptions,
    ) -> Result<Store> {
        // The lock timeout bounds waits on row locks held by another writer,
        // as the busy timeout does for SQLite.
        let lock_ms = options.lock_timeout.as_millis().max(1);
        let connect = url
            .connect_options()?
            .application_name("ocsplab")
            .options([("lock_timeout", format!("{lock_ms}ms"))]);
        // One connection first, bounded: the pool would retry a refused
        // connection until its timeout and then report only the timeout.
        let first = tokio::time::timeout(
            options.connect_timeout,
            <sqlx::PgConnection as sqlx::Connection>::connect_with(&connect),
        )
        .await
        .map_err(|_| Error::Unreachable {
            database: database.to_string(),
            reason: format!("no answer within {:?}", options.connect_timeout),
        })?
        .map_err(|e| db_error(database, e))?;
        let _ = sqlx::Connection::close(first).await;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| db_error(database, e))?;
        Ok(Store {
            pool: Pool::Postgres(pool),
            database: database.clone(),
            shown_path: PathBuf::from(database.to_string()),
        })
    }

    /// Whether the PostgreSQL schema holds the lab's tables.
    async fn holds_lab(&self) -> Result<bool> {
        self.table_exists("lab_meta").await
    }

    async fn table_exists(&self, table: &str) -> Result<bool> {
        let count: i64 = match &self.pool {
            Pool::Sqlite(pool) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
            )
            .bind(table)
            .fetch_one(pool)
            .await,
            Pool::Postgres(pool) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1",
            )
            .bind(table)
            .fetch_one(pool)
            .await,
        }
        .map_err(self.err())?;
        Ok(count > 0)
    }

    /// Replaces the lab in a PostgreSQL database (`init --force`) in one
    /// transaction: the old tables dropped, the schema made anew, and what
    /// running responders rely on carried over. The generation counts on
    /// from the old lab's (they key what they hold by it, and must not take
    /// the new lab for the old one at an equal count), and the old lab's
    /// reader roles read the new tables. Nothing is changed unless all is.
    async fn replace_lab(&self) -> Result<()> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        let mut tx = pool.begin().await.map_err(self.err())?;
        // FOR UPDATE: a writer's bump cannot land between this read and the drop.
        let generation: i64 =
            sqlx::query_scalar("SELECT generation FROM lab_meta WHERE id = 1 FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.err())?
                .unwrap_or(0);
        // Roles the owner granted SELECT and no write on the lab: the readers
        // `grant-reader` made, quoted by PostgreSQL itself.
        let readers: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(r.rolname) FROM pg_class c \
             CROSS JOIN LATERAL aclexplode(c.relacl) a \
             JOIN pg_roles r ON r.oid = a.grantee \
             WHERE c.oid = to_regclass('lab_meta') AND a.grantee <> c.relowner \
             GROUP BY r.rolname \
             HAVING bool_or(a.privilege_type = 'SELECT') \
             AND NOT bool_or(a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE')) \
             ORDER BY 1",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(self.err())?;
        let drop_tables = format!("DROP TABLE IF EXISTS {} CASCADE", LAB_TABLES.join(", "));
        for statement in [
            drop_tables.as_str(),
            "DROP FUNCTION IF EXISTS lab_meta_notify() CASCADE",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
        }
        // Each migration runs in a savepoint of this transaction.
        migrator(self.backend_migrations())
            .run(&mut *tx)
            .await
            .map_err(|source| match source {
                sqlx::migrate::MigrateError::Execute(e) => self.err()(e),
                source => Error::Migrate {
                    database: self.database.to_string(),
                    source,
                },
            })?;
        sqlx::query("UPDATE lab_meta SET generation = $1 WHERE id = 1")
            .bind(generation.saturating_add(1))
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        for reader in &readers {
            grant_reader_in(&mut tx, reader).await.map_err(self.err())?;
        }
        tx.commit().await.map_err(self.err())
    }

    /// The newest migration applied (0 for a database without the lab's schema yet).
    pub async fn schema_version(&self) -> Result<i64> {
        if !self.table_exists("_sqlx_migrations").await? {
            return Ok(0);
        }
        on_pool!(self, pool => sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success"
        )
        .fetch_one(pool)
        .await)
        .map_err(self.err())
    }

    /// Refuses a schema newer than this build; then migrates (writer) or
    /// requires the current schema (reader).
    async fn migrate(&self, access: Access) -> Result<()> {
        let found = self.schema_version().await?;
        let known = known_schema_version();
        if found > known {
            return Err(Error::NewerSchema {
                database: self.database.to_string(),
                found,
                known,
            });
        }
        match access {
            Access::Read if found < known => Err(Error::OlderSchema {
                database: self.database.to_string(),
                found,
                known,
            }),
            Access::Read => Ok(()),
            Access::Write => {
                on_pool!(self, pool => migrator(self.backend_migrations()).run(pool).await).map_err(
                    |source| match source {
                        sqlx::migrate::MigrateError::Execute(e) => self.err()(e),
                        source => Error::Migrate {
                            database: self.database.to_string(),
                            source,
                        },
                    },
                )
            }
        }
    }

    fn backend_migrations(&self) -> &'static [(i64, &'static str, &'static str)] {
        match self.pool {
            Pool::Sqlite(_) => SQLITE_MIGRATIONS,
            Pool::Postgres(_) => POSTGRES_MIGRATIONS,
        }
    }

    /// The database file and its -wal and -shm companions (none for PostgreSQL).
    pub fn files(&self) -> Vec<PathBuf> {
        let Some(path) = self.database.sqlite_path() else {
            return Vec::new();
        };
        let with = |suffix: &str| {
            let mut name = path.as_os_str().to_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        vec![path.to_path_buf(), with("-wal"), with("-shm")]
    }

    /// Makes the database files 0600: they hold the delegated signers' keys.
    /// Labs made before this rule (0644 under umask 022) are tightened on
    /// open. Best effort: a process that does not own them (a responder run
    /// as another user) can still read them, and says so.
    fn restrict_files(&self) {
        #[cfg(unix)]
        for file in self.files() {
            if let Err(e) = labcore::files::restrict(&file, 0o600) {
                tracing::warn!("{e}");
            }
        }
    }

    /// Where the database is.
    pub fn database(&self) -> &DatabaseUrl {
        &self.database
    }

    /// The SQLite file; for PostgreSQL, the URL without its password as a
    /// path, for messages (prefer [`Store::database`]).
    pub fn path(&self) -> &Path {
        &self.shown_path
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| db_error(&self.database, e)
    }

    /// A probe that tells, without a query, whether any process may have
    /// committed since the last look. Keep it for the life of the process:
    /// see [`ChangeProbe`]. SQLite only: PostgreSQL readers use [`Store::watch`].
    pub fn change_probe(&self) -> Result<ChangeProbe> {
        let files = self.files();
        let Some(shm) = files.get(2) else {
            return Err(Error::invalid(
                "change probe",
                self.database.to_string(),
                "an SQLite database (PostgreSQL readers use Store::watch)",
            ));
        };
        let file = std::fs::File::open(shm).map_err(|e| Error::io("cannot open", shm, e))?;
        Ok(ChangeProbe {
            file: std::sync::Arc::new(file),
        })
    }

    /// A number that grows with every committed change (certificates,
    /// revocations, signers, faults), in the change's own transaction. Cheap;
    /// lets readers skip work when nothing changed.
    pub async fn generation(&self) -> Result<i64> {
        on_pool!(self, pool => sqlx::query_scalar("SELECT generation FROM lab_meta WHERE id = 1")
            .fetch_one(pool)
            .await)
        .map_err(self.err())
    }

    /// Lets the role `role` read what a responder needs (issuers,
    /// certificates and their status, faults, the generation, which
    /// certificates are signers) and nothing else: not the signers' private
    /// keys, and no writes. PostgreSQL only; run as the writer role, which
    /// owns the tables. Creating the role itself is the administrator's
    /// (`CREATE ROLE ocsplab_reader LOGIN PASSWORD '…'`).
    pub async fn grant_reader(&self, role: &str) -> Result<()> {
        let Pool::Postgres(pool) = &self.pool else {
            return Err(Error::invalid(
                "database for roles",
                self.database.to_string(),
                "a PostgreSQL database (SQLite has no roles: its file is 0600, readable by its owner only)",
            ));
        };
        let role = quote_role(role)?;
        let mut tx = pool.begin().await.map_err(self.err())?;
        grant_reader_in(&mut tx, &role).await.map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    /// Records a CA and its CertID hashes under every supported algorithm.
    pub async fn add_issuer(
        &self,
        name: &str,
        subject: &str,
        cert_der: &[u8],
        hashes: &[IssuerHashes],
    ) -> Result<IssuerId> {
        let id: i64 = write_tx!(self, tx => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO issuers (name, subject, cert_der, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(name)
            .bind(subject)
            .bind(cert_der)
            .bind(unix_now())
            .fetch_one(&mut *tx)
            .await
            .map_err(self.err())?;
            for h in hashes {
                sqlx::query("INSERT INTO issuer_hashes (issuer_id, hash_alg, name_hash, key_hash) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(h.alg.name())
                    .bind(&h.name_hash)
                    .bind(&h.key_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            }
            id
        });
        Ok(IssuerId(id))
    }

    /// SQLite's `PRAGMA integrity_check`: `ok`, or what is damaged. PostgreSQL
    /// checks its own pages as it reads them, and answers `ok`.
    pub async fn integrity_check(&self) -> Result<String> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Ok("ok".into());
        };
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(pool)
            .await
            .map_err(self.err())?;
        Ok(rows.join("; "))
    }

    /// Every issuer, oldest first.
    pub async fn issuers(&self) -> Result<Vec<IssuerRecord>> {
        on_pool!(self, pool => {
            let rows = sqlx::query("SELECT id, name, subject, cert_der FROM issuers ORDER BY id")
                .fetch_all(pool)
                .await
                .map_err(self.err())?;
            rows.iter().map(|row| self.issuer_from_row(row)).collect()
        })
    }

    /// The issuer with a short name.
    pub async fn issuer_by_name(&self, name: &str) -> Result<Option<IssuerRecord>> {
        on_pool!(self, pool => {
            let row = sqlx::query("SELECT id, name, subject, cert_der FROM issuers WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err(self.err())?;
            row.as_ref().map(|row| self.issuer_from_row(row)).transpose()
        })
    }

    /// The issuer whose name and key hash to these values under `alg`.
    pub async fn issuer_by_hashes(
        &self,
        alg: HashAlg,
        name_hash: &[u8],
        key_hash: &[u8],
    ) -> Result<Option<IssuerRecord>> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT i.id, i.name, i.subject, i.cert_der FROM issuer_hashes h JOIN issuers i ON i.id = h.issuer_id \
                 WHERE h.hash_alg = $1 AND h.name_hash = $2 AND h.key_hash = $3",
            )
            .bind(alg.name())
            .bind(name_hash)
            .bind(key_hash)
            .fetch_optional(pool)
            .await
            .map_err(self.err())?;
            row.as_ref().map(|row| self.issuer_from_row(row)).transpose()
        })
    }

    /// Every stored issuer hash, for callers that match CertIDs in memory.
    pub async fn issuer_hashes(&self) -> Result<Vec<(IssuerId, IssuerHashes)>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT issuer_id, hash_alg, name_hash, key_hash FROM issuer_hashes ORDER BY issuer_id",
            )
            .fetch_all(pool)
            .await
            .map_err(self.err())?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let alg_name = self.text(row, "hash_alg")?;
                let Some(alg) = HashAlg::from_name(&alg_name) else {
                    return Err(self.damaged(format!(
                        "unknown hash algorithm '{alg_name}' in issuer_hashes"
                    )));
                };
                out.push((
                    IssuerId(self.int(row, "issuer_id")?),
                    IssuerHashes {
                        alg,
                        name_hash: self.bytes(row, "name_hash")?,
                        key_hash: self.bytes(row, "key_hash")?,
                    },
                ));
            }
            Ok(out)
        })
    }

    /// Records a certificate. A leaf whose name is taken is refused unless
    /// `replace` is set; a serial already used by the issuer is refused.
    pub async fn add_certificate(
        &self,
        cert: &NewCertificate<'_>,
        replace: bool,
    ) -> Result<CertificateId> {
        let id = write_tx!(self, tx => {
            let id = insert_certificate!(self, tx, cert, None::<(OffsetDateTime, Option<RevocationReason>)>, replace);
            let Some(id) = id else {
                return Err(Error::NameTaken(cert.name.to_string()));
            };
            id
        });
        Ok(id)
    }

    /// Records many certificates, each with its revocation state, in one
    /// transaction: all of them or none. Fails, recording nothing, when a
    /// name is already taken or a serial already recorded for its issuer.
    pub async fn add_certificates(&self, certs: &[BulkCertificate<'_>]) -> Result<()> {
        write_tx!(self, tx => {
            for bulk in certs {
                let cert = &bulk.cert;
                let id = insert_certificate!(self, tx, cert, bulk.revoked, false);
                if id.is_none() {
                    return Err(Error::NameTaken(cert.name.to_string()));
                }
            }
        });
        Ok(())
    }

    /// Records a delegated OCSP signer: its certificate and its key, in one transaction.
    pub async fn add_signer(
        &self,
        cert: &NewCertificate<'_>,
        key_pem: &str,
    ) -> Result<CertificateId> {
        let id = write_tx!(self, tx => {
            let Some(id) = insert_certificate!(self, tx, cert, None::<(OffsetDateTime, Option<RevocationReason>)>, true) else {
                return Err(Error::NameTaken(cert.name.to_string()));
            };
            sqlx::query("INSERT INTO ocsp_signers (certificate_id, key_pem) VALUES ($1, $2)")
                .bind(id.0)
                .bind(key_pem)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            id
        });
        Ok(id)
    }

    /// The newest delegated signer of an issuer, with its key (the writer's
    /// view: a PostgreSQL reader role may not read keys, see
    /// [`Store::newest_signer_certificate`]).
    pub async fn newest_signer(&self, issuer_id: IssuerId) -> Result<Option<SignerRecord>> {
        let sql = select_certificates!(
            ", s.key_pem",
            "JOIN ocsp_signers s ON s.certificate_id = c.id WHERE c.issuer_id = $1 ORDER BY c.id DESC LIMIT 1"
        );
        on_pool!(self, pool => {
            let row = sqlx::query(sql)
                .bind(issuer_id.0)
                .fetch_optional(pool)
                .await
                .map_err(self.err())?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(SignerRecord {
                    certificate: self.cert_from_row(&row)?,
                    key_pem: self.text(&row, "key_pem")?,
                })),
            }
        })
    }

    /// The certificate of the newest delegated signer of an issuer, without
    /// its key: what a reader role may see. The key comes from elsewhere
    /// (the signer's key file) and must match this certificate.
    pub async fn newest_signer_certificate(
        &self,
        issuer_id: IssuerId,
    ) -> Result<Option<CertRecord>> {
        let sql = select_certificates!(
            "JOIN ocsp_signers s ON s.certificate_id = c.id WHERE c.issuer_id = $1 ORDER BY c.id DESC LIMIT 1"
        );
        on_pool!(self, pool => {
            let row = sqlx::query(sql)
                .bind(issuer_id.0)
                .fetch_optional(pool)
                .await
                .map_err(self.err())?;
            row.map(|row| self.cert_from_row(&row)).transpose()
        })
    }

    /// Every certificate, oldest first.
    pub async fn certificates(&self) -> Result<Vec<CertRecord>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(select_certificates!("ORDER BY c.id"))
                .fetch_all(pool)
                .await
                .map_err(self.err())?;
            rows.iter().map(|row| self.cert_from_row(row)).collect()
        })
    }

    /// Up to `limit` certificates in row order, after the row `after` (from
    /// the start when `None`): pages through every certificate without
    /// holding them all in memory. The last record's id is the next `after`.
    pub async fn certificates_after(
        &self,
        after: Option<CertificateId>,
        limit: u32,
    ) -> Result<Vec<CertRecord>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(select_certificates!(
                "WHERE c.id > $1 ORDER BY c.id LIMIT $2"
            ))
            .bind(after.map_or(0, |id| id.0))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(self.err())?;
            rows.iter().map(|row| self.cert_from_row(row)).collect()
        })
    }

    /// The certificate a selector names; an error when there is none, or
    /// when a serial is shared by two issuers.
    pub async fn find(&self, selector: &CertSelector) -> Result<CertRecord> {
        on_pool!(self, pool => {
            let rows = match selector {
                CertSelector::Name(name) => sqlx::query(select_certificates!(
                    "WHERE c.name = $1 ORDER BY c.id DESC LIMIT 1"
                ))
                .bind(name.as_str()),
                CertSelector::Serial(serial) => {
                    sqlx::query(select_certificates!("WHERE c.serial = $1")).bind(serial.to_hex())
                }
            }
            .fetch_all(pool)
            .await
            .map_err(self.err())?;
            match (rows.as_slice(), selector) {
                ([row], _) => self.cert_from_row(row),
                ([], CertSelector::Name(name)) => Err(Error::UnknownName(name.clone())),
                ([], CertSelector::Serial(serial)) => Err(Error::UnknownSerial(serial.to_hex())),
                (_, _) => Err(Error::AmbiguousSerial(match selector {
                    CertSelector::Serial(serial) => serial.to_hex(),
                    CertSelector::Name(name) => name.clone(),
                })),
            }
        })
    }

    /// The revoked certificates of an issuer, oldest revocation first (for its CRL).
    pub async fn revoked_by(&self, issuer_id: IssuerId) -> Result<Vec<CertRecord>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(select_certificates!(
                "WHERE c.issuer_id = $1 AND c.revoked_at IS NOT NULL ORDER BY c.revoked_at, c.id"
            ))
            .bind(issuer_id.0)
            .fetch_all(pool)
            .await
            .map_err(self.err())?;
            rows.iter().map(|row| self.cert_from_row(row)).collect()
        })
    }

    /// The revocation state of a serial of an issuer, `None` for a serial the
    /// issuer never issued. This is the responder's hot query.
    pub async fn status(
        &self,
        issuer_id: IssuerId,
        serial: &Serial,
    ) -> Result<Option<RevocationStatus>> {
        on_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT revoked_at, reason FROM certificates WHERE issuer_id = $1 AND serial = $2",
            )
            .bind(issuer_id.0)
            .bind(serial.to_hex())
            .fetch_optional(pool)
            .await
            .map_err(self.err())?;
            row.map(|row| self.status_from_row(&row)).transpose()
        })
    }

    /// Marks a certificate revoked. Fails, changing nothing, when it already is.
    pub async fn revoke(
        &self,
        selector: &CertSelector,
        at: OffsetDateTime,
        reason: Option<RevocationReason>,
    ) -> Result<CertRecord> {
        let cert = self.find(selector).await?;
        write_tx!(self, tx => {
            let done = sqlx::query("UPDATE certificates SET revoked_at = $1, reason = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(at.unix_timestamp())
                .bind(reason.map(|r| i64::from(r.code())))
                .bind(cert.id.0)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            if done.rows_affected() == 0 {
                return Err(Error::AlreadyRevoked {
                    name: cert.name,
                    serial: cert.serial.to_hex(),
                });
            }
        });
        Ok(CertRecord {
            status: RevocationStatus::Revoked {
                at: truncate(at),
                reason,
            },
            ..cert
        })
    }

    /// Clears a revocation. Fails, changing nothing, when the certificate is not revoked.
    pub async fn unrevoke(&self, selector: &CertSelector) -> Result<CertRecord> {
        let cert = self.find(selector).await?;
        write_tx!(self, tx => {
            let done = sqlx::query("UPDATE certificates SET revoked_at = NULL, reason = NULL WHERE id = $1 AND revoked_at IS NOT NULL")
                .bind(cert.id.0)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            if done.rows_affected() == 0 {
                return Err(Error::NotRevoked {
                    name: cert.name,
                    serial: cert.serial.to_hex(),
                });
            }
        });
        Ok(CertRecord {
            status: RevocationStatus::Good,
            ..cert
        })
    }

    /// Sets the fault for a scope (one certificate, or all when `None`),
    /// replacing the fault that scope had.
    pub async fn set_fault(
        &self,
        mode: FaultMode,
        certificate: Option<CertificateId>,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<()> {
        write_tx!(self, tx => {
            sqlx::query("DELETE FROM faults WHERE COALESCE(certificate_id, 0) = COALESCE($1, 0)")
                .bind(certificate.map(|c| c.0))
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            sqlx::query("INSERT INTO faults (mode, certificate_id, expires_at, created_at) VALUES ($1, $2, $3, $4)")
                .bind(mode.to_string())
                .bind(certificate.map(|c| c.0))
                .bind(expires_at.map(|t| t.unix_timestamp()))
                .bind(unix_now())
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
        });
        Ok(())
    }

    /// Clears the fault of one certificate, or every fault when `None`. Returns how many were cleared.
    pub async fn clear_faults(&self, certificate: Option<CertificateId>) -> Result<u64> {
        let cleared = write_tx!(self, tx => {
            sqlx::query("DELETE FROM faults WHERE $1 IS NULL OR certificate_id = $1")
                .bind(certificate.map(|c| c.0))
                .execute(&mut *tx)
                .await
                .map_err(self.err())?
                .rows_affected()
        });
        Ok(cleared)
    }

    /// Every stored fault, expired or not (callers check [`Fault::active_at`]).
    pub async fn faults(&self) -> Result<Vec<Fault>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT f.mode, f.certificate_id, f.expires_at, c.name, c.serial FROM faults f \
                 LEFT JOIN certificates c ON c.id = f.certificate_id ORDER BY f.id",
            )
            .fetch_all(pool)
            .await
            .map_err(self.err())?;
            rows.iter().map(|row| self.fault_from_row(row)).collect()
        })
    }

    fn damaged(&self, reason: String) -> Error {
        Error::Damaged {
            path: self.shown_path.clone(),
            reason,
        }
    }

    /// A column's value, or a clear error when the database holds something else.
    fn column<T, R: Column<T>>(&self, row: &R, column: &str) -> Result<T> {
        row.value(column)
            .map_err(|e| self.damaged(format!("column {column}: {e}")))
    }

    fn int<R: Columns>(&self, row: &R, column: &str) -> Result<i64> {
        self.column(row, column)
    }

    fn opt_int<R: Columns>(&self, row: &R, column: &str) -> Result<Option<i64>> {
        self.column(row, column)
    }

    fn text<R: Columns>(&self, row: &R, column: &str) -> Result<String> {
        self.column(row, column)
    }

    fn opt_text<R: Columns>(&self, row: &R, column: &str) -> Result<Option<String>> {
        self.column(row, column)
    }

    fn bytes<R: Columns>(&self, row: &R, column: &str) -> Result<Vec<u8>> {
        self.column(row, column)
    }

    fn fault_from_row<R: Columns>(&self, row: &R) -> Result<Fault> {
        let mode_text = self.text(row, "mode")?;
        let mode = mode_text
            .parse::<FaultMode>()
            .map_err(|_| self.damaged(format!("unknown fault mode '{mode_text}'")))?;
        let certificate = match self.opt_int(row, "certificate_id")? {
            None => None,
            Some(id) => {
                // The foreign key keeps the certificate: a missing or bad serial is damage.
                let serial_hex = self.opt_text(row, "serial")?.unwrap_or_default();
                let serial = Serial::from_str(&serial_hex).map_err(|_| {
                    self.damaged(format!(
                        "fault for certificate {id} with serial '{serial_hex}'"
                    ))
                })?;
                Some(FaultTarget {
                    id: CertificateId(id),
                    name: self.opt_text(row, "name")?.unwrap_or_default(),
                    serial,
                })
            }
        };
        let expires_at = match self.opt_int(row, "expires_at")? {
            None => None,
            Some(secs) => Some(
                from_unix(secs)
                    .ok_or_else(|| self.damaged(format!("fault expiry {secs} out of range")))?,
            ),
        };
        Ok(Fault {
            mode,
            certificate,
            expires_at,
        })
    }

    fn status_from_row<R: Columns>(&self, row: &R) -> Result<RevocationStatus> {
        let revoked_at = self.opt_int(row, "revoked_at")?;
        let reason = self.opt_int(row, "reason")?;
        let Some(at) = revoked_at else {
            return Ok(RevocationStatus::Good);
        };
        let at = from_unix(at)
            .ok_or_else(|| self.damaged(format!("revocation time {at} out of range")))?;
        let reason =
            match reason {
                None => None,
                Some(code) => Some(RevocationReason::from_code(code).ok_or_else(|| {
                    self.damaged(format!("unknown revocation reason code {code}"))
                })?),
            };
        Ok(RevocationStatus::Revoked { at, reason })
    }

    fn cert_from_row<R: Columns>(&self, row: &R) -> Result<CertRecord> {
        let serial_hex = self.text(row, "serial")?;
        let serial = Serial::from_str(&serial_hex)
            .map_err(|_| self.damaged(format!("bad serial '{serial_hex}'")))?;
        let kind_name = self.text(row, "kind")?;
        let kind = CertKind::from_name(&kind_name)
            .ok_or_else(|| self.damaged(format!("unknown kind '{kind_name}'")))?;
        let time = |column: &str| -> Result<OffsetDateTime> {
            let secs = self.int(row, column)?;
            from_unix(secs).ok_or_else(|| self.damaged(format!("{column} {secs} out of range")))
        };
        Ok(CertRecord {
            id: CertificateId(self.int(row, "id")?),
            issuer_id: IssuerId(self.int(row, "issuer_id")?),
            issuer_name: self.text(row, "issuer_name")?,
            serial,
            name: self.text(row, "name")?,
            kind,
            subject: self.text(row, "subject")?,
            not_before: time("not_before")?,
            not_after: time("not_after")?,
            status: self.status_from_row(row)?,
            der: self.bytes(row, "der")?,
        })
    }

    fn issuer_from_row<R: Columns>(&self, row: &R) -> Result<IssuerRecord> {
        Ok(IssuerRecord {
            id: IssuerId(self.int(row, "id")?),
            name: self.text(row, "name")?,
            subject: self.text(row, "subject")?,
            cert_der: self.bytes(row, "cert_der")?,
        })
    }
}

/// The column types the store reads, for either backend's rows.
trait Columns:
    Column<i64> + Column<Option<i64>> + Column<String> + Column<Option<String>> + Column<Vec<u8>>
{
}

/// Reads one column as `T`.
trait Column<T> {
    fn value(&self, column: &str) -> std::result::Result<T, sqlx::Error>;
}

macro_rules! columns_of {
    ($row:ty: $($t:ty),*) => {
        $(impl Column<$t> for $row {
            fn value(&self, column: &str) -> std::result::Result<$t, sqlx::Error> {
                self.try_get(column)
            }
        })*
        impl Columns for $row {}
    };
}

columns_of!(SqliteRow: i64, Option<i64>, String, Option<String>, Vec<u8>);
columns_of!(PgRow: i64, Option<i64>, String, Option<String>, Vec<u8>);

/// Size of the WAL-index header at the start of the `-shm` file
/// (<https://www.sqlite.org/walformat.html>): SQLite rewrites it on every
/// commit (frame count, checksums, change counter) and on every WAL reset.
const WAL_INDEX_HEADER_LEN: usize = 48;

/// Detects commits by any process by reading the database's WAL-index
/// header: a `pread` of 48 bytes, about a microsecond, instead of a query.
/// When the header differs from the last one seen, something may have
/// changed and [`Store::generation`] tells what; when it is the same,
/// nothing was committed. A commit updates the header before it returns,
/// so a change acknowledged to a writer is seen by the next probe.
///
/// The file stays open as long as the probe lives, and the probe should
/// live as long as the process: closing any descriptor of a file drops the
/// POSIX locks this process holds on it, SQLite's included.
#[derive(Clone, Debug)]
pub struct ChangeProbe {
    file: std::sync::Arc<std::fs::File>,
}

/// The WAL-index header as last read.
pub type WalIndexHeader = [u8; WAL_INDEX_HEADER_LEN];

impl ChangeProbe {
    /// The current header; `None` when it cannot be read (treat as changed).
    pub fn read(&self) -> Option<WalIndexHeader> {
        use std::os::unix::fs::FileExt;
        let mut header = [0u8; WAL_INDEX_HEADER_LEN];
        self.file.read_exact_at(&mut header, 0).ok()?;
        Some(header)
    }
}

/// Maps a database error to the library's error: a lock held by another
/// writer, an unreachable server, a refused login and a missing database or
/// privilege get their own one-line messages.
fn db_error(database: &DatabaseUrl, error: sqlx::Error) -> Error {
    let shown = database.to_string();
    let reason = |e: &sqlx::Error| match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    if let sqlx::Error::Database(db) = &error {
        match database {
            DatabaseUrl::Sqlite(_) => {
                // SQLITE_BUSY (5) and its extended codes, SQLITE_LOCKED (6).
                let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
                if matches!(code & 0xff, 5 | 6) {
                    return Error::Locked(shown);
                }
            }
            DatabaseUrl::Postgres(_) => {
                // SQLSTATE classes: https://www.postgresql.org/docs/current/errcodes-appendix.html
                match db.code().as_deref() {
                    Some("55P03" | "40P01") => return Error::Locked(shown),
                    Some("28P01" | "28000") => {
                        return Error::LoginRefused {
                            database: shown,
                            reason: reason(&error),
                        };
                    }
                    Some("3D000") => {
                        return Error::NoSuchDatabase {
                            database: shown,
                            reason: reason(&error),
                        };
                    }
                    Some("42501") => {
                        return Error::PermissionDenied {
                            database: shown,
                            reason: reason(&error),
                        };
                    }
                    Some(code) if code.starts_with("08") || code.starts_with("57P") => {
                        return Error::Unreachable {
                            database: shown,
                            reason: reason(&error),
                        };
                    }
                    _ => {}
                }
            }
        }
    }
    if database.is_postgres()
        && matches!(
            error,
            sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Protocol(_)
        )
    {
        let reason = match &error {
            sqlx::Error::PoolTimedOut => "no connection within the connect timeout".to_string(),
            other => other.to_string(),
        };
        return Error::Unreachable {
            database: shown,
            reason,
        };
    }
    Error::Database {
        database: shown,
        source: error,
    }
}

/// A role name as a quoted SQL identifier. Only plain names are accepted
/// (letters, digits, `_`; at most 63 bytes, PostgreSQL's limit), so that
/// the name a user typed is the role granted.
fn quote_role(role: &str) -> Result<String> {
    let plain = !role.is_empty()
        && role.len() <= 63
        && role
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return Err(Error::invalid(
            "role name",
            role,
            "letters, digits and _ (not starting with a digit), at most 63 characters",
        ));
    }
    Ok(format!("\"{role}\""))
}

/// Grants the quoted role `role` what a responder reads, in `tx`: the
/// tables, and of the signers their certificates but never their keys.
async fn grant_reader_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    role: &str,
) -> std::result::Result<(), sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT quote_ident(current_schema())")
        .fetch_one(&mut **tx)
        .await?;
    // Identifiers cannot be bound as parameters; both are quoted.
    for grant in [
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT ON {READER_TABLES} TO {role}"),
        format!("GRANT SELECT (certificate_id) ON ocsp_signers TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(grant))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn from_unix(secs: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).ok()
}

/// The database keeps whole seconds.
pub fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    from_unix(at.unix_timestamp()).unwrap_or(at)
}

/// The schema of each backend, `migrations/BACKEND/NNNN_DESCRIPTION.sql`,
/// embedded at compile time. This is what `sqlx::migrate!` expands to (same
/// versions, descriptions and checksums, so existing databases migrate as
/// before) without sqlx's proc-macro crate, which compiles a second, host
/// copy of SQLite and of sqlx into every build. Both backends have the same
/// versions, so a schema version means the same on either; a test checks
/// that the lists match the directories.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "revocation db",
        include_str!("../migrations/sqlite/0001_revocation_db.sql"),
    ),
    (
        2,
        "faults",
        include_str!("../migrations/sqlite/0002_faults.sql"),
    ),
];

/// See [`SQLITE_MIGRATIONS`].
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "revocation db",
        include_str!("../migrations/postgres/0001_revocation_db.sql"),
    ),
    (
        2,
        "faults",
        include_str!("../migrations/postgres/0002_faults.sql"),
    ),
];

/// The newest schema version this build knows.
fn known_schema_version() -> i64 {
    SQLITE_MIGRATIONS.last().map_or(0, |m| m.0)
}

fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sqlx::SqlStr::from_static(sql),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod migration_list_tests {
    use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

    fn files(backend: &str) -> Vec<(i64, String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .expect("migrations/BACKEND/")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| {
                let name = p.file_stem().expect("name").to_string_lossy().to_string();
                let (version, description) = name.split_once('_').expect("NNNN_description");
                (
                    version.parse().expect("numeric version"),
                    description.replace('_', " "),
                    std::fs::read_to_string(&p).expect("read"),
                )
            })
            .collect();
        files.sort();
        files
    }

    fn embedded(list: &[(i64, &str, &str)]) -> Vec<(i64, String, String)> {
        list.iter()
            .map(|&(v, d, sql)| (v, d.to_string(), sql.to_string()))
            .collect()
    }

    #[test]
    fn every_migration_file_is_embedded() {
        assert_eq!(
            embedded(SQLITE_MIGRATIONS),
            files("sqlite"),
            "SQLITE_MIGRATIONS in store.rs must list every file of testca/migrations/sqlite/"
        );
        assert_eq!(
            embedded(POSTGRES_MIGRATIONS),
            files("postgres"),
            "POSTGRES_MIGRATIONS in store.rs must list every file of testca/migrations/postgres/"
        );
    }

    #[test]
    fn both_backends_have_the_same_versions() {
        let versions = |list: &[(i64, &str, &str)]| -> Vec<(i64, String)> {
            list.iter().map(|&(v, d, _)| (v, d.to_string())).collect()
        };
        assert_eq!(versions(SQLITE_MIGRATIONS), versions(POSTGRES_MIGRATIONS));
    }
}
