//! `testca serve`'s JSON API as a QA tool sees it: over HTTP, with the
//! token from LAB/api-token, against a real lab, responder and (for the
//! staple) stapler. Revocations made through the API must be in the
//! responder's next answer, checked independently with the openssl crate;
//! bad requests must get problem details with the command line's message
//! and change nothing.

use std::net::SocketAddr;

use base64::Engine;
use integration::harness::{HttpResponse, LabResponder, TestLab, http_request};
use integration::ocsp::{HashAlg, basic, load_cert, openssl_request};
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspRevokedStatus};
use serde_json::{Value, json};

/// Sends one API request with an optional bearer token and body.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    http_request(addr, method, path, &headers, body.unwrap_or_default())
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn json_of(response: &HttpResponse) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

/// Asserts a problem-details answer with `status` and returns its detail.
#[track_caller]
fn problem(response: &HttpResponse, status: u16) -> String {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "{}",
        response.text()
    );
    let value = json_of(response);
    assert_eq!(value["status"], status);
    assert!(value["type"].as_str().is_some() && value["title"].as_str().is_some());
    let detail = value["detail"].as_str().expect("a detail").to_string();
    assert!(!detail.contains('\n'), "one line: {detail}");
    detail
}

/// The responder's answer for `certs/NAME`, asked with the openssl crate.
fn responder_status(lr: &LabResponder, name: &str) -> (OcspCertStatus, OcspRevokedStatus) {
    let cert = load_cert(&lr.lab.cert(name));
    let issuer = load_cert(&lr.lab.intermediate_cert());
    let request = openssl_request(&[(&cert, &issuer)], HashAlg::Sha1);
    let response = lr.post(&request).expect("the responder answers");
    let basic = basic(&response.body);
    let id = OcspCertId::from_cert(MessageDigest::sha1(), &cert, &issuer).unwrap();
    let status = basic
        .find_status(&id)
        .expect("an answer for the certificate");
    (status.status, status.reason)
}

/// The lab's certificates and faults, as the command line lists them.
fn state(lab: &TestLab) -> (String, String) {
    (
        lab.testca_ok(&["list", "--json"]),
        lab.testca_ok(&["fault", "list", "--json"]),
    )
}

/// The command line's message for the same mistake (`testca: MESSAGE` or clap's `error: …: MESSAGE`).
fn cli_message(lab: &TestLab, args: &[&str]) -> String {
    let output = lab.testca(args).failure();
    output.stderr.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_revocation_through_the_api_is_in_the_next_ocsp_answer() {
    let lr = LabResponder::start(&[]);
    let serve = lr.lab.start_serve(&[]);
    let token = lr.lab.api_token();
    let addr = serve.addr();

    let list = call(addr, "GET", "/api/v1/certificates", Some(&token), None);
    assert_eq!(list.status, 200, "{}", list.text());
    let list = json_of(&list);
    let localhost = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "localhost")
        .expect("localhost is listed");
    assert_eq!(localhost["status"], "good");
    assert_eq!(localhost["must_staple"], false);
    assert!(localhost["files"].as_array().unwrap().len() >= 3);
    assert_eq!(responder_status(&lr, "localhost").0, OcspCertStatus::GOOD);

    let revoked = call(
        addr,
        "POST",
        "/api/v1/certificates/localhost/revoke",
        Some(&token),
        Some(br#"{"reason": "keyCompromise", "at": "2026-01-02T03:04:05Z"}"#),
    );
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let revoked = json_of(&revoked);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["reason"], "keyCompromise");
    assert_eq!(revoked["revoked_at"], "2026-01-02T03:04:05Z");

    // The responder's next answer, read by OpenSSL.
    let (status, reason) = responder_status(&lr, "localhost");
    assert_eq!(status, OcspCertStatus::REVOKED);
    assert_eq!(reason, OcspRevokedStatus::KEY_COMPROMISE);
    // The command line sees the same.
    assert!(lr.lab.testca_ok(&["show", "localhost"]).contains("revoked"));

    // The decoded-answer endpoint asks the same responder; its DER says the same to OpenSSL.
    let answer = call(
        addr,
        "GET",
        "/api/v1/certificates/localhost/ocsp",
        Some(&token),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let answer = json_of(&answer);
    assert_eq!(answer["response_status"], "successful");
    assert_eq!(answer["cert_status"], "revoked");
    assert_eq!(answer["reason"], "keyCompromise");
    assert_eq!(answer["revoked_at"], "2026-01-02T03:04:05Z");
    assert_eq!(answer["cert_id"]["serial"], revoked["serial"]);
    assert!(
        answer["signer"].as_str().unwrap().contains("OCSP"),
        "{answer}"
    );
    assert!(answer["next_update"].as_str().is_some());
    let der = base64::engine::general_purpose::STANDARD
        .decode(answer["der_base64"].as_str().unwrap())
        .unwrap();
    let cert = load_cert(&lr.lab.cert("localhost"));
    let issuer = load_cert(&lr.lab.intermediate_cert());
    let id = OcspCertId::from_cert(MessageDigest::sha1(), &cert, &issuer).unwrap();
    assert_eq!(
        basic(&der).find_status(&id).unwrap().status,
        OcspCertStatus::REVOKED
    );

    let good = call(
        addr,
        "POST",
        "/api/v1/certificates/localhost/unrevoke",
        Some(&token),
        None,
    );
    assert_eq!(good.status, 200, "{}", good.text());
    assert_eq!(json_of(&good)["status"], "good");
    assert_eq!(responder_status(&lr, "localhost").0, OcspCertStatus::GOOD);
}

#[test]
fn issue_faults_and_signers_go_through_the_same_operations() {
    let lr = LabResponder::start(&[]);
    let serve = lr.lab.start_serve(&[]);
    let token = lr.lab.api_token();
    let addr = serve.addr();

    let issued = call(
        addr,
        "POST",
        "/api/v1/certificates",
        Some(&token),
        Some(br#"{"name": "shop", "sans": ["shop.test", "127.0.0.2"], "days": 30, "must_staple": true}"#),
    );
    assert_eq!(issued.status, 201, "{}", issued.text());
    let issued = json_of(&issued);
    assert_eq!(issued["must_staple"], true);
    assert!(
        lr.lab.cert("shop").is_file(),
        "the files are written like `testca issue`"
    );
    let shown = lr.lab.testca_ok(&["show", "shop", "--json"]);
    assert!(shown.contains(issued["serial"].as_str().unwrap()));
    // Same name again: the CLI's refusal.
    let again = call(
        addr,
        "POST",
        "/api/v1/certificates",
        Some(&token),
        Some(br#"{"name": "shop"}"#),
    );
    assert_eq!(
        problem(&again, 409),
        cli_message(&lr.lab, &["issue", "shop"]).trim_start_matches("testca: ")
    );

    // A fault set through the API makes the responder misbehave; clearing it heals it.
    let set = call(
        addr,
        "POST",
        "/api/v1/faults",
        Some(&token),
        Some(br#"{"mode": "try-later", "certificate": "localhost", "for": "5m"}"#),
    );
    assert_eq!(set.status, 201, "{}", set.text());
    assert_eq!(json_of(&set)["certificate"], "localhost");
    assert!(
        lr.lab
            .testca_ok(&["fault", "list"])
            .contains("try-later for localhost")
    );
    let answer = json_of(&call(
        addr,
        "GET",
        "/api/v1/certificates/localhost/ocsp",
        Some(&token),
        None,
    ));
    assert_eq!(answer["response_status"], "tryLater", "{answer}");
    let listed = json_of(&call(addr, "GET", "/api/v1/faults", Some(&token), None));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let cleared = call(
        addr,
        "DELETE",
        "/api/v1/faults?certificate=localhost",
        Some(&token),
        None,
    );
    assert_eq!(json_of(&cleared)["cleared"], 1);
    let answer = json_of(&call(
        addr,
        "GET",
        "/api/v1/certificates/localhost/ocsp",
        Some(&token),
        None,
    ));
    assert_eq!(answer["cert_status"], "good", "{answer}");

    // A defective signer: the responder signs with the newest one.
    let signer = call(
        addr,
        "POST",
        "/api/v1/signers/intermediate",
        Some(&token),
        Some(br#"{"no_eku": true}"#),
    );
    assert_eq!(signer.status, 201, "{}", signer.text());
    assert_eq!(json_of(&signer)["kind"], "ocsp-signer");
}

#[test]
fn without_the_token_every_route_is_refused() {
    let lr = LabResponder::start(&[]);
    let serve = lr.lab.start_serve(&[]);
    let token = lr.lab.api_token();
    let addr = serve.addr();
    let before = state(&lr.lab);

    let doc = call(addr, "GET", "/api/v1/openapi.json", Some(&token), None);
    assert_eq!(doc.status, 200);
    let doc = json_of(&doc);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10);
    let mut checked = 0;
    for (path, item) in paths {
        let path = path
            .replace("{name}", "localhost")
            .replace("{ca}", "intermediate");
        for method in item.as_object().unwrap().keys() {
            let method = method.to_ascii_uppercase();
            let body: Option<&[u8]> =
                (method == "POST").then_some(br#"{"name":"x","mode":"close"}"#);
            for given in [None, Some("wrong"), Some(&token[..token.len() - 1])] {
                let response = call(addr, &method, &path, given, body);
                let detail = problem(&response, 401);
                assert!(
                    detail.contains("token") || detail.contains("Authorization"),
                    "{detail}"
                );
                assert!(
                    response
                        .header("www-authenticate")
                        .is_some_and(|v| v.starts_with("Bearer"))
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "every route was tried: {checked}");
    assert_eq!(state(&lr.lab), before, "refused calls changed nothing");

    // The console's files need no token (they hold no lab data), and set no cookie.
    let page = call(addr, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("OCSP Lab console"));
    assert!(page.header("set-cookie").is_none());
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("script-src 'self'"))
    );
    // The token file is the owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lr.lab.path("api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn bad_requests_get_the_cli_message_and_change_nothing() {
    let lr = LabResponder::start(&[]);
    let serve = lr.lab.start_serve(&[]);
    let token = lr.lab.api_token();
    let addr = serve.addr();
    let lab = &lr.lab;
    let before = state(lab);
    let post = |path: &str, body: &[u8]| call(addr, "POST", path, Some(&token), Some(body));

    // Unknown name: 404 with exactly the CLI's message.
    let detail = problem(&post("/api/v1/certificates/nope/revoke", b"{}"), 404);
    assert_eq!(
        format!("testca: {detail}"),
        cli_message(lab, &["revoke", "nope"])
    );
    problem(
        &call(addr, "GET", "/api/v1/certificates/nope", Some(&token), None),
        404,
    );
    problem(
        &call(
            addr,
            "GET",
            "/api/v1/certificates/nope/ocsp",
            Some(&token),
            None,
        ),
        404,
    );

    // Invalid reason and date: 400 with the message clap prints after the flag.
    let detail = problem(
        &post(
            "/api/v1/certificates/localhost/revoke",
            br#"{"reason": "bogus"}"#,
        ),
        400,
    );
    let cli = cli_message(lab, &["revoke", "localhost", "--reason", "bogus"]);
    assert!(cli.ends_with(&detail), "CLI: {cli}\nAPI: {detail}");
    let detail = problem(
        &post(
            "/api/v1/certificates/localhost/revoke",
            br#"{"at": "yesterday"}"#,
        ),
        400,
    );
    let cli = cli_message(lab, &["revoke", "localhost", "--at", "yesterday"]);
    assert!(cli.ends_with(&detail), "CLI: {cli}\nAPI: {detail}");
    let detail = problem(
        &post(
            "/api/v1/certificates/localhost/revoke",
            br#"{"at": "2999-01-01T00:00:00Z"}"#,
        ),
        400,
    );
    let cli = cli_message(
        lab,
        &["revoke", "localhost", "--at", "2999-01-01T00:00:00Z"],
    );
    assert_eq!(format!("testca: {detail}"), cli);
    let detail = problem(&post("/api/v1/faults", br#"{"mode": "explode"}"#), 400);
    let cli = cli_message(lab, &["fault", "set", "explode"]);
    assert!(cli.ends_with(&detail), "CLI: {cli}\nAPI: {detail}");
    let detail = problem(
        &post("/api/v1/faults", br#"{"mode": "close", "for": "soon"}"#),
        400,
    );
    let cli = cli_message(lab, &["fault", "set", "close", "--for", "soon"]);
    assert!(cli.ends_with(&detail), "CLI: {cli}\nAPI: {detail}");
    let detail = problem(
        &post("/api/v1/certificates", br#"{"name": "x", "days": 0}"#),
        400,
    );
    assert!(detail.contains("days"), "{detail}");
    let detail = problem(
        &post("/api/v1/certificates", br#"{"name": "../evil"}"#),
        400,
    );
    let cli = cli_message(lab, &["issue", "../evil"]);
    assert_eq!(format!("testca: {detail}"), cli);

    // Malformed JSON, a typo in a field, a wrong type: 400 naming the problem.
    let detail = problem(
        &post("/api/v1/certificates/localhost/revoke", b"{\"reason\": "),
        400,
    );
    assert!(detail.starts_with("malformed JSON body"), "{detail}");
    let detail = problem(
        &post(
            "/api/v1/certificates/localhost/revoke",
            br#"{"resaon": "keyCompromise"}"#,
        ),
        400,
    );
    assert!(detail.contains("resaon"), "{detail}");
    let detail = problem(&post("/api/v1/certificates", br#"{"name": 7}"#), 400);
    assert!(detail.contains("malformed JSON body"), "{detail}");

    // A body over the cap.
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(200 * 1024));
    let detail = problem(&post("/api/v1/certificates", big.as_bytes()), 413);
    assert!(detail.contains("bytes"), "{detail}");

    // Revoking twice: the CLI's refusal; unrevoking a good one likewise.
    let detail = problem(&post("/api/v1/certificates/localhost/unrevoke", b""), 409);
    assert_eq!(
        format!("testca: {detail}"),
        cli_message(lab, &["unrevoke", "localhost"])
    );

    // Unknown routes: problem details too.
    problem(
        &call(addr, "GET", "/api/v1/nothing", Some(&token), None),
        404,
    );
    assert_eq!(state(lab), before, "bad requests changed nothing");

    // No stapler running: the staple endpoint says so, as a problem.
    let detail = problem(
        &call(
            addr,
            "GET",
            "/api/v1/certificates/localhost/staple",
            Some(&token),
            None,
        ),
        502,
    );
    assert!(detail.contains("stapler"), "{detail}");
    let _ = json!({});
}

#[test]
fn serve_makes_a_token_for_a_lab_that_has_none() {
    let lab = TestLab::init(&[]);
    std::fs::remove_file(lab.path("api-token")).unwrap();
    let serve = lab.start_serve(&[]);
    assert!(
        serve.log().contains("created the API token"),
        "{}",
        serve.log()
    );
    let token = lab.api_token();
    assert_eq!(token.len(), 64);
    let list = call(
        serve.addr(),
        "GET",
        "/api/v1/certificates",
        Some(&token),
        None,
    );
    assert_eq!(list.status, 200);
}

#[test]
fn the_staple_follows_a_refresh_asked_through_the_api() {
    use integration::harness::{Server, ServerSpec, free_port, stapler_ready_line};
    use std::ffi::OsString;
    use std::net::Ipv4Addr;

    let lr = LabResponder::start(&[]);
    let lab = &lr.lab;
    // On 127.0.0.2: a loopback address that the stapler's certificate does not name.
    let addr = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 2), free_port()));
    let _stapler = Server::start(&ServerSpec {
        name: "stapler".into(),
        program: integration::harness::binary("stapler"),
        args: [
            "--dir",
            lab.dir().to_str().unwrap(),
            "--listen",
            &addr.to_string(),
        ]
        .iter()
        .map(OsString::from)
        .collect(),
        env: Vec::new(),
        addr,
        ready_line: Some(stapler_ready_line(addr)),
        health_path: None,
        log_dir: lab.tmp().join("logs"),
    })
    .expect("the stapler starts on 127.0.0.2");
    let url = format!("https://{addr}/");
    let token = lab.api_token();

    // The name is checked by default…
    let strict = lab.start_serve(&["--stapler", &url]);
    let detail = problem(
        &call(
            strict.addr(),
            "GET",
            "/api/v1/certificates/localhost/staple",
            Some(&token),
            None,
        ),
        502,
    );
    assert!(detail.contains(&url), "{detail}");
    drop(strict);

    // …and with --stapler-any-name only the chain to the lab's root is.
    let serve = lab.start_serve(&["--stapler", &url, "--stapler-any-name"]);
    let staple = |serve: &integration::harness::Server| {
        json_of(&call(
            serve.addr(),
            "GET",
            "/api/v1/certificates/localhost/staple",
            Some(&token),
            None,
        ))
    };
    let first = integration::harness::wait_for(
        "a good staple",
        std::time::Duration::from_secs(20),
        std::time::Duration::from_millis(100),
        || {
            let s = staple(&serve);
            (s["verdict"] == "good").then_some(s)
        },
    );
    assert_eq!(first["served"], true);
    assert!(first["detail"].as_str().unwrap().contains("good"));

    let revoked = call(
        serve.addr(),
        "POST",
        "/api/v1/certificates/localhost/revoke",
        Some(&token),
        Some(b"{}"),
    );
    assert_eq!(revoked.status, 200);
    // The stapler keeps its good staple until asked…
    assert_eq!(staple(&serve)["verdict"], "good");
    let refreshed = call(
        serve.addr(),
        "POST",
        "/api/v1/stapler/refresh",
        Some(&token),
        None,
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    // …then holds the revoked answer.
    let after = staple(&serve);
    assert_eq!(after["verdict"], "revoked", "{after}");
    assert_eq!(after["entry"]["staple"]["reason"], "unspecified");
    // An unknown certificate of the lab is not served by the stapler.
    lab.issue("other", &[]);
    assert_eq!(staple_for(&serve, &token, "other")["verdict"], "not served");
}

fn staple_for(serve: &integration::harness::Server, token: &str, name: &str) -> Value {
    json_of(&call(
        serve.addr(),
        "GET",
        &format!("/api/v1/certificates/{name}/staple"),
        Some(token),
        None,
    ))
}

/// The serials of one page, and the next page's path from its Link header.
fn page(addr: SocketAddr, token: &str, path: &str) -> (Vec<String>, Option<String>) {
    let response = call(addr, "GET", path, Some(token), None);
    assert_eq!(response.status, 200, "{path}: {}", response.text());
    let serials = json_of(&response)
        .as_array()
        .expect("a page is an array")
        .iter()
        .map(|c| c["serial"].as_str().expect("a serial").to_string())
        .collect();
    let next = response.header("link").map(|link| {
        let (url, rel) = link.split_once(';').expect("<URL>; rel=\"next\"");
        assert_eq!(rel.trim(), "rel=\"next\"", "{link}");
        url.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    });
    (serials, next)
}

#[test]
fn the_list_comes_in_pages_that_neither_skip_nor_repeat() {
    let lab = TestLab::init(&[]);
    for name in ["a", "b", "c", "d"] {
        lab.testca_ok(&["issue", name]);
    }
    let serve = lab.start_serve(&[]);
    let token = lab.api_token();
    let addr = serve.addr();

    let (everything, next) = page(addr, &token, "/api/v1/certificates");
    assert!(next.is_none(), "a first page of 100 holds them all");
    let cli = lab.testca_ok(&["list"]);
    assert!(everything.len() >= 8, "CAs, signers and five leaves: {cli}");

    // Two at a time; a certificate issued meanwhile comes at the end, once.
    let mut seen = Vec::new();
    let mut path = Some("/api/v1/certificates?limit=2".to_string());
    let mut pages = 0;
    while let Some(p) = path {
        let (serials, next) = page(addr, &token, &p);
        assert!(
            serials.len() <= 2 && !serials.is_empty(),
            "{p}: {serials:?}"
        );
        seen.extend(serials);
        path = next;
        pages += 1;
        if pages == 1 {
            lab.testca_ok(&["issue", "late"]);
        }
        assert!(pages <= everything.len() + 1, "the pages end");
    }
    let (after, _) = page(addr, &token, "/api/v1/certificates?limit=1000");
    assert_eq!(after.len(), everything.len() + 1);
    assert_eq!(seen, after, "every certificate once, in order");
    assert_eq!(&seen[..everything.len()], &everything[..]);

    // Exactly full pages: the last one has no Link.
    let (_, next) = page(
        addr,
        &token,
        &format!("/api/v1/certificates?limit={}", after.len()),
    );
    assert!(next.is_none());

    for (query, message) in [
        ("limit=0", "invalid limit '0': a number from 1 to 1000"),
        (
            "limit=1001",
            "invalid limit '1001': a number from 1 to 1000",
        ),
        ("limit=ten", "invalid limit 'ten': a number from 1 to 1000"),
        ("cursor=abc", "invalid cursor 'abc'"),
        ("offset=3", "unknown query parameter 'offset'"),
    ] {
        let response = call(
            addr,
            "GET",
            &format!("/api/v1/certificates?{query}"),
            Some(&token),
            None,
        );
        let detail = problem(&response, 400);
        assert!(detail.starts_with(message), "{query}: {detail}");
    }
    let unauthorized = call(addr, "GET", "/api/v1/certificates?limit=2", None, None);
    assert_eq!(unauthorized.status, 401);
}
