//! The faults layer: a [`Source`] around the cache that the QA fault modes
//! ([`FaultMode`], stored by `testca fault`) drive. Which fault applies is
//! decided by [`fault_for`], and what each mode does in one place,
//! [`effect`]: answer instead of the responder, wait, or bend the signed
//! answer ([`Bend`], which the signing source applies).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use testca::Serial;
use testca::faults::{Fault, FaultMode};
use time::OffsetDateTime;
use tracing::warn;

use crate::error::AnswerError;
use crate::metrics::FaultLabels;
use crate::source::{Bend, Query, Signed, Source, Times};

/// What a fault does to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Answer with the fault instead of the responder ([`AnswerError::Injected`]).
    Answer,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Sign an answer bent this way.
    Bend(Bend),
}

/// What `mode` does to a request: the one place that says whether a fault
/// answers, waits or bends. Which answer an answering fault gives is part of
/// the one mapping from errors to OCSP and HTTP ([`AnswerError::failure`]).
pub fn effect(mode: FaultMode) -> Effect {
    let bend = |b: Bend| Effect::Bend(b);
    let none = Bend::default();
    match mode {
        FaultMode::TryLater
        | FaultMode::InternalError
        | FaultMode::Unauthorized
        | FaultMode::MalformedResponse
        | FaultMode::Http500
        | FaultMode::Close => Effect::Answer,
        FaultMode::Delay(delay) => Effect::Delay(delay),
        FaultMode::Stale => bend(Bend {
            times: Times::Stale,
            ..none
        }),
        FaultMode::Future => bend(Bend {
            times: Times::Future,
            ..none
        }),
        FaultMode::NoNextUpdate => bend(Bend {
            times: Times::NoNextUpdate,
            ..none
        }),
        FaultMode::BadSignature => bend(Bend {
            corrupt_signature: true,
            ..none
        }),
        FaultMode::WrongSigner => bend(Bend {
            rogue_signer: true,
            ..none
        }),
        FaultMode::WrongCertId => bend(Bend {
            wrong_cert_id: true,
            ..none
        }),
    }
}

/// The fault in force at `now` for a request about these serials: a
/// certificate's own fault first, else the one for every certificate; with
/// the certificate's name, for the log.
pub fn fault_for(
    faults: &[Fault],
    serials: &[Option<Serial>],
    now: OffsetDateTime,
) -> Option<(FaultMode, Option<String>)> {
    let active = || faults.iter().filter(|f| f.active_at(now));
    let own = active().find(|f| {
        f.certificate
            .as_ref()
            .is_some_and(|t| serials.iter().flatten().any(|s| *s == t.serial))
    });
    own.or_else(|| active().find(|f| f.certificate.is_none()))
        .map(|f| (f.mode, f.certificate.as_ref().map(|t| t.name.clone())))
}

/// The faults layer.
#[derive(Debug)]
pub struct Faults<S> {
    inner: S,
    injected: Family<FaultLabels, Counter>,
}

impl<S> Faults<S> {
    /// Wraps `inner`, counting injected faults in `injected`.
    pub fn new(inner: S, injected: Family<FaultLabels, Counter>) -> Self {
        Faults { inner, injected }
    }
}

impl<S: Source> Source for Faults<S> {
    async fn response(&self, query: Query<'_>) -> Result<Arc<Signed>, AnswerError> {
        let serials: Vec<Option<Serial>> = query
            .request
            .cert_ids
            .iter()
            .map(|c| Serial::from_bytes(&c.serial).ok())
            .collect();
        let Some((mode, cert)) =
            fault_for(query.view.faults(), &serials, OffsetDateTime::now_utc())
        else {
            return self.inner.response(query).await;
        };
        warn!(fault = %mode, certificate = cert.as_deref().unwrap_or("*"), "fault injected");
        self.injected
            .get_or_create(&FaultLabels {
                mode: mode.to_string(),
            })
            .inc();
        match effect(mode) {
            Effect::Answer => Err(AnswerError::Injected(mode)),
            Effect::Delay(delay) => {
                tokio::time::sleep(delay).await;
                let signed = self.inner.response(query).await?;
                // Served as is, but never from a cache that would skip the delay.
                Ok(Arc::new(Signed {
                    reusable: false,
                    ..(*signed).clone()
                }))
            }
            Effect::Bend(bend) => self.inner.response(Query { bend, ..query }).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::{Fixture, MemorySource};
    use std::time::SystemTime;

    #[test]
    fn every_mode_has_one_effect() {
        for name in FaultMode::NAMES {
            let mode: FaultMode = name.replace("MS", "5").parse().unwrap();
            let e = effect(mode);
            match mode {
                FaultMode::Delay(d) => assert_eq!(e, Effect::Delay(d)),
                FaultMode::Stale | FaultMode::Future | FaultMode::NoNextUpdate => {
                    assert!(
                        matches!(e, Effect::Bend(b) if b.times != Times::Normal),
                        "{mode}"
                    )
                }
                FaultMode::BadSignature | FaultMode::WrongSigner | FaultMode::WrongCertId => {
                    assert!(matches!(e, Effect::Bend(b) if b.is_bent()), "{mode}")
                }
                _ => assert_eq!(e, Effect::Answer, "{mode}"),
            }
        }
    }

    #[test]
    fn bent_times() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_secs(3600);
        let minute = Duration::from_secs(60);
        let times = |t| {
            Bend {
                times: t,
                ..Bend::default()
            }
            .times(now, hour, minute)
        };
        assert_eq!(times(Times::Normal), (now - minute, Some(now + hour)));
        let (this, next) = times(Times::Stale);
        assert!(next.is_some_and(|n| n < now) && this < now);
        let (this, next) = times(Times::Future);
        assert!(this > now && next.is_some_and(|n| n > this));
        assert_eq!(times(Times::NoNextUpdate), (now - minute, None));
    }

    fn fault(mode: FaultMode, serial: Option<&str>) -> Fault {
        Fault {
            mode,
            certificate: serial.map(|s| testca::faults::FaultTarget {
                id: testca::ids::CertificateId(1),
                name: "leaf".into(),
                serial: s.parse().unwrap(),
            }),
            expires_at: None,
        }
    }

    #[test]
    fn an_expired_fault_is_no_longer_in_force() {
        let now = OffsetDateTime::now_utc();
        let mut expired = fault(FaultMode::TryLater, None);
        expired.expires_at = Some(now - time::Duration::SECOND);
        let serial = Serial::from_bytes(&[7]);
        let serials = [serial.ok()];
        assert_eq!(fault_for(&[expired.clone()], &serials, now), None);
        let mut lasting = expired;
        lasting.expires_at = Some(now + time::Duration::SECOND);
        assert_eq!(
            fault_for(&[lasting], &serials, now),
            Some((FaultMode::TryLater, None))
        );
    }

    #[tokio::test]
    async fn an_answering_fault_answers_and_the_source_is_not_asked() {
        let fx = Fixture::new(vec![fault(FaultMode::TryLater, None)]);
        let source = MemorySource::default();
        let layer = Faults::new(&source, Family::default());
        let request = fx.request(&[7], None);
        let err = layer.response(fx.query(&request)).await.unwrap_err();
        assert!(matches!(err, AnswerError::Injected(FaultMode::TryLater)));
        assert_eq!(source.signatures(), 0);
    }

    #[tokio::test]
    async fn a_certificates_own_fault_wins_and_others_are_untouched() {
        let fx = Fixture::new(vec![
            fault(
                FaultMode::Stale,
                Some(&Serial::from_bytes(&[7]).unwrap().to_hex()),
            ),
            fault(FaultMode::Http500, None),
        ]);
        let source = MemorySource::default();
        let layer = Faults::new(&source, Family::default());
        let own = fx.request(&[7], None);
        let signed = layer.response(fx.query(&own)).await.unwrap();
        assert_eq!(source.last_bend().times, Times::Stale);
        assert!(!signed.reusable);
        let other = fx.request(&[8], None);
        let err = layer.response(fx.query(&other)).await.unwrap_err();
        assert!(matches!(err, AnswerError::Injected(FaultMode::Http500)));
    }

    #[tokio::test]
    async fn a_delayed_answer_is_never_reused() {
        let fx = Fixture::new(vec![fault(
            FaultMode::Delay(Duration::from_millis(1)),
            None,
        )]);
        let source = MemorySource::default();
        let layer = Faults::new(&source, Family::default());
        let request = fx.request(&[7], None);
        let signed = layer.response(fx.query(&request)).await.unwrap();
        assert!(!signed.reusable);
        assert!(!source.last_bend().is_bent());
    }
}
