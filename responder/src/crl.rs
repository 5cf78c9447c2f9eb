//! CRLs at the CRL distribution points that testca writes into certificates
//! (`/crl/NAME.crl`), signed by the CA's own key and rebuilt only when the
//! database changed.

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

/// CRLs already signed, by CA name, with the generation they reflect.
#[derive(Debug, Default)]
pub struct CrlCache {
    signed: Mutex<HashMap<String, (i64, Bytes)>>,
}

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
        if let Some((generation, der)) = self.lock().get(name)
            && *generation == dir.generation
        {
            return Ok(Some(der.clone()));
        }
        let ca: CaName = name.parse()?;
        let key_path = layout.ca_key(ca);
        let key = load_key_pem(&read_text(&key_path)?).map_err(|source| Error::Key {
            what: key_path.display().to_string(),
            source,
        })?;
        let revoked = store.revoked_by(issuer.id).await?;
        let now = OffsetDateTime::now_utc();
        let validity = time::Duration::try_from(validity).unwrap_or(time::Duration::HOUR);
        let number = u64::try_from(dir.generation).unwrap_or(0);
        let ca_key = CaKey {
            ca,
            cert_der: &issuer.cert_der,
            key: &key,
        };
        let der = Bytes::from(sign_crl(
            &ca_key,
            &revoked,
            number,
            now - time::Duration::MINUTE,
            now + validity,
        )?);
        self.lock()
            .insert(name.to_string(), (dir.generation, der.clone()));
        Ok(Some(der))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Bytes)>> {
        crate::directory::lock(&self.signed)
    }
}
