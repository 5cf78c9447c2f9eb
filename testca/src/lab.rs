//! A lab: its directory, its settings and its revocation database, and the
//! operations of the `testca` command line on them.

use std::fs;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::authority::{self, CaKey, Issued, LeafSpec, SignerDefects, Validity};
use crate::cert_id::IssuerKeyMaterial;
use crate::config::LabConfig;
use crate::error::{Error, Result};
use crate::faults::{Fault, FaultMode, FaultTarget};
use crate::ids::IssuerId;
use crate::key_alg::{KeyAlg, load_key_pem};
use crate::recovery::{self, LabLock, Recovery};
use crate::store::{
    CertKind, CertRecord, CertSelector, DatabaseUrl, NewCertificate, Store, StoreOptions,
};
use labcore::files::{Secrecy, create_private_dir, read_text, write_atomic};
use labcore::layout::{DEFAULT_LEAF, Layout};
use labcore::{CaName, RevocationReason};
use rcgen::KeyPair;

/// How far in the future a revocation time may be (clock differences between machines).
const FUTURE_REVOCATION_TOLERANCE: time::Duration = time::Duration::minutes(5);

/// Options of `testca init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// OCSP URL for Authority Information Access.
    pub ocsp_url: String,
    /// Base of the CA Issuers URLs (default: `/ca/` on the OCSP host).
    pub ca_issuers_base: Option<String>,
    /// Base of the CRL URLs (default: `/crl/` on the OCSP host).
    pub crl_base: Option<String>,
    /// Key algorithm of every key.
    pub key_alg: KeyAlg,
    /// Replace an existing lab.
    pub force: bool,
}

/// What `testca issue` (and `POST /api/v1/certificates`) asks for: the
/// flags of the command line, checked by [`Lab::issue`].
#[derive(Clone, Debug)]
pub struct IssueOptions {
    /// Name of the certificate (its common name and directory under certs/).
    pub name: String,
    /// Subject alternative names [default: the name].
    pub sans: Vec<String>,
    /// Days of validity, 1 to [`authority::MAX_DAYS`].
    pub days: u32,
    /// notAfter already past (yesterday).
    pub expired: bool,
    /// notBefore tomorrow.
    pub not_yet_valid: bool,
    /// TLS Feature status_request (OCSP must-staple).
    pub must_staple: bool,
    /// Leave out Authority Information Access.
    pub no_aia: bool,
    /// The CA that issues it.
    pub issuer: CaName,
    /// Supersede a certificate of the same name.
    pub replace: bool,
}

impl IssueOptions {
    /// The defaults of `testca issue NAME`.
    pub fn new(name: impl Into<String>) -> Self {
        IssueOptions {
            name: name.into(),
            sans: Vec::new(),
            days: authority::DEFAULT_LEAF_DAYS,
            expired: false,
            not_yet_valid: false,
            must_staple: false,
            no_aia: false,
            issuer: CaName::Intermediate,
            replace: false,
        }
    }

    /// Checks the options together and makes the leaf's spec.
    pub fn spec(&self) -> Result<LeafSpec> {
        if !(1..=authority::MAX_DAYS).contains(&self.days) {
            return Err(Error::invalid(
                "days",
                self.days.to_string(),
                format!("a number of days from 1 to {}", authority::MAX_DAYS),
            ));
        }
        if self.expired && self.not_yet_valid {
            return Err(Error::invalid(
                "validity",
                "expired and not yet valid",
                "at most one of expired (--expired) and not yet valid (--not-yet-valid)",
            ));
        }
        let validity = if self.expired {
            Validity::expired(self.days)
        } else if self.not_yet_valid {
            Validity::not_yet_valid(self.days)
        } else {
            Validity::for_days(self.days)
        };
        Ok(LeafSpec {
            name: self.name.clone(),
            sans: self.sans.clone(),
            validity,
            must_staple: self.must_staple,
            aia: !self.no_aia,
        })
    }
}

/// An open lab.
#[derive(Debug)]
pub struct Lab {
    layout: Layout,
    config: LabConfig,
    store: Store,
    lock: LabLock,
    recovery: Recovery,
}

impl Lab {
    /// Creates a lab in `dir`: root and intermediate CAs, a delegated OCSP
    /// signer for each, the `localhost` leaf, and the revocation database.
    ///
    /// An existing lab is replaced only with `force`; a directory holding
    /// anything else is never touched.
    pub async fn init(
        dir: &Path,
        options: &InitOptions,
        store_options: &StoreOptions,
    ) -> Result<Lab> {
        Self::init_with(dir, None, options, store_options).await
    }

    /// [`Lab::init`] with the revocation database in `database` (a
    /// PostgreSQL database; `None` for the SQLite file in the lab directory).
    /// A PostgreSQL database already holding a lab is replaced only with `force`.
    pub async fn init_with(
        dir: &Path,
        database: Option<&DatabaseUrl>,
        options: &InitOptions,
        store_options: &StoreOptions,
    ) -> Result<Lab> {
        let layout = Layout::new(dir);
        let only_lab_entries = layout.holds_only_lab_entries()?;
        if layout.is_lab() || only_lab_entries && dir_has_entries(dir)? {
            if !options.force {
                return Err(Error::LabExists(dir.to_path_buf()));
            }
        } else if !only_lab_entries {
            return Err(Error::DirNotEmpty(dir.to_path_buf()));
        }
        let mut config = LabConfig::new(
            &options.ocsp_url,
            options.ca_issuers_base.as_deref(),
            options.crl_base.as_deref(),
            options.key_alg,
        )?;
        let database = database
            .cloned()
            .unwrap_or_else(|| DatabaseUrl::sqlite(layout.database()));
        if database.is_postgres() {
            config.database = Some(database.to_string());
        }

        // Everything is generated before the old lab is removed.
        let root = authority::issue_root(config.key_alg)?;
        let intermediate = authority::issue_intermediate(&root.as_ca(CaName::Root), &config)?;
        let root_signer = authority::issue_signer(
            &root.as_ca(CaName::Root),
            config.key_alg,
            SignerDefects::default(),
        )?;
        let intermediate_ca = intermediate.as_ca(CaName::Intermediate);
        let intermediate_signer =
            authority::issue_signer(&intermediate_ca, config.key_alg, SignerDefects::default())?;
        let leaf = authority::issue_leaf(
            &intermediate_ca,
            &config,
            &LeafSpec {
                name: DEFAULT_LEAF.into(),
                sans: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
                validity: Validity::for_days(authority::DEFAULT_LEAF_DAYS),
                must_staple: false,
                aia: true,
            },
        )?;

        // A PostgreSQL database is reached, and checked, before anything on
        // disk changes: a wrong URL leaves the directory as it was.
        let early_store = match database {
            DatabaseUrl::Postgres(_) => {
                Some(Store::create_in(&database, store_options, options.force).await?)
            }
            DatabaseUrl::Sqlite(_) => None,
        };
        if options.force {
            layout.remove_lab_entries()?;
        }
        create_private_dir(dir)?;
        #[cfg(unix)]
        labcore::files::restrict(dir, 0o700)?;
        let lock = LabLock::open(&layout)?;
        let store = match early_store {
            Some(store) => store,
            None => Store::create_in(&database, store_options, options.force).await?,
        };
        let root_id = add_issuer(&store, &root).await?;
        let intermediate_id = add_issuer(&store, &intermediate).await?;
        store
            .add_certificate(
                &new_certificate(root_id, &intermediate, CertKind::Ca),
                false,
            )
            .await?;

        for (ca, issued) in [(CaName::Root, &root), (CaName::Intermediate, &intermediate)] {
            write_atomic(
                &layout.ca_key(ca),
                issued.key.serialize_pem().as_bytes(),
                Secrecy::Secret,
            )?;
            write_atomic(&layout.ca_cert(ca), issued.pem.as_bytes(), Secrecy::Public)?;
        }
        write_atomic(&layout.ca_chain(CaName::Root), b"", Secrecy::Public)?;
        write_atomic(
            &layout.ca_chain(CaName::Intermediate),
            root.pem.as_bytes(),
            Secrecy::Public,
        )?;
        let bundle = format!("{}{}", intermediate.pem, root.pem);
        write_atomic(&layout.ca_bundle(), bundle.as_bytes(), Secrecy::Public)?;

        let lab = Lab {
            layout,
            config,
            store,
            lock,
            recovery: Recovery::default(),
        };
        lab.publish_signer(CaName::Root, root_id, root_signer)
            .await?;
        lab.publish_signer(CaName::Intermediate, intermediate_id, intermediate_signer)
            .await?;
        lab.publish_leaf(CaName::Intermediate, intermediate_id, leaf, false)
            .await?;
        crate::token::create(&lab.layout)?;
        // lab.toml last: a directory without it is not taken for a finished lab.
        lab.config.save(&lab.layout.config())?;
        Ok(lab)
    }

    /// Opens the lab in `dir`, first finishing or undoing what a crashed
    /// command left (see [`recovery`]; [`Lab::recovery`] tells what was done).
    /// A lab made under a permissive umask is made private (0700).
    pub async fn open(dir: &Path, store_options: &StoreOptions) -> Result<Lab> {
        Self::open_with(dir, None, store_options).await
    }

    /// [`Lab::open`] with the revocation database in `database` (`None`: the
    /// SQLite file in the lab directory). It must be the database the lab
    /// was made with (`lab.toml` records which).
    pub async fn open_with(
        dir: &Path,
        database: Option<&DatabaseUrl>,
        store_options: &StoreOptions,
    ) -> Result<Lab> {
        let layout = Layout::new(dir);
        layout.require_lab()?;
        // Best effort: a user who does not own the lab may still read it.
        #[cfg(unix)]
        if let Err(e) = labcore::files::restrict(dir, 0o700) {
            tracing::warn!("{e}");
        }
        let config = LabConfig::load(&layout.config())?;
        let database = lab_database(&layout, &config, database)?;
        let store = Store::open_in(&database, store_options).await?;
        let lock = LabLock::open(&layout)?;
        // Another command writing files now holds the lock: its staging
        // files are not left-overs, and recovery waits for a later command.
        let recovery = if lock.try_exclusive()? {
            let result = recovery::recover(&layout, &store).await;
            lock.unlock()?;
            result?
        } else {
            Recovery::default()
        };
        Ok(Lab {
            layout,
            config,
            store,
            lock,
            recovery,
        })
    }

    /// What opening the lab recovered from a crashed command (empty normally).
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The lab's paths.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The lab's settings.
    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The revocation database.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the database.
    pub async fn close(self) {
        self.store.close().await;
    }

    /// Issues a leaf as `testca issue` does: checks the options, then [`issue_leaf`](Self::issue_leaf).
    pub async fn issue(&self, options: &IssueOptions) -> Result<CertRecord> {
        let spec = options.spec()?;
        self.issue_leaf(options.issuer, &spec, options.replace)
            .await
    }

    /// Issues a leaf under `ca` and writes its files; with `replace`, a leaf
    /// of the same name is superseded (it stays in the database under its serial).
    pub async fn issue_leaf(
        &self,
        ca: CaName,
        spec: &LeafSpec,
        replace: bool,
    ) -> Result<CertRecord> {
        authority::check_leaf_name(&spec.name)?;
        if !replace
            && self
                .store
                .find(&CertSelector::Name(spec.name.clone()))
                .await
                .is_ok()
        {
            return Err(Error::NameTaken(spec.name.clone()));
        }
        let (ca_cert, ca_key, issuer_id) = self.load_ca(ca).await?;
        let leaf = authority::issue_leaf(
            &CaKey {
                ca,
                cert_der: &ca_cert,
                key: &ca_key,
            },
            &self.config,
            spec,
        )?;
        self.publish_leaf(ca, issuer_id, leaf, replace).await
    }

    /// Issues a new delegated OCSP signer for `ca` (possibly with defects);
    /// the responder signs with the newest one.
    pub async fn reissue_signer(&self, ca: CaName, defects: SignerDefects) -> Result<CertRecord> {
        let (ca_cert, ca_key, issuer_id) = self.load_ca(ca).await?;
        let signer = authority::issue_signer(
            &CaKey {
                ca,
                cert_der: &ca_cert,
                key: &ca_key,
            },
            self.config.key_alg,
            defects,
        )?;
        self.publish_signer(ca, issuer_id, signer).await
    }

    /// Revokes a certificate at `at` (default now) with an optional reason.
    pub async fn revoke(
        &self,
        selector: &CertSelector,
        reason: Option<RevocationReason>,
        at: Option<OffsetDateTime>,
    ) -> Result<CertRecord> {
        let now = OffsetDateTime::now_utc();
        let at = at.unwrap_or(now);
        if at > now + FUTURE_REVOCATION_TOLERANCE {
            return Err(Error::invalid(
                "revocation time",
                at.format(&Rfc3339).unwrap_or_default(),
                "a time that is not in the future",
            ));
        }
        self.store.revoke(selector, at, reason).await
    }

    /// Clears a revocation.
    pub async fn unrevoke(&self, selector: &CertSelector) -> Result<CertRecord> {
        self.store.unrevoke(selector).await
    }

    /// Makes the responder misbehave, for one certificate or all, for a while or until cleared.
    pub async fn set_fault(
        &self,
        mode: FaultMode,
        certificate: Option<&CertSelector>,
        lasting: Option<std::time::Duration>,
    ) -> Result<Fault> {
        let target = match certificate {
            Some(selector) => Some(self.store.find(selector).await?),
            None => None,
        };
        let expires_at = match lasting {
            Some(d) => Some(
                OffsetDateTime::now_utc()
                    + time::Duration::try_from(d).map_err(|_| {
                        Error::invalid("fault duration", format!("{d:?}"), "a shorter duration")
                    })?,
            ),
            None => None,
        };
        // The database keeps whole seconds: round up, so the fault lasts at least as asked.
        let expires_at = expires_at.map(|end| {
            let whole = crate::store::truncate(end);
            if whole < end {
                whole + time::Duration::SECOND
            } else {
                whole
            }
        });
        self.store
            .set_fault(mode, target.as_ref().map(|c| c.id), expires_at)
            .await?;
        Ok(Fault {
            mode,
            certificate: target.map(|c| FaultTarget {
                id: c.id,
                name: c.name,
                serial: c.serial,
            }),
            expires_at,
        })
    }

    /// Clears one certificate's fault, or all faults; returns how many were cleared.
    pub async fn clear_faults(&self, certificate: Option<&CertSelector>) -> Result<u64> {
        let target = match certificate {
            Some(selector) => Some(self.store.find(selector).await?.id),
            None => None,
        };
        self.store.clear_faults(target).await
    }

    /// The faults in force now.
    pub async fn active_faults(&self) -> Result<Vec<Fault>> {
        let now = OffsetDateTime::now_utc();
        Ok(self
            .store
            .faults()
            .await?
            .into_iter()
            .filter(|f| f.active_at(now))
            .collect())
    }

    /// Every certificate of the lab.
    pub async fn list(&self) -> Result<Vec<CertRecord>> {
        self.store.certificates().await
    }

    /// One certificate.
    pub async fn find(&self, selector: &CertSelector) -> Result<CertRecord> {
        self.store.find(selector).await
    }

    /// The files of a certificate that exist on disk, for `show`; none for a
    /// certificate that was superseded (its files now hold its successor).
    pub fn files_of(&self, cert: &CertRecord) -> Vec<PathBuf> {
        let dir = match cert.kind {
            CertKind::Leaf => self.layout.leaf_dir(&cert.name),
            CertKind::Ca => match cert.name.parse::<CaName>() {
                Ok(ca) => self.layout.ca_dir(ca),
                Err(_) => return Vec::new(),
            },
            CertKind::OcspSigner => match cert.issuer_name.parse::<CaName>() {
                Ok(ca) => self.layout.signer_dir(ca),
                Err(_) => return Vec::new(),
            },
        };
        if !pem_holds(&dir.join("cert.pem"), &cert.der) {
            return Vec::new();
        }
        ["cert.pem", "key.pem", "chain.pem", "fullchain.pem"]
            .iter()
            .map(|file| dir.join(file))
            .filter(|path| path.is_file())
            .collect()
    }

    /// A CA's certificate, key and issuer id.
    async fn load_ca(&self, ca: CaName) -> Result<(Vec<u8>, KeyPair, IssuerId)> {
        let issuer = self
            .store
            .issuer_by_name(ca.name())
            .await?
            .ok_or_else(|| Error::Damaged {
                path: self.layout.database(),
                reason: format!("the {ca} CA is not recorded"),
            })?;
        let key_path = self.layout.ca_key(ca);
        let key = load_key_pem(&read_text(&key_path)?).map_err(|e| Error::Damaged {
            path: key_path,
            reason: e.to_string(),
        })?;
        Ok((issuer.cert_der, key, issuer.id))
    }

    async fn publish_signer(
        &self,
        ca: CaName,
        issuer_id: IssuerId,
        signer: Issued,
    ) -> Result<CertRecord> {
        let _writing = self.lock.shared()?;
        let key_pem = signer.key.serialize_pem();
        self.store
            .add_signer(
                &new_certificate(issuer_id, &signer, CertKind::OcspSigner),
                &key_pem,
            )
            .await?;
        // The database is what the responder reads; the files are for people and peers.
        let dir = self.layout.signer_dir(ca);
        write_atomic(&dir.join("key.pem"), key_pem.as_bytes(), Secrecy::Secret)?;
        write_atomic(
            &dir.join("cert.pem"),
            signer.pem.as_bytes(),
            Secrecy::Public,
        )?;
        self.store.find(&CertSelector::Serial(signer.serial)).await
    }

    /// Writes a leaf's files next to their final place, records the leaf, then
    /// moves the files in: the files appear only for a recorded certificate.
    async fn publish_leaf(
        &self,
        ca: CaName,
        issuer_id: IssuerId,
        leaf: Issued,
        replace: bool,
    ) -> Result<CertRecord> {
        let name = &leaf.name;
        let final_dir = self.layout.leaf_dir(name);
        let certs_dir = final_dir
            .parent()
            .unwrap_or(self.layout.dir())
            .to_path_buf();
        let _writing = self.lock.shared()?;
        create_private_dir(&certs_dir)?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{name}.new-"))
            .tempdir_in(&certs_dir)
            .map_err(|e| Error::io("cannot create a directory in", &certs_dir, e))?;
        // It becomes certs/NAME: owner only, like every directory of the lab.
        #[cfg(unix)]
        labcore::files::restrict(staging.path(), 0o700)?;
        let chain = match ca {
            CaName::Root => String::new(),
            CaName::Intermediate => read_text(&self.layout.ca_cert(CaName::Intermediate))?,
        };
        write_atomic(
            &staging.path().join("key.pem"),
            leaf.key.serialize_pem().as_bytes(),
            Secrecy::Secret,
        )?;
        write_atomic(
            &staging.path().join("cert.pem"),
            leaf.pem.as_bytes(),
            Secrecy::Public,
        )?;
        write_atomic(
            &staging.path().join("chain.pem"),
            chain.as_bytes(),
            Secrecy::Public,
        )?;
        write_atomic(
            &staging.path().join("fullchain.pem"),
            format!("{}{chain}", leaf.pem).as_bytes(),
            Secrecy::Public,
        )?;

        self.store
            .add_certificate(&new_certificate(issuer_id, &leaf, CertKind::Leaf), replace)
            .await?;

        // Committed: from here on the certificate exists, and a crash is
        // completed by the next command's recovery, which needs the staged
        // files kept rather than deleted on unwind.
        let staged = staging.keep();
        recovery::move_into_place(&staged, &final_dir)?;
        self.store.find(&CertSelector::Serial(leaf.serial)).await
    }
}

/// The database of the lab in `layout` made with `config`, given `given`
/// (`--db`): the one recorded at `init`, or a clear error naming it.
fn lab_database(
    layout: &Layout,
    config: &LabConfig,
    given: Option<&DatabaseUrl>,
) -> Result<DatabaseUrl> {
    let sqlite = DatabaseUrl::sqlite(layout.database());
    let wrong = |kept: String, given: String, fix: &'static str| Error::WrongDatabase {
        dir: layout.dir().to_path_buf(),
        kept,
        given,
        fix,
    };
    match (&config.database, given) {
        (None, None) => Ok(sqlite),
        (None, Some(DatabaseUrl::Sqlite(path))) => Ok(DatabaseUrl::sqlite(path)),
        (None, Some(given @ DatabaseUrl::Postgres(_))) => Err(wrong(
            sqlite.to_string(),
            given.to_string(),
            "leave out --db (and OCSPLAB_DB)",
        )),
        (Some(kept), None | Some(DatabaseUrl::Sqlite(_))) => Err(wrong(
            kept.clone(),
            given.map_or_else(|| sqlite.to_string(), ToString::to_string),
            "pass its URL, with the password, in --db or OCSPLAB_DB",
        )),
        (Some(kept), Some(DatabaseUrl::Postgres(url))) => {
            let same = crate::store::PostgresUrl::parse(kept)
                .is_ok_and(|recorded| recorded.identity() == url.identity());
            if same {
                Ok(DatabaseUrl::Postgres(url.clone()))
            } else {
                Err(wrong(
                    kept.clone(),
                    url.to_string(),
                    "pass the lab's own database in --db or OCSPLAB_DB",
                ))
            }
        }
    }
}

fn new_certificate(issuer_id: IssuerId, issued: &Issued, kind: CertKind) -> NewCertificate<'_> {
    NewCertificate {
        issuer_id,
        serial: &issued.serial,
        name: &issued.name,
        kind,
        subject: &issued.subject,
        not_before: issued.not_before,
        not_after: issued.not_after,
        der: &issued.der,
    }
}

async fn add_issuer(store: &Store, ca: &Issued) -> Result<IssuerId> {
    let material = IssuerKeyMaterial::from_cert_der(&ca.der)?;
    store
        .add_issuer(&ca.name, &ca.subject, &ca.der, &material.all_hashes())
        .await
}

/// Whether the PEM file's first certificate is `der`.
fn pem_holds(path: &Path, der: &[u8]) -> bool {
    let Ok(text) = fs::read(path) else {
        return false;
    };
    x509_cert::Certificate::load_pem_chain(&text)
        .ok()
        .and_then(|chain| chain.into_iter().next())
        .and_then(|first| der::Encode::to_der(&first).ok())
        .is_some_and(|first| first == der)
}

fn dir_has_entries(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("cannot read", dir, e)),
    }
}
