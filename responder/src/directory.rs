//! What the responder knows between two database changes: the issuers it
//! answers for (matched by the CertID hashes testca stored in the database),
//! who signs for each, and the faults in force. Rebuilt whenever the
//! database's generation moves ([`DirectoryWatch`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use labcore::CaName;
use labcore::files::read_text;
use labcore::layout::Layout;
use labcore::sync::lock;
use rcgen::KeyPair;
use testca::Serial;
use testca::cert_id::{HashAlg, IssuerHashes};
use testca::faults::Fault;
use testca::ids::IssuerId;
use testca::key_alg::load_key_pem;
use testca::store::{ChangeProbe, RevocationStatus, Store, WalIndexHeader};
use tracing::debug;

use crate::changes::{DatabaseState, Follower, Outage, POLL};
use crate::config::{Config, SignWith};
use crate::error::{Error, Result};
use crate::request::{ParsedRequest, RequestCertId};
use crate::signer::ResponderSigner;

/// A key and certificate that sign responses.
#[derive(Debug)]
pub struct SigningIdentity {
    /// The key and its certificate.
    pub signer: ResponderSigner<KeyPair>,
    /// Put the certificate in the response's `certs` (delegated signers).
    pub include_cert: bool,
    /// For logs: who this is.
    pub description: String,
    /// SHA-1 of the certificate: identifies the signer across reloads.
    pub fingerprint: [u8; 20],
}

impl SigningIdentity {
    /// An identity from a PEM key and a DER certificate.
    pub fn new(
        key: KeyPair,
        cert_der: &[u8],
        include_cert: bool,
        description: String,
    ) -> Result<Self> {
        use sha1::Digest;
        Ok(SigningIdentity {
            signer: ResponderSigner::new(key, cert_der)?,
            include_cert,
            description,
            fingerprint: sha1::Sha1::digest(cert_der).into(),
        })
    }
}

/// An issuer the responder answers for.
#[derive(Debug)]
pub struct IssuerEntry {
    /// Its row id.
    pub id: IssuerId,
    /// Its short name (`intermediate`).
    pub name: String,
    /// Its certificate, DER (served at the CA Issuers URL).
    pub cert_der: Vec<u8>,
    /// Who signs responses about its certificates; `None` when nobody can
    /// (no delegated signer recorded), which is answered with internalError.
    pub signer: Option<Arc<SigningIdentity>>,
}

/// Which directory, of all the responder loaded: a reload that finds the
/// same generation (a signer key file that caught up) is still another
/// directory, whose answers may be signed by someone else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DirectoryId(u64);

impl DirectoryId {
    /// A new one, never given before.
    pub(crate) fn next() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        DirectoryId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

/// The responder's view of the database at one generation.
#[derive(Debug, Default)]
pub struct Directory {
    /// Which load of the directory this is.
    pub id: DirectoryId,
    /// The database generation this view was built at.
    pub generation: i64,
    issuers: Vec<IssuerEntry>,
    /// By issuer key hash (which alone nearly always tells issuers apart):
    /// the hash algorithm, the name hash and the issuer's index. Looked up
    /// by slices, so a request's hashes are never copied.
    by_key_hash: HashMap<Vec<u8>, Vec<IssuerKey>>,
    faults: Vec<Fault>,
    /// Statuses read from the database at this generation. A new generation
    /// gets a new, empty directory: nothing read before a change outlives it.
    statuses: StatusCache,
    /// A signer's key file did not yet match its newest certificate (testca
    /// writes it just after the commit): the previous signer was kept, and
    /// the directory is loaded again soon.
    signer_pending: bool,
}

/// The rest of a CertID's issuer fields after the key hash: the hash
/// algorithm, the name hash, and the index of the issuer they name.
type IssuerKey = (HashAlg, Vec<u8>, usize);

/// Revocation states already read, by issuer and serial (issued serials only).
pub struct StatusCache(quick_cache::sync::Cache<(IssuerId, Serial), Option<RevocationStatus>>);

impl StatusCache {
    fn new(capacity: usize) -> Self {
        StatusCache(quick_cache::sync::Cache::new(capacity.max(1)))
    }
}

impl Default for StatusCache {
    fn default() -> Self {
        StatusCache::new(1)
    }
}

impl std::fmt::Debug for StatusCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusCache({} entries)", self.0.len())
    }
}

/// Signing material given on the command line (--signer-cert, --signer-key).
#[derive(Debug)]
pub struct SignerOverride {
    cert_der: Vec<u8>,
    key_pem: String,
}

impl SignerOverride {
    /// Reads the files named by the configuration, if any.
    pub fn from_config(config: &Config) -> Result<Option<Self>> {
        let (Some(cert), Some(key)) = (&config.signer_cert, &config.signer_key) else {
            return Ok(None);
        };
        let cert_pem = read_text(cert)?;
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| Error::NoCertificate(cert.clone()))?;
        Ok(Some(SignerOverride {
            cert_der,
            key_pem: read_text(key)?,
        }))
    }
}

impl Directory {
    /// Reads the issuers, their CertID hashes, signers and faults at the
    /// database's current generation.
    ///
    /// `previous` is the directory this one replaces: a signer whose
    /// certificate did not change is kept as it is.
    pub async fn load(
        store: &Store,
        layout: &Layout,
        config: &Config,
        signer_override: Option<&SignerOverride>,
        previous: Option<&Directory>,
    ) -> Result<Self> {
        let generation = store.generation().await?;
        let keys = SignerKeys::of(store);
        let mut signer_pending = false;
        let mut hashes: HashMap<IssuerId, Vec<IssuerHashes>> = HashMap::new();
        for (id, h) in store.issuer_hashes().await? {
            hashes.entry(id).or_default().push(h);
        }
        let mut issuers = Vec::new();
        for record in store.issuers().await? {
            let signer = match override_for(signer_override, &record.cert_der)? {
                Some(identity) => Some(Arc::new(identity)),
                None => match (config.sign_with, keys) {
                    (SignWith::Delegated, SignerKeys::LabFiles) => {
                        // The same issuer: its row and its certificate (a lab
                        // made again on the database starts its ids over).
                        let kept = previous
                            .and_then(|p| {
                                p.issuers
                                    .iter()
                                    .find(|i| i.id == record.id && i.cert_der == record.cert_der)
                            })
                            .and_then(|i| i.signer.clone());
                        let (signer, pending) =
                            signer_from_file(store, layout, record.id, &record.name, kept).await?;
                        signer_pending |= pending;
                        signer
                    }
                    (sign_with, _) => signer_for(
                        store,
                        layout,
                        sign_with,
                        record.id,
                        &record.name,
                        &record.cert_der,
                    )
                    .await?
                    .map(Arc::new),
                },
            };
            let entry = IssuerEntry {
                id: record.id,
                name: record.name,
                cert_der: record.cert_der,
                signer,
            };
            let its_hashes = hashes.remove(&record.id).unwrap_or_default();
            issuers.push((entry, its_hashes));
        }
        let mut directory = Directory::new(
            generation,
            issuers,
            store.faults().await?,
            config.cache_entries,
        );
        directory.signer_pending = signer_pending;
        Ok(directory)
    }

    /// A directory from its parts: each issuer with the CertID hashes it is
    /// known by. Tests build one in memory.
    pub fn new(
        generation: i64,
        issuers: Vec<(IssuerEntry, Vec<IssuerHashes>)>,
        faults: Vec<Fault>,
        status_entries: usize,
    ) -> Self {
        let mut by_key_hash: HashMap<Vec<u8>, Vec<IssuerKey>> = HashMap::new();
        let mut entries = Vec::with_capacity(issuers.len());
        for (entry, hashes) in issuers {
            for h in hashes {
                by_key_hash.entry(h.key_hash).or_default().push((
                    h.alg,
                    h.name_hash,
                    entries.len(),
                ));
            }
            entries.push(entry);
        }
        Directory {
            id: DirectoryId::next(),
            generation,
            issuers: entries,
            by_key_hash,
            faults,
            statuses: StatusCache::new(status_entries),
            signer_pending: false,
        }
    }

    /// Who signs the answer to `request`: the first served issuer's signer
    /// (one signature covers the whole response), else the fallback signer.
    pub fn signer_for(&self, request: &ParsedRequest) -> Option<Arc<SigningIdentity>> {
        match request.cert_ids.iter().find_map(|c| self.issuer_for(c)) {
            Some(issuer) => issuer.signer.clone(),
            None => self.fallback_signer(),
        }
    }

    /// The issuer a CertID names, if the responder serves it.
    pub fn issuer_for(&self, cert_id: &RequestCertId) -> Option<&IssuerEntry> {
        self.by_key_hash
            .get(cert_id.issuer_key_hash.as_slice())?
            .iter()
            .find(|(alg, name_hash, _)| {
                *alg == cert_id.hash_algorithm && *name_hash == cert_id.issuer_name_hash
            })
            .map(|&(_, _, i)| &self.issuers[i])
    }

    /// The revocation state of a serial of an issuer at this generation:
    /// from memory when it was read before, else from the database.
    pub async fn status(
        &self,
        store: &Store,
        issuer: IssuerId,
        serial: Serial,
    ) -> Result<Option<RevocationStatus>> {
        let key = (issuer, serial);
        if let Some(known) = self.statuses.0.get(&key) {
            return Ok(known);
        }
        let status = store.status(issuer, &key.1).await?;
        // Serials never issued are not kept: a flood of made-up ones would evict real ones.
        if status.is_some() {
            self.statuses.0.insert(key, status);
        }
        Ok(status)
    }

    /// The issuer with a short name.
    pub fn issuer_named(&self, name: &str) -> Option<&IssuerEntry> {
        self.issuers.iter().find(|i| i.name == name)
    }

    /// Every issuer.
    pub fn issuers(&self) -> &[IssuerEntry] {
        &self.issuers
    }

    /// The signer used when no served issuer is involved (answers `unknown`
    /// for foreign issuers): the last issuer's, normally the intermediate's.
    pub fn fallback_signer(&self) -> Option<Arc<SigningIdentity>> {
        self.issuers.iter().rev().find_map(|i| i.signer.clone())
    }

    /// The faults stored at this generation (some may have expired since).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

/// Where the delegated signers' keys come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SignerKeys {
    /// The database (SQLite: the lab's own file, readable by its owner only).
    Database,
    /// The lab directory's `ca/NAME/ocsp-signer/key.pem` (PostgreSQL: the
    /// reader role cannot read keys, and a responder should not need more).
    LabFiles,
}

impl SignerKeys {
    fn of(store: &Store) -> Self {
        if store.database().is_postgres() {
            SignerKeys::LabFiles
        } else {
            SignerKeys::Database
        }
    }
}

/// The key file of the delegated signer of the CA named `issuer_name`.
pub fn signer_key_file(layout: &Layout, issuer_name: &str) -> Result<std::path::PathBuf> {
    let ca: CaName = issuer_name
        .parse()
        .map_err(|_| Error::NoCaKey(issuer_name.to_string()))?;
    Ok(layout.signer_dir(ca).join("key.pem"))
}

/// The newest delegated signer of an issuer, its certificate from the
/// database and its key from the lab's key file. `kept` is the signer in use
/// until now: reused when the certificate did not change, and kept (with
/// `true`, "try again") when the key file does not match the newer
/// certificate yet. With nothing to keep, a key file that does not fit is an error.
async fn signer_from_file(
    store: &Store,
    layout: &Layout,
    issuer_id: IssuerId,
    issuer_name: &str,
    kept: Option<Arc<SigningIdentity>>,
) -> Result<(Option<Arc<SigningIdentity>>, bool)> {
    use sha1::Digest;
    let Some(cert) = store.newest_signer_certificate(issuer_id).await? else {
        return Ok((None, false));
    };
    let fingerprint: [u8; 20] = sha1::Sha1::digest(&cert.der).into();
    if let Some(kept) = kept.as_ref().filter(|k| k.fingerprint == fingerprint) {
        return Ok((Some(kept.clone()), false));
    }
    let key_path = signer_key_file(layout, issuer_name)?;
    let loaded = read_text(&key_path)
        .map_err(|e| e.to_string())
        .and_then(|pem| load_key_pem(&pem).map_err(|e| e.to_string()));
    let description = format!(
        "delegated signer '{}' (serial {}) for {issuer_name}, key {}",
        cert.name,
        cert.serial,
        key_path.display()
    );
    let identity = match loaded {
        Ok(key) => match SigningIdentity::new(key, &cert.der, true, description) {
            Ok(identity) => Ok(identity),
            Err(Error::Signer(crate::signer::SignerError::KeyMismatch)) => {
                Err("it is the key of another certificate".to_string())
            }
            Err(e) => return Err(e),
        },
        Err(reason) => Err(reason),
    };
    match (identity, kept) {
        (Ok(identity), _) => Ok((Some(Arc::new(identity)), false)),
        (Err(reason), Some(kept)) => {
            tracing::warn!(
                key = %key_path.display(),
                serial = %cert.serial,
                "the key file does not fit the newest delegated signer of {issuer_name} yet ({reason}); still signing with the previous one"
            );
            Ok((Some(kept), true))
        }
        (Err(reason), None) => Err(Error::SignerKeyFile {
            key: key_path,
            issuer: issuer_name.to_string(),
            serial: cert.serial.to_string(),
            database: store.database().to_string(),
            reason,
        }),
    }
}

/// The signer for an issuer: its newest delegated signer, or the CA's own key.
async fn signer_for(
    store: &Store,
    layout: &Layout,
    sign_with: SignWith,
    issuer_id: IssuerId,
    issuer_name: &str,
    issuer_der: &[u8],
) -> Result<Option<SigningIdentity>> {
    match sign_with {
        SignWith::Delegated => {
            let Some(record) = store.newest_signer(issuer_id).await? else {
                return Ok(None);
            };
            let key = load_key_pem(&record.key_pem).map_err(|source| Error::Key {
                what: "the delegated signer's key".into(),
                source,
            })?;
            let description = format!(
                "delegated signer '{}' (serial {}) for {issuer_name}",
                record.certificate.name, record.certificate.serial
            );
            Ok(Some(SigningIdentity::new(
                key,
                &record.certificate.der,
                true,
                description,
            )?))
        }
        SignWith::Issuer => {
            let ca: CaName = issuer_name
                .parse()
                .map_err(|_| Error::NoCaKey(issuer_name.to_string()))?;
            let key_path = layout.ca_key(ca);
            let key = load_key_pem(&read_text(&key_path)?).map_err(|source| Error::Key {
                what: key_path.display().to_string(),
                source,
            })?;
            Ok(Some(
                SigningIdentity::new(
                    key,
                    issuer_der,
                    false,
                    format!("the {issuer_name} CA itself"),
                )
                .map_err(|e| match e {
                    Error::Signer(source) => Error::KeyMismatch {
                        key: key_path.clone(),
                        issuer: issuer_name.to_string(),
                        source,
                    },
                    other => other,
                })?,
            ))
        }
    }
}

/// The command-line signer, when it belongs to this issuer: either the CA
/// certificate itself or a certificate the CA issued.
fn override_for(
    signer_override: Option<&SignerOverride>,
    issuer_der: &[u8],
) -> Result<Option<SigningIdentity>> {
    let Some(o) = signer_override else {
        return Ok(None);
    };
    let issuer = parse_cert(issuer_der)?;
    let signer = parse_cert(&o.cert_der)?;
    let is_issuer = signer.tbs_certificate.subject_public_key_info
        == issuer.tbs_certificate.subject_public_key_info;
    let issued_by = signer.tbs_certificate.issuer == issuer.tbs_certificate.subject;
    if !is_issuer && !issued_by {
        return Ok(None);
    }
    let key = load_key_pem(&o.key_pem).map_err(|source| Error::Key {
        what: "--signer-key".into(),
        source,
    })?;
    let description = format!("--signer-cert {}", signer.tbs_certificate.subject);
    Ok(Some(SigningIdentity::new(
        key,
        &o.cert_der,
        !is_issuer,
        description,
    )?))
}

fn parse_cert(der: &[u8]) -> Result<x509_cert::Certificate> {
    use der::Decode;
    Ok(x509_cert::Certificate::from_der(der)?)
}

/// The DER of the first certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let chain = x509_cert::Certificate::load_pem_chain(pem.as_bytes()).ok()?;
    der::Encode::to_der(chain.first()?).ok()
}

/// Checks a lab directory exists before anything opens it, for a clear error.
pub fn check_lab(dir: &Path) -> Result<()> {
    Ok(Layout::new(dir).require_lab()?)
}

/// The current [`Directory`], rebuilt when another process committed a change.
pub struct DirectoryWatch {
    store: Store,
    layout: Layout,
    config: Config,
    signer_override: Option<SignerOverride>,
    signal: ChangeSignal,
    /// The signal as it was when the directory was last found current.
    seen: Mutex<Mark>,
    current: ArcSwap<Directory>,
    reload: tokio::sync::Mutex<()>,
    /// Directories loaded since the start, for metrics.
    reloads: std::sync::atomic::AtomicU64,
    /// The last load that failed, while nothing changed since: told again
    /// for [`RETRY`] rather than every queued request loading in turn.
    failed: Mutex<Option<LoadFailure>>,
}

/// A load of the directory that failed.
#[derive(Debug)]
struct LoadFailure {
    /// The change signal it was tried at.
    mark: Mark,
    /// When.
    at: std::time::Instant,
    /// Why.
    error: Arc<Error>,
}

/// How the watch learns that some process committed.
enum ChangeSignal {
    /// SQLite: the WAL-index header, read on every look (no query).
    Probe(ChangeProbe),
    /// PostgreSQL: the newest generation a [`Follower`] task saw notified or
    /// polled, and when a directory with a pending signer was last loaded.
    Follow {
        follower: Follower,
        loaded: Mutex<std::time::Instant>,
    },
}

/// The change signal at one moment: equal marks mean no commit in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mark {
    /// The WAL-index header (`None` when it could not be read: unknown).
    Header(Option<WalIndexHeader>),
    /// The newest generation seen.
    Generation(i64),
}

impl Mark {
    /// Whether the mark says anything (an unreadable header does not).
    fn is_known(&self) -> bool {
        !matches!(self, Mark::Header(None))
    }
}

/// How soon a directory whose signer key file lagged, or whose load failed,
/// is loaded again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(100);

impl std::fmt::Debug for DirectoryWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryWatch")
            .field("database", &self.store.database())
            .field("generation", &self.current.load().generation)
            .finish_non_exhaustive()
    }
}

impl DirectoryWatch {
    /// Loads the directory of the lab's database, and starts watching it for changes.
    pub async fn start(store: Store, layout: Layout, config: &Config) -> Result<Self> {
        let signal = if store.database().is_postgres() {
            ChangeSignal::Follow {
                follower: Follower::start(&store, POLL).await?,
                loaded: Mutex::new(std::time::Instant::now()),
            }
        } else {
            ChangeSignal::Probe(store.change_probe()?)
        };
        let signer_override = SignerOverride::from_config(config)?;
        let seen = mark(&signal);
        let directory =
            Directory::load(&store, &layout, config, signer_override.as_ref(), None).await?;
        Ok(DirectoryWatch {
            store,
            layout,
            config: config.clone(),
            signer_override,
            signal,
            seen: Mutex::new(seen),
            current: ArcSwap::from_pointee(directory),
            reload: tokio::sync::Mutex::new(()),
            reloads: std::sync::atomic::AtomicU64::new(0),
            failed: Mutex::new(None),
        })
    }

    /// The database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The lab's files.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The directory as last loaded, without looking for changes.
    pub fn last(&self) -> Arc<Directory> {
        self.current.load_full()
    }

    /// What is known of a PostgreSQL database (`None` for SQLite, whose file is always there).
    pub fn database_state(&self) -> Option<&Arc<DatabaseState>> {
        match &self.signal {
            ChangeSignal::Probe(_) => None,
            ChangeSignal::Follow { follower, .. } => Some(follower.state()),
        }
    }

    /// Since when and why the database is unreachable, if it is.
    pub fn outage(&self) -> Option<Outage> {
        self.database_state().and_then(|s| s.outage())
    }

    /// Whether the directory last loaded is still the one to use: no process
    /// committed since it was looked at, known without a query (SQLite: the
    /// database's shared-memory header; PostgreSQL: the generation last
    /// notified or polled), and no lagging signer key file is due for
    /// another look.
    pub fn unchanged(&self) -> bool {
        let now = mark(&self.signal);
        now.is_known() && *lock(&self.seen) == now && !self.signer_retry_due()
    }

    /// The directory, rebuilt first if any process committed since the last look.
    pub async fn current(&self) -> Result<Arc<Directory>> {
        if let Some(current) = self.still_current() {
            return Ok(current);
        }
        let _reloading = self.reload.lock().await;
        // The requests that queued behind one reload find its result here,
        // rather than each loading the same directory again.
        if let Some(current) = self.still_current() {
            return Ok(current);
        }
        let now = mark(&self.signal);
        if let Some(failure) = lock(&self.failed).as_ref()
            && failure.mark == now
            && failure.at.elapsed() < RETRY
        {
            return Err(Error::Again(failure.error.clone()));
        }
        let generation = self.store.generation().await?;
        let mut current = self.current.load_full();
        if current.generation != generation || current.signer_pending {
            let loaded = Directory::load(
                &self.store,
                &self.layout,
                &self.config,
                self.signer_override.as_ref(),
                Some(&current),
            )
            .await;
            let fresh = match loaded {
                Ok(fresh) => fresh,
                Err(e) => {
                    let error = Arc::new(e);
                    *lock(&self.failed) = Some(LoadFailure {
                        mark: now,
                        at: std::time::Instant::now(),
                        error: error.clone(),
                    });
                    return Err(Error::Again(error));
                }
            };
            *lock(&self.failed) = None;
            debug!(
                generation = fresh.generation,
                "database changed; reloaded issuers, signers and faults"
            );
            current = Arc::new(fresh);
            self.current.store(current.clone());
            if let ChangeSignal::Follow { loaded, .. } = &self.signal {
                *lock(loaded) = std::time::Instant::now();
            }
            self.reloads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        *lock(&self.seen) = now;
        Ok(current)
    }

    /// The directory when no process committed since it was found current
    /// and no lagging signer is due to be looked at again.
    fn still_current(&self) -> Option<Arc<Directory>> {
        self.unchanged().then(|| self.current.load_full())
    }

    /// How many times the directory was loaded again since the start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the directory kept a previous signer because a key file
    /// lagged, and it is time to look again.
    fn signer_retry_due(&self) -> bool {
        match &self.signal {
            ChangeSignal::Follow { loaded, .. } => {
                self.current.load().signer_pending && lock(loaded).elapsed() >= RETRY
            }
            ChangeSignal::Probe(_) => false,
        }
    }
}

fn mark(signal: &ChangeSignal) -> Mark {
    match signal {
        ChangeSignal::Probe(probe) => Mark::Header(probe.read()),
        ChangeSignal::Follow { follower, .. } => Mark::Generation(follower.state().newest()),
    }
}
