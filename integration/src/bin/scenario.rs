//! `scenario`: plays the OCSP Lab's QA scenarios (the built-in ones in
//! `scenarios/`, or files given with `--file`) and reports, step by step,
//! what was done and what each client saw. Exit code 0 when every
//! expectation held, 1 when one did not, 2 for a bad command line or a bad
//! scenario file (then nothing runs). Run through `scripts/scenario`.

use std::path::PathBuf;
use std::process::ExitCode;

use integration::harness;
use integration::scenario::{self, file, report};

const USAGE: &str = "usage: scenario --list | scenario [NAME... | --all] [--file FILE|DIR]... [--junit FILE] [--json FILE]";

fn usage(problem: &str) -> ExitCode {
    eprintln!("scenario: {problem}; {USAGE}");
    ExitCode::from(2)
}

/// What the command line asks for.
#[derive(Default)]
struct Request {
    names: Vec<String>,
    all: bool,
    files: Vec<PathBuf>,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Request, String> {
    let mut request = Request::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |option: &str| {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{option} needs a path"))
        };
        match arg.as_str() {
            "--all" => request.all = true,
            "--file" => request.files.push(value("--file")?),
            "--junit" => request.junit = Some(value("--junit")?),
            "--json" => request.json = Some(value("--json")?),
            option if option.starts_with('-') => return Err(format!("unknown option '{option}'")),
            name => request.names.push(name.to_string()),
        }
    }
    if !request.all && request.names.is_empty() && request.files.is_empty() {
        return Err("name a scenario, --all or --file".into());
    }
    Ok(request)
}

/// The files to play, in order: named built-ins, all built-ins, then `--file`s.
fn paths(request: &Request) -> Result<Vec<PathBuf>, String> {
    let mut paths = Vec::new();
    for name in &request.names {
        paths.push(
            scenario::catalogue_file(name).ok_or_else(|| {
                format!("no scenario named '{name}'; `scenario --list` shows them")
            })?,
        );
    }
    if request.all {
        let dir = scenario::catalogue_dir();
        paths.extend(
            file::files_in(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?,
        );
    }
    for path in &request.files {
        if path.is_dir() {
            let found =
                file::files_in(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if found.is_empty() {
                return Err(format!("{} holds no .toml scenario file", path.display()));
            }
            paths.extend(found);
        } else if path.is_file() {
            paths.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    Ok(paths)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return usage("nothing to play");
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "Plays QA scenarios against the real testca, responder, stapler, nginx and Apache.\n\
             Built-in scenarios are the files in {}; --file plays your own (see README.md, \"QA: console, API, scenario files\").\n{USAGE}",
            scenario::catalogue_dir().display()
        );
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|a| a == "--list") {
        return match scenario::catalogue() {
            Ok(all) => {
                let width = all.iter().map(|s| s.name.len()).max().unwrap_or(0);
                for s in all {
                    println!("{:<width$}  {}", s.name, s.description);
                }
                ExitCode::SUCCESS
            }
            Err(errors) => bad_files(&errors),
        };
    }
    let request = match parse(&args) {
        Ok(r) => r,
        Err(problem) => return usage(&problem),
    };
    let paths = match paths(&request) {
        Ok(p) => p,
        Err(problem) => {
            eprintln!("scenario: {problem}");
            return ExitCode::from(2);
        }
    };
    // Every file is checked before any runs.
    let scenarios = match file::load_all(&paths) {
        Ok(s) => s,
        Err(errors) => return bad_files(&errors),
    };
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
    let mut played = Vec::new();
    let stdout = std::io::stdout();
    for s in &scenarios {
        let mut out = stdout.lock();
        played.push(scenario::play(s, &mut out));
        println!();
    }
    let names = |verdict: &str| -> Vec<&str> {
        played
            .iter()
            .filter(|p| p.verdict() == verdict)
            .map(|p| p.name.as_str())
            .collect()
    };
    let (passed, failed, skipped) = (names("PASS"), names("FAIL"), names("SKIP"));
    let mut code = ExitCode::SUCCESS;
    if let Some(path) = &request.junit {
        match report::junit(&played).and_then(|xml| std::fs::write(path, xml)) {
            Ok(()) => eprintln!("scenario: JUnit report in {}", path.display()),
            Err(e) => {
                eprintln!(
                    "scenario: cannot write the JUnit report {}: {e}",
                    path.display()
                );
                code = ExitCode::FAILURE;
            }
        }
    }
    if let Some(path) = &request.json {
        let text = serde_json::to_string_pretty(&report::json(&played)).unwrap_or_default();
        match std::fs::write(path, text + "\n") {
            Ok(()) => eprintln!("scenario: JSON report in {}", path.display()),
            Err(e) => {
                eprintln!(
                    "scenario: cannot write the JSON report {}: {e}",
                    path.display()
                );
                code = ExitCode::FAILURE;
            }
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
        code
    } else {
        ExitCode::FAILURE
    }
}

fn bad_files(errors: &[file::FileError]) -> ExitCode {
    for e in errors {
        eprintln!("{e}");
    }
    eprintln!(
        "scenario: {} scenario file{} with mistakes; nothing ran",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(2)
}
