//! The web console of `testca serve` in a real browser: Debian's Chromium,
//! headless, driven over WebDriver (chromedriver) by fantoccini. A QA
//! engineer's session: enter the token, revoke `localhost` with the button,
//! see the stapler still holding a good staple, ask it to refresh, see the
//! staple turn revoked; open the details (the responder's decoded answer,
//! `stapler check`); set and clear a fault; see errors in place.
//! Screenshots go to target/console-screenshots/.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use integration::harness::{
    LabResponder, Server, ServerSpec, StartError, bin_dir, free_port, wait_for,
};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Longest wait for something the page does after a click.
const UI_WAIT: Duration = Duration::from_secs(20);

/// `skipped: <reason>` outside CI, counted by scripts/test; a failure under CI
/// (CI must have the browser).
#[track_caller]
fn skip(reason: &str) {
    integration::harness::skip(&format!(
        "{reason}; scripts/install-deps installs chromium and chromium-driver"
    ));
}

fn start_chromedriver(log_dir: &Path) -> Server {
    let mut last = None;
    for _ in 0..5 {
        let port = free_port();
        match Server::start(&ServerSpec {
            name: "chromedriver".into(),
            program: PathBuf::from(CHROMEDRIVER),
            args: vec![
                OsString::from(format!("--port={port}")),
                OsString::from("--allowed-ips=127.0.0.1"),
            ],
            env: Vec::new(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ready_line: Some("was started successfully".into()),
            health_path: Some("/status".into()),
            log_dir: log_dir.to_path_buf(),
        }) {
            Ok(server) => return server,
            Err(StartError::AddrInUse(log)) => last = Some(log),
            Err(e) => panic!("chromedriver did not start: {e}"),
        }
    }
    panic!(
        "chromedriver found its port in use 5 times: {}",
        last.unwrap_or_default()
    );
}

fn screenshots_dir() -> PathBuf {
    // target/debug → target/console-screenshots
    let dir = bin_dir()
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(bin_dir)
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("cannot create the screenshot directory");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("cannot write the screenshot");
    println!("screenshot: {}", path.display());
}

async fn element(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(UI_WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css} within {UI_WAIT:?}: {e}"))
}

/// Waits until the text of `css` contains `wanted`; returns it.
async fn wait_text(client: &Client, css: &str, wanted: &str) -> String {
    let deadline = tokio::time::Instant::now() + UI_WAIT;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && let Ok(text) = el.text().await
        {
            if text.contains(wanted) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screenshot(client, "zz-failure").await;
    panic!("{css} never said {wanted:?} within {UI_WAIT:?}; last: {last:?}");
}

async fn click(client: &Client, css: &str) {
    element(client, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

#[test]
fn a_qa_session_in_chromium() {
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        if !Path::new(path).is_file() {
            return skip(&format!("{path} is missing (apt-get install {package})"));
        }
    }
    let lr = LabResponder::start(&[]);
    let lab = &lr.lab;
    let stapler = lab.start_stapler(&[]);
    // The stapler's first staple, before the console looks.
    wait_for(
        "the stapler's first good staple",
        UI_WAIT,
        Duration::from_millis(100),
        || {
            let status = lab.https_get(stapler.addr(), "/status.json").ok()?;
            let value: Value = serde_json::from_slice(&status.body).ok()?;
            (value[0]["staple"]["status"] == "good").then_some(())
        },
    );
    let stapler_url = format!("https://127.0.0.1:{}/", stapler.port());
    let serve = lab.start_serve(&["--stapler", &stapler_url]);
    let token = lab.api_token();
    let driver = start_chromedriver(&lab.tmp().join("logs"));
    let profile = tempfile::tempdir().expect("a profile directory");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1366,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://{}", driver.addr()))
            .await
            .expect("a WebDriver session with Chromium");
        let console = format!("http://{}/", serve.addr());
        client.goto(&console).await.expect("the console loads");

        // A wrong token is refused in place.
        element(&client, "#token-input")
            .await
            .send_keys("not-the-token")
            .await
            .unwrap();
        click(&client, "#token-submit").await;
        wait_text(&client, "#login-error", "wrong API token").await;
        screenshot(&client, "01-wrong-token").await;

        // The right one: the certificates appear, localhost good, its staple good.
        let input = element(&client, "#token-input").await;
        input.clear().await.unwrap();
        input.send_keys(&token).await.unwrap();
        click(&client, "#token-submit").await;
        element(
            &client,
            r#"tr[data-name="localhost"] td.status [data-badge="good"]"#,
        )
        .await;
        element(
            &client,
            r#"tr[data-name="localhost"] td.staple [data-badge="good"]"#,
        )
        .await;
        screenshot(&client, "02-signed-in").await;
        // Kept for the tab only: no cookie.
        assert_eq!(client.get_all_cookies().await.unwrap().len(), 0);

        // Revoke with the button: the lab says revoked, the stapler still staples good.
        element(&client, r#"select.reason[data-name="localhost"]"#)
            .await
            .select_by_value("keyCompromise")
            .await
            .unwrap();
        click(
            &client,
            r#"button[data-action="revoke"][data-name="localhost"]"#,
        )
        .await;
        element(
            &client,
            r#"tr[data-name="localhost"] td.status [data-badge="revoked"]"#,
        )
        .await;
        wait_text(
            &client,
            r#"tr[data-name="localhost"] td.status"#,
            "keyCompromise",
        )
        .await;
        element(
            &client,
            r#"tr[data-name="localhost"] td.staple [data-badge="good"]"#,
        )
        .await;
        screenshot(&client, "03-revoked-staple-still-good").await;

        // Ask the stapler to refresh: its staple turns revoked.
        click(&client, "#stapler-refresh").await;
        element(
            &client,
            r#"tr[data-name="localhost"] td.staple [data-badge="revoked"]"#,
        )
        .await;
        screenshot(&client, "04-staple-revoked").await;

        // Details: the responder's decoded answer, the staple's verdict, check now.
        click(
            &client,
            r#"button[data-action="details"][data-name="localhost"]"#,
        )
        .await;
        element(&client, r#"[data-ocsp-status="revoked"]"#).await;
        wait_text(
            &client,
            r#"[data-details="localhost"] [data-panel="ocsp"]"#,
            "keyCompromise",
        )
        .await;
        wait_text(
            &client,
            r#"[data-details="localhost"] [data-panel="staple"]"#,
            "revoked",
        )
        .await;
        click(
            &client,
            r#"button[data-action="check"][data-name="localhost"]"#,
        )
        .await;
        element(&client, r#"[data-check-verdict="revoked"]"#).await;
        wait_text(
            &client,
            r#"[data-details="localhost"] [data-panel="check"]"#,
            "replace the certificate",
        )
        .await;
        screenshot(&client, "05-details-and-check").await;

        // A bad fault duration: the CLI's message, in place, and nothing set.
        element(&client, "#fault-mode")
            .await
            .select_by_value("try-later")
            .await
            .unwrap();
        element(&client, "#fault-cert")
            .await
            .select_by_value("localhost")
            .await
            .unwrap();
        element(&client, "#fault-for")
            .await
            .send_keys("soon")
            .await
            .unwrap();
        click(&client, "#fault-set").await;
        wait_text(&client, "#faults-error", "invalid fault duration 'soon'").await;
        screenshot(&client, "06-fault-error-in-place").await;

        // Set a fault, then clear it.
        let duration = element(&client, "#fault-for").await;
        duration.clear().await.unwrap();
        duration.send_keys("10m").await.unwrap();
        click(&client, "#fault-set").await;
        element(&client, r#"#faults-list li[data-fault="try-later"]"#).await;
        wait_text(&client, "#faults-list", "try-later for localhost").await;
        wait_text(&client, "#faults-summary", "1 fault(s) in force").await;
        screenshot(&client, "07-fault-set").await;
        click(&client, "#fault-clear").await;
        wait_text(&client, "#faults-summary", "no faults").await;
        assert!(
            client
                .find_all(Locator::Css("#faults-list li"))
                .await
                .unwrap()
                .is_empty()
        );
        screenshot(&client, "08-fault-cleared").await;

        client.close().await.expect("the session closes");
    });

    // What the browser did is what the lab holds.
    assert!(
        lab.testca_ok(&["show", "localhost"])
            .contains("keyCompromise")
    );
    assert!(lab.testca_ok(&["fault", "list"]).contains("no faults"));
}
