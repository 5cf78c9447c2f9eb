//! The scenario file: a QA story written in TOML, checked whole before
//! anything runs. Every built-in scenario is such a file in `scenarios/`.
//!
//! ```toml
//! name = "revoked"                      # optional: the file's stem
//! description = "revoke the leaf: clients that check the staple reject it"
//!
//! [[step]]
//! start = "responder"
//!
//! [[step]]
//! start = "stapler"
//!
//! [[step]]
//! revoke = "localhost"
//! reason = "superseded"
//!
//! [[step]]
//! refresh = "stapler"
//!
//! [[step]]
//! expect.stapler-check = "revoked"
//! expect.curl = "rejected"
//! ```
//!
//! Each step has exactly one action key (`issue`, `revoke`, `unrevoke`,
//! `signer`, `fault`, `clear-faults`, `start`, `stop`, `refresh`, `wait`,
//! `show`, `expect`, `note`) and the options that belong to that action. A
//! mistake is reported as `FILE:LINE:COLUMN: FIELD: what is wrong`, with the
//! line and column from the TOML parser's spans.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use toml::Spanned;

use crate::peers::PeerKind;

/// A scenario file that could not be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {}{message}", path.display(), field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the mistake.
    pub line: usize,
    /// 1-based column of the mistake.
    pub column: usize,
    /// The key that is wrong, when there is one (`expect.curl`, `reason`).
    pub field: Option<String>,
    /// What is wrong, and what to do.
    pub message: String,
}

/// A client that is asked to connect to the server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// `stapler check`.
    StaplerCheck,
    /// `stapler check --must-staple`.
    StaplerCheckMustStaple,
    /// `openssl s_client -status`.
    Openssl,
    /// `curl --cert-status`.
    Curl,
    /// `gnutls-cli`.
    GnutlsCli,
}

impl Client {
    /// Every client, in the order they are asked.
    pub const ALL: [Client; 5] = [
        Client::StaplerCheck,
        Client::StaplerCheckMustStaple,
        Client::Openssl,
        Client::Curl,
        Client::GnutlsCli,
    ];

    /// Its key in a scenario file.
    pub fn key(self) -> &'static str {
        match self {
            Client::StaplerCheck => "stapler-check",
            Client::StaplerCheckMustStaple => "stapler-check-must-staple",
            Client::Openssl => "openssl",
            Client::Curl => "curl",
            Client::GnutlsCli => "gnutls-cli",
        }
    }

    /// The program it runs, when it is not one of the lab's own.
    pub fn program(self) -> Option<&'static str> {
        match self {
            Client::StaplerCheck | Client::StaplerCheckMustStaple => None,
            Client::Openssl => Some("openssl"),
            Client::Curl => Some("curl"),
            Client::GnutlsCli => Some("gnutls-cli"),
        }
    }

    /// The outcomes this client can tell apart.
    pub fn tells(self) -> &'static [Outcome] {
        use Outcome::*;
        match self {
            Client::StaplerCheck | Client::StaplerCheckMustStaple => &[
                Good,
                Revoked,
                InvalidStaple,
                NoStaple,
                BadCertificate,
                ConnectionFailed,
                Accepted,
                Rejected,
            ],
            Client::Openssl => &[Good, Revoked, NoStaple, Accepted, Rejected],
            // They verify the staple but only say whether they connected.
            Client::Curl | Client::GnutlsCli => &[Accepted, Rejected],
        }
    }
}

/// What a client concluded: the one vocabulary of expectations. The
/// stapler check's verdicts (its exit codes 0 to 5) and whether the client
/// connected at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// A valid staple says good (`stapler check` exit 0, `Cert Status: good`).
    Good,
    /// A valid staple says revoked (exit 1, `Cert Status: revoked`).
    Revoked,
    /// A staple was sent but must not be trusted (exit 2).
    InvalidStaple,
    /// No staple was sent (exit 3, `OCSP response: no response sent`).
    NoStaple,
    /// The certificate or its chain does not verify (exit 4).
    BadCertificate,
    /// No TLS connection could be made (exit 5).
    ConnectionFailed,
    /// The client connected (exit 0).
    Accepted,
    /// The client refused the connection (exit non-zero).
    Rejected,
}

impl Outcome {
    /// Its name in a scenario file.
    pub fn key(self) -> &'static str {
        match self {
            Outcome::Good => "good",
            Outcome::Revoked => "revoked",
            Outcome::InvalidStaple => "invalid-staple",
            Outcome::NoStaple => "no-staple",
            Outcome::BadCertificate => "bad-certificate",
            Outcome::ConnectionFailed => "connection-failed",
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
        }
    }
}

/// What one client must conclude.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientExpectation {
    /// The outcome it must (or, with `negated`, must not) reach.
    pub outcome: Outcome,
    /// `{ not = "good" }`: anything but this outcome.
    pub negated: bool,
    /// Texts its output must contain.
    pub says: Vec<String>,
    /// Whether a staple must (or must not) have come, whatever the verdict
    /// (a chain that does not verify hides "no staple" behind exit 4).
    pub stapled: Option<bool>,
}

impl fmt::Display for ClientExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negated {
            write!(f, "not ")?;
        }
        write!(f, "{}", self.outcome.key())?;
        match self.stapled {
            Some(true) => write!(f, ", stapled")?,
            Some(false) => write!(f, ", no staple sent")?,
            None => {}
        }
        for text in &self.says {
            write!(f, ", says \"{text}\"")?;
        }
        Ok(())
    }
}

/// The table form: `{ is = "no-staple", says = ["REJECT"] }` or `{ not = "good" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientExpectationTable {
    is: Option<Outcome>,
    not: Option<Outcome>,
    #[serde(default)]
    says: Vec<String>,
    stapled: Option<bool>,
}

impl<'de> Deserialize<'de> for ClientExpectation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Expected;
        impl<'de> Visitor<'de> for Expected {
            type Value = ClientExpectation;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an outcome (\"good\", \"revoked\", \"no-staple\", …) or a table { is = …, says = [...], stapled = … } or { not = … }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let outcome = Outcome::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(ClientExpectation {
                    outcome,
                    negated: false,
                    says: Vec::new(),
                    stapled: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let table = ClientExpectationTable::deserialize(MapAccessDeserializer::new(map))?;
                match (table.is, table.not) {
                    (Some(outcome), None) => Ok(ClientExpectation {
                        outcome,
                        negated: false,
                        says: table.says,
                        stapled: table.stapled,
                    }),
                    (None, Some(outcome)) => Ok(ClientExpectation {
                        outcome,
                        negated: true,
                        says: table.says,
                        stapled: table.stapled,
                    }),
                    _ => Err(de::Error::custom(
                        "give exactly one of `is` and `not`, e.g. { is = \"revoked\" }",
                    )),
                }
            }
        }
        deserializer.deserialize_any(Expected)
    }
}

/// Whether the stapler still holds the staple it held before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StapleExpectation {
    /// The stapler holds a staple (it is remembered for `unchanged`).
    Held,
    /// The stapler holds the same staple (same producedAt) as at the last `held`.
    Unchanged,
}

/// The stapler's `/health` answer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthExpectation {
    /// Its HTTP status.
    pub code: u16,
    /// Texts its body must contain.
    #[serde(default)]
    pub says: Vec<String>,
}

/// What must hold at one moment: per client, and about the server itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expectations {
    /// `stapler check`.
    pub stapler_check: Option<ClientExpectation>,
    /// `stapler check --must-staple`.
    pub stapler_check_must_staple: Option<ClientExpectation>,
    /// `openssl s_client -status`.
    pub openssl: Option<ClientExpectation>,
    /// `curl --cert-status`.
    pub curl: Option<ClientExpectation>,
    /// `gnutls-cli`.
    pub gnutls_cli: Option<ClientExpectation>,
    /// The staple the stapler holds (its `/status.json`).
    pub staple: Option<StapleExpectation>,
    /// The status of that staple (`good`, `revoked`).
    pub staple_status: Option<String>,
    /// Text the stapler's last error contains.
    pub last_error: Option<String>,
    /// Texts that one line of the server's log contains, all of them.
    pub log: Option<Vec<String>>,
    /// The stapler's `/health`.
    pub health: Option<HealthExpectation>,
}

impl Expectations {
    /// The client expectations, in the order clients are asked.
    pub fn clients(&self) -> Vec<(Client, &ClientExpectation)> {
        Client::ALL
            .into_iter()
            .filter_map(|c| self.client(c).map(|e| (c, e)))
            .collect()
    }

    fn client(&self, client: Client) -> Option<&ClientExpectation> {
        match client {
            Client::StaplerCheck => self.stapler_check.as_ref(),
            Client::StaplerCheckMustStaple => self.stapler_check_must_staple.as_ref(),
            Client::Openssl => self.openssl.as_ref(),
            Client::Curl => self.curl.as_ref(),
            Client::GnutlsCli => self.gnutls_cli.as_ref(),
        }
    }

    fn is_empty(&self) -> bool {
        *self == Expectations::default()
    }

    /// A short description (`stapler-check good, curl rejected`).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .clients()
            .iter()
            .map(|(c, e)| format!("{} {e}", c.key()))
            .collect();
        if let Some(s) = self.staple {
            parts.push(format!("staple {s:?}").to_lowercase());
        }
        if let Some(s) = &self.staple_status {
            parts.push(format!("staple-status {s}"));
        }
        if let Some(s) = &self.last_error {
            parts.push(format!("last-error \"{s}\""));
        }
        if let Some(texts) = &self.log {
            parts.push(format!("log \"{}\"", texts.join("\" \"")));
        }
        if let Some(h) = &self.health {
            parts.push(format!("health {}", h.code));
        }
        parts.join(", ")
    }
}

/// A server the scenario starts and stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Program {
    /// The lab's OCSP responder.
    Responder,
    /// The lab's stapling TLS server.
    Stapler,
    /// nginx, configured for stapling as the seeds say.
    Nginx,
    /// Apache httpd, configured for stapling as the seeds say.
    Apache,
}

impl Program {
    fn key(self) -> &'static str {
        match self {
            Program::Responder => "responder",
            Program::Stapler => "stapler",
            Program::Nginx => "nginx",
            Program::Apache => "apache",
        }
    }

    /// The peer kind, for nginx and Apache.
    pub fn peer(self) -> Option<PeerKind> {
        match self {
            Program::Nginx => Some(PeerKind::Nginx),
            Program::Apache => Some(PeerKind::Apache),
            Program::Responder | Program::Stapler => None,
        }
    }
}

/// Which chain a TLS server is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chain {
    /// The leaf and its issuer (`certs/NAME/fullchain.pem`).
    #[default]
    Full,
    /// The leaf alone (`certs/NAME/cert.pem`); nginx and Apache then trust
    /// only the root, so the issuer is nowhere.
    Leaf,
}

/// Whose certificate a TLS server serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabChoice {
    /// The scenario's lab.
    #[default]
    This,
    /// A second, separate lab (a CA the responder does not serve) whose
    /// certificates point at this responder.
    Other,
}

/// How a TLS server is started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerStart {
    /// Which server.
    pub program: Program,
    /// The lab certificate it serves (its name, also the SNI name clients use).
    pub cert: String,
    /// Its chain.
    pub chain: Chain,
    /// Whose certificate.
    pub lab: LabChoice,
    /// Extra arguments (the responder's and the stapler's).
    pub args: Vec<String>,
    /// Apache's `SSLStaplingStandardCacheTimeout`, seconds.
    pub cache_timeout: Option<u32>,
    /// The server must exit at start, with one log line containing all these.
    pub exits: Option<Vec<String>>,
}

/// One thing a scenario does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `testca ARGS`: issue, revoke, unrevoke, signer, fault set, fault clear.
    Testca(Vec<String>),
    /// Start a server.
    Start(ServerStart),
    /// Stop a server (SIGTERM).
    Stop(Program),
    /// Ask the stapler to fetch now (`POST /admin/refresh`).
    Refresh,
    /// Wait this long, or until the expectations hold (at most this long).
    Wait {
        /// How long, at most.
        at_most: Duration,
        /// What to wait for; none: just wait.
        until: Option<Expectations>,
    },
    /// Ask clients to connect and show what they saw, expecting nothing.
    Show {
        /// The clients.
        clients: Vec<Client>,
        /// How many rounds.
        times: u32,
    },
    /// Check expectations.
    Expect(Expectations),
    /// A line for the reader of the report.
    Note(String),
}

/// One step, and where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Its line in the file (the line of its action key).
    pub line: usize,
    /// What it does.
    pub action: Action,
}

/// A scenario read from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioFile {
    /// Its name (`revoked`).
    pub name: String,
    /// One line saying what it shows.
    pub description: String,
    /// Where it was read.
    pub path: PathBuf,
    /// What it does, in order.
    pub steps: Vec<Step>,
}

impl ScenarioFile {
    /// Programs besides the lab's own that it needs, in a stable order:
    /// openssl and curl always (they drive the stapler's pages), then the
    /// servers and clients it uses.
    pub fn needs(&self) -> Vec<&'static str> {
        let mut needs = vec!["openssl", "curl"];
        let mut add = |p: &'static str| {
            if !needs.contains(&p) {
                needs.push(p);
            }
        };
        for step in &self.steps {
            match &step.action {
                Action::Start(start) => {
                    if let Some(peer) = start.program.peer() {
                        add(peer.program());
                    }
                }
                Action::Show { clients, .. } => clients
                    .iter()
                    .filter_map(|c| c.program())
                    .for_each(&mut add),
                Action::Expect(e) | Action::Wait { until: Some(e), .. } => e
                    .clients()
                    .iter()
                    .filter_map(|(c, _)| c.program())
                    .for_each(&mut add),
                _ => {}
            }
        }
        needs
    }
}

/// A step as written: one action key and its options, all optional here;
/// [`RawStep::into_step`] checks which belong together.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStep {
    // The actions.
    issue: Option<Spanned<String>>,
    revoke: Option<Spanned<String>>,
    unrevoke: Option<Spanned<String>>,
    signer: Option<Spanned<String>>,
    fault: Option<Spanned<String>>,
    clear_faults: Option<Spanned<String>>,
    start: Option<Spanned<Program>>,
    stop: Option<Spanned<Program>>,
    refresh: Option<Spanned<Program>>,
    wait: Option<Spanned<String>>,
    show: Option<Spanned<Vec<Client>>>,
    expect: Option<Spanned<Expectations>>,
    note: Option<Spanned<String>>,
    // Options of `issue`.
    san: Option<Spanned<Vec<String>>>,
    days: Option<Spanned<u32>>,
    expired: Option<Spanned<bool>>,
    not_yet_valid: Option<Spanned<bool>>,
    must_staple: Option<Spanned<bool>>,
    no_aia: Option<Spanned<bool>>,
    issuer: Option<Spanned<String>>,
    replace: Option<Spanned<bool>>,
    // Options of `revoke`.
    reason: Option<Spanned<String>>,
    at: Option<Spanned<String>>,
    // Options of `signer`.
    no_eku: Option<Spanned<bool>>,
    no_nocheck: Option<Spanned<bool>>,
    // Options of `fault`.
    cert: Option<Spanned<String>>,
    #[serde(rename = "for")]
    lasting: Option<Spanned<String>>,
    // Options of `start`.
    args: Option<Spanned<Vec<String>>>,
    chain: Option<Spanned<Chain>>,
    lab: Option<Spanned<LabChoice>>,
    cache_timeout: Option<Spanned<u32>>,
    exits: Option<Spanned<Vec<String>>>,
    // Options of `wait` and `show`.
    until: Option<Spanned<Expectations>>,
    times: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<Spanned<String>>,
    description: Spanned<String>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

/// A mistake found after parsing, at a span of the source.
struct Mistake {
    span: Range<usize>,
    field: String,
    message: String,
}

fn mistake(span: Range<usize>, field: &str, message: impl Into<String>) -> Mistake {
    Mistake {
        span,
        field: field.to_string(),
        message: message.into(),
    }
}

/// The keys present in a step, with their spans.
type Present = Vec<(&'static str, Range<usize>)>;

impl RawStep {
    fn actions(&self) -> Present {
        let mut present = Vec::new();
        macro_rules! present {
            ($($field:ident => $key:literal),*) => {$(
                if let Some(v) = &self.$field { present.push(($key, v.span())); }
            )*};
        }
        present!(issue => "issue", revoke => "revoke", unrevoke => "unrevoke", signer => "signer",
              fault => "fault", clear_faults => "clear-faults", start => "start", stop => "stop",
              refresh => "refresh", wait => "wait", show => "show", expect => "expect", note => "note");
        present
    }

    fn options(&self) -> Present {
        let mut present = Vec::new();
        macro_rules! present {
            ($($field:ident => $key:literal),*) => {$(
                if let Some(v) = &self.$field { present.push(($key, v.span())); }
            )*};
        }
        present!(san => "san", days => "days", expired => "expired", not_yet_valid => "not-yet-valid",
              must_staple => "must-staple", no_aia => "no-aia", issuer => "issuer", replace => "replace",
              reason => "reason", at => "at", no_eku => "no-eku", no_nocheck => "no-nocheck",
              cert => "cert", lasting => "for", args => "args", chain => "chain", lab => "lab",
              cache_timeout => "cache-timeout", exits => "exits", until => "until", times => "times");
        present
    }

    /// The typed step; `step_span` is the whole `[[step]]` table's.
    fn into_step(self, step_span: Range<usize>, source: &str) -> Result<Step, Mistake> {
        let actions = self.actions();
        let (action_key, action_span) = match actions.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(mistake(
                    step_span,
                    "step",
                    "a step needs one action: issue, revoke, unrevoke, signer, fault, clear-faults, start, stop, refresh, wait, show, expect or note",
                ));
            }
            [_, (second, span), ..] => {
                return Err(mistake(
                    span.clone(),
                    second,
                    format!(
                        "a step has one action, and this one already has `{}`: start a new [[step]]",
                        actions[0].0
                    ),
                ));
            }
        };
        let allowed: &[&str] = match action_key {
            "issue" => &[
                "san",
                "days",
                "expired",
                "not-yet-valid",
                "must-staple",
                "no-aia",
                "issuer",
                "replace",
            ],
            "revoke" => &["reason", "at"],
            "signer" => &["expired", "no-eku", "no-nocheck"],
            "fault" => &["cert", "for"],
            "clear-faults" => &["cert"],
            "start" => &["cert", "chain", "lab", "args", "cache-timeout", "exits"],
            "wait" => &["until"],
            "show" => &["times"],
            _ => &[],
        };
        for (key, span) in self.options() {
            if !allowed.contains(&key) {
                let hint = if allowed.is_empty() {
                    format!("`{action_key}` takes no options")
                } else {
                    format!("`{action_key}` takes {}", allowed.join(", "))
                };
                return Err(mistake(
                    span,
                    key,
                    format!("`{key}` does not belong to a `{action_key}` step: {hint}"),
                ));
            }
        }
        let flag = |v: &Option<Spanned<bool>>, name: &str, args: &mut Vec<String>| {
            if v.as_ref().is_some_and(|b| *b.get_ref()) {
                args.push(format!("--{name}"));
            }
        };
        let action = match action_key {
            "issue" => {
                let name = self.issue.map(Spanned::into_inner).unwrap_or_default();
                let mut args = vec!["issue".to_string(), name];
                for san in self.san.map(Spanned::into_inner).unwrap_or_default() {
                    args.extend(["--san".to_string(), san]);
                }
                if let Some(days) = &self.days {
                    args.extend(["--days".to_string(), days.get_ref().to_string()]);
                }
                flag(&self.expired, "expired", &mut args);
                flag(&self.not_yet_valid, "not-yet-valid", &mut args);
                flag(&self.must_staple, "must-staple", &mut args);
                flag(&self.no_aia, "no-aia", &mut args);
                with_value(&mut args, "--issuer", self.issuer);
                flag(&self.replace, "replace", &mut args);
                Action::Testca(args)
            }
            "revoke" => {
                let mut args = vec![
                    "revoke".to_string(),
                    self.revoke.map(Spanned::into_inner).unwrap_or_default(),
                ];
                with_value(&mut args, "--reason", self.reason);
                // testca owns the time syntax: a bad time stops the run with its message.
                with_value(&mut args, "--at", self.at);
                Action::Testca(args)
            }
            "unrevoke" => Action::Testca(vec![
                "unrevoke".into(),
                self.unrevoke.map(Spanned::into_inner).unwrap_or_default(),
            ]),
            "signer" => {
                let mut args = vec![
                    "signer".to_string(),
                    "--issuer".to_string(),
                    self.signer.map(Spanned::into_inner).unwrap_or_default(),
                ];
                flag(&self.expired, "expired", &mut args);
                flag(&self.no_eku, "no-eku", &mut args);
                flag(&self.no_nocheck, "no-nocheck", &mut args);
                Action::Testca(args)
            }
            "fault" => {
                let mut args = vec![
                    "fault".to_string(),
                    "set".to_string(),
                    self.fault.map(Spanned::into_inner).unwrap_or_default(),
                ];
                with_value(&mut args, "--cert", self.cert);
                with_value(&mut args, "--for", self.lasting);
                Action::Testca(args)
            }
            "clear-faults" => {
                let which = self
                    .clear_faults
                    .map(Spanned::into_inner)
                    .unwrap_or_default();
                let mut args = vec!["fault".to_string(), "clear".to_string()];
                if which != "all" {
                    args.extend(["--cert".to_string(), which]);
                }
                Action::Testca(args)
            }
            "start" => {
                let program = self
                    .start
                    .map(Spanned::into_inner)
                    .unwrap_or(Program::Responder);
                let for_program = |key: &'static str, span: Range<usize>, ok: &[Program]| {
                    if ok.contains(&program) {
                        Ok(())
                    } else {
                        Err(mistake(
                            span,
                            key,
                            format!(
                                "`{key}` is not an option of starting the {}: it belongs to {}",
                                program.key(),
                                ok.iter().map(|p| p.key()).collect::<Vec<_>>().join(", ")
                            ),
                        ))
                    }
                };
                use Program::*;
                let tls = [Stapler, Nginx, Apache];
                if let Some(v) = &self.cert {
                    for_program("cert", v.span(), &tls)?;
                }
                if let Some(v) = &self.chain {
                    for_program("chain", v.span(), &tls)?;
                }
                if let Some(v) = &self.lab {
                    for_program("lab", v.span(), &[Stapler])?;
                }
                if let Some(v) = &self.args {
                    for_program("args", v.span(), &[Responder, Stapler])?;
                }
                if let Some(v) = &self.cache_timeout {
                    for_program("cache-timeout", v.span(), &[Apache])?;
                }
                if let Some(v) = &self.exits {
                    for_program("exits", v.span(), &[Stapler])?;
                }
                Action::Start(ServerStart {
                    program,
                    cert: self
                        .cert
                        .map(Spanned::into_inner)
                        .unwrap_or_else(|| "localhost".into()),
                    chain: self.chain.map(Spanned::into_inner).unwrap_or_default(),
                    lab: self.lab.map(Spanned::into_inner).unwrap_or_default(),
                    args: self.args.map(Spanned::into_inner).unwrap_or_default(),
                    cache_timeout: self.cache_timeout.map(Spanned::into_inner),
                    exits: self.exits.map(Spanned::into_inner),
                })
            }
            "stop" => Action::Stop(
                self.stop
                    .map(Spanned::into_inner)
                    .unwrap_or(Program::Responder),
            ),
            "refresh" => {
                let what = self.refresh.as_ref().map(|r| (*r.get_ref(), r.span()));
                if let Some((program, span)) = what
                    && program != Program::Stapler
                {
                    return Err(mistake(
                        span,
                        "refresh",
                        format!(
                            "only the stapler can be asked to refresh, not the {}: write refresh = \"stapler\"",
                            program.key()
                        ),
                    ));
                }
                Action::Refresh
            }
            "wait" => {
                let at_most = match &self.wait {
                    Some(w) => duration(w, "wait")?,
                    None => Duration::ZERO,
                };
                let until = match self.until {
                    Some(until) => {
                        let span = until.span();
                        let e = until.into_inner();
                        check_expectations(&e, span.clone(), "until")?;
                        Some(e)
                    }
                    None => None,
                };
                Action::Wait { at_most, until }
            }
            "show" => {
                let clients = self.show.map(Spanned::into_inner).unwrap_or_default();
                let times = self.times.map(Spanned::into_inner).unwrap_or(1);
                Action::Show { clients, times }
            }
            "expect" => {
                let expect = self
                    .expect
                    .ok_or_else(|| mistake(action_span.clone(), "expect", "missing"))?;
                let span = expect.span();
                let e = expect.into_inner();
                check_expectations(&e, span, "expect")?;
                Action::Expect(e)
            }
            _ => Action::Note(self.note.map(Spanned::into_inner).unwrap_or_default()),
        };
        Ok(Step {
            line: line_column(source, action_span.start).0,
            action,
        })
    }
}

fn duration(value: &Spanned<String>, field: &str) -> Result<Duration, Mistake> {
    humantime::parse_duration(value.get_ref()).map_err(|e| {
        mistake(
            value.span(),
            field,
            format!(
                "'{}' is not a duration ({e}): write e.g. \"500ms\", \"15s\", \"5m\"",
                value.get_ref()
            ),
        )
    })
}

/// `--OPTION VALUE` when the step gives the option.
fn with_value(args: &mut Vec<String>, option: &str, value: Option<Spanned<String>>) {
    if let Some(value) = value {
        args.extend([option.to_string(), value.into_inner()]);
    }
}

/// What the TOML types cannot say: each client asked only for what it can tell.
fn check_expectations(e: &Expectations, span: Range<usize>, field: &str) -> Result<(), Mistake> {
    if e.is_empty() {
        return Err(mistake(
            span,
            field,
            "expects nothing: name a client (stapler-check, openssl, curl, gnutls-cli…) or a check (staple, last-error, log, health…)",
        ));
    }
    for (client, expectation) in e.clients() {
        if expectation.stapled.is_some() && !client.tells().contains(&Outcome::NoStaple) {
            return Err(mistake(
                span,
                &format!("{field}.{}", client.key()),
                format!(
                    "{} does not say whether a staple came: leave out `stapled`",
                    client.key()
                ),
            ));
        }
        if !client.tells().contains(&expectation.outcome) {
            let tells: Vec<&str> = client.tells().iter().map(|o| o.key()).collect();
            return Err(mistake(
                span,
                &format!("{field}.{}", client.key()),
                format!(
                    "{} cannot tell {}; it tells {}",
                    client.key(),
                    expectation.outcome.key(),
                    tells.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// 1-based line and column of a byte offset.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The key written on the line of `span`, for errors the parser gives
/// without one: a wrong type points at the value, an unknown key at (part
/// of) the key; either way the key is what stands before `=`.
fn key_at(source: &str, span: &Range<usize>) -> Option<String> {
    let start = span.start.min(source.len());
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = &source[line_start..line_end];
    if let Some((key, _)) = line.split_once('=') {
        let key = key.trim();
        if !key.is_empty() && !key.starts_with('[') {
            return Some(key.to_string());
        }
    }
    let spanned = source.get(span.clone()).unwrap_or("").trim();
    let bare = spanned
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    (bare && !spanned.is_empty()).then(|| spanned.to_string())
}

/// Reads a scenario from TOML text; `path` names it in errors and gives
/// the default name.
pub fn parse(path: &Path, source: &str) -> Result<ScenarioFile, FileError> {
    let at = |span: Range<usize>, field: Option<String>, message: String| {
        let (line, column) = line_column(source, span.start);
        FileError {
            path: path.to_path_buf(),
            line,
            column,
            field,
            message,
        }
    };
    let raw: RawScenario = toml::from_str(source).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let field = key_at(source, &span);
        at(span, field, e.message().trim().to_string())
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match raw.name {
        Some(n) => {
            let span = n.span();
            let name = n.into_inner();
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '/') {
                return Err(at(
                    span,
                    Some("name".into()),
                    "a name is one word (letters, digits, -): it names the scenario on the command line".into(),
                ));
            }
            name
        }
        None => stem,
    };
    let description_span = raw.description.span();
    let description = raw.description.into_inner();
    if description.trim().is_empty() {
        return Err(at(
            description_span,
            Some("description".into()),
            "say in one line what the scenario shows".into(),
        ));
    }
    if raw.step.is_empty() {
        return Err(at(
            0..0,
            Some("step".into()),
            "no steps: add [[step]] tables (start, revoke, expect…)".into(),
        ));
    }
    let mut steps = Vec::new();
    let mut held = false;
    for raw_step in raw.step {
        let span = raw_step.span();
        let step = raw_step
            .into_inner()
            .into_step(span, source)
            .map_err(|m| at(m.span, Some(m.field), m.message))?;
        let staple = match &step.action {
            Action::Expect(e) | Action::Wait { until: Some(e), .. } => e.staple,
            _ => None,
        };
        match staple {
            Some(StapleExpectation::Held) => held = true,
            Some(StapleExpectation::Unchanged) if !held => {
                return Err(FileError {
                    path: path.to_path_buf(),
                    line: step.line,
                    column: 1,
                    field: Some("expect.staple".into()),
                    message: "`unchanged` compares with the staple of an earlier `staple = \"held\"`, and there is none".into(),
                });
            }
            _ => {}
        }
        steps.push(step);
    }
    Ok(ScenarioFile {
        name,
        description,
        path: path.to_path_buf(),
        steps,
    })
}

/// Reads a scenario file.
pub fn load(path: &Path) -> Result<ScenarioFile, FileError> {
    let source = std::fs::read_to_string(path).map_err(|e| FileError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        field: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(path, &source)
}

/// The `.toml` files of a directory, sorted by name.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Reads every file, and reports every mistake of every file (so that
/// nothing runs until all are right).
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<ScenarioFile>, Vec<FileError>> {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for path in paths {
        match load(path) {
            Ok(s) => good.push(s),
            Err(e) => bad.push(e),
        }
    }
    if bad.is_empty() { Ok(good) } else { Err(bad) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str) -> FileError {
        match parse(Path::new("case.toml"), source) {
            Ok(s) => panic!("parsed: {s:?}"),
            Err(e) => e,
        }
    }

    const HEAD: &str = "description = \"a case\"\n";

    #[test]
    fn a_good_file_becomes_steps() {
        let s = parse(
            Path::new("dir/my-case.toml"),
            &format!(
                "{HEAD}[[step]]\nstart = \"responder\"\nargs = [\"--validity\", \"8s\"]\n\
                 [[step]]\nissue = \"shop\"\nsan = [\"shop.test\"]\ndays = 30\nmust-staple = true\n\
                 [[step]]\nrevoke = \"shop\"\nreason = \"keyCompromise\"\nat = \"2026-01-15T08:30:00Z\"\n\
                 [[step]]\nfault = \"try-later\"\ncert = \"shop\"\nfor = \"30s\"\n\
                 [[step]]\nwait = \"15s\"\nuntil.stapler-check = \"no-staple\"\n\
                 [[step]]\nexpect.openssl = {{ not = \"good\" }}\nexpect.gnutls-cli = {{ is = \"rejected\", says = [\"OCSP\"] }}\n"
            ),
        )
        .expect("parses");
        assert_eq!(s.name, "my-case");
        assert_eq!(s.steps.len(), 6);
        assert_eq!(s.steps[0].line, 3);
        assert_eq!(
            s.steps[1].action,
            Action::Testca(
                [
                    "issue",
                    "shop",
                    "--san",
                    "shop.test",
                    "--days",
                    "30",
                    "--must-staple"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        assert_eq!(
            s.steps[3].action,
            Action::Testca(
                [
                    "fault",
                    "set",
                    "try-later",
                    "--cert",
                    "shop",
                    "--for",
                    "30s"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        let Action::Wait { at_most, until } = &s.steps[4].action else {
            panic!("a wait")
        };
        assert_eq!(*at_most, Duration::from_secs(15));
        assert_eq!(
            until
                .as_ref()
                .and_then(|u| u.stapler_check.as_ref())
                .map(|c| c.outcome),
            Some(Outcome::NoStaple)
        );
        assert_eq!(s.needs(), ["openssl", "curl", "gnutls-cli"]);
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let e = error(&format!("{HEAD}[[step]]\nstart = \"responder\n"));
        assert_eq!(
            (e.path.as_path(), e.line),
            (Path::new("case.toml"), 3),
            "{e}"
        );
        assert!(e.to_string().starts_with("case.toml:3:"), "{e}");
    }

    #[test]
    fn an_unknown_step_names_its_line_and_key() {
        let e = error(&format!(
            "{HEAD}[[step]]\nstart = \"responder\"\n\n[[step]]\nexplode = \"now\"\n"
        ));
        assert_eq!(e.line, 6, "{e}");
        assert_eq!(e.field.as_deref(), Some("explode"), "{e}");
        assert!(e.message.contains("unknown field `explode`"), "{e}");
    }

    #[test]
    fn an_unknown_client_names_its_line_and_key() {
        let e = error(&format!("{HEAD}[[step]]\nexpect.firefox = \"good\"\n"));
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("unknown field `firefox`"), "{e}");
        assert!(
            e.message.contains("stapler-check"),
            "the message lists the clients: {e}"
        );
        assert_eq!(e.field.as_deref(), Some("expect.firefox"), "{e}");
    }

    #[test]
    fn an_unknown_expectation_names_its_line_and_key() {
        let e = error(&format!(
            "{HEAD}[[step]]\nstart = \"stapler\"\n[[step]]\nexpect.curl = \"goood\"\n"
        ));
        assert_eq!(e.line, 5, "{e}");
        assert_eq!(e.field.as_deref(), Some("expect.curl"), "{e}");
        assert!(
            e.message.contains("unknown variant `goood`") && e.message.contains("no-staple"),
            "{e}"
        );
    }

    #[test]
    fn a_wrong_type_names_its_line_and_key() {
        let e = error(&format!(
            "{HEAD}[[step]]\nissue = \"shop\"\ndays = \"thirty\"\n"
        ));
        assert_eq!((e.line, e.field.as_deref()), (4, Some("days")), "{e}");
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn an_unknown_top_level_field_is_refused() {
        let e = error(&format!("{HEAD}author = \"me\"\n[[step]]\nnote = \"x\"\n"));
        assert_eq!((e.line, e.field.as_deref()), (2, Some("author")), "{e}");
    }

    #[test]
    fn an_option_of_another_action_is_refused() {
        let e = error(&format!(
            "{HEAD}[[step]]\nissue = \"shop\"\nreason = \"keyCompromise\"\n"
        ));
        assert_eq!((e.line, e.field.as_deref()), (4, Some("reason")), "{e}");
        assert!(
            e.message.contains("does not belong to a `issue` step"),
            "{e}"
        );
    }

    #[test]
    fn two_actions_in_one_step_are_refused() {
        let e = error(&format!(
            "{HEAD}[[step]]\nstart = \"responder\"\nstop = \"responder\"\n"
        ));
        assert_eq!((e.line, e.field.as_deref()), (4, Some("stop")), "{e}");
    }

    #[test]
    fn a_client_asked_what_it_cannot_tell_is_refused() {
        let e = error(&format!("{HEAD}[[step]]\nexpect.curl = \"revoked\"\n"));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (3, Some("expect.curl")),
            "{e}"
        );
        assert!(e.message.contains("curl cannot tell revoked"), "{e}");
    }

    #[test]
    fn a_bad_wait_is_refused() {
        let e = error(&format!("{HEAD}[[step]]\nwait = \"soon\"\n"));
        assert_eq!((e.line, e.field.as_deref()), (3, Some("wait")), "{e}");
        assert!(e.message.contains("'soon' is not a duration"), "{e}");
    }

    #[test]
    fn a_missing_description_or_steps_is_refused() {
        let e = error("[[step]]\nnote = \"x\"\n");
        assert!(e.message.contains("description"), "{e}");
        let e = error(HEAD);
        assert_eq!(e.field.as_deref(), Some("step"), "{e}");
    }

    #[test]
    fn unchanged_needs_an_earlier_held() {
        let e = error(&format!("{HEAD}[[step]]\nexpect.staple = \"unchanged\"\n"));
        assert_eq!(
            (e.line, e.field.as_deref()),
            (3, Some("expect.staple")),
            "{e}"
        );
    }

    #[test]
    fn every_mistake_of_every_file_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good.toml");
        let bad = dir.path().join("bad.toml");
        std::fs::write(&good, format!("{HEAD}[[step]]\nnote = \"x\"\n")).expect("write");
        std::fs::write(&bad, format!("{HEAD}[[step]]\nexpect.nginx = \"good\"\n")).expect("write");
        let errors = load_all(&[good, bad.clone()]).expect_err("one is bad");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, bad);
    }
}
