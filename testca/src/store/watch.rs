//! Learning of committed changes without asking on every request: the
//! generation counter that every write bumps in its own transaction, read
//! when something says it may have moved.
//!
//! * SQLite: the [`ChangeProbe`] (a 48-byte read of the WAL-index header)
//!   says when any process committed; it is read every poll interval.
//! * PostgreSQL: a `LISTEN` on [`CHANGE_CHANNEL`], to which a trigger on the
//!   generation sends on every commit. Notifications can be lost (a dropped
//!   connection loses those sent meanwhile), so the generation is also read
//!   every poll interval, and the listener reconnects with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;

use super::{CHANGE_CHANNEL, ChangeProbe, Pool, Store, WalIndexHeader};
use crate::error::Result;

/// The default poll interval: how stale a reader may be at worst when every
/// notification is lost.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// Longest wait between two attempts to reconnect the listener.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How long a new watch waits for its first `LISTEN` before it starts
/// polling (and goes on trying to listen in the background).
const FIRST_LISTEN_WITHIN: Duration = Duration::from_secs(5);

/// A watch on the database's generation: [`Changes::next`] returns each time
/// it has moved. Made by [`Store::watch`].
#[derive(Debug)]
pub struct Changes {
    store: Store,
    last: i64,
    poll: Duration,
    signal: Signal,
}

#[derive(Debug)]
enum Signal {
    /// SQLite: the WAL-index header as last seen.
    Probe {
        probe: ChangeProbe,
        seen: Option<WalIndexHeader>,
    },
    /// PostgreSQL: a task listening on the change channel wakes `notify`.
    Listen {
        notify: Arc<Notify>,
        listening: Arc<AtomicBool>,
        task: tokio::task::JoinHandle<()>,
    },
}

/// Whether change notifications are arriving now, readable from anywhere
/// without a query (see [`Changes::listening_signal`]).
#[derive(Clone, Debug)]
pub struct Listening(Option<Arc<AtomicBool>>);

impl Listening {
    /// A signal that never goes down (SQLite's probe needs no connection).
    pub fn always() -> Self {
        Listening(None)
    }

    /// Whether notifications are arriving now; when not, changes are still
    /// seen, by polling.
    pub fn now(&self) -> bool {
        self.0.as_ref().is_none_or(|up| up.load(Ordering::Relaxed))
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        if let Signal::Listen { task, .. } = &self.signal {
            task.abort();
        }
    }
}

impl Store {
    /// Watches the generation, starting from its current value. `poll`
    /// bounds how long a change can go unseen when no signal arrives.
    pub async fn watch(&self, poll: Duration) -> Result<Changes> {
        let signal = match &self.pool {
            Pool::Sqlite(_) => {
                let probe = self.change_probe()?;
                let seen = probe.read();
                Signal::Probe { probe, seen }
            }
            Pool::Postgres(pool) => {
                // The first connection is made before the watch is returned,
                // so that a reader that has just started says it listens.
                let first = tokio::time::timeout(FIRST_LISTEN_WITHIN, connect_listener(pool))
                    .await
                    .ok()
                    .and_then(std::result::Result::ok);
                let notify = Arc::new(Notify::new());
                let listening = Arc::new(AtomicBool::new(first.is_some()));
                let task = tokio::spawn(listen(
                    pool.clone(),
                    self.database.to_string(),
                    notify.clone(),
                    listening.clone(),
                    first,
                ));
                Signal::Listen {
                    notify,
                    listening,
                    task,
                }
            }
        };
        let last = self.generation().await?;
        Ok(Changes {
            store: self.clone(),
            last,
            poll: poll.max(Duration::from_millis(1)),
            signal,
        })
    }
}

impl Changes {
    /// The generation last returned (or read when the watch began).
    pub fn generation(&self) -> i64 {
        self.last
    }

    /// Whether change notifications are arriving now (always for SQLite's
    /// probe; for PostgreSQL, while the `LISTEN` connection is up). When not,
    /// changes are still seen, by polling.
    pub fn listening(&self) -> bool {
        self.listening_signal().now()
    }

    /// The same as [`Changes::listening`], for whoever reports it while the
    /// watch runs elsewhere.
    pub fn listening_signal(&self) -> Listening {
        match &self.signal {
            Signal::Probe { .. } => Listening::always(),
            Signal::Listen { listening, .. } => Listening(Some(listening.clone())),
        }
    }

    /// Waits until the generation differs from the last one returned, and
    /// returns it. An error (the database unreachable) does not end the
    /// watch: call again to keep waiting.
    pub async fn next(&mut self) -> Result<i64> {
        loop {
            let moved = match &mut self.signal {
                Signal::Probe { probe, seen } => {
                    let header = probe.read();
                    let moved = header.is_none() || header != *seen;
                    *seen = header;
                    moved
                }
                // Notify keeps one permit, so a notification between two
                // calls is not lost; the generation read decides anyway.
                Signal::Listen { .. } => true,
            };
            if moved {
                let generation = self.store.generation().await?;
                if generation != self.last {
                    self.last = generation;
                    return Ok(generation);
                }
            }
            match &self.signal {
                Signal::Probe { .. } => tokio::time::sleep(self.poll).await,
                Signal::Listen { notify, .. } => {
                    let _ = tokio::time::timeout(self.poll, notify.notified()).await;
                }
            }
        }
    }
}

/// Listens on the change channel for as long as the watch lives, waking the
/// watcher on each notification and on each reconnection (notifications sent
/// while disconnected are lost, so the watcher must look).
async fn listen(
    pool: PgPool,
    shown: String,
    notify: Arc<Notify>,
    listening: Arc<AtomicBool>,
    mut first: Option<PgListener>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = match first.take() {
            Some(listener) => Ok(listener),
            None => connect_listener(&pool).await,
        };
        let mut listener = match connected {
            Ok(listener) => listener,
            Err(e) => {
                listening.store(false, Ordering::Relaxed);
                tracing::warn!(database = %shown, error = %e, retry_in = ?backoff, "cannot listen for changes; polling meanwhile");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        listening.store(true, Ordering::Relaxed);
        backoff = Duration::from_millis(100);
        notify.notify_one();
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => notify.notify_one(),
                // The connection dropped: reconnect here, so that `listening`
                // tells the truth, and let the watcher look meanwhile.
                Ok(None) => {
                    tracing::warn!(database = %shown, "the change listener's connection dropped; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(database = %shown, error = %e, "lost the change listener; polling meanwhile");
                    break;
                }
            }
        }
        listening.store(false, Ordering::Relaxed);
        notify.notify_one();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A connection listening on the change channel.
async fn connect_listener(pool: &PgPool) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANGE_CHANNEL).await?;
    Ok(listener)
}
