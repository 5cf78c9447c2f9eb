//! The pre-signed response cache, bounded by bytes. Answers that speak of
//! serials or issuers the lab never issued live in a small bucket of their
//! own, so that a flood of made-up serials can neither grow the responder
//! past its budget nor evict the answers for real certificates.

use std::sync::Arc;
use std::time::Instant;

use quick_cache::Weighter;

use crate::response::Status;
use crate::service::OcspReply;

/// Share of the byte budget given to answers about never-issued serials.
const UNISSUED_SHARE: u64 = 8;
/// Bookkeeping per entry beyond the bytes counted (Arc, headers, table slot).
const ENTRY_OVERHEAD: u64 = 256;
/// A typical entry (one CertID, one signer certificate), to size the tables.
const TYPICAL_ENTRY: u64 = 2048;

/// A signed response kept for reuse by requests without a nonce.
#[derive(Debug)]
pub(crate) struct Presigned {
    pub(crate) reply: OcspReply,
    pub(crate) produced: Instant,
    pub(crate) generation: i64,
    pub(crate) statuses: Vec<Status>,
    pub(crate) signer: [u8; 20],
}

/// The weight of an entry: roughly the heap bytes it holds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ByBytes;

impl Weighter<Vec<u8>, Arc<Presigned>> for ByBytes {
    fn weight(&self, key: &Vec<u8>, value: &Arc<Presigned>) -> u64 {
        entry_weight(
            key.len(),
            value.reply.der.len(),
            value.statuses.len(),
            value
                .reply
                .freshness
                .as_ref()
                .map_or(0, |f| f.etag.len() * 2 + 64),
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

/// How a byte budget is split: (issued bucket, never-issued bucket).
pub(crate) fn split_budget(bytes: u64) -> (u64, u64) {
    let unissued = bytes / UNISSUED_SHARE;
    (bytes - unissued, unissued)
}

type Bucket = quick_cache::sync::Cache<Vec<u8>, Arc<Presigned>, ByBytes>;

/// Pre-signed responses by request CertIDs, in two buckets.
pub(crate) struct ResponseCache {
    issued: Bucket,
    unissued: Bucket,
}

impl ResponseCache {
    /// A cache holding at most about `bytes` bytes of responses.
    pub(crate) fn new(bytes: u64) -> Self {
        let (issued, unissued) = split_budget(bytes);
        let bucket = |weight: u64| {
            let items = usize::try_from((weight / TYPICAL_ENTRY).max(1)).unwrap_or(usize::MAX);
            Bucket::with_weighter(items, weight.max(1), ByBytes)
        };
        ResponseCache {
            issued: bucket(issued),
            unissued: bucket(unissued),
        }
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<Arc<Presigned>> {
        self.issued.get(key).or_else(|| self.unissued.get(key))
    }

    /// Keeps `value`; `unissued` when it answers for a serial or issuer the lab never issued.
    pub(crate) fn insert(&self, key: Vec<u8>, value: Arc<Presigned>, unissued: bool) {
        // A serial issued since moves from one bucket to the other.
        let (bucket, other) = if unissued {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::OcspReply;
    use bytes::Bytes;

    fn entry(serial: u32, unissued_status: Status) -> (Vec<u8>, Arc<Presigned>) {
        (
            serial.to_be_bytes().to_vec(),
            Arc::new(Presigned {
                reply: OcspReply {
                    der: Bytes::from(vec![0u8; 1500]),
                    outcome: "good",
                    freshness: None,
                },
                produced: Instant::now(),
                generation: 1,
                statuses: vec![unissued_status],
                signer: [0; 20],
            }),
        )
    }

    #[test]
    fn a_flood_of_unissued_answers_stays_within_its_share_and_evicts_no_issued_one() {
        let cache = ResponseCache::new(1 << 20);
        for serial in 0..100 {
            let (key, value) = entry(serial, Status::Good);
            cache.insert(key, value, false);
        }
        for serial in 1_000..200_000 {
            let (key, value) = entry(serial, Status::Unknown);
            cache.insert(key, value, true);
        }
        let (issued, unissued) = cache.weights();
        let (_, unissued_budget) = split_budget(1 << 20);
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
        let cache = ResponseCache::new(1 << 20);
        for serial in 0..50_000 {
            let (key, value) = entry(serial, Status::Good);
            cache.insert(key, value, false);
        }
        let (issued, unissued) = cache.weights();
        assert!(issued + unissued <= 1 << 20, "{issued} + {unissued}");
    }

    #[test]
    fn an_answer_moves_bucket_when_its_serial_gets_issued() {
        let cache = ResponseCache::new(1 << 20);
        let (key, value) = entry(7, Status::Unknown);
        cache.insert(key.clone(), value, true);
        let (_, good) = entry(7, Status::Good);
        cache.insert(key.clone(), good, false);
        assert_eq!(
            cache.get(&key).map(|p| p.statuses.clone()),
            Some(vec![Status::Good])
        );
        assert_eq!(cache.weights().1, 0);
    }
}
