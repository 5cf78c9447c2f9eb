//! RFC 9457 problem details: how the API says what went wrong, carrying the
//! same one-line message as the command line.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short name of the kind of problem (the last part of its `type` URI).
    pub kind: &'static str,
    /// The one-line message (the CLI's, where there is one).
    pub detail: String,
}

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl Problem {
    /// A problem of `kind` with `status` and `detail`.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            kind,
            detail: detail.into(),
        }
    }

    /// 400: a request the API cannot act on.
    pub fn bad_request(kind: &'static str, detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, kind, detail)
    }

    /// 502: a server the API asked on the user's behalf (responder, stapler) failed.
    pub fn upstream(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_GATEWAY, "upstream", detail)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "type": format!("urn:ocsplab:problem:{}", self.kind),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        })
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Self {
        let (status, kind) = match &error {
            Error::UnknownName(_) | Error::UnknownSerial(_) => {
                (StatusCode::NOT_FOUND, "unknown-certificate")
            }
            Error::NameTaken(_) => (StatusCode::CONFLICT, "name-taken"),
            Error::AlreadyRevoked { .. } => (StatusCode::CONFLICT, "already-revoked"),
            Error::NotRevoked { .. } => (StatusCode::CONFLICT, "not-revoked"),
            Error::AmbiguousSerial(_) => (StatusCode::CONFLICT, "ambiguous-serial"),
            Error::Labcore(labcore::Error::Invalid { .. }) => {
                (StatusCode::BAD_REQUEST, "invalid-value")
            }
            Error::Locked(_) => (StatusCode::SERVICE_UNAVAILABLE, "database-locked"),
            Error::Unreachable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "database-unreachable"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Problem::new(status, kind, error.to_string())
    }
}

/// Parse errors of the shared types (`CaName`, `RevocationReason`, times)
/// answer like the library's own.
impl From<labcore::Error> for Problem {
    fn from(error: labcore::Error) -> Self {
        Problem::from(Error::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_the_cli_message() {
        let error = Error::UnknownName("nope".into());
        let message = error.to_string();
        let problem = Problem::from(error);
        assert_eq!(problem.status, StatusCode::NOT_FOUND);
        assert_eq!(problem.body()["detail"], message);
        assert_eq!(problem.body()["status"], 404);
        let invalid = Problem::from(Error::invalid("revocation reason", "x", "one of …"));
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
        // A PostgreSQL server gone away is temporary, like a lock: 503.
        let gone = Problem::from(Error::Unreachable {
            database: "postgres://lab@db/lab".into(),
            reason: "Connection refused".into(),
        });
        assert_eq!(gone.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            gone.body()["type"],
            "urn:ocsplab:problem:database-unreachable"
        );
    }
}
