//! The revocation database: its schema (in `migrations/`) and every query on
//! it. Other modules and crates go through the typed API here; no SQL is
//! written anywhere else.
//!
//! SQLite in WAL mode with `synchronous=FULL`: a revocation is acknowledged
//! only once it is on disk, and readers in other processes see it at once.
//! Queries are runtime strings with `$N` placeholders so that a PostgreSQL
//! backend can share them.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use time::OffsetDateTime;

use crate::cert_id::{HashAlg, IssuerHashes};
use crate::error::{Error, Result};
use crate::faults::{Fault, FaultMode, FaultTarget};
use crate::ids::{CertificateId, IssuerId};
use crate::serial::Serial;
use labcore::RevocationReason;

/// How long a writer waits for another writer's lock before giving up.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open the database.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long to wait for a lock held by another process.
    pub lock_timeout: Duration,
    /// Connections in the pool (readers run in parallel in WAL mode).
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_connections: 1,
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
    pool: SqlitePool,
    path: PathBuf,
}

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
    /// Creates a new database at `path` (which must not exist) with the current schema.
    pub async fn create(path: &Path, options: &StoreOptions) -> Result<Store> {
        // Made here with mode 0600 rather than by SQLite under the umask:
        // SQLite gives the -wal and -shm files the database file's mode.
        let mut file = std::fs::OpenOptions::new();
        file.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
        file.open(path)
            .map_err(|e| Error::io("cannot create", path, e))?;
        Self::connect(path, options, true).await
    }

    /// Opens an existing database, bringing its schema up to date.
    pub async fn open(path: &Path, options: &StoreOptions) -> Result<Store> {
        if !path.is_file() {
            return Err(Error::Damaged {
                path: path.to_path_buf(),
                reason: "the revocation database is missing".into(),
            });
        }
        Self::connect(path, options, false).await
    }

    async fn connect(path: &Path, options: &StoreOptions, create: bool) -> Result<Store> {
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.lock_timeout)
            .foreign_keys(true);
        // One connection stays open for the pool's life: the WAL index that
        // `ChangeProbe` reads exists only while some connection is open.
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect)
            .await
            .map_err(|e| db_error(path, e))?;
        let store = Store {
            pool,
            path: path.to_path_buf(),
        };
        store.restrict_files();
        migrator()
            .run(&store.pool)
            .await
            .map_err(|source| match source {
                sqlx::migrate::MigrateError::Execute(e) => db_error(path, e),
                source => Error::Migrate {
                    path: path.to_path_buf(),
                    source,
                },
            })?;
        Ok(store)
    }

    /// The database file and its -wal and -shm companions.
    pub fn files(&self) -> [PathBuf; 3] {
        let with = |suffix: &str| {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        [self.path.clone(), with("-wal"), with("-shm")]
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

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        move |e| db_error(&self.path, e)
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool.begin().await.map_err(self.err())
    }

    async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<()> {
        tx.commit().await.map_err(self.err())
    }

    /// A probe that tells, without a query, whether any process may have
    /// committed since the last look. Keep it for the life of the process:
    /// see [`ChangeProbe`].
    pub fn change_probe(&self) -> Result<ChangeProbe> {
        let [_, _, shm] = self.files();
        let file = std::fs::File::open(&shm).map_err(|e| Error::io("cannot open", &shm, e))?;
        Ok(ChangeProbe {
            file: std::sync::Arc::new(file),
        })
    }

    /// A number that grows with every committed change (certificates,
    /// revocations, signers). Cheap; lets readers skip work when nothing changed.
    pub async fn generation(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT generation FROM lab_meta WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())
    }

    /// Records a CA and its CertID hashes under every supported algorithm.
    pub async fn add_issuer(
        &self,
        name: &str,
        subject: &str,
        cert_der: &[u8],
        hashes: &[IssuerHashes],
    ) -> Result<IssuerId> {
        let mut tx = self.begin().await?;
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
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await?;
        Ok(IssuerId(id))
    }

    /// SQLite's `PRAGMA integrity_check`: `ok`, or what is damaged.
    pub async fn integrity_check(&self) -> Result<String> {
        let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(rows.join("; "))
    }

    /// Every issuer, oldest first.
    pub async fn issuers(&self) -> Result<Vec<IssuerRecord>> {
        let rows = sqlx::query("SELECT id, name, subject, cert_der FROM issuers ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(rows.iter().map(issuer_from_row).collect())
    }

    /// The issuer with a short name.
    pub async fn issuer_by_name(&self, name: &str) -> Result<Option<IssuerRecord>> {
        let row = sqlx::query("SELECT id, name, subject, cert_der FROM issuers WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(row.as_ref().map(issuer_from_row))
    }

    /// The issuer whose name and key hash to these values under `alg`.
    pub async fn issuer_by_hashes(
        &self,
        alg: HashAlg,
        name_hash: &[u8],
        key_hash: &[u8],
    ) -> Result<Option<IssuerRecord>> {
        let row = sqlx::query(
            "SELECT i.id, i.name, i.subject, i.cert_der FROM issuer_hashes h JOIN issuers i ON i.id = h.issuer_id \
             WHERE h.hash_alg = $1 AND h.name_hash = $2 AND h.key_hash = $3",
        )
        .bind(alg.name())
        .bind(name_hash)
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        Ok(row.as_ref().map(issuer_from_row))
    }

    /// Every stored issuer hash, for callers that match CertIDs in memory.
    pub async fn issuer_hashes(&self) -> Result<Vec<(IssuerId, IssuerHashes)>> {
        let rows = sqlx::query(
            "SELECT issuer_id, hash_alg, name_hash, key_hash FROM issuer_hashes ORDER BY issuer_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let alg_name: String = row.get("hash_alg");
            let Some(alg) = HashAlg::from_name(&alg_name) else {
                return Err(self.damaged(format!(
                    "unknown hash algorithm '{alg_name}' in issuer_hashes"
                )));
            };
            out.push((
                IssuerId(row.get("issuer_id")),
                IssuerHashes {
                    alg,
                    name_hash: row.get("name_hash"),
                    key_hash: row.get("key_hash"),
                },
            ));
        }
        Ok(out)
    }

    /// Records a certificate. A leaf whose name is taken is refused unless
    /// `replace` is set; a serial already used by the issuer is refused.
    pub async fn add_certificate(
        &self,
        cert: &NewCertificate<'_>,
        replace: bool,
    ) -> Result<CertificateId> {
        let mut tx = self.begin().await?;
        let id = insert_certificate(&mut tx, cert, None, replace)
            .await
            .map_err(self.err())?;
        let Some(id) = id else {
            return Err(Error::NameTaken(cert.name.to_string()));
        };
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// Records many certificates, each with its revocation state, in one
    /// transaction: all of them or none. Fails, recording nothing, when a
    /// name is already taken or a serial already recorded for its issuer.
    pub async fn add_certificates(&self, certs: &[BulkCertificate<'_>]) -> Result<()> {
        let mut tx = self.begin().await?;
        for bulk in certs {
            let cert = &bulk.cert;
            let id = insert_certificate(&mut tx, cert, bulk.revoked, false)
                .await
                .map_err(self.err())?;
            if id.is_none() {
                return Err(Error::NameTaken(cert.name.to_string()));
            }
        }
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await
    }

    /// Records a delegated OCSP signer: its certificate and its key, in one transaction.
    pub async fn add_signer(
        &self,
        cert: &NewCertificate<'_>,
        key_pem: &str,
    ) -> Result<CertificateId> {
        let mut tx = self.begin().await?;
        let Some(id) = insert_certificate(&mut tx, cert, None, true)
            .await
            .map_err(self.err())?
        else {
            return Err(Error::NameTaken(cert.name.to_string()));
        };
        sqlx::query("INSERT INTO ocsp_signers (certificate_id, key_pem) VALUES ($1, $2)")
            .bind(id.0)
            .bind(key_pem)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await?;
        Ok(id)
    }

    /// The newest delegated signer of an issuer.
    pub async fn newest_signer(&self, issuer_id: IssuerId) -> Result<Option<SignerRecord>> {
        let sql = select_certificates!(
            ", s.key_pem",
            "JOIN ocsp_signers s ON s.certificate_id = c.id WHERE c.issuer_id = $1 ORDER BY c.id DESC LIMIT 1"
        );
        let row = sqlx::query(sql)
            .bind(issuer_id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(SignerRecord {
                certificate: self.cert_from_row(&row)?,
                key_pem: row.get("key_pem"),
            })),
        }
    }

    /// Every certificate, oldest first.
    pub async fn certificates(&self) -> Result<Vec<CertRecord>> {
        let rows = sqlx::query(select_certificates!("ORDER BY c.id"))
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        rows.iter().map(|row| self.cert_from_row(row)).collect()
    }

    /// Up to `limit` certificates in row order, after the row `after` (from
    /// the start when `None`): pages through every certificate without
    /// holding them all in memory. The last record's id is the next `after`.
    pub async fn certificates_after(
        &self,
        after: Option<CertificateId>,
        limit: u32,
    ) -> Result<Vec<CertRecord>> {
        let rows = sqlx::query(select_certificates!(
            "WHERE c.id > $1 ORDER BY c.id LIMIT $2"
        ))
        .bind(after.map_or(0, |id| id.0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(|row| self.cert_from_row(row)).collect()
    }

    /// The certificate a selector names; an error when there is none, or
    /// when a serial is shared by two issuers.
    pub async fn find(&self, selector: &CertSelector) -> Result<CertRecord> {
        let rows = match selector {
            CertSelector::Name(name) => sqlx::query(select_certificates!(
                "WHERE c.name = $1 ORDER BY c.id DESC LIMIT 1"
            ))
            .bind(name.as_str()),
            CertSelector::Serial(serial) => {
                sqlx::query(select_certificates!("WHERE c.serial = $1")).bind(serial.to_hex())
            }
        }
        .fetch_all(&self.pool)
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
    }

    /// The revoked certificates of an issuer, oldest revocation first (for its CRL).
    pub async fn revoked_by(&self, issuer_id: IssuerId) -> Result<Vec<CertRecord>> {
        let rows = sqlx::query(select_certificates!(
            "WHERE c.issuer_id = $1 AND c.revoked_at IS NOT NULL ORDER BY c.revoked_at, c.id"
        ))
        .bind(issuer_id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        rows.iter().map(|row| self.cert_from_row(row)).collect()
    }

    /// The revocation state of a serial of an issuer, `None` for a serial the
    /// issuer never issued. This is the responder's hot query.
    pub async fn status(
        &self,
        issuer_id: IssuerId,
        serial: &Serial,
    ) -> Result<Option<RevocationStatus>> {
        let row = sqlx::query(
            "SELECT revoked_at, reason FROM certificates WHERE issuer_id = $1 AND serial = $2",
        )
        .bind(issuer_id.0)
        .bind(serial.to_hex())
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        row.map(|row| self.status_from_row(&row)).transpose()
    }

    /// Marks a certificate revoked. Fails, changing nothing, when it already is.
    pub async fn revoke(
        &self,
        selector: &CertSelector,
        at: OffsetDateTime,
        reason: Option<RevocationReason>,
    ) -> Result<CertRecord> {
        let cert = self.find(selector).await?;
        let mut tx = self.begin().await?;
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
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await?;
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
        let mut tx = self.begin().await?;
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
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await?;
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
        let mut tx = self.begin().await?;
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
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await
    }

    /// Clears the fault of one certificate, or every fault when `None`. Returns how many were cleared.
    pub async fn clear_faults(&self, certificate: Option<CertificateId>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM faults WHERE $1 IS NULL OR certificate_id = $1")
            .bind(certificate.map(|c| c.0))
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        bump_generation(&mut tx).await.map_err(self.err())?;
        self.commit(tx).await?;
        Ok(done.rows_affected())
    }

    /// Every stored fault, expired or not (callers check [`Fault::active_at`]).
    pub async fn faults(&self) -> Result<Vec<Fault>> {
        let rows = sqlx::query(
            "SELECT f.mode, f.certificate_id, f.expires_at, c.name, c.serial FROM faults f \
             LEFT JOIN certificates c ON c.id = f.certificate_id ORDER BY f.id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.err())?;
        let mut faults = Vec::with_capacity(rows.len());
        for row in &rows {
            let mode_text: String = row.get("mode");
            let mode = mode_text
                .parse::<FaultMode>()
                .map_err(|_| self.damaged(format!("unknown fault mode '{mode_text}'")))?;
            let certificate = match row.get::<Option<i64>, _>("certificate_id") {
                None => None,
                Some(id) => {
                    // The foreign key keeps the certificate: a missing or bad serial is damage.
                    let serial_hex = row.get::<Option<String>, _>("serial").unwrap_or_default();
                    let serial = Serial::from_str(&serial_hex).map_err(|_| {
                        self.damaged(format!(
                            "fault for certificate {id} with serial '{serial_hex}'"
                        ))
                    })?;
                    Some(FaultTarget {
                        id: CertificateId(id),
                        name: row.get::<Option<String>, _>("name").unwrap_or_default(),
                        serial,
                    })
                }
            };
            let expires_at = match row.get::<Option<i64>, _>("expires_at") {
                None => None,
                Some(secs) => Some(
                    from_unix(secs)
                        .ok_or_else(|| self.damaged(format!("fault expiry {secs} out of range")))?,
                ),
            };
            faults.push(Fault {
                mode,
                certificate,
                expires_at,
            });
        }
        Ok(faults)
    }

    fn damaged(&self, reason: String) -> Error {
        Error::Damaged {
            path: self.path.clone(),
            reason,
        }
    }

    fn status_from_row(&self, row: &SqliteRow) -> Result<RevocationStatus> {
        let revoked_at: Option<i64> = row.get("revoked_at");
        let reason: Option<i64> = row.get("reason");
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

    fn cert_from_row(&self, row: &SqliteRow) -> Result<CertRecord> {
        let serial_hex: String = row.get("serial");
        let serial = Serial::from_str(&serial_hex)
            .map_err(|_| self.damaged(format!("bad serial '{serial_hex}'")))?;
        let kind_name: String = row.get("kind");
        let kind = CertKind::from_name(&kind_name)
            .ok_or_else(|| self.damaged(format!("unknown kind '{kind_name}'")))?;
        let time = |column: &str| -> Result<OffsetDateTime> {
            let secs: i64 = row.get(column);
            from_unix(secs).ok_or_else(|| self.damaged(format!("{column} {secs} out of range")))
        };
        Ok(CertRecord {
            id: CertificateId(row.get("id")),
            issuer_id: IssuerId(row.get("issuer_id")),
            issuer_name: row.get("issuer_name"),
            serial,
            name: row.get("name"),
            kind,
            subject: row.get("subject"),
            not_before: time("not_before")?,
            not_after: time("not_after")?,
            status: self.status_from_row(row)?,
            der: row.get("der"),
        })
    }
}

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

/// Inserts a certificate (already revoked when `revoked` says so). Unless
/// `replace`, a name already taken leaves it out and gives `None`.
async fn insert_certificate(
    tx: &mut Transaction<'static, Sqlite>,
    cert: &NewCertificate<'_>,
    revoked: Option<(OffsetDateTime, Option<RevocationReason>)>,
    replace: bool,
) -> std::result::Result<Option<CertificateId>, sqlx::Error> {
    let (revoked_at, reason) = match revoked {
        Some((at, reason)) => (
            Some(at.unix_timestamp()),
            reason.map(|r| i64::from(r.code())),
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
    .bind(replace)
    .bind(revoked_at)
    .bind(reason)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(id.map(CertificateId))
}

async fn bump_generation(
    tx: &mut Transaction<'static, Sqlite>,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("UPDATE lab_meta SET generation = generation + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

fn issuer_from_row(row: &SqliteRow) -> IssuerRecord {
    IssuerRecord {
        id: IssuerId(row.get("id")),
        name: row.get("name"),
        subject: row.get("subject"),
        cert_der: row.get("cert_der"),
    }
}

/// Maps a database error on `path` to the library's error, singling out a lock held by another writer.
fn db_error(path: &Path, error: sqlx::Error) -> Error {
    if let sqlx::Error::Database(db) = &error {
        // SQLITE_BUSY (5) and its extended codes, SQLITE_LOCKED (6).
        let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
        if matches!(code & 0xff, 5 | 6) {
            return Error::Locked(path.to_path_buf());
        }
    }
    Error::Database {
        path: path.to_path_buf(),
        source: error,
    }
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

/// The schema, `migrations/NNNN_DESCRIPTION.sql`, embedded at compile time.
/// This is what `sqlx::migrate!` expands to (same versions, descriptions and
/// checksums, so existing databases migrate as before) without sqlx's
/// proc-macro crate, which compiles a second, host copy of SQLite and of
/// sqlx into every build. A test checks that the list matches the directory.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "revocation db",
        include_str!("../migrations/0001_revocation_db.sql"),
    ),
    (2, "faults", include_str!("../migrations/0002_faults.sql")),
];

fn migrator() -> sqlx::migrate::Migrator {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    Migrator::with_migrations(
        MIGRATIONS
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
    use super::MIGRATIONS;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
            .expect("migrations/")
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
        let embedded: Vec<(i64, String, String)> = MIGRATIONS
            .iter()
            .map(|&(v, d, sql)| (v, d.to_string(), sql.to_string()))
            .collect();
        assert_eq!(
            embedded, files,
            "MIGRATIONS in store.rs must list every file of testca/migrations/"
        );
    }
}
