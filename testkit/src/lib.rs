//! What the OCSP Lab's test suites share, with one owner:
//!
//! * [`skip`]: a test that cannot run says `skipped: <reason>`, is counted
//!   by `scripts/test`, and fails under `CI` (skipped is not passed);
//! * [`postgres`]: the throw-away PostgreSQL cluster that `scripts/test`
//!   starts and names in [`postgres::TEST_PG`], and URLs into it.

#![warn(missing_docs)]

use std::io::Write;

pub mod postgres;

/// The environment variable naming the file where skips are recorded
/// (`scripts/test` sets it and counts the lines).
pub const SKIP_LOG: &str = "OCSPLAB_SKIP_LOG";

/// Reports that the calling test cannot run here, and why; the caller then
/// returns. Skipped is not passed: the line `skipped: REASON` goes straight
/// to the process's stderr (libtest captures only the print macros, so it is
/// seen even when the test "passes"), is appended to the file named by
/// [`SKIP_LOG`], and under `CI` the test fails instead.
#[track_caller]
pub fn skip(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("skipped, and CI is set: {reason}");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
    if let Some(path) = std::env::var_os(SKIP_LOG) {
        let caller = std::panic::Location::caller();
        let line = format!("{}:{}: {reason}\n", caller.file(), caller.line());
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = appended {
            let _ = writeln!(std::io::stderr(), "cannot record the skip in {path:?}: {e}");
        }
    }
}
