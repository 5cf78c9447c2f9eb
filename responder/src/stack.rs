//! The responder: its layers composed in one place ([`Responder::start`]).
//!
//! ```text
//! HTTP (http.rs: decoding, RFC 5019 headers, prepared answers by raw request)
//!   └─ Filter   (filter.rs: request rules → malformedRequest, unauthorized)
//!       └─ Faults  (faults.rs: what QA injected)
//!           └─ Cache   (cache.rs: pre-signed answers by CertID, by generation)
//!               └─ StoreSource (source.rs: statuses from the database, signing)
//! ```

use std::sync::Arc;

use bytes::Bytes;
use labcore::layout::Layout;
use testca::store::{Access, DatabaseUrl, Store, StoreOptions};
use tracing::{error, info};

use crate::cache::{Budget, Cache, CacheCounters, split_budget};
use crate::config::Config;
use crate::directory::{Directory, DirectoryId, DirectoryWatch};
use crate::error::{AnswerError, Result};
use crate::faults::Faults;
use crate::filter::{Filter, Rules};
use crate::metrics::Metrics;
use crate::request::parse_request;
use crate::source::{Query, Signed, SigningPolicy, Source, StoreSource, rogue_signer};

/// How long a PostgreSQL connection may take, at start and for each query's
/// connection: bounds how long a request waits on a database that went away
/// before it is answered tryLater.
pub const DATABASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The layers below HTTP.
type Stack = Filter<Faults<Cache<StoreSource>>>;

/// The responder: the lab's directory and the layers that answer.
pub struct Responder {
    config: Config,
    watch: DirectoryWatch,
    stack: Stack,
    budget: Budget,
    crls: crate::crl::CrlCache,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// A signed answer and the directory it is true with.
#[derive(Clone, Debug)]
pub struct Answered {
    /// The answer.
    pub signed: Arc<Signed>,
    /// The directory it was answered with.
    pub directory: DirectoryId,
}

impl Responder {
    /// Opens the lab's database, loads issuers and signers, and builds the layers from `config`.
    pub async fn start(config: Config) -> Result<Responder> {
        let db = config.database();
        let store = match &db {
            DatabaseUrl::Sqlite(path) => {
                if config.db.is_none() {
                    crate::directory::check_lab(&config.dir)?;
                }
                Store::open(
                    path,
                    &StoreOptions {
                        max_connections: 4,
                        ..StoreOptions::default()
                    },
                )
                .await?
            }
            // A reader: the schema is checked, never migrated; the signers'
            // keys come from the lab directory (see directory.rs).
            DatabaseUrl::Postgres(_) => {
                Store::open_in(
                    &db,
                    &StoreOptions {
                        max_connections: 4,
                        access: Access::Read,
                        connect_timeout: DATABASE_TIMEOUT,
                        ..StoreOptions::default()
                    },
                )
                .await?
            }
        };
        let layout = Layout::new(&config.dir);
        let watch = DirectoryWatch::start(store.clone(), layout, &config).await?;
        let metrics = Metrics::default();
        let budget = split_budget(config.cache_bytes);
        let source = StoreSource::new(
            store,
            SigningPolicy::from_config(&config),
            Arc::new(rogue_signer()?),
            metrics.signing_seconds.clone(),
            watch.database_state().cloned(),
        );
        let counters = CacheCounters {
            hits: metrics.cache_hits.clone(),
            misses: metrics.cache_misses.clone(),
        };
        let cache = Cache::new(source, budget, config.reuse_for(), counters);
        let faults = Faults::new(cache, metrics.faults.clone());
        let stack = Filter::new(faults, Rules::from_config(&config));
        Ok(Responder {
            config,
            watch,
            stack,
            budget,
            crls: crate::crl::CrlCache::default(),
            metrics,
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database.
    pub fn store(&self) -> &Store {
        self.watch.store()
    }

    /// How `--cache-bytes` is shared between the caches.
    pub(crate) fn budget(&self) -> Budget {
        self.budget
    }

    /// The lab's directory and whether it is known to be current.
    pub fn watch(&self) -> &DirectoryWatch {
        &self.watch
    }

    /// The directory, rebuilt first if any process committed since the last look.
    pub async fn directory(&self) -> Result<Arc<Directory>> {
        self.watch.current().await
    }

    /// Counts an answer served pre-signed by the HTTP layer, to a request of `request_bytes`.
    pub(crate) fn count_hit(&self, request_bytes: usize) {
        self.metrics.request_bytes.observe(request_bytes as f64);
        self.metrics.cache_hits.inc();
    }

    /// What the metrics say of the database, read without a query.
    pub fn database_readings(&self) -> crate::metrics::DatabaseReadings {
        let db = self.watch.database_state();
        crate::metrics::DatabaseReadings {
            generation: self.watch.last().generation,
            reloads: self.watch.reloads(),
            reachable: db.is_none_or(|db| db.is_reachable()),
            notified: db.is_none_or(|db| db.notified()),
        }
    }

    /// The CRL of the CA named `name` (DER), `None` for no such CA.
    pub async fn crl(&self, name: &str) -> Result<Option<Bytes>> {
        let dir = self.directory().await?;
        self.crls
            .get(
                name,
                &dir,
                self.watch.store(),
                self.watch.layout(),
                self.config.validity,
            )
            .await
    }

    /// Who signs for each issuer, for the startup line.
    pub fn describe_signers(&self) -> Vec<String> {
        let dir = self.watch.last();
        dir.issuers()
            .iter()
            .map(|i| match &i.signer {
                Some(s) => format!("{}: {}", i.name, s.description),
                None => format!("{}: no signer (answers internalError)", i.name),
            })
            .collect()
    }

    /// Answers one DER-encoded OCSP request.
    pub async fn answer(&self, der: &[u8]) -> Result<Answered, AnswerError> {
        self.metrics.request_bytes.observe(der.len() as f64);
        let result = self.answer_parsed(der).await;
        if let Err(e) = &result {
            if e.is_internal() {
                error!(error = %e, "internalError");
            } else if !matches!(e, AnswerError::Injected(_)) {
                info!(error = %e, "request refused");
            }
        }
        result
    }

    async fn answer_parsed(&self, der: &[u8]) -> Result<Answered, AnswerError> {
        let request = parse_request(der)?;
        let view = self.watch.current().await?;
        let signed = self.stack.response(Query::new(&request, &view)).await?;
        Ok(Answered {
            signed,
            directory: view.id,
        })
    }
}
