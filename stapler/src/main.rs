//! `stapler`: the OCSP Lab's stapling TLS server, and `stapler check`.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Stapling TLS server of the OCSP Lab: fetches, verifies and staples OCSP responses
/// (RFC 6066 status_request) for its certificates; `stapler check` judges any server's staple.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: stapler::ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connect to a TLS server, ask for its staple, verify it and print a verdict.
    /// Exit codes: 0 good, 1 revoked, 2 invalid staple, 3 no staple, 4 bad certificate, 5 no connection.
    Check(stapler::check::CheckArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::Check(args)) = &cli.command {
        let report = stapler::check::check(args);
        print!("{}", report.text);
        return ExitCode::from(report.verdict.exit_code());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour for people at a terminal; plain text in log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let settings = match cli.serve.resolve(&matches, std::env::args_os().skip(1)) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("stapler: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stapler: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(stapler::serve(settings, labcore::accept::shutdown_signal()));
    // Stop the background refreshes first, so that the error below is the last line printed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The cause chain on one line: "cannot listen on …: Address already in use".
            eprintln!("stapler: {:#}", anyhow::Error::new(e));
            ExitCode::FAILURE
        }
    }
}
