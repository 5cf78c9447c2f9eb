//! The lab's stapler as the console sees it: its status (`/status.json`),
//! its refresh action, and `stapler check` run against it.
//!
//! testca cannot link the stapler's checker (the stapler crate depends on
//! testca), so "check now" runs the `stapler check` binary, the same one a
//! person runs, and reports its verdict (exit code) and its lines.

use std::path::{Path, PathBuf};
use std::time::Duration;

use labcore::verdict::Verdict;
use serde_json::{Value, json};

use super::ocsp::plain;

/// How the stapler is reached.
#[derive(Clone, Debug)]
pub struct StaplerClient {
    /// Base URL, e.g. `https://127.0.0.1:8443/`.
    pub base: reqwest::Url,
    /// The URL of its refresh action.
    pub admin_refresh: reqwest::Url,
    /// The `stapler` executable for `stapler check`.
    pub program: PathBuf,
    /// The lab's root certificate (trusted for the stapler's HTTPS and by the check).
    pub root_cert: PathBuf,
    /// The HTTPS client (trusts the lab's root only).
    pub client: reqwest::Client,
    /// Bound of each request and of the check.
    pub timeout: Duration,
}

/// How the stapler is reached, as `testca serve`'s flags say.
#[derive(Clone, Debug)]
pub struct StaplerSettings {
    /// Base URL.
    pub url: String,
    /// Refresh action [default: URL/admin/refresh].
    pub admin_refresh: Option<String>,
    /// Accept its certificate for any host name (it must still chain to the lab's root).
    pub any_name: bool,
    /// The `stapler` executable.
    pub program: PathBuf,
}

/// The verdict names of `stapler check`'s exit codes.
pub fn verdict_name(code: Option<i32>) -> &'static str {
    code.and_then(Verdict::from_exit_code)
        .map_or("check failed", Verdict::name)
}

/// The verdict on one certificate's entry of the stapler's status: what a
/// client connecting now would be handed, in a word and a sentence.
pub fn staple_verdict(entry: &Value) -> (String, String) {
    let staple = &entry["staple"];
    if let Some(status) = staple["status"].as_str() {
        let mut detail = format!("the stapler holds a valid staple saying {status}");
        if let (Some(reason), Some(at)) = (staple["reason"].as_str(), staple["revoked_at"].as_str())
        {
            detail.push_str(&format!(" ({reason}, at {at})"));
        }
        if let Some(next) = staple["next_update"].as_str() {
            detail.push_str(&format!("; nextUpdate {next}"));
        }
        return (status.to_string(), detail);
    }
    let why = entry["disabled_reason"]
        .as_str()
        .or(entry["last_error"].as_str())
        .unwrap_or("no answer fetched yet");
    let detail = if entry["must_staple"].as_bool() == Some(true) {
        format!("no staple ({why}); clients refuse this must-staple certificate")
    } else {
        format!("no staple ({why})")
    };
    ("no staple".to_string(), detail)
}

/// Whether the stapler's entry is for this serial (hex, any case, colons allowed).
pub fn same_serial(entry: &Value, serial_hex: &str) -> bool {
    let norm = |s: &str| s.replace(':', "").to_ascii_uppercase();
    entry["serial"].as_str().is_some_and(|s| {
        norm(s).trim_start_matches('0') == norm(serial_hex).trim_start_matches('0')
    })
}

impl StaplerClient {
    /// A client of the stapler at `base`, with its refresh action at
    /// `admin_refresh` (default `BASE/admin/refresh`).
    pub fn new(
        settings: &StaplerSettings,
        root_cert: &Path,
        timeout: Duration,
    ) -> Result<Self, String> {
        let base = settings.url.as_str();
        let admin_refresh = settings.admin_refresh.as_deref();
        let base = reqwest::Url::parse(base).map_err(|e| {
            format!("invalid stapler URL '{base}': {e}; e.g. https://127.0.0.1:8443/")
        })?;
        let admin_refresh = match admin_refresh {
            Some(url) => reqwest::Url::parse(url).map_err(|e| {
                format!("invalid stapler admin URL '{url}': {e}; e.g. https://127.0.0.1:8443/admin/refresh")
            })?,
            None => base
                .join("admin/refresh")
                .map_err(|e| format!("invalid stapler URL '{base}': {e}"))?,
        };
        let pem = std::fs::read(root_cert)
            .map_err(|e| format!("cannot read {}: {e}", root_cert.display()))?;
        let root = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("{} holds no certificate: {e}", root_cert.display()))?;
        let client = reqwest::Client::builder()
            .tls_certs_only([root])
            // Only the name check is relaxed: the chain must still lead to the lab's root.
            .tls_danger_accept_invalid_hostnames(settings.any_name)
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot make an HTTPS client: {}", plain(&e)))?;
        Ok(StaplerClient {
            base,
            admin_refresh,
            program: settings.program.clone(),
            root_cert: root_cert.to_path_buf(),
            client,
            timeout,
        })
    }

    /// The stapler's `/status.json`: one entry per certificate it serves.
    pub async fn status(&self) -> Result<Value, String> {
        let url = self
            .base
            .join("status.json")
            .map_err(|e| format!("invalid stapler URL: {e}"))?;
        let response =
            self.client.get(url.clone()).send().await.map_err(|e| {
                format!("the stapler at {} did not answer: {}", self.base, plain(&e))
            })?;
        read_json(response, &url).await
    }

    /// Asks the stapler to refresh every staple now; returns its new status.
    pub async fn refresh(&self) -> Result<Value, String> {
        let response = self
            .client
            .post(self.admin_refresh.clone())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the stapler's refresh at {} did not answer: {}",
                    self.admin_refresh,
                    plain(&e)
                )
            })?;
        read_json(response, &self.admin_refresh).await
    }

    /// Runs `stapler check HOST:PORT --ca ROOT --servername NAME` against the stapler.
    pub async fn check(&self, servername: &str) -> Result<Value, String> {
        let host = self
            .base
            .host_str()
            .ok_or_else(|| format!("the stapler URL {} has no host", self.base))?;
        let port = self.base.port_or_known_default().unwrap_or(443);
        let target = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("check")
            .arg(&target)
            .arg("--ca")
            .arg(&self.root_cert)
            .arg("--servername")
            .arg(servername)
            .arg("--timeout")
            .arg(format!("{}s", self.timeout.as_secs().max(1)))
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(self.timeout + Duration::from_secs(5), command.output())
            .await
            .map_err(|_| format!("`stapler check {target}` did not finish in time"))?
            .map_err(|e| {
                format!(
                    "cannot run {}: {e}; pass --stapler-bin with the path of the stapler binary",
                    self.program.display()
                )
            })?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let line = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string()))
        };
        // `verdict:     REJECT: why; fix: what to do`
        let verdict_line = line("verdict:");
        let (summary, remedy) = match verdict_line.as_deref().map(|l| l.split_once("; fix: ")) {
            Some(Some((summary, fix))) => (Some(summary.to_string()), Some(fix.to_string())),
            _ => (verdict_line.clone(), None),
        };
        Ok(json!({
            "target": target,
            "servername": servername,
            "exit_code": output.status.code(),
            "verdict": verdict_name(output.status.code()),
            "summary": summary,
            "remedy": remedy,
            "report": text,
            "stderr": String::from_utf8_lossy(&output.stderr),
        }))
    }
}

async fn read_json(response: reqwest::Response, url: &reqwest::Url) -> Result<Value, String> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("the stapler broke off its answer from {url}: {}", plain(&e)))?;
    if !status.is_success() {
        return Err(format!(
            "the stapler answered HTTP {status} at {url}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| format!("the stapler's answer at {url} is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_follows_the_staple() {
        let revoked = json!({"staple": {"status": "revoked", "reason": "keyCompromise",
            "revoked_at": "2026-01-01T00:00:00Z", "next_update": "x"}});
        assert_eq!(staple_verdict(&revoked).0, "revoked");
        assert!(staple_verdict(&revoked).1.contains("keyCompromise"));
        let none = json!({"staple": null, "must_staple": true, "last_error": "tryLater"});
        let (word, detail) = staple_verdict(&none);
        assert_eq!(word, "no staple");
        assert!(
            detail.contains("tryLater") && detail.contains("refuse"),
            "{detail}"
        );
    }

    #[test]
    fn serials_match_in_any_spelling() {
        let entry = json!({"serial": "0a:bc"});
        assert!(same_serial(&entry, "0ABC"));
        assert!(same_serial(&entry, "ABC"));
        assert!(!same_serial(&entry, "ABD"));
    }

    #[test]
    fn exit_codes_are_named() {
        assert_eq!(verdict_name(Some(1)), "revoked");
        assert_eq!(verdict_name(None), "check failed");
    }
}
