//! `responder`: the OCSP Lab's OCSP responder.

use std::process::ExitCode;

use clap::Parser;

/// OCSP responder of the OCSP Lab: answers RFC 6960 / RFC 5019 requests (GET and POST)
/// from the lab's revocation database, and misbehaves on purpose when `testca fault` says so.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: responder::Config,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour for people at a terminal; plain text in log files and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match responder::serve(cli.config, labcore::accept::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("responder: {err}");
            ExitCode::FAILURE
        }
    }
}
