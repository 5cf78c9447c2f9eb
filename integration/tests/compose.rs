//! docker-compose.yml and the Dockerfiles agree with the binaries: every
//! command, path and port in them is checked against what the real binaries
//! accept and what `testca init` makes, without an engine. The stack itself
//! runs on a real engine in `scripts/compose-check`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration::clients::require;
use integration::harness::{self, TestLab, run};
use yaml_rust2::{Yaml, YamlLoader};

const OUR_IMAGE: &str = "ocsplab:latest";
const OUR_BINARIES: [&str; 3] = ["testca", "responder", "stapler"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The compose file's `${NAME:-default}` substitutions, as compose makes them
/// with none of the variables set; `$$` is a literal `$`.
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').expect("a closing brace");
            let (_, default) = body[..end]
                .split_once(":-")
                .expect("every variable has a default");
            out.push_str(default);
            rest = &body[end + 1..];
        } else {
            panic!("a bare $ in docker-compose.yml: {after}");
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn interpolation_uses_the_defaults() {
    assert_eq!(
        interpolate("127.0.0.1:${OCSPLAB_RESPONDER_PORT:-8080}:8080 [ $$? -le 1 ]"),
        "127.0.0.1:8080:8080 [ $? -le 1 ]"
    );
}

fn compose() -> Yaml {
    let text =
        std::fs::read_to_string(repo().join("docker-compose.yml")).expect("docker-compose.yml");
    YamlLoader::load_from_str(&interpolate(&text))
        .expect("docker-compose.yml is YAML")
        .remove(0)
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn services() -> BTreeMap<String, Yaml> {
    compose()["services"]
        .as_hash()
        .expect("services")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
        .collect()
}

/// The full command line of a service of our image: entrypoint + command.
fn command_of(service: &Yaml) -> Vec<String> {
    let mut all = strings(&service["entrypoint"]);
    all.extend(strings(&service["command"]));
    all
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The command of a healthcheck: `CMD` arguments, or the first command of a
/// `CMD-SHELL` line.
fn healthcheck_command(service: &Yaml) -> Vec<String> {
    let test = strings(&service["healthcheck"]["test"]);
    match test.first().map(String::as_str) {
        Some("CMD") => test[1..].to_vec(),
        Some("CMD-SHELL") => test[1]
            .split([';', '>', '|', '&'])
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs one of our binaries with these arguments and `--help`: clap rejects
/// unknown flags and bad values before it prints the help.
fn accepted_by_binary(args: &[String]) {
    let (program, rest) = args.split_first().expect("a command");
    assert!(
        OUR_BINARIES.contains(&program.as_str()),
        "{program} is not one of our binaries"
    );
    let mut cmd = harness::command(program);
    cmd.args(rest).arg("--help");
    let out = run(&mut cmd, Duration::from_secs(20));
    assert_eq!(
        out.code,
        Some(0),
        "`{}` is not accepted:\n{out}",
        args.join(" ")
    );
}

#[test]
fn docker_compose_config_is_valid() {
    if !require("docker-compose") {
        return;
    }
    for profile in [
        &[][..],
        &["--profile", "peers"][..],
        &["--profile", "scale"][..],
    ] {
        let out = run(
            Command::new("docker-compose")
                .current_dir(repo())
                .args(profile)
                .args(["config", "-q"]),
            Duration::from_secs(30),
        );
        assert_eq!(
            out.code,
            Some(0),
            "docker-compose {profile:?} config -q:\n{out}"
        );
    }
}

#[test]
fn every_command_of_our_image_is_accepted_by_the_binaries() {
    let mut ours = Vec::new();
    for (name, service) in services() {
        if service["image"].as_str() != Some(OUR_IMAGE) {
            continue;
        }
        let args = command_of(&service);
        accepted_by_binary(&args);
        // Healthchecks that run our binaries are checked the same way.
        let test = healthcheck_command(&service);
        if test
            .first()
            .is_some_and(|program| OUR_BINARIES.contains(&program.as_str()))
        {
            accepted_by_binary(&test);
        }
        // The scale profile has a lab of its own (its database is PostgreSQL).
        let lab = if service_profiles(&service).contains(&"scale".to_string()) {
            "scale-lab:/lab"
        } else {
            "lab:/lab"
        };
        assert!(
            strings(&service["volumes"])
                .iter()
                .any(|v| v.starts_with(lab)),
            "{name} mounts {lab}"
        );
        ours.push(name);
    }
    assert_eq!(
        ours,
        [
            "console",
            "responder",
            "responder1",
            "responder2",
            "responder3",
            "scale-grant",
            "scale-init",
            "stapler",
            "testca"
        ],
        "testca, responder, stapler and console run from our image, and the scale profile's \
         init, grant and three responders"
    );
}

fn service_profiles(service: &Yaml) -> Vec<String> {
    strings(&service["profiles"])
}

#[test]
fn ports_are_published_on_loopback_and_match_what_the_servers_listen_on() {
    let mut published = Vec::new();
    for (name, service) in services() {
        let args = command_of(&service);
        // What our servers listen on: the HTTPS/HTTP port and the stapler's admin port.
        let listens: Vec<String> = ["--listen", "--admin-listen"]
            .iter()
            .filter_map(|f| flag(&args, f))
            .collect();
        for listen in &listens {
            assert!(
                listen.starts_with("0.0.0.0:"),
                "{name} listens on every interface of its container: {listen}"
            );
        }
        for mapping in strings(&service["ports"]) {
            let parts: Vec<&str> = mapping.split(':').collect();
            assert_eq!(parts.len(), 3, "{name}: {mapping} names the host address");
            assert_eq!(
                parts[0], "127.0.0.1",
                "{name}: {mapping} is published on loopback only"
            );
            published.push(parts[1].to_string());
            if !listens.is_empty() {
                assert!(
                    listens
                        .iter()
                        .any(|l| l.rsplit(':').next() == Some(parts[2])),
                    "{name}: {mapping} publishes a port it listens on ({listens:?})"
                );
            }
        }
        // Healthchecks address the port the service listens on.
        if let Some(listen) = flag(&args, "--listen") {
            let port = listen.rsplit(':').next().unwrap_or_default().to_string();
            let test = strings(&service["healthcheck"]["test"]).join(" ");
            if !test.is_empty() {
                assert!(
                    test.contains(&format!("127.0.0.1:{port}")),
                    "{name}'s healthcheck addresses port {port}: {test}"
                );
            }
        }
    }
    published.sort();
    assert_eq!(
        published,
        ["8080", "8081", "8082", "8090", "8443", "9443", "9444"],
        "the documented host ports"
    );
}

/// The refresh from the host goes through the stapler's admin port, which is
/// published on loopback only; the HTTPS port keeps refusing it to the bridge.
#[test]
fn the_stapler_serves_the_refresh_on_an_admin_port_published_on_loopback() {
    let services = services();
    let stapler = &services["stapler"];
    let admin = flag(&command_of(stapler), "--admin-listen").expect("--admin-listen");
    let port = admin.rsplit(':').next().unwrap_or_default();
    assert!(
        strings(&stapler["ports"]).contains(&format!("127.0.0.1:{port}:{port}")),
        "the admin port {port} is published on the host's loopback"
    );
}

/// The console (`testca serve`) listens on its default port, is published on
/// loopback only, and reaches the stapler service at the ports the stapler
/// listens on: its HTTPS port for the status, its admin port for the refresh.
#[test]
fn the_console_reaches_the_stapler_service_and_is_published_on_loopback() {
    let services = services();
    let console = &services["console"];
    let args = command_of(console);
    assert_eq!(
        &args[..2],
        ["testca", "serve"],
        "the console is testca serve"
    );
    let listen = flag(&args, "--listen").expect("--listen");
    let port = listen.rsplit(':').next().unwrap_or_default();
    assert_eq!(
        port, "8081",
        "the console keeps testca serve's default port"
    );
    assert_eq!(
        strings(&console["ports"]),
        [format!("127.0.0.1:{port}:{port}")],
        "published on the host's loopback only"
    );
    let stapler = command_of(&services["stapler"]);
    let port_of = |flag_name: &str| {
        flag(&stapler, flag_name)
            .and_then(|l| l.rsplit(':').next().map(str::to_string))
            .unwrap_or_else(|| panic!("stapler {flag_name}"))
    };
    assert_eq!(
        flag(&args, "--stapler").as_deref(),
        Some(format!("https://stapler:{}/", port_of("--listen")).as_str())
    );
    assert_eq!(
        flag(&args, "--stapler-admin").as_deref(),
        Some(format!("http://stapler:{}/admin/refresh", port_of("--admin-listen")).as_str())
    );
    // The stapler's certificate names localhost, not `stapler`.
    assert!(args.iter().any(|a| a == "--stapler-any-name"), "{args:?}");
    assert_eq!(
        console["depends_on"]["stapler"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(
        strings(&console["healthcheck"]["test"])
            .first()
            .map(String::as_str),
        Some("CMD"),
        "the console has a healthcheck"
    );
}

/// Every long-running service stops at once on SIGTERM (`docker compose
/// down`): an init process as PID 1 forwards it, and no image overrides the
/// signal to one the servers ignore.
#[test]
fn every_service_runs_under_an_init_that_forwards_sigterm() {
    for (name, service) in services() {
        assert_eq!(
            service["init"].as_bool(),
            Some(true),
            "{name} runs with init: true"
        );
        assert!(
            service["stop_signal"].is_badvalue(),
            "{name} keeps SIGTERM as its stop signal"
        );
    }
}

/// nginx and Apache are built from Debian's packages on the same base as the
/// lab image, with the configurations checked above; no registry tag is pulled.
#[test]
fn peers_are_built_from_debian_packages_on_the_lab_base() {
    let services = services();
    for (peer, package, conf) in [
        ("nginx", "nginx-light", "nginx.conf"),
        ("apache", "apache2-bin", "httpd.conf"),
    ] {
        let service = &services[peer];
        assert_eq!(
            service["build"].as_str(),
            Some(format!("docker/{peer}").as_str()),
            "{peer} is built from docker/{peer}"
        );
        let dockerfile = std::fs::read_to_string(repo().join(format!("docker/{peer}/Dockerfile")))
            .expect("the peer's Dockerfile");
        assert!(dockerfile.contains("FROM debian:bookworm-slim\n"), "{peer}");
        assert!(dockerfile.contains(package), "{peer} installs {package}");
        assert!(dockerfile.contains(&format!("COPY {conf} ")), "{peer}");
        for line in dockerfile.lines().filter(|l| l.starts_with("STOPSIGNAL")) {
            assert_eq!(line, "STOPSIGNAL SIGTERM", "{peer}");
        }
    }
}

#[test]
fn the_lab_is_made_for_the_responder_service_and_startup_order_holds() {
    let services = services();
    let init = command_of(&services["testca"]);
    assert_eq!(
        &init[..3],
        ["testca", "init", "--if-missing"],
        "the init service creates the lab only if missing"
    );
    let url = flag(&init, "--ocsp-url").expect("--ocsp-url");
    let responder_port = flag(&command_of(&services["responder"]), "--listen")
        .and_then(|l| l.rsplit(':').next().map(str::to_string))
        .expect("responder --listen");
    assert_eq!(
        url,
        format!("http://responder:{responder_port}/"),
        "certificates point at the responder service"
    );
    assert_eq!(
        services["responder"]["depends_on"]["testca"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    assert_eq!(
        services["stapler"]["depends_on"]["responder"]["condition"].as_str(),
        Some("service_healthy")
    );
    for peer in ["nginx", "apache"] {
        assert_eq!(
            strings(&services[peer]["profiles"]),
            ["peers"],
            "{peer} is in the peers profile"
        );
        assert_eq!(
            services[peer]["depends_on"]["responder"]["condition"].as_str(),
            Some("service_healthy")
        );
    }
}

/// Every `/lab/...` path the compose file and the peers' configurations use
/// is a file that `testca init` makes.
#[test]
fn lab_paths_in_commands_and_peer_configs_exist_in_a_fresh_lab() {
    let lab = TestLab::init(&[]);
    let mut texts =
        vec![std::fs::read_to_string(repo().join("docker-compose.yml")).expect("compose")];
    for conf in ["docker/nginx/nginx.conf", "docker/apache/httpd.conf"] {
        texts.push(
            std::fs::read_to_string(repo().join(conf)).unwrap_or_else(|e| panic!("{conf}: {e}")),
        );
    }
    let mut checked = 0;
    for text in &texts {
        for word in text
            .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '[' | ']' | ';'))
        {
            if let Some(rel) = word.strip_prefix("/lab/") {
                assert!(
                    lab.path(rel).is_file(),
                    "/lab/{rel} is not made by testca init"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "the files name lab paths ({checked} checked)");
}

#[test]
fn dockerfile_builds_locked_with_a_cached_dependency_layer_and_runs_unprivileged() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    assert!(
        text.contains("cargo chef cook --release --locked"),
        "dependencies are built in their own cached layer"
    );
    assert!(
        text.contains("cargo build --release --locked"),
        "the build is --locked"
    );
    let stage = |name: &str| -> String {
        let from = text
            .lines()
            .position(|l| l.starts_with("FROM ") && l.ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("a stage {name}"));
        text.lines()
            .skip(from)
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.starts_with("FROM "))
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    };
    let base = stage("runtime-base");
    assert!(base.starts_with("FROM debian:bookworm-slim AS runtime-base"));
    assert!(
        base.contains("USER ocsplab"),
        "the runtime runs unprivileged"
    );
    // The image users get and the offline image share the runtime stage and differ only
    // in where the binaries come from.
    let runtime = stage("runtime");
    let offline = stage("host-binaries");
    for (name, body) in [("runtime", &runtime), ("host-binaries", &offline)] {
        assert!(
            body.starts_with(&format!("FROM runtime-base AS {name}")),
            "{name}"
        );
        assert_eq!(
            body.lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .count(),
            2,
            "{name} only adds the binaries:\n{body}"
        );
    }
    for binary in OUR_BINARIES {
        assert!(
            runtime.contains(&format!("target/release/{binary}")),
            "the image carries {binary}"
        );
    }
    // Offline, scripts/offline-image puts the three binaries where the stage copies from.
    assert!(offline.contains("COPY docker/host-bin/ /usr/local/bin/"));
    let script = std::fs::read_to_string(repo().join("scripts/offline-image"))
        .expect("scripts/offline-image");
    assert!(
        script.contains("$context/docker/host-bin/$b")
            && script.contains("binaries=(testca responder stapler)")
    );
    // The classic builder builds every stage before its target: the offline target
    // comes before the Rust stages, so it never needs the Rust image.
    assert!(text.find("AS host-binaries") < text.find("FROM rust:"));
    // compose builds the image users get.
    assert_eq!(
        services()["testca"]["build"]["target"].as_str(),
        Some("runtime")
    );
}

/// The default `docker compose up` is untouched by the scale profile: the
/// services without a profile are the four of the SQLite lab, and every
/// service of the scale profile is in that profile alone.
#[test]
fn the_default_up_is_the_sqlite_lab_and_scale_services_are_opt_in() {
    let services = services();
    let default: Vec<&str> = services
        .iter()
        .filter(|(_, s)| service_profiles(s).is_empty())
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(default, ["console", "responder", "stapler", "testca"]);
    let scale: Vec<&str> = services
        .iter()
        .filter(|(_, s)| service_profiles(s) == ["scale"])
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        scale,
        [
            "cache",
            "postgres",
            "responder1",
            "responder2",
            "responder3",
            "scale-grant",
            "scale-init"
        ]
    );
    // The SQLite lab's services name no database: theirs is the lab's own file.
    for name in default {
        assert!(
            services[name]["environment"].is_badvalue(),
            "{name} keeps the lab's SQLite database"
        );
    }
}

fn env_of(service: &Yaml, key: &str) -> String {
    service["environment"][key]
        .as_str()
        .unwrap_or_else(|| panic!("environment {key}"))
        .to_string()
}

/// Writers and readers are apart: testca (init, grant, QA commands) logs in
/// as the writer, the responders as the reader that `testca db grant-reader`
/// is given, each with the pgpass file of its role from a volume only it
/// mounts, where the postgres image's entrypoint writes it.
#[test]
fn scale_responders_read_postgres_as_the_reader_and_never_see_the_writer_password() {
    let services = services();
    let entrypoint = std::fs::read_to_string(repo().join("docker/postgres/entrypoint.sh"))
        .expect("docker/postgres/entrypoint.sh");
    let postgres_volumes = strings(&services["postgres"]["volumes"]);
    let role_of = |url: &str| {
        url.strip_prefix("postgres://")
            .and_then(|rest| rest.split_once('@'))
            .map(|(user, host)| {
                assert!(
                    !user.contains(':'),
                    "no password in the compose file: {url}"
                );
                assert!(host.starts_with("postgres:5432/"), "{url}");
                user.to_string()
            })
            .unwrap_or_else(|| panic!("a PostgreSQL URL: {url}"))
    };
    let secret = |service: &Yaml, role: &str| {
        let file = env_of(service, "PGPASSFILE");
        let dir = file.strip_suffix("/pgpass").expect("a pgpass file");
        assert_eq!(dir, format!("/secrets/{role}"));
        let volume = format!("scale-{role}:{dir}");
        assert!(
            strings(&service["volumes"]).contains(&format!("{volume}:ro")),
            "{volume} mounted read-only"
        );
        assert!(postgres_volumes.contains(&volume), "postgres writes {dir}");
        assert!(entrypoint.contains("/secrets/$role/pgpass"));
    };
    for name in ["scale-init", "scale-grant"] {
        let s = &services[name];
        assert_eq!(
            role_of(&env_of(s, "OCSPLAB_DB")),
            "ocsplab_writer",
            "{name}"
        );
        secret(s, "writer");
    }
    let grant = command_of(&services["scale-grant"]);
    assert_eq!(grant[..3], ["testca", "db", "grant-reader"]);
    for i in 1..=3 {
        let s = &services[&format!("responder{i}")];
        assert_eq!(role_of(&env_of(s, "OCSPLAB_DB")), grant[3], "responder{i}");
        secret(s, "reader");
        assert!(
            !strings(&s["volumes"]).iter().any(|v| v.contains("writer")),
            "responder{i} never mounts the writer's password"
        );
        assert_eq!(
            s["depends_on"]["scale-grant"]["condition"].as_str(),
            Some("service_completed_successfully")
        );
        assert!(
            flag(&command_of(s), "--max-age").is_some(),
            "responder{i} advertises a bounded max-age"
        );
    }
    assert_eq!(
        services["scale-grant"]["depends_on"]["scale-init"]["condition"].as_str(),
        Some("service_completed_successfully")
    );
    assert_eq!(
        services["scale-init"]["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );
    assert_eq!(
        healthcheck_command(&services["postgres"])[..1],
        ["pg_isready".to_string()]
    );
}

/// The cache's nginx: one upstream of the three responders at the port they
/// listen on, the RFC 5019 rules from the one shared file (which the bench's
/// host nginx includes too), the certificates' OCSP URL pointing at it.
#[test]
fn the_cache_fronts_every_responder_with_the_shared_rules() {
    let services = services();
    let conf = std::fs::read_to_string(repo().join("docker/cache/nginx.conf")).expect("nginx.conf");
    let rules =
        std::fs::read_to_string(repo().join("docker/cache/ocsp-cache.conf")).expect("rules");
    for i in 1..=3 {
        let listen =
            flag(&command_of(&services[&format!("responder{i}")]), "--listen").expect("--listen");
        let port = listen.rsplit(':').next().unwrap_or_default();
        assert!(
            conf.contains(&format!("server responder{i}:{port} ")),
            "the upstream has responder{i}:{port}"
        );
    }
    assert!(conf.contains("include /etc/nginx/ocsp-cache.conf;"));
    let dockerfile =
        std::fs::read_to_string(repo().join("docker/cache/Dockerfile")).expect("Dockerfile");
    assert!(dockerfile.contains("FROM debian:bookworm-slim\n"));
    assert!(dockerfile.contains("nginx-light"));
    assert!(dockerfile.contains("COPY ocsp-cache.conf /etc/nginx/ocsp-cache.conf"));
    for directive in [
        "proxy_pass http://responders;",
        "proxy_cache ocsp;",
        "proxy_cache_methods GET HEAD;",
        "proxy_cache_key $request_uri;",
        "proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;",
        "add_header X-Cache-Status $upstream_cache_status always;",
    ] {
        assert!(rules.contains(directive), "ocsp-cache.conf: {directive}");
    }
    // Nothing cached without the responders' own Cache-Control.
    assert!(
        !rules
            .lines()
            .any(|l| l.trim_start().starts_with("proxy_cache_valid")),
        "no proxy_cache_valid"
    );
    let bench =
        std::fs::read_to_string(repo().join("scripts/bench.d/scale_out.py")).expect("scale_out.py");
    assert!(bench.contains("CACHE_RULES = \"docker/cache/ocsp-cache.conf\""));
    let cache = &services["cache"];
    assert_eq!(strings(&cache["ports"]), ["127.0.0.1:8090:80"]);
    assert!(conf.contains("listen 80;"));
    let init = command_of(&services["scale-init"]);
    assert_eq!(flag(&init, "--ocsp-url").as_deref(), Some("http://cache/"));
    for i in 1..=3 {
        assert_eq!(
            cache["depends_on"][format!("responder{i}").as_str()]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert_eq!(
        healthcheck_command(cache),
        [
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "http://127.0.0.1:80/health"
        ]
    );
}

/// The shared rules are valid nginx, as the host's nginx (the bench's) reads
/// them: `nginx -t` on a configuration that includes them.
#[test]
fn the_cache_rules_pass_nginx_t() {
    let nginx = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| Command::new(p).arg("-v").output().is_ok());
    let Some(nginx) = nginx else {
        harness::skip("nginx is not installed (scripts/install-deps installs it)");
        return;
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let base = dir.path();
    let rules = repo().join("docker/cache/ocsp-cache.conf");
    let conf = base.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {b}/nginx.pid;\nerror_log {b}/error.log;\nevents {{}}\nhttp {{\n  \
             client_body_temp_path {b}/body;\n  proxy_temp_path {b}/proxy;\n  \
             upstream responders {{ server 127.0.0.1:9; }}\n  \
             proxy_cache_path {b}/cache keys_zone=ocsp:1m;\n  \
             server {{ listen 127.0.0.1:9; location / {{ include {r}; }} }}\n}}\n",
            b = base.display(),
            r = rules.display()
        ),
    )
    .expect("nginx.conf");
    let out = run(
        Command::new(nginx)
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(base)
            .arg("-e")
            .arg(base.join("error.log")),
        Duration::from_secs(20),
    );
    assert_eq!(out.code, Some(0), "nginx -t:\n{out}");
}
