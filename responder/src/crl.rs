//! CRLs at the CRL distribution points that testca writes into certificates
//! (`/crl/NAME.crl`), signed by the CA's own key and rebuilt only when the
//! database changed, the CA changed, or half the CRL's validity has passed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use labcore::CaName;
use labcore::files::read_text;
use labcore::layout::Layout;
use testca::authority::{CaKey, sign_crl};
use testca::key_alg::load_key_pem;
use testca::store::Store;
use time::OffsetDateTime;

use crate::directory::Directory;
use crate::error::{Error, Result};

/// A CRL already signed, and what it was signed from.
#[derive(Clone, Debug)]
struct SignedCrl {
    /// The database generation it reflects.
    generation: i64,
    /// The CA certificate it was signed for: a lab made again under the same
    /// name has another CA.
    issuer_der: Bytes,
    /// Its thisUpdate.
    this_update: OffsetDateTime,
    /// Its nextUpdate.
    next_update: OffsetDateTime,
    der: Bytes,
}

impl SignedCrl {
    /// Whether this CRL may still be served for `issuer_der` at `generation`,
    /// at `now`: nothing changed since it was signed, and less than half its
    /// validity has passed (so a relying party that caches it until
    /// nextUpdate never holds one past its end).
    fn reusable(&self, generation: i64, issuer_der: &[u8], now: OffsetDateTime) -> bool {
        let half = (self.next_update - self.this_update) / 2;
        self.generation == generation
            && self.issuer_der.as_ref() == issuer_der
            && now >= self.this_update
            && now < self.this_update + half
    }
}

/// CRLs already signed, by CA name.
#[derive(Debug, Default)]
pub struct CrlCache {
    signed: Mutex<HashMap<String, SignedCrl>>,
}

/// How far back a CRL's thisUpdate is set, for relying parties whose clocks run behind.
const BACKDATE: time::Duration = time::Duration::MINUTE;

impl CrlCache {
    /// The CRL of the CA named `name`, `None` when the lab has no such CA.
    pub async fn get(
        &self,
        name: &str,
        dir: &Directory,
        store: &Store,
        layout: &Layout,
        validity: Duration,
    ) -> Result<Option<Bytes>> {
        let Some(issuer) = dir.issuer_named(name) else {
            return Ok(None);
        };
        let now = OffsetDateTime::now_utc();
        if let Some(signed) = self.lock().get(name)
            && signed.reusable(dir.generation, &issuer.cert_der, now)
        {
            return Ok(Some(signed.der.clone()));
        }
        let ca: CaName = name.parse()?;
        let key_path = layout.ca_key(ca);
        let key = load_key_pem(&read_text(&key_path)?).map_err(|source| Error::Key {
            what: key_path.display().to_string(),
            source,
        })?;
        let revoked = store.revoked_by(issuer.id).await?;
        let validity = time::Duration::try_from(validity).unwrap_or(time::Duration::HOUR);
        let number = crl_number(dir.generation, now);
        let ca_key = CaKey {
            ca,
            cert_der: &issuer.cert_der,
            key: &key,
        };
        let (this_update, next_update) = (now - BACKDATE, now + validity);
        let der = Bytes::from(sign_crl(
            &ca_key,
            &revoked,
            number,
            this_update,
            next_update,
        )?);
        self.lock().insert(
            name.to_string(),
            SignedCrl {
                generation: dir.generation,
                issuer_der: Bytes::copy_from_slice(&issuer.cert_der),
                this_update,
                next_update,
                der: der.clone(),
            },
        );
        Ok(Some(der))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SignedCrl>> {
        labcore::sync::lock(&self.signed)
    }
}

/// The crlNumber of a CRL signed at `now` for `generation`: RFC 5280 wants
/// it to grow with every CRL a CA issues, and a CRL is signed again at the
/// same generation (at half its validity, by another responder, after a
/// restart). The generation leads, the second of signing follows.
fn crl_number(generation: i64, now: OffsetDateTime) -> u64 {
    let generation = u64::try_from(generation).unwrap_or(0);
    let second = u64::try_from(now.unix_timestamp()).unwrap_or(0) & u64::from(u32::MAX);
    (generation << 32) | second
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_numbers_grow_with_the_generation_and_then_the_time() {
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let later = t0 + time::Duration::minutes(30);
        assert!(
            crl_number(7, later) > crl_number(7, t0),
            "signed again later"
        );
        assert!(
            crl_number(8, t0) > crl_number(7, later),
            "a newer generation"
        );
    }

    fn signed_at(this_update: OffsetDateTime) -> SignedCrl {
        SignedCrl {
            generation: 7,
            issuer_der: Bytes::from_static(b"ca one"),
            this_update,
            next_update: this_update + time::Duration::HOUR,
            der: Bytes::from_static(b"crl"),
        }
    }

    #[test]
    fn a_crl_is_served_again_only_while_nothing_changed_and_it_is_young() {
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let crl = signed_at(t0);
        assert!(crl.reusable(7, b"ca one", t0 + time::Duration::minutes(29)));
        assert!(
            !crl.reusable(7, b"ca one", t0 + time::Duration::minutes(30)),
            "half its validity has passed"
        );
        assert!(
            !crl.reusable(8, b"ca one", t0),
            "the database changed since it was signed"
        );
        assert!(
            !crl.reusable(7, b"ca two", t0),
            "a lab made again under the same name: another CA, at the same count"
        );
        assert!(
            !crl.reusable(7, b"ca one", t0 - time::Duration::minutes(1)),
            "the clock went back before its thisUpdate"
        );
    }
}
