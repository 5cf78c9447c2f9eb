//! The cache layer: pre-signed answers reused by requests without a nonce
//! while nothing they say has changed. An answer made at an older database
//! generation is checked against the statuses of now (without signing) and
//! kept when they are the same. Bounded by bytes; answers that speak of
//! serials or issuers the lab never issued live in a small bucket of their
//! own, so that a flood of made-up serials can neither grow the responder
//! past its budget nor evict the answers for real certificates.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use quick_cache::Weighter;

use crate::error::AnswerError;
use crate::request::ParsedRequest;
use crate::response::Status;
use crate::source::{Query, Signed, Source, Statuses};

/// Share of a byte budget given to answers about never-issued serials.
pub(crate) const UNISSUED_SHARE: u64 = 8;
/// Share of the byte budget given to the HTTP layer's prepared answers.
const PREPARED_SHARE: u64 = 4;
/// Bookkeeping per entry beyond the bytes counted (Arc, headers, table slot).
const ENTRY_OVERHEAD: u64 = 256;
/// A typical entry (one CertID, one signer certificate), to size the tables.
pub(crate) const TYPICAL_ENTRY: u64 = 2048;

/// A signed answer kept for reuse, with the generation it was last found true at.
#[derive(Debug)]
pub(crate) struct Presigned {
    pub(crate) signed: Arc<Signed>,
    pub(crate) generation: i64,
}

/// The weight of an entry: roughly the heap bytes it holds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ByBytes;

impl Weighter<Vec<u8>, Arc<Presigned>> for ByBytes {
    fn weight(&self, key: &Vec<u8>, value: &Arc<Presigned>) -> u64 {
        entry_weight(
            key.len(),
            value.signed.der.len(),
            value.signed.statuses.len(),
            0,
        )
    }
}

/// Bytes counted for an entry with a key of `key` bytes, a DER response of
/// `der` bytes, `statuses` statuses and `headers` bytes of prepared headers.
pub(crate) fn entry_weight(key: usize, der: usize, statuses: usize, headers: usize) -> u64 {
    let bytes = key + der + statuses * std::mem::size_of::<Status>() + headers;
    u64::try_from(bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(ENTRY_OVERHEAD)
}

/// How the byte budget (`--cache-bytes`) is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Answers about issued certificates, by CertID.
    pub(crate) issued: u64,
    /// Answers about serials or issuers never issued, by CertID.
    pub(crate) unissued: u64,
    /// The HTTP layer's prepared answers, by raw request.
    pub(crate) prepared: u64,
}

/// How a byte budget is split: a quarter for the prepared answers, the rest
/// by CertID, of which an eighth for answers about never-issued serials.
pub(crate) fn split_budget(bytes: u64) -> Budget {
    let prepared = bytes / PREPARED_SHARE;
    let by_cert_id = bytes - prepared;
    let unissued = by_cert_id / UNISSUED_SHARE;
    Budget {
        issued: by_cert_id - unissued,
        unissued,
        prepared,
    }
}

type Bucket = quick_cache::sync::Cache<Vec<u8>, Arc<Presigned>, ByBytes>;

/// Pre-signed answers by request CertIDs, in two buckets.
pub(crate) struct ResponseCache {
    issued: Bucket,
    unissued: Bucket,
}

impl ResponseCache {
    /// A cache holding at most the budget's CertID shares of bytes.
    pub(crate) fn new(budget: Budget) -> Self {
        let bucket = |weight: u64| {
            let items = usize::try_from((weight / TYPICAL_ENTRY).max(1)).unwrap_or(usize::MAX);
            Bucket::with_weighter(items, weight.max(1), ByBytes)
        };
        ResponseCache {
            issued: bucket(budget.issued),
            unissued: bucket(budget.unissued),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Arc<Presigned>> {
        self.issued.get(key).or_else(|| self.unissued.get(key))
    }

    /// Keeps `value`, in the bucket its `unissued` flag names.
    pub(crate) fn insert(&self, key: Vec<u8>, value: Arc<Presigned>) {
        // A serial issued since moves from one bucket to the other.
        let (bucket, other) = if value.signed.unissued {
            (&self.unissued, &self.issued)
        } else {
            (&self.issued, &self.unissued)
        };
        other.remove(key.as_slice());
        bucket.insert(key, value);
    }

    /// Bytes held: (issued bucket, never-issued bucket).
    pub(crate) fn weights(&self) -> (u64, u64) {
        (self.issued.weight(), self.unissued.weight())
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (issued, unissued) = self.weights();
        write!(f, "ResponseCache({issued} + {unissued} bytes)")
    }
}

/// The cache key of a request: its CertIDs, each field preceded by its
/// length, so that no two different requests share a key (the fields have
/// no fixed length, and any byte may occur in them).
pub(crate) fn cache_key(request: &ParsedRequest) -> Vec<u8> {
    let mut key = Vec::with_capacity(80 * request.cert_ids.len());
    for cert_id in &request.cert_ids {
        for field in [
            &cert_id.serial[..],
            &cert_id.issuer_name_hash[..],
            &cert_id.issuer_key_hash[..],
        ] {
            key.extend_from_slice(&(field.len() as u32).to_be_bytes());
            key.extend_from_slice(field);
        }
        key.push(cert_id.hash_algorithm as u8);
        // Absent versus NULL hash parameters are echoed, so they are part of the key.
        key.push(u8::from(cert_id.raw.hash_algorithm.parameters.is_some()));
    }
    key
}

/// Hits and misses, for the metrics.
#[derive(Clone, Debug, Default)]
pub struct CacheCounters {
    /// Answers served pre-signed.
    pub hits: Counter,
    /// Answers that had to be signed.
    pub misses: Counter,
}

/// The cache layer.
#[derive(Debug)]
pub struct Cache<S> {
    inner: S,
    answers: ResponseCache,
    reuse_for: Duration,
    counters: CacheCounters,
}

impl<S> Cache<S> {
    /// Wraps `inner`, reusing answers for `reuse_for` within `budget`.
    pub(crate) fn new(
        inner: S,
        budget: Budget,
        reuse_for: Duration,
        counters: CacheCounters,
    ) -> Self {
        Cache {
            inner,
            answers: ResponseCache::new(budget),
            reuse_for,
            counters,
        }
    }
}

impl<S: Statuses> Source for Cache<S> {
    async fn response(&self, query: Query<'_>) -> Result<Arc<Signed>, AnswerError> {
        if !query.is_shareable() {
            self.counters.misses.inc();
            return self.inner.response(query).await;
        }
        let key = cache_key(query.request);
        let signer = query.view.signer_for(query.request).map(|s| s.fingerprint);
        let entry = self.answers.get(&key);
        let cached = entry.as_ref().filter(|c| {
            c.signed.produced.elapsed() < self.reuse_for && Some(c.signed.signer) == signer
        });
        if let Some(c) = &cached {
            if c.generation == query.view.generation {
                self.counters.hits.inc();
                return Ok(c.signed.clone());
            }
            // The database moved on: keep the signature if nothing it says has changed.
            if self.inner.statuses(query).await? == c.signed.statuses {
                self.answers.insert(
                    key,
                    Arc::new(Presigned {
                        signed: c.signed.clone(),
                        generation: query.view.generation,
                    }),
                );
                self.counters.hits.inc();
                return Ok(c.signed.clone());
            }
        }
        self.counters.misses.inc();
        let signed = match self.inner.response(query).await {
            Ok(signed) => signed,
            Err(e) if e.is_unavailable() => {
                return match entry.filter(|c| still_valid(c, query.view.generation, signer)) {
                    Some(c) => Ok(c.signed.clone()),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        if signed.reusable {
            self.answers.insert(
                key,
                Arc::new(Presigned {
                    signed: signed.clone(),
                    generation: query.view.generation,
                }),
            );
        }
        Ok(signed)
    }
}

/// Whether a kept answer may still be served when the database cannot be
/// asked: found true at the directory's generation (no change seen since),
/// by the signer of now, and within its validity period. It says what was
/// true at its thisUpdate, as an HTTP cache in front would.
fn still_valid(c: &Presigned, generation: i64, signer: Option<[u8; 20]>) -> bool {
    c.generation == generation
        && Some(c.signed.signer) == signer
        && c.signed.is_valid_at(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Outcome;
    use crate::source::testing::{Fixture, MemorySource};
    use bytes::Bytes;
    use std::time::{Instant, SystemTime};

    fn entry(serial: u32, status: Status) -> (Vec<u8>, Arc<Presigned>) {
        (
            serial.to_be_bytes().to_vec(),
            Arc::new(Presigned {
                signed: Arc::new(Signed {
                    der: Bytes::from(vec![0u8; 1500]),
                    this_update: SystemTime::now(),
                    next_update: None,
                    outcome: Outcome::of(&[status]),
                    statuses: vec![status],
                    signer: [0; 20],
                    produced: Instant::now(),
                    unissued: status == Status::Unknown,
                    reusable: true,
                    nonce: false,
                }),
                generation: 1,
            }),
        )
    }

    /// A request whose CertID fields split differently (a 0x00 moved from
    /// the end of the serial to the start of the name hash) is another request.
    #[test]
    fn requests_whose_fields_split_differently_have_different_keys() {
        use crate::request::{ParsedRequest, RequestCertId};
        let raw = x509_ocsp::CertId {
            hash_algorithm: spki::AlgorithmIdentifierOwned {
                oid: const_oid::db::rfc5912::ID_SHA_1,
                parameters: None,
            },
            issuer_name_hash: der::asn1::OctetString::new(vec![1]).unwrap(),
            issuer_key_hash: der::asn1::OctetString::new(vec![2]).unwrap(),
            serial_number: x509_cert::serial_number::SerialNumber::new(&[1]).unwrap(),
        };
        let request = |serial: &[u8], name: &[u8]| ParsedRequest {
            cert_ids: vec![RequestCertId {
                hash_algorithm: testca::cert_id::HashAlg::Sha1,
                issuer_name_hash: name.to_vec(),
                issuer_key_hash: vec![7; 20],
                serial: serial.to_vec(),
                raw: raw.clone(),
            }],
            nonce: None,
            unsupported_critical_extensions: Vec::new(),
            is_signed: false,
            has_requestor_name: false,
        };
        let one = request(&[5, 0], &[9; 20]);
        let other = request(
            &[5],
            &[
                0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
            ],
        );
        assert_ne!(cache_key(&one), cache_key(&other));
        assert_eq!(cache_key(&one), cache_key(&one.clone()));
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_flood_of_unissued_answers_stays_within_its_share_and_evicts_no_issued_one() {
        let cache = ResponseCache::new(split_budget(MIB));
        for serial in 0..100 {
            let (key, value) = entry(serial, Status::Good);
            cache.insert(key, value);
        }
        for serial in 1_000..200_000 {
            let (key, value) = entry(serial, Status::Unknown);
            cache.insert(key, value);
        }
        let (issued, unissued) = cache.weights();
        let unissued_budget = split_budget(MIB).unissued;
        assert!(
            unissued <= unissued_budget,
            "{unissued} > {unissued_budget}"
        );
        assert!(issued > 0);
        for serial in 0..100u32 {
            assert!(
                cache.get(&serial.to_be_bytes()).is_some(),
                "issued answer {serial} evicted by the flood"
            );
        }
    }

    #[test]
    fn the_whole_cache_is_bounded_by_bytes() {
        let cache = ResponseCache::new(split_budget(MIB));
        for serial in 0..50_000 {
            let (key, value) = entry(serial, Status::Good);
            cache.insert(key, value);
        }
        let (issued, unissued) = cache.weights();
        let budget = split_budget(MIB);
        assert!(
            issued + unissued <= MIB - budget.prepared,
            "{issued} + {unissued}"
        );
        assert_eq!(budget.issued + budget.unissued + budget.prepared, MIB);
    }

    #[test]
    fn an_answer_moves_bucket_when_its_serial_gets_issued() {
        let cache = ResponseCache::new(split_budget(MIB));
        let (key, value) = entry(7, Status::Unknown);
        cache.insert(key.clone(), value);
        let (_, good) = entry(7, Status::Good);
        cache.insert(key.clone(), good);
        assert_eq!(
            cache.get(&key).map(|p| p.signed.statuses.clone()),
            Some(vec![Status::Good])
        );
        assert_eq!(cache.weights().1, 0);
    }

    fn layer(source: &MemorySource, reuse_for: Duration) -> Cache<&MemorySource> {
        Cache::new(
            source,
            split_budget(MIB),
            reuse_for,
            CacheCounters::default(),
        )
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[tokio::test]
    async fn an_answer_is_signed_once_and_reused() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        source.set(&[1], Status::Good);
        let cache = layer(&source, HOUR);
        let request = fx.request(&[1], None);
        let first = cache.response(fx.query(&request)).await.unwrap();
        let second = cache.response(fx.query(&request)).await.unwrap();
        assert_eq!(first.der, second.der);
        assert_eq!(source.signatures(), 1);
        assert_eq!(cache.counters.hits.get(), 1);
    }

    #[tokio::test]
    async fn nonce_requests_are_signed_every_time() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        let cache = layer(&source, HOUR);
        let request = fx.request(&[1], Some(&[9; 16]));
        cache.response(fx.query(&request)).await.unwrap();
        cache.response(fx.query(&request)).await.unwrap();
        assert_eq!(source.signatures(), 2);
    }

    #[tokio::test]
    async fn a_new_generation_keeps_the_signature_when_the_status_is_the_same() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        source.set(&[1], Status::Good);
        let cache = layer(&source, HOUR);
        let request = fx.request(&[1], None);
        let first = cache.response(fx.query(&request)).await.unwrap();
        let next = fx.with_generation(2);
        let again = cache.response(Query::new(&request, &next)).await.unwrap();
        assert_eq!(first.der, again.der);
        assert_eq!((source.signatures(), source.lookups()), (1, 1));
        // Refreshed to generation 2: no further lookup.
        cache.response(Query::new(&request, &next)).await.unwrap();
        assert_eq!(source.lookups(), 1);
    }

    #[tokio::test]
    async fn a_new_generation_with_a_new_status_is_signed_anew() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        source.set(&[1], Status::Good);
        let cache = layer(&source, HOUR);
        let request = fx.request(&[1], None);
        cache.response(fx.query(&request)).await.unwrap();
        source.set(
            &[1],
            Status::Revoked {
                revocation_time: SystemTime::UNIX_EPOCH,
                reason: None,
            },
        );
        // Same generation: the database did not say anything changed.
        let same = cache.response(fx.query(&request)).await.unwrap();
        assert_eq!(same.outcome, Outcome::Good);
        let next = fx.with_generation(2);
        let fresh = cache.response(Query::new(&request, &next)).await.unwrap();
        assert_eq!(fresh.outcome, Outcome::Revoked);
        assert_eq!(source.signatures(), 2);
    }

    #[tokio::test]
    async fn an_answer_older_than_reuse_for_is_signed_anew() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        let cache = layer(&source, Duration::ZERO);
        let request = fx.request(&[1], None);
        cache.response(fx.query(&request)).await.unwrap();
        cache.response(fx.query(&request)).await.unwrap();
        assert_eq!(source.signatures(), 2);
    }

    #[tokio::test]
    async fn an_unreachable_database_leaves_valid_answers_served_and_nothing_else() {
        let fx = Fixture::new(vec![]);
        let source = MemorySource::default();
        source.set(&[1], Status::Good);
        // Nothing is reused as such: every request goes down to the source.
        let cache = layer(&source, Duration::ZERO);
        let known = fx.request(&[1], None);
        let before = cache.response(fx.query(&known)).await.unwrap();
        source.set_unavailable(true);
        let during = cache.response(fx.query(&known)).await.unwrap();
        assert_eq!(during.der, before.der, "the answer it holds, as signed");
        // Never asked before: nothing to answer with.
        let other = fx.request(&[2], None);
        let e = cache.response(fx.query(&other)).await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        // A change was seen since the answer was made: it may be wrong now.
        let next = fx.with_generation(2);
        let e = cache.response(Query::new(&known, &next)).await.unwrap_err();
        assert!(e.is_unavailable(), "{e}");
        source.set_unavailable(false);
        cache.response(Query::new(&known, &next)).await.unwrap();
    }

    #[test]
    fn an_expired_answer_is_not_served_when_the_database_is_unreachable() {
        let (_, mut entry) = entry(1, Status::Good);
        let signer = Some(entry.signed.signer);
        assert!(still_valid(&entry, 1, signer), "no nextUpdate: valid");
        let mut signed = (*entry.signed).clone();
        signed.next_update = Some(SystemTime::now() - Duration::from_secs(1));
        entry = Arc::new(Presigned {
            signed: Arc::new(signed),
            generation: 1,
        });
        assert!(!still_valid(&entry, 1, signer), "past its nextUpdate");
        let mut signed = (*entry.signed).clone();
        signed.next_update = Some(SystemTime::now() + Duration::from_secs(60));
        let entry = Presigned {
            signed: Arc::new(signed),
            generation: 1,
        };
        assert!(still_valid(&entry, 1, signer));
        assert!(!still_valid(&entry, 2, signer), "another generation");
        assert!(!still_valid(&entry, 1, Some([1; 20])), "another signer");
    }
}
