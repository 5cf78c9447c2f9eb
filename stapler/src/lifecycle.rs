//! The life of one certificate's staple, as states and transitions.
//!
//! Each state is a type holding exactly what is true in it, so that
//! impossible combinations (a staple "held" with no expiry, a failure count
//! without an error, a refresh planned for a certificate that is never
//! stapled) cannot be written. [`Stapling::step`] consumes a state and an
//! [`Event`] at a given time and returns the next state with the
//! [`Decision`]s the server carries out: what to staple, when to wake up,
//! what to persist, what to tell people. It reads no clock and does no I/O,
//! so that every rule is unit-tested with a fake clock.
//!
//! | state | event | next state | decisions |
//! |---|---|---|---|
//! | `Off` | any | `Off` | staple nothing, never wake |
//! | `Fetching` | `Fetched` good, or revoked with `--revoked staple` | `Held` | staple it, refresh at the refresh point, persist if fetched |
//! | `Held`, `Keeping` | `Fetched` good, or revoked with `--revoked staple` | `Held` | staple the new one, refresh at its refresh point, persist if fetched |
//! | any but `Off` | `Fetched` revoked with `--revoked drop` | `Fetching` (dropped) | staple nothing, refresh at the refresh point, persist it (so that the good one before never comes back) |
//! | `Held`, `Keeping` | `Failed` | `Keeping` | keep stapling the last good one, retry after the backoff but before it expires |
//! | `Fetching` | `Failed` | `Fetching` | staple nothing, retry after the backoff |
//! | `Held`, `Keeping` | time passes nextUpdate (before any event) | `Fetching` (expired) | staple nothing, say it expired, keep the retry time and failures |
//! | `Fetching` (not yet) | `Reloaded` good, or revoked with `--revoked staple` | `Held` (from the cache) | staple it, refresh now |
//! | `Fetching` (not yet) | `Reloaded` revoked with `--revoked drop` | unchanged | staple nothing |
//! | any | `Tick` | unchanged (after expiry) | — |

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::RevokedPolicy;
use crate::schedule::{Jitter, Schedule};
use crate::source::ObtainError;
use crate::verify::{CertState, VerifiedStaple};

/// Where a held staple came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StapleSource {
    /// Fetched from the responder by this process.
    Fetched,
    /// Reloaded from the cache directory at startup.
    Cache,
    /// Read from the static staple file.
    File,
}

/// The rules a certificate's staple lives by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// Refresh points and backoff.
    pub schedule: Schedule,
    /// What a revoked response does (`--revoked`).
    pub revoked: RevokedPolicy,
}

/// The staple of one certificate, in one of its states.
#[derive(Clone, Debug)]
pub enum Stapling {
    /// Never stapled: stapling is off, or impossible for this certificate.
    Off(Off),
    /// No staple to send; fetching until one comes.
    Fetching(Fetching),
    /// A valid staple, and the last fetch gave it.
    Held(Held),
    /// The last good staple, kept while fetches fail, until it expires.
    Keeping(Keeping),
}

/// Why a certificate is never stapled (the setup's one-line diagnostic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Off {
    /// What is wrong and what to do.
    pub reason: String,
}

/// Failures in a row, and the last one.
#[derive(Clone, Debug)]
pub struct Failures {
    /// How many (at least one).
    pub count: NonZeroU32,
    /// The last one.
    pub last: ObtainError,
}

impl Failures {
    fn one_more(previous: Option<Failures>, error: ObtainError) -> Failures {
        let count = previous.map_or(NonZeroU32::MIN, |f| f.count.saturating_add(1));
        Failures { count, last: error }
    }
}

/// Why there is no staple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Empty {
    /// None yet: starting, or no fetch has succeeded since.
    NotYet,
    /// The staple held passed its nextUpdate.
    Expired {
        /// Its nextUpdate.
        at: SystemTime,
    },
    /// The responder says revoked and `--revoked drop` is in force.
    Dropped {
        /// revocationTime.
        revoked_at: SystemTime,
    },
}

/// No staple to send.
#[derive(Clone, Debug)]
pub struct Fetching {
    /// Why.
    pub empty: Empty,
    /// The failures since the last good response, if any.
    pub failures: Option<Failures>,
    /// The last fetch attempt, if any.
    pub last_fetch: Option<SystemTime>,
    /// When to fetch next.
    pub retry_at: SystemTime,
}

/// A staple whose last fetch succeeded.
#[derive(Clone, Debug)]
pub struct Held {
    /// The staple.
    pub staple: Arc<VerifiedStaple>,
    /// Where it came from.
    pub source: StapleSource,
    /// The last fetch (none for a staple reloaded from the cache).
    pub last_fetch: Option<SystemTime>,
    /// When to refresh.
    pub refresh_at: SystemTime,
}

/// The last good staple, while fetches fail.
#[derive(Clone, Debug)]
pub struct Keeping {
    /// The staple.
    pub staple: Arc<VerifiedStaple>,
    /// Where it came from.
    pub source: StapleSource,
    /// The failures since it came.
    pub failures: Failures,
    /// The last (failed) fetch.
    pub last_fetch: SystemTime,
    /// When to retry.
    pub retry_at: SystemTime,
}

/// What happens to a certificate's staple.
#[derive(Clone, Debug)]
pub enum Event {
    /// A response was obtained and verified.
    Fetched {
        /// The response.
        staple: Arc<VerifiedStaple>,
        /// From the responder or the static file.
        source: StapleSource,
    },
    /// No usable response: the fetch failed, or verification refused it.
    Failed(ObtainError),
    /// A persisted response, verified again, found at startup.
    Reloaded(Arc<VerifiedStaple>),
    /// Time passed (the background task woke up).
    Tick,
}

/// What the server does after a step.
#[derive(Clone, Debug)]
pub struct Decision {
    /// What to staple from now on (nothing: present the bare certificate).
    pub staple: Option<Arc<VerifiedStaple>>,
    /// When the background task must wake next (a refresh, or an expiry);
    /// never for a certificate that is not stapled.
    pub wake_at: Option<SystemTime>,
    /// A response to write to the cache directory.
    pub persist: Option<Arc<VerifiedStaple>>,
    /// The nextUpdate of the staple held, when it expired in this step: it
    /// is no longer sent.
    pub expired: Option<SystemTime>,
    /// What the event did, for the logs and metrics.
    pub note: Note,
}

/// What a step did, for people and for the metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Nothing worth saying.
    Nothing,
    /// A good response is stapled.
    Good,
    /// A revoked response is stapled (`--revoked staple`).
    RevokedStapled,
    /// A revoked response stopped stapling (`--revoked drop`).
    RevokedDropped,
    /// A fetch failed; the last good staple is kept until it expires.
    KeptLastGood {
        /// Its nextUpdate.
        until: SystemTime,
    },
    /// A fetch failed and there is nothing valid to staple.
    NoValidStaple,
    /// The persisted staple is stapled.
    Reloaded,
    /// The persisted staple says revoked and `--revoked drop` ignores it.
    ReloadIgnored,
    /// A fetched answer older than the staple held is ignored.
    OlderIgnored,
}

impl Stapling {
    /// The state of a certificate that can be stapled, before anything
    /// happened: fetch now.
    pub fn start(now: SystemTime) -> Self {
        Stapling::Fetching(Fetching {
            empty: Empty::NotYet,
            failures: None,
            last_fetch: None,
            retry_at: now,
        })
    }

    /// The state of a certificate that is never stapled.
    pub fn off(reason: String) -> Self {
        Stapling::Off(Off { reason })
    }

    /// The staple to send at `now`, with where it came from: none once its
    /// nextUpdate has passed, even before a step notices.
    pub fn staple_at(&self, now: SystemTime) -> Option<(&Arc<VerifiedStaple>, StapleSource)> {
        let (staple, source) = match self {
            Stapling::Held(h) => (&h.staple, h.source),
            Stapling::Keeping(k) => (&k.staple, k.source),
            Stapling::Off(_) | Stapling::Fetching(_) => return None,
        };
        staple.is_current(now).then_some((staple, source))
    }

    /// When the next fetch is planned (none when never stapled).
    pub fn next_refresh(&self) -> Option<SystemTime> {
        match self {
            Stapling::Off(_) => None,
            Stapling::Fetching(f) => Some(f.retry_at),
            Stapling::Held(h) => Some(h.refresh_at),
            Stapling::Keeping(k) => Some(k.retry_at),
        }
    }

    /// Whether a fetch is due at `now`.
    pub fn refresh_due(&self, now: SystemTime) -> bool {
        self.next_refresh().is_some_and(|at| now >= at)
    }

    /// When the background task must wake: for the next fetch, or when the
    /// staple held expires, whichever comes first.
    pub fn wake_at(&self) -> Option<SystemTime> {
        let expiry = match self {
            Stapling::Held(h) => Some(h.staple.next_update()),
            Stapling::Keeping(k) => Some(k.staple.next_update()),
            Stapling::Off(_) | Stapling::Fetching(_) => None,
        };
        match (self.next_refresh(), expiry) {
            (Some(refresh), Some(end)) => Some(refresh.min(end)),
            (refresh, _) => refresh,
        }
    }

    /// The last fetch attempt.
    pub fn last_fetch(&self) -> Option<SystemTime> {
        match self {
            Stapling::Off(_) => None,
            Stapling::Fetching(f) => f.last_fetch,
            Stapling::Held(h) => h.last_fetch,
            Stapling::Keeping(k) => Some(k.last_fetch),
        }
    }

    /// The failures since the last good response.
    pub fn failures(&self) -> Option<&Failures> {
        match self {
            Stapling::Fetching(f) => f.failures.as_ref(),
            Stapling::Keeping(k) => Some(&k.failures),
            Stapling::Off(_) | Stapling::Held(_) => None,
        }
    }

    /// Why the certificate is never stapled, if it is not.
    pub fn off_reason(&self) -> Option<&str> {
        match self {
            Stapling::Off(off) => Some(&off.reason),
            _ => None,
        }
    }

    /// The next state after `event` at `now`, and what to do.
    pub fn step(self, event: Event, now: SystemTime, rules: &Rules, jitter: Jitter) -> Step {
        if let Stapling::Off(off) = self {
            return Step::quiet(Stapling::Off(off), now);
        }
        // Expiry first, whatever the event: an expired staple is never kept.
        let (state, expired) = self.expire(now);
        let (next, note, persist) = match event {
            Event::Tick => (state, Note::Nothing, None),
            Event::Fetched { staple, source } => {
                let refresh_at =
                    rules
                        .schedule
                        .refresh_point(staple.this_update(), staple.next_update(), now);
                let persist = (source == StapleSource::Fetched).then(|| staple.clone());
                let newer_held = state
                    .staple_at(now)
                    .filter(|(held, _)| held.this_update() > staple.this_update())
                    .map(|(held, held_source)| (held.clone(), held_source));
                if let Some((held, held_source)) = newer_held {
                    // An answer older than the one held (from a cache in front
                    // of the responders, or a responder that has not yet seen
                    // a change) never replaces it: a stale good must not undo
                    // a revocation already stapled. Ask again at its refresh point.
                    let next = Stapling::Held(Held {
                        staple: held,
                        source: held_source,
                        last_fetch: Some(now),
                        refresh_at,
                    });
                    (next, Note::OlderIgnored, None)
                } else {
                    match (staple.state(), rules.revoked) {
                        (CertState::Revoked { at, .. }, RevokedPolicy::Drop) => {
                            let next = Stapling::Fetching(Fetching {
                                empty: Empty::Dropped { revoked_at: *at },
                                failures: None,
                                last_fetch: Some(now),
                                retry_at: refresh_at,
                            });
                            (next, Note::RevokedDropped, persist)
                        }
                        (cert_state, _) => {
                            let note = match cert_state {
                                CertState::Good => Note::Good,
                                CertState::Revoked { .. } => Note::RevokedStapled,
                            };
                            let next = Stapling::Held(Held {
                                staple,
                                source,
                                last_fetch: Some(now),
                                refresh_at,
                            });
                            (next, note, persist)
                        }
                    }
                }
            }
            Event::Failed(error) => {
                let (next, note) = state.failed(error, now, rules, jitter);
                (next, note, None)
            }
            Event::Reloaded(staple) => match state {
                Stapling::Fetching(Fetching {
                    empty: Empty::NotYet,
                    last_fetch: None,
                    ..
                }) => {
                    let usable = *staple.state() == CertState::Good
                        || rules.revoked == RevokedPolicy::Staple;
                    if usable && staple.is_current(now) {
                        let next = Stapling::Held(Held {
                            staple,
                            source: StapleSource::Cache,
                            last_fetch: None,
                            // Ask the responder at once: the cache may be old.
                            refresh_at: now,
                        });
                        (next, Note::Reloaded, None)
                    } else {
                        (state, Note::ReloadIgnored, None)
                    }
                }
                // Only a certificate that has not fetched yet takes the cache.
                other => (other, Note::Nothing, None),
            },
        };
        Step {
            decision: Decision {
                staple: next.staple_at(now).map(|(s, _)| s.clone()),
                wake_at: next.wake_at(),
                persist,
                expired,
                note,
            },
            state: next,
        }
    }

    /// Drops a staple whose nextUpdate has passed; says when it expired.
    fn expire(self, now: SystemTime) -> (Stapling, Option<SystemTime>) {
        let (staple, failures, last_fetch, retry_at) = match self {
            Stapling::Held(h) if !h.staple.is_current(now) => {
                (h.staple, None, h.last_fetch, h.refresh_at)
            }
            Stapling::Keeping(k) if !k.staple.is_current(now) => {
                (k.staple, Some(k.failures), Some(k.last_fetch), k.retry_at)
            }
            other => return (other, None),
        };
        let at = staple.next_update();
        let next = Stapling::Fetching(Fetching {
            empty: Empty::Expired { at },
            failures,
            last_fetch,
            retry_at,
        });
        (next, Some(at))
    }

    /// A failed fetch: keep what is held (still valid, since expiry came
    /// first), count the failure, and plan the retry.
    fn failed(
        self,
        error: ObtainError,
        now: SystemTime,
        rules: &Rules,
        jitter: Jitter,
    ) -> (Stapling, Note) {
        match self {
            Stapling::Held(h) => {
                let failures = Failures::one_more(None, error);
                keep(h.staple, h.source, failures, now, rules, jitter)
            }
            Stapling::Keeping(k) => {
                let failures = Failures::one_more(Some(k.failures), error);
                keep(k.staple, k.source, failures, now, rules, jitter)
            }
            Stapling::Fetching(f) => {
                let failures = Failures::one_more(f.failures, error);
                let retry_at = rules
                    .schedule
                    .retry_at(failures.count.get(), jitter, None, now);
                let next = Stapling::Fetching(Fetching {
                    empty: f.empty,
                    failures: Some(failures),
                    last_fetch: Some(now),
                    retry_at,
                });
                (next, Note::NoValidStaple)
            }
            off @ Stapling::Off(_) => (off, Note::Nothing),
        }
    }
}

fn keep(
    staple: Arc<VerifiedStaple>,
    source: StapleSource,
    failures: Failures,
    now: SystemTime,
    rules: &Rules,
    jitter: Jitter,
) -> (Stapling, Note) {
    let until = staple.next_update();
    let retry_at = rules
        .schedule
        .retry_at(failures.count.get(), jitter, Some(until), now);
    let next = Stapling::Keeping(Keeping {
        staple,
        source,
        failures,
        last_fetch: now,
        retry_at,
    });
    (next, Note::KeptLastGood { until })
}

/// A state and the decisions that came with it.
#[derive(Clone, Debug)]
pub struct Step {
    /// The next state.
    pub state: Stapling,
    /// What to do.
    pub decision: Decision,
}

impl Step {
    fn quiet(state: Stapling, now: SystemTime) -> Step {
        Step {
            decision: Decision {
                staple: state.staple_at(now).map(|(s, _)| s.clone()),
                wake_at: state.wake_at(),
                persist: None,
                expired: None,
                note: Note::Nothing,
            },
            state,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fetch::FetchError;

    /// The fake clock: seconds from an arbitrary origin.
    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn rules(revoked: RevokedPolicy) -> Rules {
        Rules {
            schedule: Schedule {
                refresh_fraction: 0.5,
                min_refresh: Duration::from_secs(5),
                max_refresh: Duration::from_secs(3600),
                backoff_min: Duration::from_secs(1),
                backoff_max: Duration::from_secs(300),
            },
            revoked,
        }
    }

    /// The latest point of each backoff step, so that delays are exact.
    const LATE: f64 = 1.0;

    fn staple(state: CertState, from: u64, to: u64) -> Arc<VerifiedStaple> {
        Arc::new(VerifiedStaple::for_tests(state, at(from), at(to)))
    }

    fn good(from: u64, to: u64) -> Arc<VerifiedStaple> {
        staple(CertState::Good, from, to)
    }

    fn revoked(from: u64, to: u64) -> Arc<VerifiedStaple> {
        staple(
            CertState::Revoked {
                at: at(1),
                reason: Some("keyCompromise".into()),
            },
            from,
            to,
        )
    }

    fn fetched(staple: &Arc<VerifiedStaple>) -> Event {
        Event::Fetched {
            staple: staple.clone(),
            source: StapleSource::Fetched,
        }
    }

    fn failed() -> Event {
        Event::Failed(ObtainError::Fetch(FetchError::Http {
            url: "http://127.0.0.1:1/".into(),
            reason: "connection refused or unreachable".into(),
        }))
    }

    /// Runs `events` from `state`, each at its time, with the policy given.
    fn run(state: Stapling, events: Vec<(u64, Event)>, policy: RevokedPolicy) -> Step {
        let mut step = Step::quiet(state, at(0));
        for (secs, event) in events {
            step = step
                .state
                .step(event, at(secs), &rules(policy), Jitter::new(LATE));
        }
        step
    }

    fn same(a: Option<&Arc<VerifiedStaple>>, b: &Arc<VerifiedStaple>) -> bool {
        a.is_some_and(|a| Arc::ptr_eq(a, b))
    }

    #[test]
    fn a_new_certificate_fetches_at_once() {
        let state = Stapling::start(at(0));
        assert!(state.refresh_due(at(0)));
        assert_eq!(state.wake_at(), Some(at(0)));
        assert!(state.staple_at(at(0)).is_none());
    }

    #[test]
    fn a_good_response_is_stapled_persisted_and_refreshed_at_half_its_validity() {
        let s = good(0, 600);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&s))],
            RevokedPolicy::Staple,
        );
        assert!(matches!(step.state, Stapling::Held(_)));
        assert!(same(step.decision.staple.as_ref(), &s));
        assert!(same(step.decision.persist.as_ref(), &s));
        assert_eq!(step.decision.note, Note::Good);
        assert_eq!(step.state.next_refresh(), Some(at(300)));
        assert_eq!(step.decision.wake_at, Some(at(300)));
        assert_eq!(step.state.last_fetch(), Some(at(0)));
        assert!(step.state.failures().is_none());
        assert!(!step.state.refresh_due(at(299)));
        assert!(step.state.refresh_due(at(300)));
    }

    #[test]
    fn a_static_file_is_stapled_but_not_persisted() {
        let s = good(0, 600);
        let event = Event::Fetched {
            staple: s.clone(),
            source: StapleSource::File,
        };
        let step = run(
            Stapling::start(at(0)),
            vec![(0, event)],
            RevokedPolicy::Staple,
        );
        assert!(same(step.decision.staple.as_ref(), &s));
        assert!(step.decision.persist.is_none());
        assert_eq!(
            step.state.staple_at(at(0)).map(|(_, src)| src),
            Some(StapleSource::File)
        );
    }

    #[test]
    fn failures_without_a_staple_back_off_exponentially() {
        let step = run(
            Stapling::start(at(0)),
            vec![(0, failed()), (1, failed()), (3, failed())],
            RevokedPolicy::Staple,
        );
        let Stapling::Fetching(f) = &step.state else {
            panic!("{:?}", step.state)
        };
        assert_eq!(f.empty, Empty::NotYet);
        assert_eq!(f.failures.as_ref().map(|f| f.count.get()), Some(3));
        // Third failure at t=3: 4 s.
        assert_eq!(f.retry_at, at(7));
        assert_eq!(f.last_fetch, Some(at(3)));
        assert!(step.decision.staple.is_none());
        assert!(step.decision.persist.is_none());
        assert_eq!(step.decision.note, Note::NoValidStaple);
        let last = step.state.failures().map(|f| f.last.to_string());
        assert_eq!(
            last.as_deref(),
            Some("fetch failed: http://127.0.0.1:1/: connection refused or unreachable")
        );
    }

    #[test]
    fn a_refusal_by_verification_is_a_failure_that_says_why_and_what_to_do() {
        let s = good(0, 600);
        let refused = Event::Failed(ObtainError::Refused(crate::verify::Problem::NonceMismatch));
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&s)), (300, refused)],
            RevokedPolicy::Staple,
        );
        assert!(matches!(step.state, Stapling::Keeping(_)));
        assert!(
            same(step.decision.staple.as_ref(), &s),
            "never replaced by a refused one"
        );
        let last = step.state.failures().map(|f| f.last.to_string());
        assert_eq!(
            last.as_deref(),
            Some(
                "response refused: the response does not echo the request's nonce \
                 (the responder does not echo nonces; retry without one)"
            )
        );
    }

    #[test]
    fn the_jitter_decides_where_in_the_step_a_retry_falls() {
        let early = Stapling::start(at(0)).step(
            failed(),
            at(0),
            &rules(RevokedPolicy::Staple),
            Jitter::new(0.0),
        );
        // First failure: a 1 s step, of which at least half.
        assert_eq!(
            early.state.next_refresh(),
            Some(at(0) + Duration::from_millis(500))
        );
    }

    #[test]
    fn the_last_good_staple_is_kept_while_fetches_fail() {
        let s = good(0, 600);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&s)), (300, failed()), (301, failed())],
            RevokedPolicy::Staple,
        );
        let Stapling::Keeping(k) = &step.state else {
            panic!("{:?}", step.state)
        };
        assert!(Arc::ptr_eq(&k.staple, &s));
        assert_eq!(k.failures.count.get(), 2);
        assert_eq!(k.retry_at, at(303));
        assert!(same(step.decision.staple.as_ref(), &s));
        assert!(step.decision.persist.is_none(), "nothing new to persist");
        assert_eq!(step.decision.note, Note::KeptLastGood { until: at(600) });
    }

    #[test]
    fn a_backoff_never_outlasts_the_staple_kept() {
        let s = good(0, 600);
        // Nine failures: the backoff is 256 s, but only 40 s are left at t=560.
        let mut events = vec![(0, fetched(&s))];
        for t in 552..=560 {
            events.push((t, failed()));
        }
        let step = run(Stapling::start(at(0)), events, RevokedPolicy::Staple);
        assert_eq!(step.state.next_refresh(), Some(at(580)));
        // Its expiry comes after: the task wakes for the retry.
        assert_eq!(step.decision.wake_at, Some(at(580)));
    }

    #[test]
    fn a_good_response_after_failures_clears_them() {
        let old = good(0, 600);
        let new = good(400, 1000);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&old)), (300, failed()), (400, fetched(&new))],
            RevokedPolicy::Staple,
        );
        assert!(matches!(step.state, Stapling::Held(_)));
        assert!(step.state.failures().is_none());
        assert!(same(step.decision.staple.as_ref(), &new));
        assert_eq!(step.state.next_refresh(), Some(at(700)));
    }

    #[test]
    fn an_expired_staple_is_never_sent_even_before_a_step() {
        let s = good(0, 600);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&s)), (300, failed())],
            RevokedPolicy::Staple,
        );
        assert!(step.state.staple_at(at(599)).is_some());
        assert!(step.state.staple_at(at(600)).is_none());
    }

    #[test]
    fn expiry_drops_the_staple_and_keeps_the_failures_and_retry() {
        let s = good(0, 600);
        // Failures from t=300 on, the second at t=590 plans a retry at t=592
        // (2 s); the task wakes late, at t=600.
        let step = run(
            Stapling::start(at(0)),
            vec![
                (0, fetched(&s)),
                (300, failed()),
                (590, failed()),
                (600, Event::Tick),
            ],
            RevokedPolicy::Staple,
        );
        let Stapling::Fetching(f) = &step.state else {
            panic!("{:?}", step.state)
        };
        assert_eq!(f.empty, Empty::Expired { at: at(600) });
        assert_eq!(f.failures.as_ref().map(|f| f.count.get()), Some(2));
        assert_eq!(f.retry_at, at(592));
        assert!(step.decision.staple.is_none());
        assert_eq!(step.decision.expired, Some(at(600)));
        assert_eq!(step.decision.note, Note::Nothing);
    }

    #[test]
    fn a_held_staple_wakes_the_task_at_its_expiry_if_that_comes_first() {
        // A refresh planned after expiry cannot happen (the refresh point
        // says so), but a reloaded one refreshes at once: build a held state
        // whose refresh is late to check the wake-up alone.
        let s = good(0, 600);
        let state = Stapling::Held(Held {
            staple: s,
            source: StapleSource::Fetched,
            last_fetch: Some(at(0)),
            refresh_at: at(900),
        });
        assert_eq!(state.wake_at(), Some(at(600)));
    }

    #[test]
    fn a_failure_after_expiry_counts_from_an_empty_state() {
        let s = good(0, 600);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&s)), (700, failed())],
            RevokedPolicy::Staple,
        );
        let Stapling::Fetching(f) = &step.state else {
            panic!("{:?}", step.state)
        };
        assert_eq!(f.empty, Empty::Expired { at: at(600) });
        assert_eq!(f.failures.as_ref().map(|f| f.count.get()), Some(1));
        assert_eq!(f.retry_at, at(701));
        // Both are said: the expiry, then the failure.
        assert_eq!(step.decision.expired, Some(at(600)));
        assert_eq!(step.decision.note, Note::NoValidStaple);
    }

    #[test]
    fn revoked_with_staple_policy_is_stapled_and_persisted() {
        let g = good(0, 600);
        let r = revoked(100, 700);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&g)), (100, fetched(&r))],
            RevokedPolicy::Staple,
        );
        assert!(matches!(step.state, Stapling::Held(_)));
        assert!(same(step.decision.staple.as_ref(), &r));
        assert!(same(step.decision.persist.as_ref(), &r));
        assert_eq!(step.decision.note, Note::RevokedStapled);
        assert_eq!(step.state.next_refresh(), Some(at(400)));
    }

    #[test]
    fn revoked_with_drop_policy_stops_stapling_and_persists_the_revocation() {
        let g = good(0, 600);
        let r = revoked(100, 700);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&g)), (100, fetched(&r))],
            RevokedPolicy::Drop,
        );
        let Stapling::Fetching(f) = &step.state else {
            panic!("{:?}", step.state)
        };
        assert_eq!(f.empty, Empty::Dropped { revoked_at: at(1) });
        assert!(f.failures.is_none());
        assert_eq!(f.retry_at, at(400));
        assert!(step.decision.staple.is_none(), "the good one is not kept");
        // Persisted, so that the good one before never comes back at a restart.
        assert!(same(step.decision.persist.as_ref(), &r));
        assert_eq!(step.decision.note, Note::RevokedDropped);
    }

    #[test]
    fn a_good_response_after_a_dropped_revocation_is_stapled_again() {
        // certificateHold lifted.
        let r = revoked(0, 600);
        let g = good(400, 1000);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&r)), (400, fetched(&g))],
            RevokedPolicy::Drop,
        );
        assert!(same(step.decision.staple.as_ref(), &g));
    }

    #[test]
    fn an_answer_older_than_the_staple_held_never_replaces_it() {
        // A revocation is stapled; then a cache in front serves the older good.
        let r = revoked(300, 900);
        let stale = good(0, 600);
        let step = run(
            Stapling::start(at(0)),
            vec![(300, fetched(&r)), (400, fetched(&stale))],
            RevokedPolicy::Staple,
        );
        assert!(same(step.decision.staple.as_ref(), &r));
        assert_eq!(step.decision.note, Note::OlderIgnored);
        assert!(
            step.decision.persist.is_none(),
            "the older answer is not kept"
        );
        assert!(
            !step.state.refresh_due(at(400)),
            "no tight loop against the cache"
        );
        // A newer good (the revocation lifted) is taken.
        let newer = good(500, 1100);
        let step = step.state.step(
            fetched(&newer),
            at(500),
            &rules(RevokedPolicy::Staple),
            Jitter::new(LATE),
        );
        assert!(same(step.decision.staple.as_ref(), &newer));
    }

    #[test]
    fn a_reloaded_staple_is_stapled_at_once_and_refreshed_at_once() {
        let s = good(0, 600);
        let step = run(
            Stapling::start(at(10)),
            vec![(10, Event::Reloaded(s.clone()))],
            RevokedPolicy::Staple,
        );
        assert!(same(step.decision.staple.as_ref(), &s));
        assert_eq!(
            step.state.staple_at(at(10)).map(|(_, src)| src),
            Some(StapleSource::Cache)
        );
        assert!(step.decision.persist.is_none(), "it is on disk already");
        assert_eq!(step.state.last_fetch(), None);
        assert!(step.state.refresh_due(at(10)));
        assert_eq!(step.decision.note, Note::Reloaded);
    }

    #[test]
    fn a_reloaded_revocation_is_stapled_or_ignored_by_policy() {
        let r = revoked(0, 600);
        let stapled = run(
            Stapling::start(at(10)),
            vec![(10, Event::Reloaded(r.clone()))],
            RevokedPolicy::Staple,
        );
        assert!(same(stapled.decision.staple.as_ref(), &r));
        let dropped = run(
            Stapling::start(at(10)),
            vec![(10, Event::Reloaded(r))],
            RevokedPolicy::Drop,
        );
        assert!(dropped.decision.staple.is_none());
        assert_eq!(dropped.decision.note, Note::ReloadIgnored);
        assert!(matches!(
            dropped.state,
            Stapling::Fetching(Fetching {
                empty: Empty::NotYet,
                ..
            })
        ));
    }

    #[test]
    fn the_cache_never_replaces_a_fetched_staple() {
        let fresh = good(100, 700);
        let old = good(0, 600);
        let step = run(
            Stapling::start(at(100)),
            vec![(100, fetched(&fresh)), (100, Event::Reloaded(old))],
            RevokedPolicy::Staple,
        );
        assert!(same(step.decision.staple.as_ref(), &fresh));
    }

    #[test]
    fn off_stays_off_whatever_happens() {
        let s = good(0, 600);
        let step = run(
            Stapling::off("no issuer".into()),
            vec![
                (0, fetched(&s)),
                (1, failed()),
                (2, Event::Reloaded(s.clone())),
                (3, Event::Tick),
            ],
            RevokedPolicy::Staple,
        );
        assert_eq!(step.state.off_reason(), Some("no issuer"));
        assert!(step.decision.staple.is_none());
        assert!(step.decision.persist.is_none());
        assert_eq!(step.decision.wake_at, None, "no background task");
        assert!(!step.state.refresh_due(at(1_000_000)));
    }

    #[test]
    fn a_tick_before_anything_is_due_changes_nothing() {
        let s = good(0, 600);
        let step = run(
            Stapling::start(at(0)),
            vec![(0, fetched(&s)), (100, Event::Tick)],
            RevokedPolicy::Staple,
        );
        assert!(matches!(step.state, Stapling::Held(_)));
        assert_eq!(step.decision.note, Note::Nothing);
        assert_eq!(step.decision.expired, None);
        assert!(step.decision.persist.is_none());
        assert!(same(step.decision.staple.as_ref(), &s));
    }
}
