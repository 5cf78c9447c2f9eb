//! The running `responder`, as independent clients see it: the `openssl`
//! crate (requests, verification, status lookup), the `openssl ocsp` command
//! line, a hand-made DER request builder and reader, and a plain HTTP client.
//! Every test gets its own lab (made by the real `testca`) and responder.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use integration::harness::{
    COMMAND_TIMEOUT, HttpResponse, LabOptions, LabResponder, Output, TestLab, http_get,
    http_request, run, wait_for,
};
use integration::ocsp::{
    self, BasicInfo, CertId, CertStatus, HashAlg, Request, ResponderId, Trust, basic, basic_info,
    load_cert, openssl_request, public_key_bits, random_bytes, random_serial, status_of, verify,
};
use openssl::hash::{MessageDigest, hash};
use openssl::ocsp::{
    OcspBasicResponseRef, OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus,
    OcspRevokedStatus,
};
use openssl::x509::X509;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Slack for thisUpdate/nextUpdate checks (seconds).
const SLACK: u32 = 300;
/// revocationTime given to `testca revoke --at` and its Unix time.
const REVOKED_AT: &str = "2026-01-01T00:00:00Z";
const REVOKED_AT_UNIX: u64 = 1_767_225_600;
/// CRLReason codes.
const KEY_COMPROMISE: u8 = 1;
const CERTIFICATE_HOLD: u8 = 6;

// ------------------------------------------------------------------ helpers

fn start() -> LabResponder {
    LabResponder::start(&[])
}

fn cert(lab: &TestLab, name: &str) -> X509 {
    load_cert(&lab.cert(name))
}

fn intermediate(lab: &TestLab) -> X509 {
    load_cert(&lab.intermediate_cert())
}

/// The CertID of `certs/NAME` under `hash`.
fn id(lab: &TestLab, name: &str, hash: HashAlg) -> CertId {
    CertId::of(&cert(lab, name), &intermediate(lab), hash)
}

/// OpenSSL's CertID of `certs/NAME`, for `find_status`.
fn openssl_id(lab: &TestLab, name: &str, hash: HashAlg) -> OcspCertId {
    OcspCertId::from_cert(hash.digest(), &cert(lab, name), &intermediate(lab)).unwrap()
}

/// Asserts an HTTP 200 OCSP response (status and media type) and returns it.
#[track_caller]
fn ocsp_reply(response: std::io::Result<HttpResponse>) -> HttpResponse {
    let response = response.expect("an HTTP response");
    assert_eq!(response.status, 200, "HTTP status: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/ocsp-response")
    );
    response
}

/// POSTs `der` and returns the OCSP response body (HTTP 200 asserted).
#[track_caller]
fn post(r: &LabResponder, der: &[u8]) -> Vec<u8> {
    ocsp_reply(r.post(der)).body
}

/// GETs `PREFIX<standard base64 of der>` and returns the OCSP response.
#[track_caller]
fn get(r: &LabResponder, der: &[u8]) -> HttpResponse {
    let target = format!("{}{}", r.lab.path_prefix(), b64(der));
    ocsp_reply(r.get(&target))
}

/// Asks, with an OpenSSL-made SHA-1 request, about `certs/NAME`.
#[track_caller]
fn ask(r: &LabResponder, name: &str) -> Vec<u8> {
    let lab = &r.lab;
    post(
        r,
        &openssl_request(&[(&cert(lab, name), &intermediate(lab))], HashAlg::Sha1),
    )
}

/// Standard base64 with padding.
fn b64(der: &[u8]) -> String {
    openssl::base64::encode_block(der)
}

/// Asserts that `response` is successful, verifies against the lab's root,
/// is currently valid and says `expected` about `certs/NAME` (SHA-1 CertID).
#[track_caller]
fn assert_status(lab: &TestLab, response: &[u8], name: &str, expected: OcspCertStatus) {
    let basic = basic(response);
    verify(&basic, &Trust::of_lab(lab)).expect("the response verifies");
    let id = openssl_id(lab, name, HashAlg::Sha1);
    let status = basic
        .find_status(&id)
        .unwrap_or_else(|| panic!("no SingleResponse for {name}"));
    assert_eq!(status.status, expected, "status of {name}");
    status
        .check_validity(SLACK, None)
        .expect("thisUpdate/nextUpdate are current");
}

#[track_caller]
fn assert_good(r: &LabResponder, name: &str) {
    assert_status(&r.lab, &ask(r, name), name, OcspCertStatus::GOOD);
}

/// The status OpenSSL finds for `certs/NAME` (SHA-1), without verifying.
fn found_status(basic: &OcspBasicResponseRef, lab: &TestLab, name: &str) -> Option<OcspCertStatus> {
    basic
        .find_status(&openssl_id(lab, name, HashAlg::Sha1))
        .map(|s| s.status)
}

#[track_caller]
fn info(response: &[u8]) -> BasicInfo {
    basic_info(response).expect("the DER reader reads the response")
}

/// `openssl ocsp -issuer … -cert certs/NAME/cert.pem -url OCSP_URL -CAfile root EXTRA`.
fn openssl_ocsp(lab: &TestLab, name: &str, extra: &[&str]) -> Output {
    let mut cmd = Command::new("openssl");
    cmd.arg("ocsp")
        .arg("-issuer")
        .arg(lab.intermediate_cert())
        .arg("-cert")
        .arg(lab.cert(name))
        .arg("-url")
        .arg(lab.ocsp_url())
        .arg("-CAfile")
        .arg(lab.root_cert())
        .args(["-timeout", "10"])
        .args(extra);
    run(&mut cmd, COMMAND_TIMEOUT)
}

/// Asserts that `openssl ocsp` verified the response and found `status`.
#[track_caller]
fn assert_openssl_cli(lab: &TestLab, name: &str, status: &str) -> Output {
    let out = openssl_ocsp(lab, name, &[]).success();
    assert!(
        out.stderr.contains("Response verify OK"),
        "openssl ocsp did not verify: {out}"
    );
    assert!(
        out.stdout.contains(&format!("cert.pem: {status}")),
        "expected {status}: {out}"
    );
    assert!(
        !out.combined().contains("WARNING"),
        "openssl warned (nonce?): {out}"
    );
    out
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

/// The value of the metric line starting with `prefix` (labels included).
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn metrics(r: &LabResponder) -> String {
    let response = r.get("/metrics").expect("GET /metrics");
    assert_eq!(response.status, 200);
    response.text()
}

#[track_caller]
fn assert_no_cache(response: &HttpResponse) {
    assert_eq!(
        response.header("cache-control"),
        Some("max-age=0, no-cache"),
        "{:?}",
        response.headers
    );
}

/// A request whose standard base64 holds '/', '+' and '=' padding: the
/// localhost CertID plus a random nonce, drawn until it does.
fn request_with_awkward_base64(lab: &TestLab) -> (Request, String) {
    let id = id(lab, "localhost", HashAlg::Sha1);
    for attempt in 0..10_000usize {
        let len = 16 + attempt % 3;
        let request = Request::new(vec![id.clone()]).with_nonce(&random_bytes(len));
        let text = b64(&request.to_der());
        if text.contains('/') && text.contains('+') && text.ends_with('=') {
            return (request, text);
        }
    }
    panic!("no request with '/', '+' and '=' in its base64");
}

/// Asserts a successful response echoing the request's nonce and saying good about localhost.
#[track_caller]
fn assert_echoed_good(lab: &TestLab, request: &Request, response: &[u8]) {
    assert_status(lab, response, "localhost", OcspCertStatus::GOOD);
    let ext = request.nonce_extension().expect("a nonce");
    assert_eq!(
        info(response).extensions,
        vec![ext],
        "nonce echoed verbatim"
    );
}

// ------------------------------------------------------------------ statuses

#[test]
fn good_certificate_verifies_with_the_openssl_crate() {
    let r = start();
    let lab = &r.lab;
    let response = ask(&r, "localhost");
    assert_status(lab, &response, "localhost", OcspCertStatus::GOOD);

    // Signed by the delegated signer, whose certificate is in `certs`, named by key hash.
    let info = info(&response);
    let signer = load_cert(&lab.signer_cert());
    assert_eq!(info.certs, vec![signer.to_der().unwrap()]);
    let key_hash = hash(MessageDigest::sha1(), &public_key_bits(&signer)).unwrap();
    assert_eq!(info.responder_id, ResponderId::ByKey(key_hash.to_vec()));
    let single = &info.responses[0];
    let now = unix(SystemTime::now());
    assert!(unix(single.this_update) <= now);
    let next = unix(single.next_update.expect("nextUpdate"));
    assert!(
        (now + 3000..=now + 3700).contains(&next),
        "nextUpdate about an hour ahead"
    );
}

#[test]
fn good_certificate_with_the_openssl_command_line() {
    let r = start();
    assert_openssl_cli(&r.lab, "localhost", "good");
}

#[test]
fn revoked_certificate_has_reason_and_time() {
    let r = start();
    let lab = &r.lab;
    lab.revoke(
        "localhost",
        &["--reason", "keyCompromise", "--at", REVOKED_AT],
    );
    let response = ask(&r, "localhost");
    assert_status(lab, &response, "localhost", OcspCertStatus::REVOKED);
    let basic = basic(&response);
    let id = openssl_id(lab, "localhost", HashAlg::Sha1);
    let status = basic.find_status(&id).unwrap();
    assert_eq!(status.reason, OcspRevokedStatus::KEY_COMPROMISE);
    assert_eq!(
        status.revocation_time.expect("revocationTime").to_string(),
        "Jan  1 00:00:00 2026 GMT"
    );
    assert_eq!(
        info(&response).responses[0].status,
        CertStatus::Revoked {
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(REVOKED_AT_UNIX),
            reason: Some(KEY_COMPROMISE),
        }
    );
    let out = assert_openssl_cli(lab, "localhost", "revoked");
    assert!(out.stdout.contains("Reason: keyCompromise"), "{out}");
    assert!(
        out.stdout
            .contains("Revocation Time: Jan  1 00:00:00 2026 GMT"),
        "{out}"
    );
}

#[test]
fn serial_never_issued_is_unknown() {
    let r = start();
    let lab = &r.lab;
    let issuer = intermediate(lab);
    let id = CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha1);
    let response = post(&r, &Request::new(vec![id.clone()]).to_der());
    let basic = basic(&response);
    verify(&basic, &Trust::of_lab(lab)).expect("verifies");
    let status = basic
        .find_status(&id.to_openssl(&issuer))
        .expect("answered");
    assert_eq!(status.status, OcspCertStatus::UNKNOWN);
    status.check_validity(SLACK, None).unwrap();
}

#[test]
fn serial_never_issued_is_revoked_with_unknown_serial_revoked() {
    let r = LabResponder::start(&["--unknown-serial", "revoked"]);
    let lab = &r.lab;
    let issuer = intermediate(lab);
    let id = CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha1);
    let response = post(&r, &Request::new(vec![id.clone()]).to_der());
    let basic = basic(&response);
    verify(&basic, &Trust::of_lab(lab)).expect("verifies");
    let status = basic
        .find_status(&id.to_openssl(&issuer))
        .expect("answered");
    assert_eq!(status.status, OcspCertStatus::REVOKED);
    assert_eq!(status.reason, OcspRevokedStatus::STATUS_CERTIFICATE_HOLD);
    assert_eq!(
        status.revocation_time.unwrap().to_string(),
        "Jan  1 00:00:00 1970 GMT"
    );
    assert_eq!(
        info(&response).responses[0].status,
        CertStatus::Revoked {
            time: SystemTime::UNIX_EPOCH,
            reason: Some(CERTIFICATE_HOLD)
        }
    );
    // Issued certificates are unaffected.
    assert_good(&r, "localhost");
}

#[test]
fn foreign_issuer_is_unauthorized() {
    let r = start();
    let other = TestLab::init(&[]);
    let der = openssl_request(
        &[(&cert(&other, "localhost"), &intermediate(&other))],
        HashAlg::Sha1,
    );
    let response = ocsp_reply(r.post(&der));
    assert_eq!(status_of(&response.body), OcspResponseStatus::UNAUTHORIZED);
    assert_no_cache(&response);
    // The same through GET.
    let response = get(&r, &der);
    assert_eq!(status_of(&response.body), OcspResponseStatus::UNAUTHORIZED);
    assert_no_cache(&response);
}

#[test]
fn foreign_issuer_is_signed_unknown_with_unknown_issuer_unknown() {
    let r = LabResponder::start(&["--unknown-issuer", "unknown"]);
    let other = TestLab::init(&[]);
    let der = openssl_request(
        &[(&cert(&other, "localhost"), &intermediate(&other))],
        HashAlg::Sha1,
    );
    let response = post(&r, &der);
    let basic = basic(&response);
    // Signed by our lab's signer, which no client can take as authorised for
    // a foreign CA: check the signature and chain, not the authorisation.
    let trust = Trust::of_lab(&r.lab);
    basic
        .verify(&trust.certs, &trust.store, OcspFlag::NO_CHECKS)
        .expect("signed by our lab");
    let status = basic
        .find_status(&openssl_id(&other, "localhost", HashAlg::Sha1))
        .expect("answered");
    assert_eq!(status.status, OcspCertStatus::UNKNOWN);
    status.check_validity(SLACK, None).unwrap();
}

#[test]
fn every_certid_hash_is_answered_with_the_same_hash() {
    let r = start();
    let lab = &r.lab;
    let trust = Trust::of_lab(lab);
    for hash in HashAlg::SUPPORTED {
        let der = openssl_request(&[(&cert(lab, "localhost"), &intermediate(lab))], hash);
        let response = post(&r, &der);
        let basic = basic(&response);
        verify(&basic, &trust).unwrap_or_else(|e| panic!("{hash:?}: {e}"));
        let status = basic
            .find_status(&openssl_id(lab, "localhost", hash))
            .unwrap_or_else(|| panic!("{hash:?}: no response for the {hash:?} CertID"));
        assert_eq!(status.status, OcspCertStatus::GOOD, "{hash:?}");
        let info = info(&response);
        assert_eq!(info.responses.len(), 1);
        assert_eq!(
            info.responses[0].cert_id.as_ref(),
            Some(&id(lab, "localhost", hash)),
            "{hash:?}: CertID echoed"
        );
        if hash != HashAlg::Sha1 {
            assert!(
                found_status(&basic, lab, "localhost").is_none(),
                "{hash:?} request answered with a SHA-1 CertID"
            );
        }
    }
}

#[test]
fn two_certificates_in_one_request_are_answered_in_order() {
    let r = start();
    let lab = &r.lab;
    lab.issue("shop", &[]);
    lab.revoke("shop", &["--reason", "superseded"]);
    let ids = [
        id(lab, "localhost", HashAlg::Sha1),
        id(lab, "shop", HashAlg::Sha256),
    ];
    for order in [[0, 1], [1, 0]] {
        let asked: Vec<CertId> = order.iter().map(|&i| ids[i].clone()).collect();
        let response = post(&r, &Request::new(asked.clone()).to_der());
        let basic = basic(&response);
        verify(&basic, &Trust::of_lab(lab)).unwrap();
        let info = info(&response);
        let echoed: Vec<CertId> = info
            .responses
            .iter()
            .map(|s| s.cert_id.clone().unwrap())
            .collect();
        assert_eq!(echoed, asked, "both answered, in request order");
        for (single, &i) in info.responses.iter().zip(&order) {
            let revoked = matches!(single.status, CertStatus::Revoked { .. });
            assert_eq!(revoked, i == 1, "status of {:?}", ids[i]);
        }
        let shop = OcspCertId::from_cert(
            MessageDigest::sha256(),
            &cert(lab, "shop"),
            &intermediate(lab),
        )
        .unwrap();
        assert_eq!(
            basic.find_status(&shop).unwrap().status,
            OcspCertStatus::REVOKED
        );
        assert_eq!(
            found_status(&basic, lab, "localhost"),
            Some(OcspCertStatus::GOOD)
        );
    }
}

// ------------------------------------------------------------------ nonces

#[test]
fn nonce_is_echoed() {
    let r = start();
    let lab = &r.lab;
    for len in [1, 16, 32] {
        let request =
            Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]).with_nonce(&random_bytes(len));
        let response = post(&r, &request.to_der());
        assert_echoed_good(lab, &request, &response);
    }
    // Two requests with different nonces get different responses (not one cached answer).
    let a = Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]).with_nonce(&[1; 16]);
    let b = Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]).with_nonce(&[2; 16]);
    assert_echoed_good(lab, &b, &post(&r, &b.to_der()));
    assert_echoed_good(lab, &a, &post(&r, &a.to_der()));
    // openssl ocsp sends a nonce and checks it (it warns when it is missing).
    assert_openssl_cli(lab, "localhost", "good");
}

#[test]
fn nonce_of_33_bytes_is_a_malformed_request() {
    let r = start();
    // 33 octets is one too many for RFC 8954; an empty nonce is not allowed either.
    for len in [33, 0] {
        let request = Request::new(vec![id(&r.lab, "localhost", HashAlg::Sha1)])
            .with_nonce(&random_bytes(len));
        let response = ocsp_reply(r.post(&request.to_der()));
        assert_eq!(
            status_of(&response.body),
            OcspResponseStatus::MALFORMED_REQUEST,
            "nonce of {len} bytes"
        );
        assert_no_cache(&response);
    }
}

#[test]
fn long_nonces_accepts_up_to_128_bytes() {
    let r = LabResponder::start(&["--long-nonces"]);
    let lab = &r.lab;
    for len in [33, 128] {
        let request =
            Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]).with_nonce(&random_bytes(len));
        assert_echoed_good(lab, &request, &post(&r, &request.to_der()));
    }
    let request =
        Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]).with_nonce(&random_bytes(129));
    assert_eq!(
        status_of(&post(&r, &request.to_der())),
        OcspResponseStatus::MALFORMED_REQUEST
    );
}

// ------------------------------------------------------------------ GET and POST

#[test]
fn get_and_post_give_the_same_answer() {
    let r = start();
    let lab = &r.lab;
    let der = openssl_request(
        &[(&cert(lab, "localhost"), &intermediate(lab))],
        HashAlg::Sha1,
    );
    let by_get = get(&r, &der).body;
    let by_post = post(&r, &der);
    assert_status(lab, &by_get, "localhost", OcspCertStatus::GOOD);
    assert_status(lab, &by_post, "localhost", OcspCertStatus::GOOD);
}

#[test]
fn get_accepts_every_spelling_of_the_base64() {
    let r = start();
    let lab = &r.lab;
    let (request, text) = request_with_awkward_base64(lab);
    let percent = text
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let plus_as_space = text.replace('+', "%20");
    let url_unpadded = text
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_");
    let spellings = [
        ("plain, with '/' and '+'", format!("/{text}")),
        ("percent-encoded", format!("/{percent}")),
        ("'+' sent as %20", format!("/{plus_as_space}")),
        ("base64url, unpadded", format!("/{url_unpadded}")),
        ("doubled slash", format!("//{text}")),
        ("unpadded", format!("/{}", text.trim_end_matches('='))),
    ];
    for (what, target) in spellings {
        let response = r.get(&target).expect("GET");
        assert_eq!(
            response.status,
            200,
            "{what}: {target}: {}",
            response.text()
        );
        assert_eq!(
            status_of(&response.body),
            OcspResponseStatus::SUCCESSFUL,
            "{what}: {target}"
        );
        assert_echoed_good(lab, &request, &response.body);
    }
}

#[test]
fn get_responses_carry_rfc5019_caching_headers() {
    let r = start();
    let lab = &r.lab;
    let der = openssl_request(
        &[(&cert(lab, "localhost"), &intermediate(lab))],
        HashAlg::Sha1,
    );
    let response = get(&r, &der);
    let single = info(&response.body).responses[0].clone();
    let cache_control = response.header("cache-control").expect("Cache-Control");
    let parts: Vec<&str> = cache_control.split(',').map(str::trim).collect();
    for directive in ["public", "no-transform", "must-revalidate"] {
        assert!(parts.contains(&directive), "{cache_control}");
    }
    let max_age: u64 = parts
        .iter()
        .find_map(|p| p.strip_prefix("max-age="))
        .expect("max-age")
        .parse()
        .unwrap();
    let to_next = unix(single.next_update.unwrap()) - unix(SystemTime::now());
    assert!(
        max_age <= to_next + 1 && max_age + 60 >= to_next,
        "max-age {max_age} vs nextUpdate in {to_next}s"
    );
    let date = |name: &str| {
        httpdate::parse_http_date(response.header(name).unwrap_or_else(|| panic!("{name}")))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(date("last-modified"), single.this_update, "Last-Modified");
    assert_eq!(date("expires"), single.next_update.unwrap(), "Expires");
    let etag = response.header("etag").expect("ETag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );

    let target = format!("/{}", b64(&der));
    let not_modified = http_request(r.addr(), "GET", &target, &[("If-None-Match", &etag)], &[])
        .expect("conditional GET");
    assert_eq!(not_modified.status, 304);
    assert!(not_modified.body.is_empty());
    assert_eq!(not_modified.header("etag"), Some(etag.as_str()));
    let other = http_request(
        r.addr(),
        "GET",
        &target,
        &[("If-None-Match", "\"something-else\"")],
        &[],
    )
    .expect("conditional GET");
    assert_eq!(other.status, 200);
    assert_eq!(other.body, response.body, "same pre-signed response");
    let listed = format!("\"something-else\", {etag}");
    let in_a_list = http_request(r.addr(), "GET", &target, &[("If-None-Match", &listed)], &[])
        .expect("conditional GET");
    assert_eq!(in_a_list.status, 304, "an ETag in a list matches");
}

#[test]
fn if_none_match_with_a_weak_etag_is_not_modified() {
    let r = start();
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    let etag = get(&r, &der).header("etag").expect("ETag").to_string();
    let target = format!("/{}", b64(&der));
    let weak = format!("W/{etag}");
    let response = http_request(r.addr(), "GET", &target, &[("If-None-Match", &weak)], &[])
        .expect("conditional GET");
    assert_eq!(response.status, 304);
}

#[test]
fn keep_alive_connections_serve_several_requests() {
    use std::io::{Read, Write};
    let r = start();
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    let mut stream = std::net::TcpStream::connect(r.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let host = r.addr();
    let mut requests = Vec::new();
    for _ in 0..2 {
        requests.extend_from_slice(
            format!(
                "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
                der.len()
            )
            .as_bytes(),
        );
        requests.extend_from_slice(&der);
    }
    requests.extend_from_slice(
        format!(
            "GET /{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
            b64(&der)
        )
        .as_bytes(),
    );
    stream.write_all(&requests).unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    let text = String::from_utf8_lossy(&received);
    assert_eq!(
        text.matches("HTTP/1.1 200 OK").count(),
        3,
        "three answers on one connection"
    );
}

#[test]
fn error_responses_are_not_cacheable() {
    let r = start();
    for target in ["/bm90IGFuIE9DU1AgcmVxdWVzdA==", "/%%%", "/MAA="] {
        let response = ocsp_reply(r.get(target));
        assert_eq!(
            status_of(&response.body),
            OcspResponseStatus::MALFORMED_REQUEST,
            "{target}"
        );
        assert_no_cache(&response);
        assert!(response.header("etag").is_none() && response.header("expires").is_none());
    }
    let response = ocsp_reply(r.post(b"garbage"));
    assert_eq!(
        status_of(&response.body),
        OcspResponseStatus::MALFORMED_REQUEST
    );
    assert_no_cache(&response);
}

// ------------------------------------------------------------------ signing options

#[test]
fn sign_with_issuer() {
    let r = LabResponder::start(&["--sign-with", "issuer"]);
    let lab = &r.lab;
    let response = ask(&r, "localhost");
    assert_status(lab, &response, "localhost", OcspCertStatus::GOOD);
    let info = info(&response);
    assert!(info.certs.is_empty(), "no delegated certificate in certs");
    let key_hash = hash(MessageDigest::sha1(), &public_key_bits(&intermediate(lab))).unwrap();
    assert_eq!(
        info.responder_id,
        ResponderId::ByKey(key_hash.to_vec()),
        "signed by the intermediate itself"
    );
    assert_openssl_cli(lab, "localhost", "good");
}

#[test]
fn responder_id_by_name() {
    let mut r = start();
    let signer = load_cert(&r.lab.signer_cert());
    assert!(matches!(
        info(&ask(&r, "localhost")).responder_id,
        ResponderId::ByKey(_)
    ));
    // The same lab, served again with the other ResponderID form.
    r.restart(&["--responder-id", "by-name"]);
    let response = ask(&r, "localhost");
    assert_status(&r.lab, &response, "localhost", OcspCertStatus::GOOD);
    assert_eq!(
        info(&response).responder_id,
        ResponderId::ByName(signer.subject_name().to_der().unwrap())
    );
    assert_openssl_cli(&r.lab, "localhost", "good");
}

#[test]
fn path_prefix() {
    let r = LabResponder::start_with(&LabOptions {
        path_prefix: "/ocsp/".into(),
        ..LabOptions::default()
    });
    let lab = &r.lab;
    let aia: Vec<String> = cert(lab, "localhost")
        .ocsp_responders()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(aia, vec![lab.ocsp_url()]);
    assert!(lab.ocsp_url().ends_with("/ocsp/"));
    // openssl ocsp uses the AIA-style URL (POST /ocsp/).
    assert_openssl_cli(lab, "localhost", "good");
    let der = openssl_request(
        &[(&cert(lab, "localhost"), &intermediate(lab))],
        HashAlg::Sha1,
    );
    assert_status(lab, &get(&r, &der).body, "localhost", OcspCertStatus::GOOD);
    // Outside the prefix: not an OCSP endpoint.
    let outside =
        integration::harness::http_post(r.addr(), "/other/", "application/ocsp-request", &der)
            .unwrap();
    assert_eq!(outside.status, 404);
    assert_eq!(r.get(&format!("/other/{}", b64(&der))).unwrap().status, 404);
}

// ------------------------------------------------------------------ other endpoints

#[test]
fn ca_certificate_is_served_at_the_ca_issuers_url() {
    let r = start();
    let lab = &r.lab;
    let response = r.get("/ca/intermediate.der").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/pkix-cert")
    );
    assert_eq!(response.body, intermediate(lab).to_der().unwrap());
    assert_eq!(r.get("/ca/nothing.der").unwrap().status, 404);
}

#[test]
fn crl_is_served_at_the_crl_distribution_point_and_follows_revocations() {
    use openssl::x509::{CrlStatus, X509Crl};
    let r = start();
    let lab = &r.lab;
    let leaf = cert(lab, "localhost");
    let issuer = intermediate(lab);
    let points = leaf
        .crl_distribution_points()
        .expect("a CRL distribution point");
    let url = points
        .iter()
        .filter_map(|p| {
            p.distpoint()?
                .fullname()?
                .iter()
                .find_map(|n| n.uri().map(String::from))
        })
        .next()
        .expect("a URI");
    let path = url
        .strip_prefix(&format!("http://{}", r.addr()))
        .unwrap_or_else(|| panic!("the CRL URL {url} points at the responder"))
        .to_string();
    assert_eq!(path, "/crl/intermediate.crl");
    let fetch = || {
        let response = r.get(&path).unwrap();
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(
            response.header("content-type"),
            Some("application/pkix-crl")
        );
        let crl = X509Crl::from_der(&response.body).expect("a DER CRL");
        assert!(
            crl.verify(&issuer.public_key().unwrap()).unwrap(),
            "signed by the intermediate"
        );
        assert_eq!(
            crl.issuer_name().to_der().unwrap(),
            issuer.subject_name().to_der().unwrap()
        );
        let revoked = matches!(
            crl.get_by_serial(leaf.serial_number()),
            CrlStatus::Revoked(_)
        );
        revoked
    };
    assert!(!fetch(), "nothing revoked yet");
    lab.revoke("localhost", &["--reason", "keyCompromise"]);
    assert!(fetch(), "the revocation is on the next CRL");
    lab.unrevoke("localhost");
    assert!(!fetch(), "and gone after unrevoke");
    assert_eq!(r.get("/crl/nothing.crl").unwrap().status, 404);
}

#[test]
fn health_and_metrics() {
    let r = start();
    let health = r.get("/health").unwrap();
    assert_eq!(health.status, 200);
    assert!(health.text().starts_with("ok"), "{}", health.text());

    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    post(&r, &der);
    post(&r, &der);
    get(&r, &der);
    post(&r, b"garbage");
    let text = metrics(&r);
    let count = |labels: &str| {
        metric(
            &text,
            &format!("ocsp_responder_responses_total{{{labels}}}"),
        )
    };
    assert_eq!(
        count(r#"method="Post",http_status="200",ocsp_status="good""#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        count(r#"method="Get",http_status="200",ocsp_status="good""#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(r#"method="Post",http_status="200",ocsp_status="malformedRequest""#),
        Some(1.0),
        "{text}"
    );
    let hits = metric(&text, "ocsp_responder_cache_hits_total").expect("cache hits");
    let misses = metric(&text, "ocsp_responder_cache_misses_total").expect("cache misses");
    assert_eq!(hits + misses, 3.0, "{text}");
    assert!(
        hits >= 2.0,
        "the same request is answered pre-signed: {text}"
    );
}

#[test]
fn sigterm_stops_it_cleanly() {
    let mut r = start();
    let status = r.responder.stop().expect("it exited");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        r.responder.log().contains("responder stopped"),
        "{}",
        r.responder.log()
    );
    assert!(
        http_get(r.addr(), "/health").is_err(),
        "nobody listens any more"
    );
}

// ------------------------------------------------------------------ freshness

#[test]
fn revocations_show_up_in_the_very_next_response() {
    let r = start();
    let lab = &r.lab;
    let der = openssl_request(
        &[(&cert(lab, "localhost"), &intermediate(lab))],
        HashAlg::Sha1,
    );
    let hits = || metric(&metrics(&r), "ocsp_responder_cache_hits_total").unwrap();
    for round in 0..3 {
        // Twice good: the second from the pre-signed cache.
        assert_status(lab, &get(&r, &der).body, "localhost", OcspCertStatus::GOOD);
        let before = hits();
        assert_status(lab, &get(&r, &der).body, "localhost", OcspCertStatus::GOOD);
        assert!(
            hits() > before,
            "round {round}: the second GET came from the cache"
        );

        lab.revoke("localhost", &["--reason", "keyCompromise"]);
        assert_status(
            lab,
            &get(&r, &der).body,
            "localhost",
            OcspCertStatus::REVOKED,
        );
        assert_status(lab, &post(&r, &der), "localhost", OcspCertStatus::REVOKED);

        lab.unrevoke("localhost");
        assert_status(lab, &get(&r, &der).body, "localhost", OcspCertStatus::GOOD);
        assert_status(lab, &post(&r, &der), "localhost", OcspCertStatus::GOOD);
    }
}

#[test]
fn revocations_show_up_for_every_cached_hash_and_concurrent_clients() {
    const CLIENTS: usize = 8;
    let r = start();
    let lab = &r.lab;
    let requests: Vec<Vec<u8>> = HashAlg::SUPPORTED
        .iter()
        .map(|&h| openssl_request(&[(&cert(lab, "localhost"), &intermediate(lab))], h))
        .collect();
    let ask_all = |expected: OcspCertStatus| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..CLIENTS)
                .map(|i| {
                    let der = &requests[i % requests.len()];
                    let r = &r;
                    scope.spawn(move || {
                        let body = if i % 2 == 0 {
                            get(r, der).body
                        } else {
                            post(r, der)
                        };
                        let info = info(&body);
                        let single = &info.responses[0];
                        (single.status.clone(), single.cert_id.clone())
                    })
                })
                .collect();
            for (i, handle) in handles.into_iter().enumerate() {
                let (status, _) = handle.join().expect("a client thread");
                let got = match status {
                    CertStatus::Good => OcspCertStatus::GOOD,
                    CertStatus::Revoked { .. } => OcspCertStatus::REVOKED,
                    CertStatus::Unknown => OcspCertStatus::UNKNOWN,
                };
                assert_eq!(got, expected, "client {i}");
            }
        });
    };
    for _ in 0..3 {
        // Every hash's response is in the cache before the change.
        ask_all(OcspCertStatus::GOOD);
        ask_all(OcspCertStatus::GOOD);
        lab.revoke("localhost", &[]);
        ask_all(OcspCertStatus::REVOKED);
        lab.unrevoke("localhost");
        ask_all(OcspCertStatus::GOOD);
    }
    assert_good(&r, "localhost");
}

#[test]
fn root_issued_certificates_are_answered_by_the_roots_signer() {
    let r = start();
    let lab = &r.lab;
    lab.issue("direct", &["--issuer", "root"]);
    let root = load_cert(&lab.root_cert());
    let trust = Trust::new(root.clone(), Vec::new());
    for (what, subject) in [
        ("a root-issued leaf", cert(lab, "direct")),
        ("the intermediate CA", intermediate(lab)),
    ] {
        let response = post(&r, &openssl_request(&[(&subject, &root)], HashAlg::Sha1));
        let basic = basic(&response);
        verify(&basic, &trust).unwrap_or_else(|e| panic!("{what}: {e}"));
        let id = OcspCertId::from_cert(MessageDigest::sha1(), &subject, &root).unwrap();
        let status = basic.find_status(&id).unwrap_or_else(|| panic!("{what}"));
        assert_eq!(status.status, OcspCertStatus::GOOD, "{what}");
        let signer = load_cert(&lab.path("ca/root/ocsp-signer/cert.pem"));
        assert_eq!(
            info(&response).certs,
            vec![signer.to_der().unwrap()],
            "{what}"
        );
    }
    lab.revoke("direct", &["--reason", "cessationOfOperation"]);
    let response = post(
        &r,
        &openssl_request(&[(&cert(lab, "direct"), &root)], HashAlg::Sha256),
    );
    let basic = basic(&response);
    verify(&basic, &trust).unwrap();
    let id = OcspCertId::from_cert(MessageDigest::sha256(), &cert(lab, "direct"), &root).unwrap();
    let status = basic.find_status(&id).unwrap();
    assert_eq!(status.status, OcspCertStatus::REVOKED);
    assert_eq!(
        status.reason,
        OcspRevokedStatus::STATUS_CESSATION_OF_OPERATION
    );
}

#[test]
fn a_certificate_issued_while_running_is_answered() {
    let r = start();
    assert_good(&r, "localhost");
    r.lab.issue("late", &[]);
    assert_good(&r, "late");
}

// ------------------------------------------------------------------ faults

/// A lab with `certs/shop` too and the fault `MODE ARGS` set.
fn with_fault(mode: &str, args: &[&str]) -> LabResponder {
    let r = start();
    r.lab.issue("shop", &[]);
    assert_good(&r, "localhost");
    r.lab.fault_set(mode, args);
    r
}

#[track_caller]
fn assert_error_status(r: &LabResponder, expected: OcspResponseStatus) {
    let response = ocsp_reply(r.post(&openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    )));
    assert_eq!(status_of(&response.body), expected);
    assert_no_cache(&response);
}

#[test]
fn fault_try_later() {
    let r = with_fault("try-later", &[]);
    assert_error_status(&r, OcspResponseStatus::TRY_LATER);
}

#[test]
fn fault_internal_error() {
    let r = with_fault("internal-error", &[]);
    assert_error_status(&r, OcspResponseStatus::INTERNAL_ERROR);
}

#[test]
fn fault_unauthorized() {
    let r = with_fault("unauthorized", &[]);
    assert_error_status(&r, OcspResponseStatus::UNAUTHORIZED);
}

#[test]
fn fault_malformed_response() {
    let r = with_fault("malformed-response", &[]);
    let body = ask(&r, "localhost");
    assert!(!body.is_empty());
    assert!(
        OcspResponse::from_der(&body).is_err(),
        "the body should not parse as an OCSPResponse"
    );
    assert!(basic_info(&body).is_none());
}

#[test]
fn fault_stale() {
    let r = with_fault("stale", &[]);
    let response = ask(&r, "localhost");
    let basic = basic(&response);
    verify(&basic, &Trust::of_lab(&r.lab)).expect("the signature is fine");
    let id = openssl_id(&r.lab, "localhost", HashAlg::Sha1);
    let status = basic.find_status(&id).unwrap();
    assert_eq!(status.status, OcspCertStatus::GOOD);
    assert!(
        status.check_validity(SLACK, None).is_err(),
        "a stale response must fail the validity check"
    );
    let next = info(&response).responses[0].next_update.unwrap();
    assert!(next < SystemTime::now(), "nextUpdate is in the past");
}

#[test]
fn fault_future() {
    let r = with_fault("future", &[]);
    let response = ask(&r, "localhost");
    let basic = basic(&response);
    verify(&basic, &Trust::of_lab(&r.lab)).expect("the signature is fine");
    let id = openssl_id(&r.lab, "localhost", HashAlg::Sha1);
    let status = basic.find_status(&id).unwrap();
    assert!(
        status.check_validity(SLACK, None).is_err(),
        "thisUpdate in the future must fail the validity check"
    );
    let this = info(&response).responses[0].this_update;
    assert!(this > SystemTime::now() + Duration::from_secs(u64::from(SLACK)));
}

#[test]
fn fault_no_next_update() {
    let r = with_fault("no-next-update", &[]);
    let response = ask(&r, "localhost");
    assert_status(&r.lab, &response, "localhost", OcspCertStatus::GOOD);
    let basic = basic(&response);
    let id = openssl_id(&r.lab, "localhost", HashAlg::Sha1);
    assert!(basic.find_status(&id).unwrap().next_update().is_none());
    assert_eq!(info(&response).responses[0].next_update, None);
    // Nothing to cache until: no Expires.
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    let got = get(&r, &der);
    assert!(got.header("expires").is_none(), "{:?}", got.headers);
}

#[test]
fn fault_bad_signature() {
    let r = with_fault("bad-signature", &[]);
    let response = ask(&r, "localhost");
    let basic = basic(&response);
    assert!(verify(&basic, &Trust::of_lab(&r.lab)).is_err());
    assert_eq!(
        found_status(&basic, &r.lab, "localhost"),
        Some(OcspCertStatus::GOOD),
        "otherwise a normal response"
    );
    let out = openssl_ocsp(&r.lab, "localhost", &[]);
    assert!(!out.stderr.contains("Response verify OK"), "{out}");
}

#[test]
fn fault_wrong_signer() {
    let r = with_fault("wrong-signer", &[]);
    let response = ask(&r, "localhost");
    let basic = basic(&response);
    assert!(verify(&basic, &Trust::of_lab(&r.lab)).is_err());
    let info = info(&response);
    assert_eq!(info.certs.len(), 1);
    let signer = X509::from_der(&info.certs[0]).unwrap();
    let issuer = intermediate(&r.lab);
    assert!(
        !signer
            .verify(&issuer.public_key().unwrap())
            .unwrap_or(false),
        "the signer is not certified by the intermediate"
    );
    assert_ne!(
        signer.to_der().unwrap(),
        load_cert(&r.lab.signer_cert()).to_der().unwrap()
    );
}

#[test]
fn fault_wrong_cert_id() {
    let r = with_fault("wrong-cert-id", &[]);
    let response = ask(&r, "localhost");
    let basic = basic(&response);
    assert_eq!(
        found_status(&basic, &r.lab, "localhost"),
        None,
        "the response must not answer for our certificate"
    );
    assert_eq!(info(&response).responses.len(), 1);
}

#[test]
fn fault_delay() {
    let r = with_fault("delay=400", &[]);
    let started = Instant::now();
    let response = ask(&r, "localhost");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "answered after {took:?}"
    );
    assert_status(&r.lab, &response, "localhost", OcspCertStatus::GOOD);
}

#[test]
fn fault_http_500() {
    let r = with_fault("http-500", &[]);
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    let response = r.post(&der).unwrap();
    assert_eq!(response.status, 500);
    assert_ne!(
        response.header("content-type"),
        Some("application/ocsp-response")
    );
    assert_eq!(get_status(&r, &der), 500);
}

fn get_status(r: &LabResponder, der: &[u8]) -> u16 {
    r.get(&format!("/{}", b64(der))).unwrap().status
}

#[test]
fn fault_close() {
    let r = with_fault("close", &[]);
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    for _ in 0..3 {
        let result = r.post(&der);
        assert!(
            result.is_err(),
            "expected the connection dropped, got {result:?}"
        );
    }
    // Not a crash: other endpoints still answer.
    assert_eq!(r.get("/health").unwrap().status, 200);
}

#[test]
fn fault_for_one_certificate_only() {
    let r = with_fault("try-later", &["--cert", "localhost"]);
    assert_error_status(&r, OcspResponseStatus::TRY_LATER);
    assert_good(&r, "shop");
    r.lab.testca_ok(&["fault", "clear", "--cert", "localhost"]);
    assert_good(&r, "localhost");
}

#[test]
fn fault_for_less_than_a_second_is_in_force_at_once() {
    let r = start();
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    // Ten attempts spread over more than a second, so every fraction of a second is tried.
    for attempt in 0..10 {
        let set_at = Instant::now();
        r.lab.fault_set("try-later", &["--for", "500ms"]);
        let status = status_of(&post(&r, &der));
        let after = set_at.elapsed();
        if after < Duration::from_millis(250) {
            assert_eq!(
                status,
                OcspResponseStatus::TRY_LATER,
                "attempt {attempt}: a fault set `--for 500ms` was not in force {after:?} after `fault set` started"
            );
        }
        r.lab.fault_clear();
        std::thread::sleep(Duration::from_millis(110));
    }
}

#[test]
fn fault_for_a_while_expires() {
    // 2 s: even rounded down to the whole second (see the ignored test above) it lasts over 1 s.
    let r = with_fault("try-later", &["--for", "2s"]);
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    let started = Instant::now();
    let first = status_of(&post(&r, &der));
    // The fault may already be over if setting it and asking took a second.
    if started.elapsed() < Duration::from_millis(500) {
        assert_eq!(first, OcspResponseStatus::TRY_LATER);
    }
    wait_for(
        "the fault to expire",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || (status_of(&post(&r, &der)) == OcspResponseStatus::SUCCESSFUL).then_some(()),
    );
    assert_good(&r, "localhost");
}

#[test]
fn fault_clear_restores_normal_answers() {
    let r = with_fault("bad-signature", &[]);
    let basic_bad = basic(&ask(&r, "localhost"));
    assert!(verify(&basic_bad, &Trust::of_lab(&r.lab)).is_err());
    r.lab.fault_clear();
    assert_good(&r, "localhost");
    assert_openssl_cli(&r.lab, "localhost", "good");
    // And through the GET cache too.
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    for _ in 0..2 {
        assert_status(
            &r.lab,
            &get(&r, &der).body,
            "localhost",
            OcspCertStatus::GOOD,
        );
    }
}

#[test]
fn every_fault_is_cleared_by_fault_clear() {
    let r = start();
    let der = openssl_request(
        &[(&cert(&r.lab, "localhost"), &intermediate(&r.lab))],
        HashAlg::Sha1,
    );
    for mode in [
        "try-later",
        "internal-error",
        "unauthorized",
        "malformed-response",
        "stale",
        "future",
        "no-next-update",
        "bad-signature",
        "wrong-signer",
        "wrong-cert-id",
        "delay=10",
        "http-500",
        "close",
    ] {
        r.lab.fault_set(mode, &[]);
        r.lab.fault_clear();
        assert_status(&r.lab, &post(&r, &der), "localhost", OcspCertStatus::GOOD);
        assert_status(
            &r.lab,
            &get(&r, &der).body,
            "localhost",
            OcspCertStatus::GOOD,
        );
    }
}

// ------------------------------------------------------------------ signer defects

fn assert_signer_defect_rejected(defect: &str) {
    let r = start();
    let lab = &r.lab;
    assert_good(&r, "localhost");
    lab.testca_ok(&["signer", defect]);
    let response = ask(&r, "localhost");
    let basic = basic(&response);
    assert!(
        verify(&basic, &Trust::of_lab(lab)).is_err(),
        "a response signed by a signer with {defect} must not verify"
    );
    let out = openssl_ocsp(lab, "localhost", &[]);
    assert!(!out.stderr.contains("Response verify OK"), "{out}");

    lab.testca_ok(&["signer"]);
    assert_good(&r, "localhost");
    assert_openssl_cli(lab, "localhost", "good");
}

#[test]
fn expired_signer_is_rejected_until_reissued() {
    assert_signer_defect_rejected("--expired");
}

#[test]
fn signer_without_eku_is_rejected_until_reissued() {
    assert_signer_defect_rejected("--no-eku");
}

// ------------------------------------------------------------------ malformed input

#[test]
fn malformed_requests_get_malformed_request() {
    let mut r = start();
    let lab = &r.lab;
    let good = Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]);
    let good_der = good.to_der();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"hello, this is not DER at all".to_vec()),
        ("empty body", Vec::new()),
        ("truncated DER", good_der[..good_der.len() - 5].to_vec()),
        ("trailing data", [good_der.as_slice(), &[0, 0]].concat()),
        ("version v2", good.clone().with_version(1).to_der()),
        ("empty request list", Request::new(Vec::new()).to_der()),
        (
            "MD5 CertID",
            Request::new(vec![id(lab, "localhost", HashAlg::Md5)]).to_der(),
        ),
    ];
    for (what, body) in &cases {
        let response = r.post(body).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(response.status, 200, "{what}");
        assert_eq!(
            status_of(&response.body),
            OcspResponseStatus::MALFORMED_REQUEST,
            "{what}"
        );
        assert_no_cache(&response);
        assert_eq!(r.get("/health").unwrap().status, 200, "after {what}");
    }
    // The explicit v1 version is not DER (DEFAULT must be omitted) but is answered.
    let explicit_v1 = good.clone().with_version(0).to_der();
    let response = ocsp_reply(r.post(&explicit_v1));
    let status = status_of(&response.body);
    assert!(
        status == OcspResponseStatus::SUCCESSFUL || status == OcspResponseStatus::MALFORMED_REQUEST,
        "explicit v1: {status:?}"
    );
    r.responder.assert_running();
    assert_good(&r, "localhost");
}

#[test]
fn oversized_body_gets_413() {
    let mut r = start();
    for size in [10 * 1024 + 1, 64 * 1024] {
        let body = vec![0x30; size];
        let response = r.post(&body).expect("an HTTP response");
        assert_eq!(response.status, 413, "{size} bytes");
    }
    // Just under the limit: answered (malformedRequest, it is not a request).
    let response = ocsp_reply(r.post(&vec![0x30; 10 * 1024]));
    assert_eq!(
        status_of(&response.body),
        OcspResponseStatus::MALFORMED_REQUEST
    );
    r.responder.assert_running();
    assert_good(&r, "localhost");
}

// ------------------------------------------------------------------ robustness

/// A few thousand random and mutated requests over POST and GET: every
/// answer is either an OCSP response that OpenSSL parses or a plain HTTP
/// error, and afterwards the process is alive and answers correctly.
#[test]
fn random_and_mutated_requests_do_not_break_it() {
    const REQUESTS: usize = 4000;
    let mut r = start();
    let lab = &r.lab;
    let mut rng = StdRng::seed_from_u64(0x0c5b_1ab5_eed5);
    let seeds = [
        Request::new(vec![id(lab, "localhost", HashAlg::Sha1)]).to_der(),
        Request::new(vec![
            id(lab, "localhost", HashAlg::Sha256),
            CertId::with_serial(&intermediate(lab), &random_serial(), HashAlg::Sha512),
        ])
        .with_nonce(&[9; 20])
        .to_der(),
        openssl_request(
            &[(&cert(lab, "localhost"), &intermediate(lab))],
            HashAlg::Sha384,
        ),
    ];
    let started = Instant::now();
    let mut answered = [0usize; 3];
    for i in 0..REQUESTS {
        let seed = &seeds[rng.random_range(0..seeds.len())];
        let body = match rng.random_range(0..6) {
            0 => {
                let mut b = vec![0u8; rng.random_range(0..400)];
                rng.fill(&mut b[..]);
                b
            }
            1 => {
                let mut b = seed.clone();
                for _ in 0..rng.random_range(1..6) {
                    let at = rng.random_range(0..b.len());
                    b[at] ^= 1 << rng.random_range(0..8);
                }
                b
            }
            2 => seed[..rng.random_range(0..seed.len())].to_vec(),
            3 => {
                let mut b = seed.clone();
                let at = rng.random_range(0..=b.len());
                let mut extra = vec![0u8; rng.random_range(1..20)];
                rng.fill(&mut extra[..]);
                b.splice(at..at, extra);
                b
            }
            4 => {
                // A mutated length byte: DER's weak spot.
                let mut b = seed.clone();
                let at = rng.random_range(0..b.len().min(8));
                b[at] = rng.random();
                b
            }
            _ => {
                // Changed bytes in the tail (serial, nonce): still a request, often a valid one.
                let mut b = seed.clone();
                for _ in 0..rng.random_range(1..4) {
                    let at = b.len() - 1 - rng.random_range(0..24.min(b.len()));
                    b[at] = rng.random();
                }
                b
            }
        };
        let target = match rng.random_range(0..3) {
            0 | 1 => None,
            _ if rng.random_bool(0.2) => {
                // A path of base64-ish and URL characters.
                const CHARS: &[u8] = b"ABCMabcz0129+/=-_%20.~";
                let len = rng.random_range(1..120);
                let path: String = (0..len)
                    .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
                    .collect();
                Some(format!("/M{path}"))
            }
            _ => Some(format!("/{}", b64(&body))),
        };
        let response = match &target {
            None => r.post(&body),
            Some(target) => r.get(target),
        };
        let response = response.unwrap_or_else(|e| {
            r.responder.assert_running();
            panic!("request {i} ({} bytes): no HTTP response: {e}", body.len())
        });
        match (response.status, response.header("content-type")) {
            (200, Some("application/ocsp-response")) => {
                let parsed = ocsp::parse(&response.body);
                if parsed.status() == OcspResponseStatus::SUCCESSFUL {
                    answered[0] += 1;
                } else {
                    answered[1] += 1;
                }
            }
            (400 | 404 | 413, _) => answered[2] += 1,
            // GET / (an empty request) is the usage page.
            (200, Some(kind))
                if target.as_deref() == Some("/") && kind.starts_with("text/plain") =>
            {
                answered[2] += 1
            }
            (status, kind) => panic!("request {i}: unexpected HTTP {status} {kind:?}"),
        }
    }
    let took = started.elapsed();
    eprintln!(
        "{REQUESTS} requests in {took:?}: {} successful, {} OCSP errors, {} HTTP errors",
        answered[0], answered[1], answered[2]
    );
    r.responder.assert_running();
    assert!(answered[1] > 0);
    assert_good(&r, "localhost");
    assert_eq!(http_get(r.addr(), "/health").unwrap().status, 200);
}

// ------------------------------------------------------------------ hostile network

use integration::hostile::{SlowClient, Variant};

/// The DER encoding of the extension id-pkix-ocsp-extended-revoke (1.3.6.1.5.5.7.48.1.9),
/// not critical, value NULL.
const EXTENDED_REVOKE: &[u8] = &[
    0x30, 0x0f, 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x09, 0x04, 0x02, 0x05,
    0x00,
];

#[test]
fn revoked_for_a_never_issued_serial_carries_the_extended_revoke_extension() {
    let r = LabResponder::start(&["--unknown-serial", "revoked"]);
    let lab = &r.lab;
    let issuer = intermediate(lab);
    let id = CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha1);
    let response = post(&r, &Request::new(vec![id.clone()]).to_der());
    let basic = basic(&response);
    verify(&basic, &Trust::of_lab(lab)).expect("verifies with the extension");
    assert_eq!(
        info(&response).extensions,
        vec![EXTENDED_REVOKE.to_vec()],
        "RFC 6960 §4.4.8: responseExtensions"
    );
    // Also when answered from the pre-signed cache.
    let again = post(&r, &Request::new(vec![id]).to_der());
    assert_eq!(info(&again).extensions, vec![EXTENDED_REVOKE.to_vec()]);
    // openssl prints it among the response extensions.
    let file = lab.tmp().join("extended-revoke.der");
    std::fs::write(&file, &response).unwrap();
    let text = run(
        Command::new("openssl")
            .args(["ocsp", "-noverify", "-text", "-respin"])
            .arg(&file),
        COMMAND_TIMEOUT,
    )
    .success()
    .stdout;
    let extensions = text
        .split("Response Extensions:")
        .nth(1)
        .unwrap_or_else(|| panic!("no response extensions in:\n{text}"));
    assert!(
        extensions.contains("1.3.6.1.5.5.7.48.1.9") || extensions.contains("Extended"),
        "{text}"
    );
    // A real certificate's answer says nothing of the sort.
    let good = ask(&r, "localhost");
    assert!(info(&good).extensions.is_empty());
}

#[test]
fn get_obeys_max_request_bytes() {
    let r = start();
    let issuer = intermediate(&r.lab);
    // 550 CertIDs: some 43 KB, over the default 10 KiB.
    let ids = (0..550)
        .map(|_| CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha1))
        .collect();
    let der = Request::new(ids).to_der();
    assert!(der.len() > 40_000);
    let get = r.get(&format!("/{}", b64(&der))).expect("an HTTP response");
    assert_eq!(get.status, 413, "GET of {} bytes", der.len());
    let post = r.post(&der).expect("an HTTP response");
    assert_eq!(post.status, 413, "POST of {} bytes", der.len());
    assert_good(&r, "localhost");
}

#[test]
fn expect_100_continue_over_the_limit_gets_413_at_once() {
    use std::io::{Read, Write};
    let r = start();
    let mut stream = std::net::TcpStream::connect(r.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/ocsp-request\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
        r.addr()
    )
    .unwrap();
    // No body is sent: the answer must not wait for it.
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "expected an immediate 413, got: {text}"
    );
    assert!(!text.contains("100 Continue"), "{text}");
}

#[test]
fn a_slow_body_is_cut_off_at_the_read_timeout() {
    let r = start_read_timeout_2s();
    let mut client = SlowClient::open(r.addr(), Variant::Body, None).unwrap();
    // 9000 bytes at 2 a second would take over an hour; the request has 2 s in all.
    assert!(
        client.closed_while_trickling(Duration::from_millis(500), 40),
        "a body sent one byte every 500 ms was still read after 20 s"
    );
    assert_good(&r, "localhost");
}

#[test]
fn slow_headers_are_cut_off_at_the_read_timeout() {
    let r = start_read_timeout_2s();
    let mut client = SlowClient::open(r.addr(), Variant::Headers, None).unwrap();
    assert!(
        client.closed_while_trickling(Duration::from_millis(500), 40),
        "headers sent one byte every 500 ms were still read after 20 s"
    );
    let mut silent = SlowClient::open(r.addr(), Variant::Silent, None).unwrap();
    assert!(
        silent.closed_while_trickling(Duration::from_millis(500), 40),
        "a connection that sends nothing was kept 20 s"
    );
    assert_good(&r, "localhost");
}

fn start_read_timeout_2s() -> LabResponder {
    LabResponder::start(&["--read-timeout", "2s"])
}

#[test]
fn idle_timeout_is_honoured_above_the_read_timeout() {
    use std::io::{Read, Write};
    let r = LabResponder::start(&["--read-timeout", "1s", "--idle-timeout", "30s"]);
    let mut stream = std::net::TcpStream::connect(r.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!("GET /health HTTP/1.1\r\nHost: {}\r\n\r\n", r.addr());
    let answer = |stream: &mut std::net::TcpStream| -> String {
        stream.write_all(request.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(answer(&mut stream).starts_with("HTTP/1.1 200"));
    // Idle for three read timeouts: still open, as --idle-timeout says.
    std::thread::sleep(Duration::from_secs(3));
    let second = answer(&mut stream);
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the keep-alive connection was closed after 3 s idle (--idle-timeout 30s): {second:?}"
    );
    // And an idle connection does go away at the idle timeout.
    let r = LabResponder::start(&["--idle-timeout", "1s"]);
    let mut client = SlowClient::open(r.addr(), Variant::Silent, None).unwrap();
    assert!(client.closed_by_server(Duration::from_secs(15)));
}

#[test]
fn a_normal_client_is_served_while_the_connection_cap_is_full() {
    // Slow clients get a minute each: only the cap can close them.
    let r = LabResponder::start(&["--max-connections", "20", "--read-timeout", "60s"]);
    let mut slow: Vec<SlowClient> = (0..40)
        .map(|i| {
            let variant = if i % 2 == 0 {
                Variant::Headers
            } else {
                Variant::Body
            };
            SlowClient::open(r.addr(), variant, None).unwrap()
        })
        .collect();
    for _ in 0..3 {
        assert_good(&r, "localhost");
    }
    // The oldest slow connections made room; the newest are still open.
    assert!(
        slow[0].closed_by_server(Duration::from_secs(5)),
        "the oldest slow connection is still open"
    );
    let newest = slow.len() - 1;
    assert!(
        !slow[newest].closed_by_server(Duration::from_millis(200)),
        "the newest slow connection was closed first"
    );
    let log = r.responder.log();
    assert!(log.contains("--max-connections"), "{log}");
}

#[test]
fn idle_connections_make_room_before_slow_ones() {
    use std::io::{Read, Write};
    let r = LabResponder::start(&["--max-connections", "4", "--read-timeout", "60s"]);
    // The oldest: a slow client. Then three idle keep-alive connections.
    let mut slow = SlowClient::open(r.addr(), Variant::Headers, None).unwrap();
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut stream = std::net::TcpStream::connect(r.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(stream, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(stream);
    }
    // A fifth client: the longest idle one goes, not the slow one.
    assert_good(&r, "localhost");
    let mut buf = [0u8; 16];
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(
        matches!(idle[0].read(&mut buf), Ok(0) | Err(_)),
        "the longest idle connection is still open"
    );
    assert!(
        !slow.closed_by_server(Duration::from_millis(200)),
        "the slow connection was closed while idle ones were left"
    );
}

#[test]
fn a_flood_of_never_issued_serials_does_not_evict_issued_answers() {
    let r = LabResponder::start(&["--cache-bytes", "200000"]);
    let hits =
        |r: &LabResponder| metric(&metrics(r), "ocsp_responder_cache_hits_total").unwrap_or(0.0);
    ask(&r, "localhost");
    let before = hits(&r);
    ask(&r, "localhost");
    assert_eq!(hits(&r), before + 1.0, "the second request is a cache hit");
    // Far more never-issued answers than the whole cache holds.
    let issuer = intermediate(&r.lab);
    for _ in 0..400 {
        let id = CertId::with_serial(&issuer, &random_serial(), HashAlg::Sha1);
        post(&r, &Request::new(vec![id]).to_der());
    }
    let before = hits(&r);
    ask(&r, "localhost");
    assert_eq!(
        hits(&r),
        before + 1.0,
        "the flood evicted the answer for an issued certificate"
    );
}
