//! How a responder on PostgreSQL learns of committed changes, and whether
//! its database is reachable: a task follows [`Store::watch`] (a `LISTEN`
//! notification on every commit, the generation polled when notifications
//! are lost) and keeps the newest generation and any outage in a
//! [`DatabaseState`] that requests read without a query.
//!
//! SQLite needs none of this: its WAL-index header is read on each request
//! (see [`crate::directory::DirectoryWatch`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use testca::store::{Changes, Listening, Store};
use tracing::{info, warn};

use crate::error::Result;
use labcore::sync::lock;

/// How long a change can go unseen when every notification is lost, and how
/// often an unreachable database is tried again.
pub const POLL: Duration = testca::store::DEFAULT_POLL;

/// What the responder knows of its database between requests.
#[derive(Debug)]
pub struct DatabaseState {
    /// The newest generation seen committed.
    newest: AtomicI64,
    /// Since when, and why, the database cannot be reached; `None` while it can.
    outage: Mutex<Option<Outage>>,
    /// The database, without its password, for messages.
    shown: String,
    /// Whether commits are notified now, or only polled.
    listening: Listening,
}

/// The database could not be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// When it was first found unreachable.
    pub since: SystemTime,
    /// The latest error, one line.
    pub reason: String,
}

impl DatabaseState {
    /// The state of the database `shown` (its URL without password), at
    /// `generation`, whose commits are notified while `listening` is up.
    pub fn new(shown: String, generation: i64, listening: Listening) -> Self {
        DatabaseState {
            newest: AtomicI64::new(generation),
            outage: Mutex::new(None),
            shown,
            listening,
        }
    }

    /// Whether commits are notified now (`LISTEN`); when not, they are seen
    /// by polling, within [`POLL`].
    pub fn notified(&self) -> bool {
        self.listening.now()
    }

    /// The newest generation seen committed.
    pub fn newest(&self) -> i64 {
        self.newest.load(Ordering::Acquire)
    }

    /// The current outage, if the database is unreachable.
    pub fn outage(&self) -> Option<Outage> {
        lock(&self.outage).clone()
    }

    /// Whether the database answered the last time it was asked.
    pub fn is_reachable(&self) -> bool {
        lock(&self.outage).is_none()
    }

    /// The database, without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Records that generation `generation` was committed.
    pub fn seen(&self, generation: i64) {
        self.newest.store(generation, Ordering::Release);
    }

    /// Records a failed attempt to reach the database; true when it was reachable until now.
    pub fn lost(&self, reason: &str, now: SystemTime) -> bool {
        let mut outage = lock(&self.outage);
        let began = outage.is_none();
        let since = outage.as_ref().map_or(now, |o| o.since);
        *outage = Some(Outage {
            since,
            reason: reason.to_string(),
        });
        began
    }

    /// Records that the database answered, at `generation`; true when it was unreachable until now.
    pub fn back(&self, generation: i64) -> bool {
        self.seen(generation);
        lock(&self.outage).take().is_some()
    }
}

/// The task following the database's changes; stopped when dropped.
#[derive(Debug)]
pub struct Follower {
    state: Arc<DatabaseState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follower {
    /// Starts following `store`'s generation.
    pub async fn start(store: &Store, poll: Duration) -> Result<Follower> {
        let changes = store.watch(poll).await?;
        let state = Arc::new(DatabaseState::new(
            store.database().to_string(),
            changes.generation(),
            changes.listening_signal(),
        ));
        let task = tokio::spawn(follow(changes, store.clone(), state.clone(), poll));
        Ok(Follower { state, task })
    }

    /// What is known of the database now.
    pub fn state(&self) -> &Arc<DatabaseState> {
        &self.state
    }
}

/// Keeps `state` up to date for as long as the responder runs: each change
/// the watch reports, and each outage until the database answers again.
async fn follow(mut changes: Changes, store: Store, state: Arc<DatabaseState>, poll: Duration) {
    loop {
        match changes.next().await {
            Ok(generation) => state.seen(generation),
            Err(e) => {
                if state.lost(&e.to_string(), SystemTime::now()) {
                    warn!(database = %state.shown(), error = %e, "the revocation database is unreachable; answering from what is cached until it is back");
                }
                loop {
                    tokio::time::sleep(poll).await;
                    match store.generation().await {
                        Ok(generation) => {
                            if state.back(generation) {
                                info!(database = %state.shown(), generation, "the revocation database is reachable again");
                            }
                            break;
                        }
                        Err(e) => {
                            state.lost(&e.to_string(), SystemTime::now());
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_keeps_its_start_and_ends_when_the_database_answers() {
        let state = DatabaseState::new("postgres://reader@db/lab".into(), 7, Listening::always());
        assert!(state.is_reachable());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert!(state.lost("connection refused", t0), "an outage begins");
        assert!(
            !state.lost("pool timed out", t0 + Duration::from_secs(5)),
            "the same outage goes on"
        );
        assert_eq!(
            state.outage(),
            Some(Outage {
                since: t0,
                reason: "pool timed out".into()
            })
        );
        assert_eq!(state.newest(), 7, "nothing learnt while unreachable");
        assert!(state.back(9), "the outage ends");
        assert!(state.is_reachable());
        assert_eq!(state.newest(), 9);
        assert!(!state.back(9));
    }
}
