//! Reports of a scenario run for CI: JUnit XML (one test case per scenario
//! played, its steps in `system-out`, a `failure` per expectation that did
//! not hold, `skipped` for a scenario that could not run) and JSON.

use std::borrow::Cow;
use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};
use serde_json::{Value, json};

use super::Played;

/// XML 1.0 cannot carry most control characters (a program's output may
/// hold some, e.g. colour codes): they are shown as `\u{..}`.
fn xml_safe(text: &str) -> Cow<'_, str> {
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if text.chars().all(allowed) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if allowed(c) {
                    c.to_string()
                } else {
                    c.escape_unicode().to_string()
                }
            })
            .collect(),
    )
}

fn seconds(played: &Played) -> String {
    format!("{:.3}", played.duration.as_secs_f64())
}

/// The JUnit XML report of these scenarios, as one test suite.
pub fn junit(all: &[Played]) -> io::Result<Vec<u8>> {
    let failed = all
        .iter()
        .filter(|p| p.skipped.is_none() && !p.passed())
        .count();
    let skipped = all.iter().filter(|p| p.skipped.is_some()).count();
    let total: f64 = all.iter().map(|p| p.duration.as_secs_f64()).sum();
    let (tests, failures, skips, time) = (
        all.len().to_string(),
        failed.to_string(),
        skipped.to_string(),
        format!("{total:.3}"),
    );
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let suite_attrs = [
        ("name", "ocsp-lab scenarios"),
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", "0"),
        ("skipped", skips.as_str()),
        ("time", time.as_str()),
    ];
    writer
        .create_element("testsuites")
        .with_attributes(suite_attrs)
        .write_inner_content(|w| {
            w.create_element("testsuite")
                .with_attributes(suite_attrs)
                .write_inner_content(|w| {
                    for played in all {
                        testcase(w, played)?;
                    }
                    Ok(())
                })?;
            Ok(())
        })?;
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

fn testcase(w: &mut Writer<Vec<u8>>, played: &Played) -> io::Result<()> {
    let file = played.path.display().to_string();
    let time = seconds(played);
    let classname = format!("scenarios.{}", played.name);
    w.create_element("testcase")
        .with_attributes([
            ("name", xml_safe(&played.name)),
            ("classname", xml_safe(&classname)),
            ("file", xml_safe(&file)),
            ("time", Cow::Borrowed(time.as_str())),
        ])
        .write_inner_content(|w| {
            if let Some(reason) = &played.skipped {
                w.create_element("skipped")
                    .with_attribute(("message", xml_safe(reason)))
                    .write_empty()?;
            } else if played.failures.is_empty() && !played.passed() {
                w.create_element("failure")
                    .with_attribute(("message", "no expectation was checked"))
                    .write_empty()?;
            }
            for failure in &played.failures {
                let message = format!(
                    "{}: expected {}; observed {}",
                    failure.subject, failure.expected, failure.observed
                );
                w.create_element("failure")
                    .with_attributes([
                        ("message", xml_safe(&message)),
                        ("type", Cow::Borrowed("expectation")),
                    ])
                    .write_text_content(BytesText::new(&xml_safe(&failure.to_string())))?;
            }
            w.create_element("system-out")
                .write_text_content(BytesText::new(&xml_safe(&played.report)))?;
            Ok(())
        })?;
    Ok(())
}

/// The JSON report of these scenarios.
pub fn json(all: &[Played]) -> Value {
    let count = |verdict: &str| all.iter().filter(|p| p.verdict() == verdict).count();
    json!({
        "passed": count("PASS"),
        "failed": count("FAIL"),
        "skipped": count("SKIP"),
        "scenarios": all.iter().map(|p| json!({
            "name": p.name,
            "description": p.description,
            "file": p.path.display().to_string(),
            "verdict": p.verdict().to_lowercase(),
            "expectations": p.checked,
            "failures": p.failures.iter().map(|f| json!({
                "step": f.step,
                "line": f.line,
                "subject": f.subject,
                "expected": f.expected,
                "observed": f.observed,
            })).collect::<Vec<_>>(),
            "skipped": p.skipped,
            "seconds": p.duration.as_secs_f64(),
            "report": p.report,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::scenario::Failure;

    fn played(name: &str, failures: Vec<Failure>, skipped: Option<&str>) -> Played {
        Played {
            name: name.into(),
            description: "d".into(),
            path: PathBuf::from(format!("scenarios/{name}.toml")),
            checked: 2,
            failures,
            skipped: skipped.map(String::from),
            report: format!("scenario {name}: <steps> & \"quotes\" \u{1b}[0m\n"),
            duration: Duration::from_millis(1500),
        }
    }

    #[test]
    fn junit_has_a_testcase_per_scenario_with_failures_and_skips() {
        let failure = Failure {
            step: 3,
            line: 12,
            subject: "stapler check".into(),
            expected: "revoked".into(),
            observed: "stapler check accepted exit 0 <good>".into(),
        };
        let all = [
            played("good", vec![], None),
            played("revoked", vec![failure], None),
            played("nginx-good", vec![], Some("nginx is not installed")),
        ];
        let xml = String::from_utf8(junit(&all).expect("junit")).expect("utf-8");
        let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        let cases: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), 3, "{xml}");
        assert_eq!(cases[1].attribute("name"), Some("revoked"));
        let failure = cases[1]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("a failure");
        assert!(
            failure
                .attribute("message")
                .is_some_and(|m| m.contains("expected revoked") && m.contains("<good>")),
            "{xml}"
        );
        assert!(
            cases[2].children().any(|n| n.has_tag_name("skipped")),
            "{xml}"
        );
        let out = cases[0]
            .children()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text())
            .unwrap_or_default();
        assert!(out.contains("<steps> & \"quotes\""), "{xml}");
        let suite = doc.root_element();
        assert_eq!(suite.attribute("failures"), Some("1"));
        assert_eq!(suite.attribute("skipped"), Some("1"));
        let report = json(&all);
        assert_eq!(report["failed"], 1);
        assert_eq!(report["scenarios"][1]["failures"][0]["line"], 12);
    }
}
