//! The store's typed API, on both backends: every test runs on a fresh SQLite
//! file (`sqlite::NAME`) and on a fresh PostgreSQL database
//! (`postgres::NAME`, skipped without `OCSPLAB_TEST_PG`). PostgreSQL alone
//! has roles, `LISTEN` and servers that can be unreachable: those tests are
//! in `postgres_only`.

#[allow(dead_code)]
mod common;

use std::time::Duration;

use common::backend::{Backend, TestDb, WriteLockHolder, admin_sql};
use labcore::RevocationReason;
use testca::cert_id::{HashAlg, IssuerHashes};
use testca::faults::FaultMode;
use testca::ids::IssuerId;
use testca::store::{
    Access, BulkCertificate, CertKind, CertSelector, Changes, DatabaseUrl, NewCertificate,
    RevocationStatus, Store, StoreOptions,
};
use testca::{Error, Serial};
use time::OffsetDateTime;

/// Generous bound on waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(20);

fn options() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        ..StoreOptions::default()
    }
}

async fn create(db: &TestDb) -> Store {
    Store::create_in(&db.url, &options(), false).await.unwrap()
}

fn hashes(tag: u8) -> Vec<IssuerHashes> {
    vec![IssuerHashes {
        alg: HashAlg::Sha256,
        name_hash: vec![tag; 32],
        key_hash: vec![tag ^ 0xff; 32],
    }]
}

fn serial(n: u64) -> Serial {
    format!("{n:X}").parse().unwrap()
}

fn new_cert<'a>(
    issuer: IssuerId,
    serial: &'a Serial,
    name: &'a str,
    der: &'a [u8],
) -> NewCertificate<'a> {
    NewCertificate {
        issuer_id: issuer,
        serial,
        name,
        kind: CertKind::Leaf,
        subject: "CN=test",
        not_before: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        not_after: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        der,
    }
}

/// A store with one issuer and the leaves `leaf-1`…`leaf-N` (serials 1…N).
async fn with_leaves(db: &TestDb, n: u64) -> (Store, IssuerId) {
    let store = create(db).await;
    let issuer = store
        .add_issuer("intermediate", "CN=Intermediate", b"issuer-der", &hashes(1))
        .await
        .unwrap();
    for i in 1..=n {
        let serial = serial(i);
        let name = format!("leaf-{i}");
        store
            .add_certificate(&new_cert(issuer, &serial, &name, b"der"), false)
            .await
            .unwrap();
    }
    (store, issuer)
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::Postgres).await
            })*
        }
    };
}

on_both_backends!(
    what_is_written_is_read_back_after_reopening,
    revoke_and_unrevoke_change_the_status_and_the_generation,
    a_refused_write_changes_nothing,
    bulk_insert_is_all_or_nothing,
    names_and_serials_are_unique,
    faults_replace_their_scope_and_clear,
    signers_pair_certificate_and_key,
    certificates_page_in_row_order,
    a_watch_sees_a_commit_from_another_connection,
    a_newer_schema_is_refused_with_the_fix,
    a_reader_opens_without_migrating,
    init_refuses_an_existing_database_unless_replacing,
    concurrent_writers_cannot_both_take_a_name,
);

async fn concurrent_writers_cannot_both_take_a_name(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 0).await;
    let generation = store.generation().await.unwrap();
    // Separate stores, as separate testca processes would be, all started
    // while another writer holds the write lock, so that they contend.
    let mut stores = Vec::new();
    for _ in 0..6 {
        stores.push(Store::open_in(&db.url, &options()).await.unwrap());
    }
    let holder = WriteLockHolder::take(&db.url, &db.url_text).await;
    let mut writers = Vec::new();
    for (i, store) in stores.into_iter().enumerate() {
        writers.push(tokio::spawn(async move {
            let serial = serial(1000 + i as u64);
            let result = store
                .add_certificate(&new_cert(issuer, &serial, "contested", b"der"), false)
                .await;
            store.close().await;
            result
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    holder.release().await;
    let mut won = 0;
    for writer in writers {
        match writer.await.unwrap() {
            Ok(_) => won += 1,
            Err(Error::NameTaken(name)) => assert_eq!(name, "contested"),
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one writer takes the name");
    assert_eq!(store.certificates().await.unwrap().len(), 1);
    assert_eq!(store.generation().await.unwrap(), generation + 1);
    store.close().await;
}

async fn what_is_written_is_read_back_after_reopening(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 2).await;
    store
        .revoke(
            &CertSelector::Name("leaf-2".into()),
            OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap(),
            Some(RevocationReason::KeyCompromise),
        )
        .await
        .unwrap();
    store.close().await;

    let store = Store::open_in(&db.url, &options()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 2);
    let issuers = store.issuers().await.unwrap();
    assert_eq!(issuers.len(), 1);
    assert_eq!(issuers[0].name, "intermediate");
    assert_eq!(issuers[0].cert_der, b"issuer-der");
    let found = store
        .issuer_by_hashes(HashAlg::Sha256, &[1; 32], &[0xfe; 32])
        .await
        .unwrap()
        .expect("issuer found by its hashes");
    assert_eq!(found.id, issuer);
    assert_eq!(
        store.issuer_hashes().await.unwrap(),
        vec![(issuer, hashes(1).remove(0))]
    );
    assert_eq!(
        store.status(issuer, &serial(1)).await.unwrap(),
        Some(RevocationStatus::Good)
    );
    assert_eq!(
        store.status(issuer, &serial(2)).await.unwrap(),
        Some(RevocationStatus::Revoked {
            at: OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap(),
            reason: Some(RevocationReason::KeyCompromise),
        })
    );
    assert_eq!(store.status(issuer, &serial(3)).await.unwrap(), None);
    let leaf = store.find(&CertSelector::Serial(serial(1))).await.unwrap();
    assert_eq!(leaf.name, "leaf-1");
    assert_eq!(leaf.issuer_name, "intermediate");
    assert_eq!(leaf.der, b"der");
    assert_eq!(store.revoked_by(issuer).await.unwrap().len(), 1);
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    store.close().await;
}

async fn revoke_and_unrevoke_change_the_status_and_the_generation(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 1).await;
    let before = store.generation().await.unwrap();
    let leaf = CertSelector::Name("leaf-1".into());
    let revoked = store
        .revoke(&leaf, OffsetDateTime::now_utc(), None)
        .await
        .unwrap();
    assert!(revoked.status.is_revoked());
    assert_eq!(store.generation().await.unwrap(), before + 1);
    assert!(
        store
            .status(issuer, &serial(1))
            .await
            .unwrap()
            .unwrap()
            .is_revoked()
    );
    store.unrevoke(&leaf).await.unwrap();
    assert_eq!(store.generation().await.unwrap(), before + 2);
    assert_eq!(
        store.status(issuer, &serial(1)).await.unwrap(),
        Some(RevocationStatus::Good)
    );
    store.close().await;
}

async fn a_refused_write_changes_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, _) = with_leaves(&db, 1).await;
    let leaf = CertSelector::Name("leaf-1".into());
    let err = store.unrevoke(&leaf).await.unwrap_err();
    assert!(matches!(err, Error::NotRevoked { .. }), "{err}");
    store
        .revoke(&leaf, OffsetDateTime::now_utc(), None)
        .await
        .unwrap();
    let generation = store.generation().await.unwrap();
    let err = store
        .revoke(
            &leaf,
            OffsetDateTime::now_utc(),
            Some(RevocationReason::Superseded),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyRevoked { .. }), "{err}");
    assert_eq!(store.generation().await.unwrap(), generation, "rolled back");
    let cert = store.find(&leaf).await.unwrap();
    assert_eq!(
        cert.status,
        RevocationStatus::Revoked {
            at: testca::store::truncate(match cert.status {
                RevocationStatus::Revoked { at, .. } => at,
                RevocationStatus::Good => unreachable!(),
            }),
            reason: None
        },
        "the first revocation stands"
    );
    store.close().await;
}

async fn bulk_insert_is_all_or_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 1).await;
    let generation = store.generation().await.unwrap();
    let serials: Vec<Serial> = (10..13).map(serial).collect();
    let names = ["bulk-a", "bulk-b", "leaf-1"];
    let at = OffsetDateTime::from_unix_timestamp(1_760_000_000).unwrap();
    let batch: Vec<BulkCertificate> = serials
        .iter()
        .zip(names)
        .map(|(serial, name)| BulkCertificate {
            cert: new_cert(issuer, serial, name, b"der"),
            revoked: Some((at, Some(RevocationReason::CessationOfOperation))),
        })
        .collect();
    let err = store.add_certificates(&batch).await.unwrap_err();
    assert!(
        matches!(err, Error::NameTaken(ref n) if n == "leaf-1"),
        "{err}"
    );
    assert_eq!(
        store.certificates().await.unwrap().len(),
        1,
        "none recorded"
    );
    assert_eq!(store.generation().await.unwrap(), generation);

    store.add_certificates(&batch[..2]).await.unwrap();
    assert_eq!(store.certificates().await.unwrap().len(), 3);
    assert_eq!(
        store.generation().await.unwrap(),
        generation + 1,
        "one bump per batch"
    );
    assert_eq!(
        store.status(issuer, &serials[0]).await.unwrap(),
        Some(RevocationStatus::Revoked {
            at,
            reason: Some(RevocationReason::CessationOfOperation)
        })
    );
    store.close().await;
}

async fn names_and_serials_are_unique(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 1).await;
    let fresh = serial(99);
    let err = store
        .add_certificate(&new_cert(issuer, &fresh, "leaf-1", b"der"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NameTaken(_)), "{err}");
    let replaced = store
        .add_certificate(&new_cert(issuer, &fresh, "leaf-1", b"der2"), true)
        .await
        .unwrap();
    let newest = store
        .find(&CertSelector::Name("leaf-1".into()))
        .await
        .unwrap();
    assert_eq!(newest.id, replaced, "the newest of a name is found");
    // A serial the issuer already used: refused by the database, nothing recorded.
    let again = serial(1);
    let err = store
        .add_certificate(&new_cert(issuer, &again, "other", b"der"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err}");
    assert_eq!(store.certificates().await.unwrap().len(), 2);
    store.close().await;
}

async fn faults_replace_their_scope_and_clear(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, _) = with_leaves(&db, 1).await;
    let leaf = store
        .find(&CertSelector::Name("leaf-1".into()))
        .await
        .unwrap();
    store
        .set_fault(FaultMode::TryLater, None, None)
        .await
        .unwrap();
    store
        .set_fault(FaultMode::InternalError, None, None)
        .await
        .unwrap();
    let expiry = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    store
        .set_fault(FaultMode::Stale, Some(leaf.id), Some(expiry))
        .await
        .unwrap();
    let faults = store.faults().await.unwrap();
    assert_eq!(faults.len(), 2, "one per scope: {faults:?}");
    assert_eq!(faults[0].mode, FaultMode::InternalError);
    assert!(faults[0].certificate.is_none());
    let own = faults[1].certificate.as_ref().expect("the leaf's fault");
    assert_eq!((own.id, own.name.as_str()), (leaf.id, "leaf-1"));
    assert_eq!(faults[1].expires_at, Some(expiry));
    assert_eq!(store.clear_faults(Some(leaf.id)).await.unwrap(), 1);
    assert_eq!(store.clear_faults(None).await.unwrap(), 1);
    assert!(store.faults().await.unwrap().is_empty());
    store.close().await;
}

async fn signers_pair_certificate_and_key(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 0).await;
    for (n, key) in [(1, "KEY ONE"), (2, "KEY TWO")] {
        let serial = serial(100 + n);
        let mut cert = new_cert(issuer, &serial, "intermediate-ocsp-signer", b"signer");
        cert.kind = CertKind::OcspSigner;
        store.add_signer(&cert, key).await.unwrap();
    }
    let signer = store
        .newest_signer(issuer)
        .await
        .unwrap()
        .expect("a signer");
    assert_eq!(signer.key_pem, "KEY TWO");
    assert_eq!(signer.certificate.serial, serial(102));
    let cert = store
        .newest_signer_certificate(issuer)
        .await
        .unwrap()
        .expect("a signer certificate");
    assert_eq!(cert.id, signer.certificate.id);
    store.close().await;
}

async fn certificates_page_in_row_order(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, _) = with_leaves(&db, 5).await;
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.certificates_after(after, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = page.last().map(|c| c.id);
        seen.extend(page.into_iter().map(|c| c.name));
    }
    let all: Vec<String> = (1..=5).map(|i| format!("leaf-{i}")).collect();
    assert_eq!(seen, all);
    store.close().await;
}

async fn a_watch_sees_a_commit_from_another_connection(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (writer, _) = with_leaves(&db, 1).await;
    let reader = Store::open_in(&db.url, &options()).await.unwrap();
    // PostgreSQL: a poll far longer than the wait below, so that only the
    // notification can deliver the change. SQLite: the probe is polled.
    let poll = match backend {
        Backend::Sqlite => Duration::from_millis(20),
        Backend::Postgres => Duration::from_secs(600),
    };
    let mut changes = reader.watch(poll).await.unwrap();
    if backend == Backend::Postgres {
        wait_until_listening(&changes).await;
    }
    let seen = revoke_and_wait(&writer, &mut changes, "leaf-1", "the change is seen").await;
    assert_eq!(changes.generation(), seen);
    drop(changes);
    reader.close().await;
    writer.close().await;
}

/// Revokes `name` through `writer` and waits for `changes` to report the
/// next generation (`why`: what the wait shows, for the failure message).
async fn revoke_and_wait(writer: &Store, changes: &mut Changes, name: &str, why: &str) -> i64 {
    let before = changes.generation();
    writer
        .revoke(
            &CertSelector::Name(name.into()),
            OffsetDateTime::now_utc(),
            None,
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(PATIENCE, changes.next())
        .await
        .expect(why)
        .unwrap();
    assert_eq!(seen, before + 1, "{why}");
    seen
}

async fn wait_until_listening(changes: &Changes) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !changes.listening() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "LISTEN never started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Records a migration this build does not have, as a newer testca would.
async fn apply_future_migration(db: &TestDb) {
    const FUTURE: &str = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'from the future', TRUE, $1, 0)";
    match &db.url {
        DatabaseUrl::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(FUTURE)
                .bind(vec![0u8; 4])
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        DatabaseUrl::Postgres(_) => {
            let pool = sqlx::PgPool::connect(&db.url_text).await.unwrap();
            sqlx::query(FUTURE)
                .bind(vec![0u8; 4])
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

async fn a_newer_schema_is_refused_with_the_fix(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, _) = with_leaves(&db, 1).await;
    store.close().await;
    apply_future_migration(&db).await;
    for access in [Access::Write, Access::Read] {
        let err = Store::open_in(
            &db.url,
            &StoreOptions {
                access,
                ..options()
            },
        )
        .await
        .unwrap_err();
        let line = err.to_string();
        assert!(
            matches!(
                err,
                Error::NewerSchema {
                    found: 99,
                    known: 2,
                    ..
                }
            ),
            "{line}"
        );
        assert!(line.contains("schema version 99"), "{line}");
        assert!(
            line.contains(&db.url.to_string()),
            "names the database: {line}"
        );
        assert!(line.contains("newer testca"), "says what to do: {line}");
        assert!(!line.contains('\n'));
    }
}

async fn a_reader_opens_without_migrating(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, issuer) = with_leaves(&db, 1).await;
    store.close().await;
    let reader = Store::open_in(
        &db.url,
        &StoreOptions {
            access: Access::Read,
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reader.status(issuer, &serial(1)).await.unwrap(),
        Some(RevocationStatus::Good)
    );
    reader.close().await;
}

async fn init_refuses_an_existing_database_unless_replacing(backend: Backend) {
    let Some(db) = TestDb::new(backend) else {
        return;
    };
    let (store, _) = with_leaves(&db, 3).await;
    store.close().await;
    let err = Store::create_in(&db.url, &options(), false)
        .await
        .unwrap_err();
    match backend {
        // The file exists: SQLite refuses to create over it.
        Backend::Sqlite => assert!(
            matches!(err, Error::Labcore(labcore::Error::Io { .. })),
            "{err}"
        ),
        Backend::Postgres => {
            assert!(matches!(err, Error::LabDatabaseExists { .. }), "{err}");
            assert!(err.to_string().contains("--force"), "{err}");
            let old = Store::open_in(&db.url, &options()).await.unwrap();
            let reached = old.generation().await.unwrap();
            assert!(reached > 0, "the old lab has had writes");
            old.close().await;
            let fresh = Store::create_in(&db.url, &options(), true).await.unwrap();
            assert!(fresh.certificates().await.unwrap().is_empty(), "replaced");
            // Running responders key what they hold by generation: the new lab
            // must never be at a generation the old one had.
            assert_eq!(fresh.generation().await.unwrap(), reached + 1);
            fresh.close().await;
        }
    }
    // Whatever was refused, the existing database is intact.
    if backend == Backend::Sqlite {
        let store = Store::open_in(&db.url, &options()).await.unwrap();
        assert_eq!(store.certificates().await.unwrap().len(), 3);
        store.close().await;
    }
}

/// What only PostgreSQL has: roles, LISTEN over a connection that can drop,
/// servers that can be unreachable or refuse a login.
mod postgres_only {
    use super::*;

    /// Creates a writer role owning the test database and a reader role,
    /// lets the reader read, and returns (writer URL, reader URL).
    async fn roles(db: &TestDb) -> (String, String) {
        let (name, admin) = db.postgres().unwrap();
        let writer = format!("{name}_w");
        let reader = format!("{name}_r");
        admin_sql(
            admin,
            &[
                &format!("CREATE ROLE \"{writer}\" LOGIN PASSWORD 'writer-pw'"),
                &format!("CREATE ROLE \"{reader}\" LOGIN PASSWORD 'reader-pw'"),
                &format!("ALTER DATABASE \"{name}\" OWNER TO \"{writer}\""),
            ],
        );
        admin_sql(
            &testkit::postgres::url_with(admin, name, None),
            &[&format!("ALTER SCHEMA public OWNER TO \"{writer}\"")],
        );
        (
            db.url_as(&writer, "writer-pw"),
            db.url_as(&reader, "reader-pw"),
        )
    }

    fn drop_roles(db: &TestDb) {
        let (name, admin) = db.postgres().unwrap();
        admin_sql(
            &testkit::postgres::url_with(admin, name, None),
            &[&format!(
                "REASSIGN OWNED BY \"{name}_w\" TO postgres; DROP OWNED BY \"{name}_w\", \"{name}_r\""
            )],
        );
        admin_sql(
            admin,
            &[&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")],
        );
        admin_sql(
            admin,
            &[
                &format!("DROP ROLE IF EXISTS \"{name}_r\""),
                &format!("DROP ROLE IF EXISTS \"{name}_w\""),
            ],
        );
    }

    /// A lab made by the writer role of [`roles`].
    struct WriterLab {
        writer: Store,
        /// The intermediate, with a delegated signer.
        issuer: IssuerId,
        writer_db: DatabaseUrl,
        /// The reader role's URL, with its password.
        reader_url: String,
        reader_db: DatabaseUrl,
        /// How a responder opens the database.
        read_only: StoreOptions,
    }

    /// A lab made by the writer role: an intermediate with a delegated
    /// signer (serial `signer_serial`); the reader is not granted yet.
    async fn writer_lab(db: &TestDb, signer_serial: &Serial) -> WriterLab {
        let (writer_url, reader_url) = roles(db).await;
        let writer_db: DatabaseUrl = writer_url.parse().unwrap();
        let writer = Store::create_in(&writer_db, &options(), false)
            .await
            .unwrap();
        let issuer = writer
            .add_issuer("intermediate", "CN=I", b"issuer", &hashes(7))
            .await
            .unwrap();
        add_signer(&writer, issuer, signer_serial, b"signer", "PRIVATE KEY PEM").await;
        let read_only = StoreOptions {
            access: Access::Read,
            ..options()
        };
        WriterLab {
            writer,
            issuer,
            writer_db,
            reader_db: reader_url.parse().unwrap(),
            reader_url,
            read_only,
        }
    }

    async fn add_signer(writer: &Store, issuer: IssuerId, serial: &Serial, der: &[u8], key: &str) {
        let mut signer = new_cert(issuer, serial, "signer", der);
        signer.kind = CertKind::OcspSigner;
        writer.add_signer(&signer, key).await.unwrap();
    }

    fn reader_role(db: &TestDb) -> String {
        format!("{}_r", db.postgres().unwrap().0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lab_made_again_keeps_its_readers_and_counts_its_generation_on() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let WriterLab {
            writer,
            writer_db,
            reader_db,
            read_only,
            ..
        } = writer_lab(&db, &serial(2)).await;
        writer.grant_reader(&reader_role(&db)).await.unwrap();
        let reached = writer.generation().await.unwrap();
        writer.close().await;

        // Made again by the writer role, not a superuser.
        let writer = Store::create_in(&writer_db, &options(), true)
            .await
            .unwrap();
        assert_eq!(writer.generation().await.unwrap(), reached + 1);
        let issuer = writer
            .add_issuer("intermediate", "CN=I2", b"issuer two", &hashes(8))
            .await
            .unwrap();
        add_signer(&writer, issuer, &serial(3), b"signer two", "NEW KEY PEM").await;

        // The reader reads the new lab as it read the old, and still no key.
        let reader = Store::open_in(&reader_db, &read_only).await.unwrap();
        assert_eq!(reader.issuers().await.unwrap().len(), 1);
        assert!(reader.generation().await.unwrap() > reached + 1);
        let err = reader.newest_signer(issuer).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        reader.close().await;
        writer.close().await;
        drop_roles(&db);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_reader_role_reads_statuses_but_never_signer_keys() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let signer_serial = serial(2);
        let WriterLab {
            writer,
            issuer,
            reader_url,
            reader_db,
            read_only,
            ..
        } = writer_lab(&db, &signer_serial).await;
        let leaf_serial = serial(1);
        writer
            .add_certificate(&new_cert(issuer, &leaf_serial, "leaf-1", b"der"), false)
            .await
            .unwrap();

        // Before the grant the reader sees nothing.
        let early = Store::open_in(&reader_db, &read_only).await;
        assert!(early.is_err(), "no grant yet");
        writer.grant_reader(&reader_role(&db)).await.unwrap();

        let reader = Store::open_in(&reader_db, &read_only).await.unwrap();
        assert_eq!(
            reader.status(issuer, &leaf_serial).await.unwrap(),
            Some(RevocationStatus::Good)
        );
        assert_eq!(reader.issuers().await.unwrap().len(), 1);
        assert!(reader.generation().await.unwrap() > 0);
        assert_eq!(reader.faults().await.unwrap().len(), 0);
        let cert = reader
            .newest_signer_certificate(issuer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cert.serial, signer_serial);

        // The key: refused through the API, and to plain SQL.
        let err = reader.newest_signer(issuer).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        assert!(err.to_string().contains("ocsp_signers"), "{err}");
        let pool = sqlx::PgPool::connect(&reader_url).await.unwrap();
        for sql in [
            "SELECT key_pem FROM ocsp_signers",
            "SELECT * FROM ocsp_signers",
        ] {
            let refused = sqlx::query(sql).fetch_all(&pool).await.unwrap_err();
            let code = refused.as_database_error().and_then(|e| e.code());
            assert_eq!(code.as_deref(), Some("42501"), "{sql}: {refused}");
        }
        let ids: Vec<i64> = sqlx::query_scalar("SELECT certificate_id FROM ocsp_signers")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(ids.len(), 1, "which certificates sign is readable");
        pool.close().await;

        // And no writes.
        let err = reader
            .revoke(
                &CertSelector::Name("leaf-1".into()),
                OffsetDateTime::now_utc(),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
        assert_eq!(
            writer.status(issuer, &leaf_serial).await.unwrap(),
            Some(RevocationStatus::Good)
        );
        reader.close().await;
        writer.close().await;
        drop_roles(&db);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grant_reader_refuses_a_role_name_that_is_not_plain() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let store = create(&db).await;
        let err = store
            .grant_reader("r; DROP TABLE certificates")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("invalid role name"), "{err}");
        assert_eq!(store.certificates().await.unwrap().len(), 0);
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_listener_reconnects_and_polling_covers_the_gap() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let (writer, _) = with_leaves(&db, 2).await;
        let reader = Store::open_in(&db.url, &options()).await.unwrap();
        let mut changes = reader.watch(Duration::from_millis(200)).await.unwrap();
        wait_until_listening(&changes).await;
        let (name, admin) = db.postgres().unwrap();
        // The listener's connection dies, as when a server restarts or a proxy times out.
        admin_sql(
            admin,
            &[&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND query LIKE 'LISTEN%'"
            )],
        );
        revoke_and_wait(
            &writer,
            &mut changes,
            "leaf-1",
            "seen despite the dropped listener",
        )
        .await;
        wait_until_listening(&changes).await;
        // Listening again after the reconnection, and changes are still seen.
        revoke_and_wait(&writer, &mut changes, "leaf-2", "seen after reconnecting").await;
        drop(changes);
        reader.close().await;
        writer.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_outlives_its_connections_being_killed() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let (store, issuer) = with_leaves(&db, 1).await;
        let (name, admin) = db.postgres().unwrap();
        // Every connection of the pool dies, as when the server restarts.
        admin_sql(
            admin,
            &[&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )],
        );
        store
            .revoke(
                &CertSelector::Name("leaf-1".into()),
                OffsetDateTime::now_utc(),
                None,
            )
            .await
            .expect("a fresh connection takes over");
        let other = Store::open_in(&db.url, &options()).await.unwrap();
        assert!(
            other
                .status(issuer, &serial(1))
                .await
                .unwrap()
                .unwrap()
                .is_revoked(),
            "the acknowledged revocation is committed"
        );
        other.close().await;
        store.close().await;
    }

    fn one_line_naming(err: &Error, url_shown: &str, fix: &str) {
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(url_shown), "names {url_shown}: {line}");
        assert!(line.contains(fix), "says {fix:?}: {line}");
        assert!(!line.contains("secret-pw"), "no password: {line}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_without_the_password() {
        let Some(_) = testkit::postgres::test_cluster() else {
            return;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url: DatabaseUrl = format!("postgres://lab:secret-pw@127.0.0.1:{port}/lab")
            .parse()
            .unwrap();
        let err = Store::open_in(&url, &options()).await.unwrap_err();
        assert!(matches!(err, Error::Unreachable { .. }), "{err}");
        one_line_naming(
            &err,
            &format!("postgres://lab@127.0.0.1:{port}/lab"),
            "check the host and port",
        );
    }

    #[tokio::test]
    async fn a_wrong_password_is_a_refused_login() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let url: DatabaseUrl = db.url_as("postgres", "secret-pw").parse().unwrap();
        let err = Store::open_in(&url, &options()).await.unwrap_err();
        assert!(matches!(err, Error::LoginRefused { .. }), "{err}");
        one_line_naming(&err, &url.to_string(), "check the user and password");
    }

    #[tokio::test]
    async fn a_missing_database_and_an_empty_one_say_what_to_do() {
        let Some(db) = TestDb::new(Backend::Postgres) else {
            return;
        };
        let missing: DatabaseUrl = testkit::postgres::url_with(&db.url_text, "no_such_db", None)
            .parse()
            .unwrap();
        let err = Store::open_in(&missing, &options()).await.unwrap_err();
        assert!(matches!(err, Error::NoSuchDatabase { .. }), "{err}");
        one_line_naming(&err, "/no_such_db", "createdb");
        // The database exists but holds no lab.
        let err = Store::open_in(&db.url, &options()).await.unwrap_err();
        assert!(matches!(err, Error::NoLabDatabase { .. }), "{err}");
        one_line_naming(&err, &db.url.to_string(), "testca init --db");
    }
}
