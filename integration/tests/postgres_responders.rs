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

use integration::harness::{COMMAND_TIMEOUT, Server, command, http_get, http_post, run, wait_for};
use integration::ocsp::{CertId, CertStatus, HashAlg, Request, basic_info, load_cert, status_of};
use integration::postgres::{Cluster, PgLab, test_cluster, url_with};
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
        // It says how commits are seen (listening begins at start, within
        // seconds on a loaded machine).
        wait_for("/health to say it listens", SEEN_WITHIN, EVERY, || {
            let text = http_get(r.addr(), "/health").unwrap().text();
            text.contains("commits notified (LISTEN)").then_some(())
        });
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
fn the_control_plane_on_postgres_revokes_for_every_responder() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    pg.issue("shop");
    let responders: Vec<Server> = (0..2).map(|_| pg.responder(&[])).collect();
    let shop = cert_id(&pg, "shop");
    for r in &responders {
        assert_eq!(ask(r.addr(), &shop), Ok(CertStatus::Good));
    }
    // QA's API, on the same database as the writer.
    let serve = pg.lab.start_serve(&["--db", &pg.writer_url]);
    let token = pg.lab.api_token();
    let auth = format!("Bearer {token}");
    let listed = integration::harness::http_request(
        serve.addr(),
        "GET",
        "/api/v1/certificates",
        &[("Authorization", &auth)],
        b"",
    )
    .unwrap();
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert!(listed.text().contains("\"shop\""), "{}", listed.text());
    let revoked = integration::harness::http_request(
        serve.addr(),
        "POST",
        "/api/v1/certificates/shop/revoke",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        br#"{"reason": "keyCompromise"}"#,
    )
    .unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let took = wait_all_revoked(&responders, &shop);
    eprintln!("both responders answered revoked {took:?} after the API call returned");
    // The command line, on the same database, sees it too.
    let shown = pg.testca(&["show", "shop"]).success().stdout;
    assert!(shown.contains("revoked"), "{shown}");
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

/// The CRL a responder serves for the intermediate CA, checked against the
/// intermediate's certificate as the lab now has it.
fn crl_of_intermediate(pg: &PgLab, responder: &Server) -> Option<openssl::x509::X509Crl> {
    let response = http_get(responder.addr(), "/crl/intermediate.crl").ok()?;
    let crl = openssl::x509::X509Crl::from_der(&response.body).ok()?;
    let issuer = load_cert(&pg.lab.intermediate_cert()).public_key().ok()?;
    crl.verify(&issuer).unwrap_or(false).then_some(crl)
}

#[test]
fn a_lab_made_again_on_its_database_is_served_as_the_new_lab() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    let responder = pg.responder(&[]);
    let old_localhost = cert_id(&pg, "localhost");
    assert_eq!(ask(responder.addr(), &old_localhost), Ok(CertStatus::Good));
    assert!(
        crl_of_intermediate(&pg, &responder).is_some(),
        "the CRL verifies"
    );
    let reloads_before = metric(&responder, "ocsp_responder_directory_reloads_total");

    // The same database, a new lab: new CAs, a new signer, the generation
    // counted on from the old lab's (never equal to one the responder saw),
    // the reader role still a reader.
    pg.testca(&["init", "--force"]).success();
    let new_localhost = cert_id(&pg, "localhost");
    assert_ne!(new_localhost, old_localhost, "another intermediate CA");
    wait_for(
        "the responder to answer for the new lab",
        SEEN_WITHIN,
        EVERY,
        || (ask(responder.addr(), &new_localhost) == Ok(CertStatus::Good)).then_some(()),
    );
    // Signed by the new lab's signer, never the old one's.
    let answer = post(
        responder.addr(),
        &Request::new(vec![new_localhost.clone()]).to_der(),
    );
    let signer = basic_info(&answer.body).and_then(|info| info.certs.first().cloned());
    assert_eq!(
        signer,
        Some(load_cert(&pg.lab.signer_cert()).to_der().unwrap()),
        "the new lab's delegated signer"
    );
    assert!(
        crl_of_intermediate(&pg, &responder).is_some(),
        "the CRL served is the new intermediate's, not the one signed for the old lab"
    );
    let unauthorized = post(
        responder.addr(),
        &Request::new(vec![old_localhost]).to_der(),
    );
    assert_eq!(
        status_of(&unauthorized.body),
        OcspResponseStatus::UNAUTHORIZED,
        "the old lab's issuer is served no more"
    );
    assert!(metric(&responder, "ocsp_responder_directory_reloads_total") > reloads_before);
    assert_eq!(metric(&responder, "ocsp_responder_database_reachable"), 1);
}

/// The value of a metric without labels, from `/metrics`.
#[track_caller]
fn metric(responder: &Server, name: &str) -> i64 {
    let text = http_get(responder.addr(), "/metrics").unwrap().text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
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

#[test]
fn a_new_signer_signs_once_its_key_file_is_written() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    let responder = pg.responder(&[]);
    let request = Request::new(vec![cert_id(&pg, "localhost")]).to_der();
    let signer_of = || {
        let response = post(responder.addr(), &request);
        basic_info(&response.body).and_then(|info| info.certs.first().cloned())
    };
    let old = load_cert(&pg.lab.signer_cert()).to_der().unwrap();
    assert_eq!(signer_of(), Some(old.clone()));
    // testca commits the new certificate, then writes its key file: until
    // the file matches, the previous signer goes on signing.
    pg.testca(&["signer", "--issuer", "intermediate"]).success();
    let new = load_cert(&pg.lab.signer_cert()).to_der().unwrap();
    assert_ne!(new, old);
    wait_for(
        "answers signed by the new signer",
        SEEN_WITHIN,
        EVERY,
        || (signer_of() == Some(new.clone())).then_some(()),
    );
}

#[test]
fn a_lagging_key_file_keeps_the_old_signer_without_a_reload_storm() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    let responder = pg.responder(&[]);
    let request = Request::new(vec![cert_id(&pg, "localhost")]).to_der();
    let signer_of = |addr: SocketAddr| {
        let response = post(addr, &request);
        basic_info(&response.body).and_then(|info| info.certs.first().cloned())
    };
    let old = load_cert(&pg.lab.signer_cert()).to_der().unwrap();
    assert_eq!(signer_of(responder.addr()), Some(old.clone()));

    // A new signer committed from another copy of the lab: its key file
    // reaches this lab's directory only later, as when keys are shipped to
    // the responders' machines after the rotation.
    let elsewhere = pg.lab.tmp().join("lab-elsewhere");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(pg.lab.dir())
        .arg(&elsewhere)
        .status()
        .unwrap();
    assert!(copied.success());
    let mut signer = integration::harness::command("testca");
    signer.arg("--dir").arg(&elsewhere).args([
        "--db",
        &pg.writer_url,
        "signer",
        "--issuer",
        "intermediate",
    ]);
    run(&mut signer, COMMAND_TIMEOUT).success();
    let reloads_before = metric(&responder, "ocsp_responder_directory_reloads_total");

    // Meanwhile requests keep coming, eight at a time: each is signed by the
    // previous signer, and the directory is looked at again about every
    // 100 ms, not once per request that queued behind a look.
    let started = Instant::now();
    let answered: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut n = 0;
                    while started.elapsed() < Duration::from_millis(1500) {
                        assert_eq!(signer_of(responder.addr()), Some(old.clone()));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let looked = metric(&responder, "ocsp_responder_directory_reloads_total") - reloads_before;
    let bound = i64::try_from(started.elapsed().as_millis() / 100).unwrap() + 8;
    eprintln!(
        "{answered} answers while the key file lagged; the directory was loaded {looked} times"
    );
    assert!(
        looked <= bound,
        "{looked} loads for {answered} requests in {:?}: at most {bound} expected",
        started.elapsed()
    );

    // The key file arrives: the new signer signs.
    let key = "ca/intermediate/ocsp-signer/key.pem";
    std::fs::copy(elsewhere.join(key), pg.lab.path(key)).unwrap();
    let new = load_cert(&elsewhere.join("ca/intermediate/ocsp-signer/cert.pem"))
        .to_der()
        .unwrap();
    wait_for(
        "answers signed by the new signer",
        SEEN_WITHIN,
        EVERY,
        || (signer_of(responder.addr()) == Some(new.clone())).then_some(()),
    );
}

#[test]
fn a_responder_that_cannot_use_its_database_says_why_in_one_line() {
    let Some(admin) = test_cluster() else { return };
    let pg = PgLab::init(&admin);
    let secret = pg.reader_password.clone();
    let port = integration::harness::free_port();
    let cases = [
        (
            url_with(&pg.reader_url, pg.database(), Some((pg.reader(), "wrong"))),
            "refused the login",
        ),
        (
            format!("postgres://{}:{secret}@127.0.0.1:{port}/lab", pg.reader()),
            "cannot reach",
        ),
        (
            url_with(&admin, "postgres", Some((pg.reader(), &secret))),
            "no OCSP Lab database",
        ),
        (
            url_with(
                &pg.reader_url,
                "no_such_database",
                Some((pg.reader(), &secret)),
            ),
            "does not exist",
        ),
    ];
    for (url, says) in cases {
        let mut cmd = command("responder");
        cmd.arg("--dir")
            .arg(pg.lab.dir())
            .args(["--db", &url, "--listen", "127.0.0.1:0"]);
        let out = run(&mut cmd, COMMAND_TIMEOUT);
        assert_eq!(out.code, Some(1), "{url}: {out}");
        let line = out.stderr.trim();
        assert_eq!(line.lines().count(), 1, "one line: {out}");
        assert!(
            line.contains(says) && line.contains("postgres://") && line.contains("--db"),
            "{line}"
        );
        assert!(!line.contains(&secret) && !line.contains("wrong"), "{line}");
    }
}

fn base64_standard(der: &[u8]) -> String {
    openssl::base64::encode_block(der)
}

fn post(addr: SocketAddr, der: &[u8]) -> integration::harness::HttpResponse {
    http_post(addr, "/", "application/ocsp-request", der).expect("an HTTP response")
}
