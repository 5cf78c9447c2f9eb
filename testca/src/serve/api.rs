//! The JSON API under `/api/v1/`. Each handler parses its input with the
//! command line's parsers and calls the same [`Lab`](crate::Lab) operation
//! as the matching `testca` command.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::App;
use super::problem::Problem;
use super::stapler::{same_serial, staple_verdict};
use crate::authority::SignerDefects;
use crate::faults::{FaultMode, parse_lasting};
use crate::ids::CertificateId;
use crate::lab::IssueOptions;
use crate::report;
use crate::store::{CertRecord, CertSelector};
use labcore::timestamp::parse_time;
use labcore::{CaName, RevocationReason};

/// The OpenAPI document of this API (hand-written; a test checks that it
/// lists exactly the routes of [`routes`]).
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

type Shared = Arc<App>;
type Answer = Result<Response, Problem>;

/// Every route of the API: method, path, handler. The router is built from
/// this list only, and the OpenAPI document is checked against it.
pub fn routes() -> Vec<(&'static str, &'static str, MethodRouter<Shared>)> {
    vec![
        ("get", "/api/v1/openapi.json", get(openapi)),
        ("get", "/api/v1/certificates", get(list)),
        ("post", "/api/v1/certificates", post(issue)),
        ("get", "/api/v1/certificates/{name}", get(show)),
        ("post", "/api/v1/certificates/{name}/revoke", post(revoke)),
        (
            "post",
            "/api/v1/certificates/{name}/unrevoke",
            post(unrevoke),
        ),
        ("get", "/api/v1/certificates/{name}/ocsp", get(ocsp_answer)),
        ("get", "/api/v1/certificates/{name}/staple", get(staple)),
        ("post", "/api/v1/certificates/{name}/check", post(check)),
        ("post", "/api/v1/signers/{ca}", post(signer)),
        ("get", "/api/v1/faults", get(faults)),
        ("post", "/api/v1/faults", post(set_fault)),
        ("delete", "/api/v1/faults", delete(clear_faults)),
        ("get", "/api/v1/stapler", get(stapler_status)),
        ("post", "/api/v1/stapler/refresh", post(stapler_refresh)),
    ]
}

fn ok(status: StatusCode, value: Value) -> Answer {
    Ok((status, Json(value)).into_response())
}

/// Reads a JSON body with the size cap; an empty body is `{}` when `T` has defaults.
fn body<T: DeserializeOwned>(bytes: Result<Bytes, BytesRejection>) -> Result<T, Problem> {
    let bytes = bytes.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::new(
                status,
                "body-too-large",
                format!(
                    "request body over {} bytes; send a smaller JSON object",
                    super::MAX_BODY_BYTES
                ),
            )
        } else {
            Problem::new(status, "unreadable-body", rejection.body_text())
        }
    })?;
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        Problem::bad_request(
            "malformed-json",
            format!("malformed JSON body: {e}; send one JSON object, see /api/v1/openapi.json"),
        )
    })
}

fn name(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(n)| n)
        .map_err(|r| Problem::bad_request("bad-path", r.body_text()))
}

/// A certificate as the API shows it: the fields of `testca show --json`,
/// must-staple, its OCSP URL and its files.
fn certificate(app: &App, cert: &CertRecord) -> Value {
    let mut value = report::json(cert);
    value["must_staple"] = json!(labcore::tls_feature::has_must_staple(&cert.der));
    value["ocsp_url"] = json!(super::ocsp::aia_ocsp_url(&cert.der));
    value["files"] = app
        .lab
        .files_of(cert)
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    value
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// One page of `GET /api/v1/certificates`: at most `limit` certificates
/// after the one `cursor` names (the row order, so that a page never skips
/// nor repeats a certificate while others are issued).
#[derive(Debug, PartialEq, Eq)]
struct PageRequest {
    limit: u32,
    cursor: Option<CertificateId>,
}

/// Page size when the client names none.
const DEFAULT_PAGE: u32 = 100;
/// Largest page a client may ask for.
const MAX_PAGE: u32 = 1000;

/// Reads `?limit=N&cursor=C`; anything else is a one-line error.
fn page_request(query: &HashMap<String, String>) -> Result<PageRequest, Problem> {
    if let Some(unknown) = query.keys().find(|k| *k != "limit" && *k != "cursor") {
        return Err(Problem::bad_request(
            "bad-query",
            format!("unknown query parameter '{unknown}'; the parameters are limit=N and cursor=C"),
        ));
    }
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid-value",
                    format!("invalid limit '{text}': a number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let cursor = match query.get("cursor") {
        None => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .map(CertificateId)
                .ok_or_else(|| {
                    Problem::bad_request(
                        "invalid-value",
                        format!(
                            "invalid cursor '{text}': pass the cursor of the previous page's Link header (rel=\"next\")"
                        ),
                    )
                })?,
        ),
    };
    Ok(PageRequest { limit, cursor })
}

async fn list(
    State(app): State<Shared>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|r| Problem::bad_request("bad-query", r.body_text()))?;
    let page = page_request(&query)?;
    // One more than asked: whether there is a next page.
    let mut certs = app
        .lab
        .store()
        .certificates_after(page.cursor, page.limit + 1)
        .await?;
    let more = certs.len() > page.limit as usize;
    certs.truncate(page.limit as usize);
    let body: Value = certs.iter().map(|c| certificate(&app, c)).collect();
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Some(last) = certs.last().filter(|_| more) {
        // RFC 8288: the next page, as GitHub's API gives it.
        let next = format!(
            "</api/v1/certificates?limit={}&cursor={}>; rel=\"next\"",
            page.limit, last.id.0
        );
        if let Ok(value) = header::HeaderValue::from_str(&next) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

async fn show(State(app): State<Shared>, path: Result<Path<String>, PathRejection>) -> Answer {
    let cert = app.lab.find(&CertSelector::Name(name(path)?)).await?;
    ok(StatusCode::OK, certificate(&app, &cert))
}

/// `testca issue`'s options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueBody {
    name: String,
    #[serde(default)]
    sans: Vec<String>,
    days: Option<u32>,
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    not_yet_valid: bool,
    #[serde(default)]
    must_staple: bool,
    #[serde(default)]
    no_aia: bool,
    issuer: Option<String>,
    #[serde(default)]
    replace: bool,
}

async fn issue(State(app): State<Shared>, bytes: Result<Bytes, BytesRejection>) -> Answer {
    let b: IssueBody = body(bytes)?;
    let mut options = IssueOptions::new(b.name);
    options.sans = b.sans;
    if let Some(days) = b.days {
        options.days = days;
    }
    options.expired = b.expired;
    options.not_yet_valid = b.not_yet_valid;
    options.must_staple = b.must_staple;
    options.no_aia = b.no_aia;
    if let Some(issuer) = b.issuer {
        options.issuer = issuer.parse::<CaName>()?;
    }
    options.replace = b.replace;
    let cert = app.lab.issue(&options).await?;
    tracing::info!(name = %cert.name, serial = %cert.serial, "issued through the API");
    ok(StatusCode::CREATED, certificate(&app, &cert))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: Option<String>,
    at: Option<String>,
}

async fn revoke(
    State(app): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let name = name(path)?;
    let b: RevokeBody = body(bytes)?;
    let reason = b
        .reason
        .as_deref()
        .map(str::parse::<RevocationReason>)
        .transpose()?;
    let at = b.at.as_deref().map(parse_time).transpose()?;
    let cert = app
        .lab
        .revoke(&CertSelector::Name(name), reason, at)
        .await?;
    tracing::info!("{} (through the API)", report::status_line(&cert));
    ok(StatusCode::OK, certificate(&app, &cert))
}

async fn unrevoke(State(app): State<Shared>, path: Result<Path<String>, PathRejection>) -> Answer {
    let cert = app.lab.unrevoke(&CertSelector::Name(name(path)?)).await?;
    tracing::info!("{} (through the API)", report::status_line(&cert));
    ok(StatusCode::OK, certificate(&app, &cert))
}

async fn ocsp_answer(
    State(app): State<Shared>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let cert = app.lab.find(&CertSelector::Name(name(path)?)).await?;
    let issuer = app
        .lab
        .store()
        .issuer_by_name(&cert.issuer_name)
        .await?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::CONFLICT,
                "no-issuer",
                format!(
                    "the issuer {} of {} is not recorded in this lab",
                    cert.issuer_name, cert.name
                ),
            )
        })?;
    let url = match (&app.responder, super::ocsp::aia_ocsp_url(&cert.der)) {
        (Some(url), _) => url.clone(),
        (None, Some(url)) => url,
        (None, None) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "no-ocsp-url",
                format!(
                    "certificate {} has no OCSP URL (issued without AIA); start `testca serve` with --responder URL",
                    cert.name
                ),
            ));
        }
    };
    let request = super::ocsp::request_der(&cert.der, &issuer.cert_der)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e))?;
    let der = super::ocsp::ask(&app.http, &url, request, app.upstream_timeout)
        .await
        .map_err(Problem::upstream)?;
    let mut value = super::ocsp::decode(&der);
    value["url"] = json!(url);
    value["certificate"] = json!(cert.name);
    value["serial"] = json!(cert.serial.to_hex());
    ok(StatusCode::OK, value)
}

async fn staple(State(app): State<Shared>, path: Result<Path<String>, PathRejection>) -> Answer {
    let cert = app.lab.find(&CertSelector::Name(name(path)?)).await?;
    let status = app.stapler.status().await.map_err(Problem::upstream)?;
    let serial = cert.serial.to_hex();
    let entry = status
        .as_array()
        .and_then(|all| all.iter().find(|e| same_serial(e, &serial)))
        .cloned();
    let value = match entry {
        Some(entry) => {
            let (verdict, detail) = staple_verdict(&entry);
            json!({"stapler": app.stapler.base.as_str(), "served": true,
                   "verdict": verdict, "detail": detail, "entry": entry})
        }
        None => json!({"stapler": app.stapler.base.as_str(), "served": false,
                       "verdict": "not served",
                       "detail": format!("the stapler at {} does not serve {} (serial {serial})",
                                         app.stapler.base, cert.name),
                       "entry": null}),
    };
    ok(StatusCode::OK, value)
}

async fn check(State(app): State<Shared>, path: Result<Path<String>, PathRejection>) -> Answer {
    let cert = app.lab.find(&CertSelector::Name(name(path)?)).await?;
    let servername = first_dns_name(&cert.der).unwrap_or_else(|| cert.name.clone());
    let value = app
        .stapler
        .check(&servername)
        .await
        .map_err(Problem::upstream)?;
    ok(StatusCode::OK, value)
}

fn first_dns_name(der: &[u8]) -> Option<String> {
    let cert = openssl::x509::X509::from_der(der).ok()?;
    let names = cert.subject_alt_names()?;
    names.iter().find_map(|n| n.dnsname().map(str::to_string))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SignerBody {
    #[serde(default)]
    expired: bool,
    #[serde(default)]
    no_nocheck: bool,
    #[serde(default)]
    no_eku: bool,
}

async fn signer(
    State(app): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    bytes: Result<Bytes, BytesRejection>,
) -> Answer {
    let ca: CaName = name(path)?.parse()?;
    let b: SignerBody = body(bytes)?;
    let defects = SignerDefects {
        expired: b.expired,
        no_nocheck: b.no_nocheck,
        no_eku: b.no_eku,
    };
    let cert = app.lab.reissue_signer(ca, defects).await?;
    tracing::info!(ca = %ca, serial = %cert.serial, "signer re-issued through the API");
    ok(StatusCode::CREATED, certificate(&app, &cert))
}

async fn faults(State(app): State<Shared>) -> Answer {
    let all = app.lab.active_faults().await?;
    ok(StatusCode::OK, all.iter().map(report::fault_json).collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultBody {
    mode: String,
    certificate: Option<String>,
    #[serde(rename = "for")]
    lasting: Option<String>,
}

async fn set_fault(State(app): State<Shared>, bytes: Result<Bytes, BytesRejection>) -> Answer {
    let b: FaultBody = body(bytes)?;
    let mode: FaultMode = b.mode.parse()?;
    let lasting = b.lasting.as_deref().map(parse_lasting).transpose()?;
    let selector = b.certificate.map(CertSelector::Name);
    let fault = app.lab.set_fault(mode, selector.as_ref(), lasting).await?;
    tracing::info!("fault set through the API: {}", report::fault_line(&fault));
    ok(StatusCode::CREATED, report::fault_json(&fault))
}

async fn clear_faults(
    State(app): State<Shared>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|r| Problem::bad_request("bad-query", r.body_text()))?;
    if let Some(unknown) = query.keys().find(|k| *k != "certificate") {
        return Err(Problem::bad_request(
            "bad-query",
            format!("unknown query parameter '{unknown}'; the only one is certificate=NAME"),
        ));
    }
    let selector = query.get("certificate").cloned().map(CertSelector::Name);
    let cleared = app.lab.clear_faults(selector.as_ref()).await?;
    tracing::info!(cleared, "faults cleared through the API");
    ok(StatusCode::OK, json!({ "cleared": cleared }))
}

async fn stapler_status(State(app): State<Shared>) -> Answer {
    let status = app.stapler.status().await.map_err(Problem::upstream)?;
    ok(StatusCode::OK, status)
}

async fn stapler_refresh(State(app): State<Shared>) -> Answer {
    let status = app.stapler.refresh().await.map_err(Problem::upstream)?;
    tracing::info!("stapler refresh asked through the API");
    ok(StatusCode::OK, status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> = routes()
            .into_iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn bodies_are_parsed_strictly() {
        let empty: RevokeBody = body(Ok(Bytes::from_static(b""))).unwrap();
        assert!(empty.reason.is_none());
        let typo = body::<RevokeBody>(Ok(Bytes::from_static(b"{\"resaon\":\"x\"}"))).unwrap_err();
        assert_eq!(typo.status, StatusCode::BAD_REQUEST);
        assert!(typo.detail.contains("resaon"), "{}", typo.detail);
        let broken = body::<RevokeBody>(Ok(Bytes::from_static(b"{"))).unwrap_err();
        assert!(broken.detail.starts_with("malformed JSON body"));
    }

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_page_request_has_a_default_a_cap_and_a_cursor() {
        assert_eq!(
            page_request(&query(&[])).ok(),
            Some(PageRequest {
                limit: DEFAULT_PAGE,
                cursor: None
            })
        );
        assert_eq!(
            page_request(&query(&[("limit", "2"), ("cursor", "7")])).ok(),
            Some(PageRequest {
                limit: 2,
                cursor: Some(CertificateId(7))
            })
        );
        for bad in ["0", "1001", "-1", "ten"] {
            let e = page_request(&query(&[("limit", bad)])).expect_err(bad);
            assert!(
                e.detail.contains(&format!("invalid limit '{bad}'")),
                "{e:?}"
            );
        }
        let e = page_request(&query(&[("cursor", "abc")])).expect_err("bad cursor");
        assert!(e.detail.contains("invalid cursor 'abc'"), "{e:?}");
        let e = page_request(&query(&[("offset", "3")])).expect_err("unknown");
        assert!(
            e.detail.contains("unknown query parameter 'offset'"),
            "{e:?}"
        );
    }

    #[test]
    fn the_openapi_document_gives_the_list_its_page_parameters() {
        let doc: Value = serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        let list = &doc["paths"]["/api/v1/certificates"]["get"];
        let names: Vec<&str> = list["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert_eq!(names, ["limit", "cursor"]);
        assert!(list["responses"]["200"]["headers"]["Link"].is_object());
    }
}
