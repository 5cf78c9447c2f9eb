//! The clients that judge a staple, run as a user would run them: our
//! `stapler check`, `openssl s_client -status`, `curl --cert-status` and
//! `gnutls-cli` (which enforces must-staple). Each run is bounded in time
//! and summed up as an [`Observation`].

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{self, run};

/// Longest a client may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// What a client saw.
#[derive(Clone, Debug)]
pub struct Observation {
    /// Which client.
    pub client: &'static str,
    /// Whether a staple was received (when the client says).
    pub stapled: Option<bool>,
    /// The status the staple gave (`good`, `revoked`, `unknown`), when the client shows it.
    pub status: Option<String>,
    /// Whether the client accepted the connection (exit code 0).
    pub accepted: bool,
    /// Its exit code.
    pub exit: Option<i32>,
    /// The line that says most.
    pub detail: String,
    /// Everything it printed.
    pub output: String,
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.accepted {
            "accepted"
        } else {
            "REJECTED"
        };
        let staple = match (self.stapled, &self.status) {
            (Some(true), Some(status)) => format!("staple {status}"),
            (Some(true), None) => "stapled".into(),
            (Some(false), _) => "no staple".into(),
            (None, _) => String::new(),
        };
        write!(
            f,
            "{:<18} {verdict:<9} exit {:<3} {staple:<16} {}",
            self.client,
            self.exit.map_or("-".into(), |c| c.to_string()),
            self.detail
        )
    }
}

/// Whether a program is on the PATH.
pub fn available(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Makes sure a peer program exists. When it does not, the caller skips:
/// [`harness::skip`] says `skipped: …` (and fails under CI, whose script
/// installs every peer).
pub fn require(program: &str) -> bool {
    if available(program) {
        return true;
    }
    harness::skip(&format!(
        "{program} is not installed (scripts/install-deps installs it)"
    ));
    false
}

/// `stapler check ADDR --servername NAME --ca CA [--must-staple]`.
pub fn stapler_check(
    addr: SocketAddr,
    servername: &str,
    ca: &Path,
    must_staple: bool,
) -> Observation {
    let mut cmd = harness::command("stapler");
    cmd.arg("check")
        .arg(addr.to_string())
        .args(["--servername", servername])
        .arg("--ca")
        .arg(ca);
    if must_staple {
        cmd.arg("--must-staple");
    }
    let out = run(&mut cmd, CLIENT_TIMEOUT);
    let text = out.stdout.clone();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|rest| rest.trim().to_string()))
    };
    let staple = field("staple:");
    let status = field("status:").map(|s| {
        s.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    });
    Observation {
        client: "stapler check",
        stapled: staple.as_deref().map(|s| s != "none"),
        status,
        accepted: out.code == Some(0),
        exit: out.code,
        detail: field("verdict:")
            .unwrap_or_else(|| out.stderr.lines().last().unwrap_or_default().to_string()),
        output: out.combined(),
    }
}

/// `openssl s_client -connect ADDR -servername NAME -status -CAfile CA`:
/// prints the staple, verifies nothing (it accepts any staple).
pub fn s_client(addr: SocketAddr, servername: &str, ca: &Path) -> Observation {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &addr.to_string(),
        "-servername",
        servername,
        "-status",
        "-CAfile",
    ])
    .arg(ca);
    let out = run(&mut cmd, CLIENT_TIMEOUT);
    let text = out.stdout.clone();
    let no_response = text.contains("OCSP response: no response sent");
    let status = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Cert Status:")
            .map(|s| s.trim().to_string())
    });
    let verify = text
        .lines()
        .find(|l| l.trim_start().starts_with("Verify return code:"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    let handshake =
        text.contains("-----BEGIN CERTIFICATE-----") || text.contains("Server certificate");
    Observation {
        client: "openssl s_client",
        stapled: handshake.then_some(!no_response && status.is_some()),
        status,
        accepted: out.code == Some(0) && handshake,
        exit: out.code,
        detail: verify,
        output: out.combined(),
    }
}

/// `curl --cert-status --cacert CA https://NAME:PORT/` with NAME resolved to
/// the address: fails on a missing, invalid, expired or revoked staple.
pub fn curl_cert_status(addr: SocketAddr, servername: &str, ca: &Path) -> Observation {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "--max-time",
        "10",
        "--cert-status",
        "--cacert",
    ])
    .arg(ca)
    .args([
        "--resolve",
        &format!("{servername}:{}:{}", addr.port(), addr.ip()),
    ])
    .arg(format!("https://{servername}:{}/", addr.port()));
    let out = run(&mut cmd, CLIENT_TIMEOUT);
    Observation {
        client: "curl --cert-status",
        stapled: None,
        status: None,
        accepted: out.code == Some(0),
        exit: out.code,
        detail: out.stderr.lines().next().unwrap_or("ok").trim().to_string(),
        output: out.combined(),
    }
}

/// `gnutls-cli --x509cafile CA --sni-hostname NAME --verify-hostname NAME -p PORT IP`:
/// verifies the staple when there is one, and requires one for must-staple certificates.
pub fn gnutls_cli(addr: SocketAddr, servername: &str, ca: &Path) -> Observation {
    let mut cmd = Command::new("gnutls-cli");
    cmd.arg("--x509cafile")
        .arg(ca)
        .args([
            "--sni-hostname",
            servername,
            "--verify-hostname",
            servername,
        ])
        .args(["-p", &addr.port().to_string(), &addr.ip().to_string()]);
    let out = run(&mut cmd, CLIENT_TIMEOUT);
    let text = out.combined();
    let status_line = text
        .lines()
        .find(|l| l.contains("- Status:"))
        .map(|l| l.trim().trim_start_matches("- Status:").trim().to_string())
        .unwrap_or_else(|| text.lines().last().unwrap_or_default().trim().to_string());
    let ocsp = text
        .lines()
        .find(|l| l.contains("OCSP") && l.contains("status"))
        .map(str::to_string);
    Observation {
        client: "gnutls-cli",
        stapled: None,
        status: ocsp.and_then(|l| {
            ["good", "revoked", "unknown"]
                .into_iter()
                .find(|s| l.to_ascii_lowercase().contains(s))
                .map(str::to_string)
        }),
        accepted: out.code == Some(0),
        exit: out.code,
        detail: status_line,
        output: text,
    }
}

/// `curl -s --cacert CA [-X POST] https://NAME:PORT/PATH`: the stapler's own
/// HTTPS endpoints (`/status.json`, `/admin/refresh`). Returns (HTTP status, body).
pub fn https(
    addr: SocketAddr,
    servername: &str,
    ca: &Path,
    method: &str,
    path: &str,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "--max-time",
        "15",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "--cacert",
    ])
    .arg(ca)
    .args([
        "--resolve",
        &format!("{servername}:{}:{}", addr.port(), addr.ip()),
    ])
    .arg(format!("https://{servername}:{}{path}", addr.port()));
    let out = run(&mut cmd, CLIENT_TIMEOUT);
    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or((&out.stdout, "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}
