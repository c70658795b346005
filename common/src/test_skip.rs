//! How a test says that it skipped itself (a database, a tool or a privilege it needs is absent).
//!
//! libtest captures what a passing test prints, so a bare `eprintln!("NOTICE …")` never reaches
//! CI's output and a skipped test reads exactly like a passing one. [`notice`] prints the NOTICE
//! and also appends it to the file named by [`SKIPS_FILE_ENV`]; `scripts/test.sh` sets that
//! variable and lists every skip at the end of the run.

use std::io::Write;

/// Environment variable naming the file that collects skip notices (one line per skip).
pub const SKIPS_FILE_ENV: &str = "LSTM_TEST_SKIPS";

/// Reports that the calling test is skipping, and why: `NOTICE: skipping: {why}` on stderr, and
/// `{test binary} {test}: {why}` appended to `$LSTM_TEST_SKIPS` when it is set.
pub fn notice(why: impl std::fmt::Display) {
    eprintln!("NOTICE: skipping: {why}");
    let Some(path) = std::env::var_os(SKIPS_FILE_ENV) else { return };
    // libtest runs each test on a thread named after it; the binary's name carries a hash suffix.
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            Some((name, _hash)) => name.to_string(),
            None => s,
        })
        .unwrap_or_default();
    // One short write to an O_APPEND file: lines from parallel test processes do not interleave.
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = file.write_all(format!("{binary} {test}: {why}\n").as_bytes());
    }
}
