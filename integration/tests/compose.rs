//! docker-compose.yml and the Dockerfile agree with the binaries: no Docker
//! engine runs here, so the compose file is validated with `docker-compose
//! config`, and every command, path and port in it is checked against what
//! the real binaries accept and what `testca init` makes.

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

fn compose() -> Yaml {
    let text =
        std::fs::read_to_string(repo().join("docker-compose.yml")).expect("docker-compose.yml");
    YamlLoader::load_from_str(&text)
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
    for profile in [&[][..], &["--profile", "peers"][..]] {
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
    let mut seen = 0;
    for (name, service) in services() {
        let uses_our_image =
            service["image"].as_str() == Some(OUR_IMAGE) || !service["build"].is_badvalue();
        if !uses_our_image {
            continue;
        }
        let args = command_of(&service);
        accepted_by_binary(&args);
        seen += 1;
        // Healthchecks that run our binaries are checked the same way.
        let test = strings(&service["healthcheck"]["test"]);
        if test.first().map(String::as_str) == Some("CMD")
            && OUR_BINARIES.contains(&test[1].as_str())
        {
            accepted_by_binary(&test[1..]);
        }
        assert!(
            strings(&service["volumes"])
                .iter()
                .any(|v| v.starts_with("lab:/lab")),
            "{name} mounts the lab volume at /lab"
        );
    }
    assert_eq!(seen, 3, "testca, responder and stapler run from our image");
}

#[test]
fn ports_are_published_on_loopback_and_match_what_the_servers_listen_on() {
    for (name, service) in services() {
        let args = command_of(&service);
        for mapping in strings(&service["ports"]) {
            let parts: Vec<&str> = mapping.split(':').collect();
            assert_eq!(parts.len(), 3, "{name}: {mapping} names the host address");
            assert_eq!(
                parts[0], "127.0.0.1",
                "{name}: {mapping} is published on loopback only"
            );
            if let Some(listen) = flag(&args, "--listen") {
                assert!(
                    listen.starts_with("0.0.0.0:"),
                    "{name} listens on every interface of its container: {listen}"
                );
                assert_eq!(
                    listen.rsplit(':').next(),
                    Some(parts[2]),
                    "{name}: {mapping} publishes the port it listens on ({listen})"
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
    for binary in OUR_BINARIES {
        assert!(
            text.contains(&format!("target/release/{binary}")),
            "the image carries {binary}"
        );
    }
    let runtime = text.split("AS runtime").nth(1).expect("a runtime stage");
    assert!(
        runtime.contains("USER ocsplab"),
        "the runtime runs as a non-root user"
    );
    assert!(
        runtime.contains("FROM debian:bookworm-slim")
            || text.contains("FROM debian:bookworm-slim AS runtime")
    );
}
