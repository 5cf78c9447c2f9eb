//! Responders on one PostgreSQL lab, as the scale-out deployment runs them:
//! each connected as the reader role, each seeing every revocation that
//! `testca revoke` acknowledged; a lost change notification costs at most
//! the polling bound; a database that goes away leaves cached answers
//! served, the rest answered tryLater, `/health` unhealthy naming the
//! database, and everything back by itself when it returns.
//!
//! They run on the cluster `scripts/test` starts (`OCSPLAB_TEST_PG`), or on
//! a cluster of their own when they stop it; without PostgreSQL they say
//! `skipped: <reason>`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration::harness::{Server, http_get, http_post, wait_for};
use integration::ocsp::{CertId, CertStatus, HashAlg, Request, basic_info, load_cert, status_of};
use integration::postgres::{Cluster, PgLab, test_cluster};
use openssl::ocsp::OcspResponseStatus;

/// Longest a change may take to be seen in these tests: far above the
/// polling bound (1 s), so that a loaded machine does not fail them; the
/// time it took is printed, and measured by `visibility-bench`.
const SEEN_WITHIN: Duration = Duration::from_secs(20);
/// How often the tests ask.
const EVERY: Duration = Duration::from_millis(20);

/// The CertID of the lab's certificate `name`.
fn cert_id(pg: &PgLab, name: &str) -> CertId {
    CertId::of(
        &load_cert(&pg.lab.cert(name)),
        &load_cert(&pg.lab.intermediate_cert()),
        HashAlg::Sha1,
    )
}

/// What a responder answers about `id` (POST, no nonce): the status, or the
/// HTTP status when it is not a successful OCSP response.
fn ask(addr: SocketAddr, id: &CertId) -> Result<CertStatus, u16> {
    let response = post(addr, &Request::new(vec![id.clone()]).to_der());
    if response.status != 200 || status_of(&response.body) != OcspResponseStatus::SUCCESSFUL {
        return Err(response.status);
    }
    let info = basic_info(&response.body).expect("a basic OCSP response");
    Ok(info.responses[0].status.clone())
}

fn is_revoked(status: &Result<CertStatus, u16>) -> bool {
    matches!(status, Ok(CertStatus::Revoked { .. }))
}

/// Waits until every responder answers revoked for `id`; the time it took.
#[track_caller]
fn wait_all_revoked(responders: &[Server], id: &CertId) -> Duration {
    let started = Instant::now();
    wait_for(
        "every responder to answer revoked",
        SEEN_WITHIN,
        EVERY,
        || {
            responders
                .iter()
                .all(|r| is_revoked(&ask(r.addr(), id)))
                .then_some(())
        },
    );
    started.elapsed()
}

#[test]
fn three_responders_on_one_database_all_see_a_revocation() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    pg.issue("shop");
    let responders: Vec<Server> = (0..3).map(|_| pg.responder(&[])).collect();
    let shop = cert_id(&pg, "shop");
    for r in &responders {
        assert_eq!(ask(r.addr(), &shop), Ok(CertStatus::Good), "before");
        // Asked twice: the second answer comes from the caches, which the
        // revocation must not outlive.
        assert_eq!(ask(r.addr(), &shop), Ok(CertStatus::Good), "cached");
        let health = http_get(r.addr(), "/health").unwrap();
        assert_eq!(health.status, 200, "{}", health.text());
    }
    pg.revoke("shop", &["--reason", "keyCompromise"]);
    let took = wait_all_revoked(&responders, &shop);
    eprintln!("all three responders answered revoked {took:?} after `testca revoke` returned");
    // And back: an unrevoke is a change like any other.
    pg.testca(&["unrevoke", "shop"]).success();
    wait_for(
        "every responder to answer good again",
        SEEN_WITHIN,
        EVERY,
        || {
            responders
                .iter()
                .all(|r| ask(r.addr(), &shop) == Ok(CertStatus::Good))
                .then_some(())
        },
    );
    // Connected as the reader role: it can read no signer key.
    let reader_sees_keys = std::process::Command::new("psql")
        .arg(&pg.reader_url)
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-c",
            "SELECT key_pem FROM ocsp_signers",
        ])
        .output()
        .expect("psql runs");
    assert!(
        !reader_sees_keys.status.success(),
        "the reader role read the signers' keys"
    );
}

#[test]
fn a_killed_listen_connection_loses_no_revocation() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    pg.issue("shop");
    let responder = pg.responder(&[]);
    let shop = cert_id(&pg, "shop");
    assert_eq!(ask(responder.addr(), &shop), Ok(CertStatus::Good));
    // The responder's LISTEN connection, ended by the server as an
    // administrator or a failover would; the revocation follows at once, while
    // it is down or reconnecting.
    let listening = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = '{}' AND usename = '{}' AND query LIKE 'LISTEN%'",
        pg.database(),
        pg.reader()
    );
    wait_for(
        "the responder's LISTEN connection",
        SEEN_WITHIN,
        EVERY,
        || {
            let out = pg.admin_sql(&[&listening]);
            out.lines().any(|l| l.trim() == "t").then_some(())
        },
    );
    pg.revoke("shop", &[]);
    let took = wait_all_revoked(std::slice::from_ref(&responder), &shop);
    eprintln!("revocation seen {took:?} after the LISTEN connection was killed");
    // It listens again: the connection comes back.
    wait_for("a new LISTEN connection", SEEN_WITHIN, EVERY, || {
        let count = pg.admin_sql(&[&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND usename = '{}' AND query LIKE 'LISTEN%'",
            pg.database(),
            pg.reader()
        )]);
        (count.trim() != "0").then_some(())
    });
    pg.testca(&["unrevoke", "shop"]).success();
    wait_for("the unrevoke to be seen", SEEN_WITHIN, EVERY, || {
        (ask(responder.addr(), &shop) == Ok(CertStatus::Good)).then_some(())
    });
}

#[test]
fn a_database_outage_serves_what_is_cached_and_recovers() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let pg = PgLab::init(&cluster.admin);
    pg.issue("shop");
    let responder = pg.responder(&[]);
    let shop = cert_id(&pg, "shop");
    let localhost = cert_id(&pg, "localhost");
    let shop_get = format!(
        "/{}",
        base64_standard(&Request::new(vec![shop.clone()]).to_der())
    );
    let before = http_get(responder.addr(), &shop_get).unwrap();
    assert_eq!(before.status, 200);

    cluster.stop();
    let health = wait_for("/health to say unhealthy", SEEN_WITHIN, EVERY, || {
        let health = http_get(responder.addr(), "/health").unwrap();
        (health.status == 503).then_some(health)
    });
    let text = health.text();
    assert!(
        text.contains(&format!("postgres://{}@", pg.reader())),
        "/health names the database: {text}"
    );
    assert!(
        !text.contains(&pg.reader_password),
        "/health shows no password: {text}"
    );

    // The answer it has, still valid, is served as it was signed.
    let cached = http_get(responder.addr(), &shop_get).unwrap();
    assert_eq!(cached.status, 200, "{}", cached.text());
    assert_eq!(cached.body, before.body, "the same signed answer");
    assert_eq!(ask(responder.addr(), &shop), Ok(CertStatus::Good));
    // What it cannot know: tryLater, over HTTP 503.
    let unknown = post(
        responder.addr(),
        &Request::new(vec![localhost.clone()]).to_der(),
    );
    assert_eq!(unknown.status, 503);
    assert_eq!(status_of(&unknown.body), OcspResponseStatus::TRY_LATER);

    cluster.resume();
    wait_for("/health to say healthy again", SEEN_WITHIN, EVERY, || {
        (http_get(responder.addr(), "/health").unwrap().status == 200).then_some(())
    });
    assert_eq!(ask(responder.addr(), &localhost), Ok(CertStatus::Good));
    pg.revoke("shop", &[]);
    let took = wait_all_revoked(std::slice::from_ref(&responder), &shop);
    eprintln!("after the outage, a revocation was seen in {took:?}");
}

#[test]
fn a_responder_refuses_a_key_file_that_is_not_the_signers() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    // Another lab's signer key where this lab's should be.
    std::fs::copy(
        pg.lab.path("ca/root/ocsp-signer/key.pem"),
        pg.lab.path("ca/intermediate/ocsp-signer/key.pem"),
    )
    .unwrap();
    let Err(e) = pg.start_responder(&[]) else {
        panic!("the responder started with the wrong signer key");
    };
    let text = e.to_string();
    assert!(
        text.contains("ca/intermediate/ocsp-signer/key.pem")
            && text.contains("newest delegated signer")
            && !text.contains(&pg.reader_password),
        "{text}"
    );
}

fn base64_standard(der: &[u8]) -> String {
    openssl::base64::encode_block(der)
}

fn post(addr: SocketAddr, der: &[u8]) -> integration::harness::HttpResponse {
    http_post(addr, "/", "application/ocsp-request", der).expect("an HTTP response")
}
