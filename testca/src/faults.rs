//! Faults that QA injects into the responder: what it should do wrong, for
//! which certificate, until when. `testca fault set` stores them in the
//! revocation database; the running responder obeys them on its next request.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::ids::CertificateId;
use crate::serial::Serial;

/// Longest delay a fault may ask for; longer would only look like a hang.
pub const MAX_DELAY: Duration = Duration::from_secs(600);

/// What the responder does wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// Answers tryLater.
    TryLater,
    /// Answers internalError.
    InternalError,
    /// Answers unauthorized.
    Unauthorized,
    /// Answers bytes that are not DER.
    MalformedResponse,
    /// Answers with a nextUpdate already in the past.
    Stale,
    /// Answers with a thisUpdate in the future.
    Future,
    /// Answers without nextUpdate.
    NoNextUpdate,
    /// Answers with a corrupted signature.
    BadSignature,
    /// Signs with a key no CA certified.
    WrongSigner,
    /// Answers for another serial than the one asked about.
    WrongCertId,
    /// Waits before answering.
    Delay(Duration),
    /// Answers HTTP 500 with no OCSP body.
    Http500,
    /// Closes the connection without answering.
    Close,
}

impl FaultMode {
    /// The names accepted on the command line (`delay` takes `=MS`).
    pub const NAMES: [&'static str; 13] = [
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
        "delay=MS",
        "http-500",
        "close",
    ];
}

impl FromStr for FaultMode {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let t = text.trim();
        let mode = match t {
            "try-later" => FaultMode::TryLater,
            "internal-error" => FaultMode::InternalError,
            "unauthorized" => FaultMode::Unauthorized,
            "malformed-response" => FaultMode::MalformedResponse,
            "stale" => FaultMode::Stale,
            "future" => FaultMode::Future,
            "no-next-update" => FaultMode::NoNextUpdate,
            "bad-signature" => FaultMode::BadSignature,
            "wrong-signer" => FaultMode::WrongSigner,
            "wrong-cert-id" => FaultMode::WrongCertId,
            "http-500" => FaultMode::Http500,
            "close" => FaultMode::Close,
            _ => match t.strip_prefix("delay=") {
                Some(ms) => {
                    let ms: u64 = ms.parse().map_err(|_| {
                        Error::invalid(
                            "fault delay",
                            text,
                            "delay=MS, milliseconds, e.g. delay=2000",
                        )
                    })?;
                    let delay = Duration::from_millis(ms);
                    if delay > MAX_DELAY {
                        return Err(Error::invalid("fault delay", text, "at most 600000 ms"));
                    }
                    FaultMode::Delay(delay)
                }
                None => {
                    return Err(Error::invalid(
                        "fault mode",
                        text,
                        format!("one of {}", FaultMode::NAMES.join(", ")),
                    ));
                }
            },
        };
        Ok(mode)
    }
}

impl fmt::Display for FaultMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FaultMode::TryLater => "try-later",
            FaultMode::InternalError => "internal-error",
            FaultMode::Unauthorized => "unauthorized",
            FaultMode::MalformedResponse => "malformed-response",
            FaultMode::Stale => "stale",
            FaultMode::Future => "future",
            FaultMode::NoNextUpdate => "no-next-update",
            FaultMode::BadSignature => "bad-signature",
            FaultMode::WrongSigner => "wrong-signer",
            FaultMode::WrongCertId => "wrong-cert-id",
            FaultMode::Delay(d) => return write!(f, "delay={}", d.as_millis()),
            FaultMode::Http500 => "http-500",
            FaultMode::Close => "close",
        };
        f.write_str(name)
    }
}

/// Parses how long a fault lasts, e.g. `30s`, `5m`, `1h 30m`.
pub fn parse_lasting(text: &str) -> Result<Duration> {
    humantime::parse_duration(text.trim())
        .map_err(|_| Error::invalid("fault duration", text, "a duration such as 30s, 5m or 1h"))
}

/// A fault in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub mode: FaultMode,
    /// For which certificate (`None`: every certificate).
    pub certificate: Option<FaultTarget>,
    /// Until when (`None`: until cleared).
    pub expires_at: Option<OffsetDateTime>,
}

/// The certificate a fault is limited to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultTarget {
    /// Its row id.
    pub id: CertificateId,
    /// Its name.
    pub name: String,
    /// Its serial.
    pub serial: Serial,
}

impl Fault {
    /// Whether the fault is still in force at `now`.
    pub fn active_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|end| now < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips() {
        for name in FaultMode::NAMES {
            let name = name.replace("MS", "250");
            let mode: FaultMode = name.parse().unwrap();
            assert_eq!(mode.to_string(), name);
        }
    }

    #[test]
    fn bad_modes_are_refused_in_one_line() {
        for bad in ["explode", "delay=", "delay=x", "delay=9999999"] {
            let err = bad.parse::<FaultMode>().unwrap_err().to_string();
            assert!(
                !err.contains('\n') && err.contains(bad.split('=').next().unwrap_or(bad)),
                "{err}"
            );
        }
    }
}
