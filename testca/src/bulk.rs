//! Issuing many certificates at once, for load tests and benchmarks
//! (`testca issue-bulk`).
//!
//! The certificates are real: each has its own key pair, a random serial
//! with 16 bytes of entropy, the lab's AIA and CRL pointers, and the CA's
//! signature, exactly as `testca issue` makes them. A given fraction is
//! revoked, at a random time since issuance, with a reason OpenSSL's CA
//! index can name (or none). By default they are only recorded in the
//! database, in transactions of [`CHUNK`], without files (a million leaves
//! would be four million files; their keys are dropped); they are generated
//! on several threads. With `files`, each is issued exactly like `testca
//! issue` (its key and PEM files under `certs/NAME/`), one at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use labcore::files::read_text;
use labcore::{CaName, RevocationReason};
use rand::Rng;
use time::OffsetDateTime;

use crate::authority::{self, CaKey, LeafSpec, Validity};
use crate::config::LabConfig;
use crate::error::{Error, Result};
use crate::ids::IssuerId;
use crate::key_alg::{KeyAlg, load_key_pem};
use crate::lab::Lab;
use crate::serial::Serial;
use crate::store::{BulkCertificate, CertKind, CertSelector, NewCertificate};

/// Certificates recorded per transaction.
pub const CHUNK: u64 = 10_000;

/// The reasons given to bulk revocations (`None`: no reason): the usual
/// ones, all of which OpenSSL's CA index can name.
const REASONS: [Option<RevocationReason>; 6] = [
    None,
    Some(RevocationReason::Unspecified),
    Some(RevocationReason::KeyCompromise),
    Some(RevocationReason::AffiliationChanged),
    Some(RevocationReason::Superseded),
    Some(RevocationReason::CessationOfOperation),
];

/// What to issue.
#[derive(Clone, Debug)]
pub struct BulkOptions {
    /// How many certificates.
    pub count: u64,
    /// The fraction (0 to 1) to revoke.
    pub revoked_fraction: f64,
    /// Names are `PREFIX-0001`, `PREFIX-0002`… (zero-padded to the width of
    /// `count`); each is also the certificate's DNS name.
    pub prefix: String,
    /// The CA that issues them.
    pub issuer: CaName,
    /// Days of validity.
    pub days: u32,
    /// Write each certificate's files, like `testca issue` (slower).
    pub files: bool,
    /// Threads generating certificates (without `files`).
    pub threads: usize,
}

/// What was issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkReport {
    /// Certificates issued.
    pub issued: u64,
    /// Of which revoked.
    pub revoked: u64,
    /// The first name.
    pub first: String,
    /// The last name.
    pub last: String,
}

/// The name of the `index`-th (from 1) certificate of a batch of `count`.
pub fn bulk_name(prefix: &str, index: u64, count: u64) -> String {
    let width = count.max(1).to_string().len();
    format!("{prefix}-{index:0width$}")
}

/// Issues `options.count` certificates; `progress` is told (done, total) after each step.
pub async fn issue_bulk(
    lab: &Lab,
    options: &BulkOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<BulkReport> {
    if !(0.0..=1.0).contains(&options.revoked_fraction) {
        return Err(Error::invalid(
            "revoked fraction",
            options.revoked_fraction.to_string(),
            "a number between 0 and 1",
        ));
    }
    if options.count == 0 {
        return Err(Error::invalid("count", "0", "at least 1"));
    }
    let first = bulk_name(&options.prefix, 1, options.count);
    let last = bulk_name(&options.prefix, options.count, options.count);
    for name in [&first, &last] {
        authority::check_leaf_name(name)?;
        authority::check_san(name)?;
        if lab
            .store()
            .find(&CertSelector::Name(name.clone()))
            .await
            .is_ok()
        {
            return Err(Error::invalid(
                "prefix",
                options.prefix.clone(),
                format!("a prefix not used yet in this lab ({name} exists)"),
            ));
        }
    }
    let revoked = if options.files {
        issue_with_files(lab, options, progress).await?
    } else {
        issue_to_database(lab, options, progress).await?
    };
    Ok(BulkReport {
        issued: options.count,
        revoked,
        first,
        last,
    })
}

/// A revocation time between `not_before` and now, and a reason.
fn random_revocation(
    rng: &mut impl Rng,
    not_before: OffsetDateTime,
) -> (OffsetDateTime, Option<RevocationReason>) {
    let now = crate::store::truncate(OffsetDateTime::now_utc());
    let span = (now - not_before).whole_seconds().max(1);
    let at = not_before + time::Duration::seconds(rng.random_range(0..span));
    (at, REASONS[rng.random_range(0..REASONS.len())])
}

fn spec(name: String, days: u32) -> LeafSpec {
    LeafSpec {
        sans: vec![name.clone()],
        name,
        validity: Validity::for_days(days),
        must_staple: false,
        aia: true,
    }
}

async fn issue_with_files(
    lab: &Lab,
    options: &BulkOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let mut revoked = 0;
    let mut rng = rand::rng();
    for index in 1..=options.count {
        let name = bulk_name(&options.prefix, index, options.count);
        let cert = lab
            .issue_leaf(options.issuer, &spec(name, options.days), false)
            .await?;
        if rng.random_bool(options.revoked_fraction) {
            let (at, reason) = random_revocation(&mut rng, cert.not_before);
            lab.revoke(&CertSelector::Serial(cert.serial), reason, Some(at))
                .await?;
            revoked += 1;
        }
        if index % 100 == 0 || index == options.count {
            progress(index, options.count);
        }
    }
    Ok(revoked)
}

/// A certificate made by a worker thread, waiting to be recorded.
struct Generated {
    serial: Serial,
    name: String,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    der: Vec<u8>,
    revoked: Option<(OffsetDateTime, Option<RevocationReason>)>,
}

/// What every worker needs to sign.
struct Signing {
    ca: CaName,
    ca_cert: Vec<u8>,
    ca_key_pem: String,
    config: LabConfig,
    options: BulkOptions,
}

async fn issue_to_database(
    lab: &Lab,
    options: &BulkOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let ca = options.issuer;
    let issuer = lab
        .store()
        .issuer_by_name(ca.name())
        .await?
        .ok_or_else(|| Error::Damaged {
            path: lab.layout().database(),
            reason: format!("the {ca} CA is not recorded"),
        })?;
    let issuer_id: IssuerId = issuer.id;
    let mut config = lab.config().clone();
    // RSA key generation takes tens of milliseconds: a million would take
    // hours. Subject keys are then P-256; the CA still signs with RSA.
    if config.key_alg == KeyAlg::Rsa2048 {
        config.key_alg = KeyAlg::EcdsaP256;
    }
    let signing = Arc::new(Signing {
        ca,
        ca_cert: issuer.cert_der,
        ca_key_pem: read_text(&lab.layout().ca_key(ca))?,
        config,
        options: options.clone(),
    });
    let chunks = options.count.div_ceil(CHUNK);
    let next_chunk = Arc::new(AtomicU64::new(0));
    let threads = options.threads.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Generated>>>(threads * 2);
    let mut workers = Vec::new();
    for _ in 0..threads {
        let signing = signing.clone();
        let next_chunk = next_chunk.clone();
        let tx = tx.clone();
        workers.push(std::thread::spawn(move || {
            loop {
                let chunk = next_chunk.fetch_add(1, Ordering::SeqCst);
                if chunk >= chunks {
                    break;
                }
                let batch = generate(&signing, chunk);
                let failed = batch.is_err();
                if tx.blocking_send(batch).is_err() || failed {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let mut done = 0;
    let mut revoked = 0;
    let mut outcome = Ok(());
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        let records: Vec<BulkCertificate<'_>> = batch
            .iter()
            .map(|g| BulkCertificate {
                cert: NewCertificate {
                    issuer_id,
                    serial: &g.serial,
                    name: &g.name,
                    kind: CertKind::Leaf,
                    subject: &g.subject,
                    not_before: g.not_before,
                    not_after: g.not_after,
                    der: &g.der,
                },
                revoked: g.revoked,
            })
            .collect();
        if let Err(e) = lab.store().add_certificates(&records).await {
            outcome = Err(e);
            break;
        }
        done += records.len() as u64;
        revoked += records.iter().filter(|r| r.revoked.is_some()).count() as u64;
        progress(done, options.count);
    }
    // Stop the workers: no more chunks, and a closed channel.
    next_chunk.store(chunks, Ordering::SeqCst);
    drop(rx);
    for worker in workers {
        let _ = worker.join();
    }
    outcome.map(|()| revoked)
}

fn generate(signing: &Signing, chunk: u64) -> Result<Vec<Generated>> {
    let options = &signing.options;
    let key = load_key_pem(&signing.ca_key_pem)?;
    let ca = CaKey {
        ca: signing.ca,
        cert_der: &signing.ca_cert,
        key: &key,
    };
    let start = chunk * CHUNK + 1;
    let end = (start + CHUNK - 1).min(options.count);
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity((end + 1 - start) as usize);
    for index in start..=end {
        let name = bulk_name(&options.prefix, index, options.count);
        let issued = authority::issue_leaf(&ca, &signing.config, &spec(name, options.days))?;
        let revoked = rng
            .random_bool(options.revoked_fraction)
            .then(|| random_revocation(&mut rng, issued.not_before));
        out.push(Generated {
            serial: issued.serial,
            name: issued.name,
            subject: issued.subject,
            not_before: issued.not_before,
            not_after: issued.not_after,
            der: issued.der,
            revoked,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{ExportFormat, export};
    use crate::lab::InitOptions;
    use crate::store::{RevocationStatus, StoreOptions};

    #[tokio::test]
    async fn bulk_certificates_are_recorded_revoked_in_part_and_exported() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let options = InitOptions {
            ocsp_url: crate::config::DEFAULT_OCSP_URL.into(),
            ca_issuers_base: None,
            crl_base: None,
            key_alg: KeyAlg::EcdsaP256,
            force: false,
        };
        let lab = Lab::init(&dir, &options, &StoreOptions::default())
            .await
            .unwrap();
        let bulk = BulkOptions {
            count: 40,
            revoked_fraction: 0.5,
            prefix: "load".into(),
            issuer: CaName::Intermediate,
            days: 30,
            files: false,
            threads: 2,
        };
        let mut steps = 0;
        let report = issue_bulk(&lab, &bulk, &mut |_, _| steps += 1)
            .await
            .unwrap();
        assert_eq!(
            (report.issued, report.first.as_str(), report.last.as_str()),
            (40, "load-01", "load-40")
        );
        assert!(steps > 0);
        let all = lab.list().await.unwrap();
        let leaves: Vec<_> = all.iter().filter(|c| c.name.starts_with("load-")).collect();
        assert_eq!(leaves.len(), 40);
        let revoked = leaves.iter().filter(|c| c.status.is_revoked()).count() as u64;
        assert_eq!(revoked, report.revoked);
        for cert in &leaves {
            let parsed = openssl::x509::X509::from_der(&cert.der).unwrap();
            assert_eq!(
                parsed
                    .serial_number()
                    .to_bn()
                    .unwrap()
                    .to_hex_str()
                    .unwrap()
                    .to_string(),
                cert.serial.to_hex()
            );
            if let RevocationStatus::Revoked { at, .. } = cert.status {
                assert!(at >= cert.not_before);
            }
        }
        // The same prefix again is refused, changing nothing.
        assert!(issue_bulk(&lab, &bulk, &mut |_, _| ()).await.is_err());
        assert_eq!(lab.list().await.unwrap().len(), all.len());

        let mut index = Vec::new();
        let summary = export(
            lab.store(),
            ExportFormat::OpensslIndex,
            Some(leaves[0].issuer_id),
            &mut index,
            std::path::Path::new("index"),
        )
        .await
        .unwrap();
        let text = String::from_utf8(index).unwrap();
        // The leaves, localhost and the intermediate's signer.
        assert_eq!(summary.certificates, 42);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("R\t")).count() as u64,
            revoked
        );
        assert!(text.contains(&format!(
            "\t{}\tunknown\t/O=OCSP Lab/CN=load-01\n",
            leaves[0].serial
        )));
        lab.close().await;
    }

    #[test]
    fn names_are_zero_padded_to_the_count() {
        assert_eq!(bulk_name("bulk", 1, 1000), "bulk-0001");
        assert_eq!(bulk_name("bulk", 1000, 1000), "bulk-1000");
        assert_eq!(bulk_name("sni", 7, 9), "sni-7");
    }
}
