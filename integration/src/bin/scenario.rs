//! `scenario`: plays the OCSP Lab's QA scenarios and reports, step by step,
//! what was done and what each client saw. Exit code 0 when every
//! expectation held. Run through `scripts/scenario`.

use std::io::Write;
use std::process::ExitCode;

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
    let mut failed = Vec::new();
    let stdout = std::io::stdout();
    for name in names {
        let Some(scenario) = find(name) else {
            eprintln!("scenario: no scenario named '{name}'; `scenario --list` shows them");
            return ExitCode::from(2);
        };
        let mut out = stdout.lock();
        let outcome = scenario.play(&mut out);
        let _ = writeln!(out);
        if !outcome.passed() {
            failed.push(name);
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("scenario: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
