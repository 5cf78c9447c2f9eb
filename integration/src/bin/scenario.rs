//! `scenario`: plays the OCSP Lab's QA scenarios and reports, step by step,
//! what was done and what each client saw. Exit code 0 when every
//! expectation held. Run through `scripts/scenario`.

use std::io::Write;
use std::process::ExitCode;

use integration::harness;
use integration::scenario::{CATALOGUE, find};

fn usage() -> ExitCode {
    eprintln!("usage: scenario --list | scenario NAME... | scenario --all");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return usage();
    }
    if args.iter().any(|a| a == "--list") {
        let width = CATALOGUE.iter().map(|s| s.name.len()).max().unwrap_or(0);
        for s in CATALOGUE {
            println!("{:<width$}  {}", s.name, s.summary);
        }
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "Plays QA scenarios against the real testca, responder, stapler, nginx and Apache."
        );
        let _ = usage();
        return ExitCode::SUCCESS;
    }
    let names: Vec<&str> = if args.iter().any(|a| a == "--all") {
        CATALOGUE.iter().map(|s| s.name).collect()
    } else {
        args.iter().map(String::as_str).collect()
    };
    if let Some(name) = names.iter().find(|n| find(n).is_none()) {
        eprintln!("scenario: no scenario named '{name}'; `scenario --list` shows them");
        return ExitCode::from(2);
    }
    // The scenarios drive the lab's binaries from the directory of this one.
    let dir = harness::bin_dir();
    for program in ["testca", "responder", "stapler"] {
        let path = dir.join(format!("{program}{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() {
            eprintln!(
                "scenario: {} is missing: run scripts/build (scripts/scenario does it for you)",
                path.display()
            );
            return ExitCode::FAILURE;
        }
    }
    let (mut passed, mut failed, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let stdout = std::io::stdout();
    for name in names {
        let Some(scenario) = find(name) else {
            continue;
        };
        let mut out = stdout.lock();
        let outcome = scenario.play(&mut out);
        let _ = writeln!(out);
        if outcome.skipped.is_some() {
            skipped.push(name);
        } else if outcome.passed() {
            passed.push(name);
        } else {
            failed.push(name);
        }
    }
    println!(
        "scenario: {} passed, {} failed, {} skipped",
        passed.len(),
        failed.len(),
        skipped.len()
    );
    if !failed.is_empty() {
        eprintln!("scenario: failed: {}", failed.join(", "));
    }
    // Skipped is not passed where everything must run.
    let ci = std::env::var_os("CI").is_some();
    if !skipped.is_empty() && ci {
        eprintln!(
            "scenario: skipped, and CI is set: {} (scripts/install-deps installs what they need)",
            skipped.join(", ")
        );
    }
    if failed.is_empty() && (skipped.is_empty() || !ci) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
