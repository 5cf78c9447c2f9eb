//! Real stapling servers configured as the seeds describe them: nginx
//! (`ssl_stapling on; ssl_stapling_verify on; ssl_trusted_certificate …`)
//! and Apache httpd (`SSLUseStapling on`, `SSLStaplingCache shmcb:…(128000)`),
//! each an unprivileged process on a loopback port with its own
//! configuration, pid file and error log in a temporary directory.

use std::ffi::OsString;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::harness::{Server, ServerSpec, StartError, free_port};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerKind {
    /// nginx.
    Nginx,
    /// Apache httpd with mod_ssl.
    Apache,
}

impl PeerKind {
    /// The program.
    pub fn program(self) -> &'static str {
        match self {
            PeerKind::Nginx => "nginx",
            PeerKind::Apache => "apache2",
        }
    }

    /// A name for people.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Nginx => "nginx",
            PeerKind::Apache => "Apache httpd",
        }
    }
}

/// What the peer serves.
#[derive(Clone, Debug)]
pub struct PeerSite {
    /// Certificate chain (ssl_certificate / SSLCertificateFile).
    pub chain: PathBuf,
    /// Key (ssl_certificate_key / SSLCertificateKeyFile).
    pub key: PathBuf,
    /// Trusted/issuer certificates (ssl_trusted_certificate / SSLCACertificateFile).
    pub trusted: PathBuf,
    /// Apache's `SSLStaplingStandardCacheTimeout` in seconds (its default is 3600).
    pub apache_cache_timeout: Option<u32>,
}

/// A running nginx or Apache.
#[derive(Debug)]
pub struct Peer {
    /// The process (declared first: stopped before the directory goes).
    pub server: Server,
    /// Which server.
    pub kind: PeerKind,
    dir: PathBuf,
}

/// Where Debian keeps Apache's modules.
const APACHE_MODULES: &str = "/usr/lib/apache2/modules";

impl Peer {
    /// Starts `kind` serving `site` on a free loopback port, with its files in `dir`.
    pub fn start(kind: PeerKind, site: &PeerSite, dir: &Path) -> Result<Peer, StartError> {
        let mut last = None;
        for _ in 0..crate::harness::START_ATTEMPTS {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
            let peer_dir = dir.join(format!("{}-{}", kind.program(), addr.port()));
            fs::create_dir_all(&peer_dir).expect("cannot create the peer's directory");
            let (conf, args) = match kind {
                PeerKind::Nginx => (nginx_conf(site, addr, &peer_dir), nginx_args(&peer_dir)),
                PeerKind::Apache => (apache_conf(site, addr, &peer_dir), apache_args(&peer_dir)),
            };
            fs::write(peer_dir.join(conf_name(kind)), conf)
                .expect("cannot write the peer's configuration");
            let spec = ServerSpec {
                name: kind.program().into(),
                program: PathBuf::from(kind.program()),
                args,
                env: Vec::new(),
                addr,
                ready_line: None,
                health_path: None,
                log_dir: peer_dir.join("logs"),
            };
            match Server::start(&spec) {
                Ok(server) => {
                    return Ok(Peer {
                        server,
                        kind,
                        dir: peer_dir,
                    });
                }
                Err(StartError::AddrInUse(log)) => last = Some(log),
                Err(e) => return Err(e),
            }
        }
        Err(StartError::AddrInUse(last.unwrap_or_default()))
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Its error log, as written so far.
    pub fn error_log(&self) -> String {
        let own = fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
        format!("{own}{}", self.server.log())
    }

    /// The error-log lines about stapling and OCSP (what an administrator would grep for).
    pub fn stapling_log_lines(&self) -> Vec<String> {
        self.error_log()
            .lines()
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("stapling") || l.contains("ocsp") || l.contains("issuer")
            })
            .map(|l| l.trim().to_string())
            .collect()
    }
}

fn conf_name(kind: PeerKind) -> &'static str {
    match kind {
        PeerKind::Nginx => "nginx.conf",
        PeerKind::Apache => "httpd.conf",
    }
}

fn nginx_args(dir: &Path) -> Vec<OsString> {
    vec![
        "-p".into(),
        dir.into(),
        "-c".into(),
        dir.join("nginx.conf").into(),
        // The early error log, before the configuration names its own.
        "-e".into(),
        dir.join("error.log").into(),
    ]
}

fn nginx_conf(site: &PeerSite, addr: SocketAddr, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {d}/body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   server {{\n\
         \x20       listen {addr} ssl;\n\
         \x20       server_name localhost;\n\
         \x20       ssl_certificate {};\n\
         \x20       ssl_certificate_key {};\n\
         \x20       ssl_stapling on;\n\
         \x20       ssl_stapling_verify on;\n\
         \x20       ssl_trusted_certificate {};\n\
         \x20       location / {{ return 200 \"nginx\\n\"; }}\n\
         \x20   }}\n\
         }}\n",
        site.chain.display(),
        site.key.display(),
        site.trusted.display()
    )
}

fn apache_args(dir: &Path) -> Vec<OsString> {
    vec![
        "-f".into(),
        dir.join("httpd.conf").into(),
        "-DFOREGROUND".into(),
    ]
}

fn apache_conf(site: &PeerSite, addr: SocketAddr, dir: &Path) -> String {
    let d = dir.display();
    // As root, Apache must switch its children to an unprivileged user.
    let user = if is_root() {
        "User nobody\nGroup nogroup\n"
    } else {
        ""
    };
    let cache_timeout = site.apache_cache_timeout.map_or(String::new(), |t| {
        format!("SSLStaplingStandardCacheTimeout {t}\n")
    });
    format!(
        "ServerRoot {d}\n\
         DefaultRuntimeDir {d}\n\
         PidFile {d}/httpd.pid\n\
         Listen {addr}\n\
         LoadModule mpm_event_module {APACHE_MODULES}/mod_mpm_event.so\n\
         LoadModule authz_core_module {APACHE_MODULES}/mod_authz_core.so\n\
         LoadModule socache_shmcb_module {APACHE_MODULES}/mod_socache_shmcb.so\n\
         LoadModule ssl_module {APACHE_MODULES}/mod_ssl.so\n\
         {user}\
         ServerName localhost\n\
         ErrorLog {d}/error.log\n\
         LogLevel info\n\
         Mutex file:{d} default\n\
         DocumentRoot {d}\n\
         SSLStaplingCache shmcb:{d}/stapling_cache(128000)\n\
         {cache_timeout}\
         <VirtualHost {addr}>\n\
         \x20   ServerName localhost\n\
         \x20   SSLEngine on\n\
         \x20   SSLCertificateFile {}\n\
         \x20   SSLCertificateKeyFile {}\n\
         \x20   SSLCACertificateFile {}\n\
         \x20   SSLUseStapling on\n\
         </VirtualHost>\n",
        site.chain.display(),
        site.key.display(),
        site.trusted.display()
    )
}

fn is_root() -> bool {
    // The owner of our own /proc entry is our effective user.
    std::os::unix::fs::MetadataExt::uid(&match fs::metadata("/proc/self") {
        Ok(m) => m,
        Err(_) => return false,
    }) == 0
}
