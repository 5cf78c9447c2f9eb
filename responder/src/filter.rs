//! The filter layer: the request rules a responder checks before it looks
//! anything up (RFC 6960 §4.1, RFC 8954 §2.1, RFC 5019 §2.2.3): critical
//! extensions it does not understand, nonce lengths, issuers it does not
//! serve. A refused request gets the OCSP status its [`AnswerError`] maps to.

use std::sync::Arc;

use crate::config::{Config, UnknownIssuer};
use crate::directory::Directory;
use crate::error::AnswerError;
use crate::request::{ParsedRequest, RFC8954_MAX_NONCE_LEN, RFC9654_MAX_NONCE_LEN};
use crate::source::{Query, Signed, Source};

/// The rules (from the configuration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Longest nonce accepted, in octets.
    pub max_nonce: usize,
    /// What a CertID naming an issuer the responder does not serve gets.
    pub unknown_issuer: UnknownIssuer,
}

impl Rules {
    /// The rules of a configuration.
    pub fn from_config(config: &Config) -> Self {
        Rules {
            max_nonce: if config.long_nonces {
                RFC9654_MAX_NONCE_LEN
            } else {
                RFC8954_MAX_NONCE_LEN
            },
            unknown_issuer: config.unknown_issuer,
        }
    }

    /// Whether `request` may be answered: a pure decision.
    pub fn check(&self, request: &ParsedRequest, view: &Directory) -> Result<(), AnswerError> {
        if request.has_unsupported_critical_extension() {
            return Err(AnswerError::UnsupportedCritical(
                request.unsupported_critical_extensions.clone(),
            ));
        }
        if let Some(nonce) = &request.nonce
            && let Err(len) = nonce.check_length(self.max_nonce)
        {
            return Err(AnswerError::NonceLength {
                len,
                max: self.max_nonce,
            });
        }
        if self.unknown_issuer == UnknownIssuer::Unauthorized
            && request
                .cert_ids
                .iter()
                .any(|c| view.issuer_for(c).is_none())
        {
            return Err(AnswerError::UnknownIssuer);
        }
        Ok(())
    }
}

/// The filter layer.
#[derive(Debug)]
pub struct Filter<S> {
    inner: S,
    rules: Rules,
}

impl<S> Filter<S> {
    /// Wraps `inner` with `rules`.
    pub fn new(inner: S, rules: Rules) -> Self {
        Filter { inner, rules }
    }
}

impl<S: Source> Source for Filter<S> {
    async fn response(&self, query: Query<'_>) -> Result<Arc<Signed>, AnswerError> {
        self.rules.check(query.request, query.view)?;
        self.inner.response(query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;
    use crate::response::ErrorStatus;
    use crate::source::testing::{Fixture, MemorySource, cert_id_request};
    use testca::cert_id::HashAlg;

    const RULES: Rules = Rules {
        max_nonce: RFC8954_MAX_NONCE_LEN,
        unknown_issuer: UnknownIssuer::Unauthorized,
    };

    fn failure(rules: Rules, fx: &Fixture, request: &ParsedRequest) -> Option<Failure> {
        rules.check(request, &fx.view).err().map(|e| e.failure())
    }

    #[test]
    fn a_request_about_a_served_issuer_passes() {
        let fx = Fixture::new(vec![]);
        assert_eq!(failure(RULES, &fx, &fx.request(&[1], Some(&[7; 16]))), None);
    }

    #[test]
    fn nonce_lengths_outside_the_rfc_are_malformed_requests() {
        let fx = Fixture::new(vec![]);
        let malformed = Some(Failure::Ocsp(ErrorStatus::MalformedRequest));
        assert_eq!(failure(RULES, &fx, &fx.request(&[1], Some(&[]))), malformed);
        assert_eq!(
            failure(RULES, &fx, &fx.request(&[1], Some(&[7; 33]))),
            malformed
        );
        assert_eq!(failure(RULES, &fx, &fx.request(&[1], Some(&[7; 32]))), None);
        let long = Rules {
            max_nonce: RFC9654_MAX_NONCE_LEN,
            ..RULES
        };
        assert_eq!(failure(long, &fx, &fx.request(&[1], Some(&[7; 100]))), None);
        assert_eq!(
            failure(long, &fx, &fx.request(&[1], Some(&[7; 129]))),
            malformed
        );
    }

    #[test]
    fn an_unsupported_critical_extension_is_a_malformed_request() {
        let fx = Fixture::new(vec![]);
        let mut request = fx.request(&[1], None);
        request
            .unsupported_critical_extensions
            .push(der::asn1::ObjectIdentifier::new_unwrap("1.2.3.4"));
        assert_eq!(
            failure(RULES, &fx, &request),
            Some(Failure::Ocsp(ErrorStatus::MalformedRequest))
        );
    }

    #[test]
    fn an_unknown_issuer_is_unauthorized_unless_configured_unknown() {
        let fx = Fixture::new(vec![]);
        let foreign = cert_id_request(HashAlg::Sha1, vec![1; 20], vec![2; 20], &[1], None);
        assert_eq!(
            failure(RULES, &fx, &foreign),
            Some(Failure::Ocsp(ErrorStatus::Unauthorized))
        );
        let lenient = Rules {
            unknown_issuer: UnknownIssuer::Unknown,
            ..RULES
        };
        assert_eq!(failure(lenient, &fx, &foreign), None);
    }

    #[test]
    fn every_hash_algorithm_the_store_knows_finds_the_issuer() {
        let fx = Fixture::new(vec![]);
        for alg in HashAlg::ALL {
            let h = fx.material.hashes(alg);
            let request = cert_id_request(alg, h.name_hash, h.key_hash, &[1], None);
            assert_eq!(failure(RULES, &fx, &request), None, "{alg}");
        }
        // The right hashes under the wrong algorithm name no issuer.
        let h = fx.material.hashes(HashAlg::Sha1);
        let request = cert_id_request(HashAlg::Sha256, h.name_hash, h.key_hash, &[1], None);
        assert_eq!(
            failure(RULES, &fx, &request),
            Some(Failure::Ocsp(ErrorStatus::Unauthorized))
        );
    }

    #[tokio::test]
    async fn a_refused_request_never_reaches_the_source() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        let filter = Filter::new(&source, RULES);
        let request = fx.request(&[1], Some(&[]));
        assert!(filter.response(fx.query(&request)).await.is_err());
        assert_eq!(source.signatures(), 0);
        let request = fx.request(&[1], None);
        assert!(filter.response(fx.query(&request)).await.is_ok());
        assert_eq!(source.signatures(), 1);
    }
}
