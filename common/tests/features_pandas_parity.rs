//! Parity with the independent pandas implementation (`bench/features_pandas.py`): every value
//! of every sample window (both `--style vectorised` and `--style seed`), the targets, and the
//! `features` CLI window agree to 1e-5.
//!
//! Needs the project virtualenv (`bash scripts/setup.sh` creates `.venv` with pandas); without
//! it the tests print a notice and pass vacuously, since the Rust-only tests cover the formulas
//! against hard-coded references.
use std::path::{Path, PathBuf};
use std::process::Command;

use common::data::{generate, write_csv, Bar, Dialect, SyntheticConfig};
use common::features::{build_samples, window_ending_at, FeatureConfig, FEATURES, N_FEATURES};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python() -> Option<PathBuf> {
    let py = root().join(".venv/bin/python");
    if py.exists() {
        Some(py)
    } else {
        common::test_skip::notice(format_args!(
            "{} missing; the pandas parity check needs it (run scripts/setup.sh)",
            py.display()
        ));
        None
    }
}

fn pandas(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py)
        .arg(root().join("bench/features_pandas.py"))
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pandas reference failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn bars() -> Vec<Bar> {
    // Includes a stretch of zero volume and unchanged closes to exercise the edge rules.
    let mut bars = generate(&SyntheticConfig {
        days: 700,
        seed: 2024,
        ..SyntheticConfig::default()
    });
    for b in &mut bars[300..306] {
        b.volume = 0.0;
    }
    let c = bars[400].close;
    for b in &mut bars[401..404] {
        b.close = c;
        b.open = c;
        b.high = b.high.max(c);
        b.low = b.low.min(c);
    }
    bars
}

#[test]
fn all_samples_match_pandas() {
    samples_match_pandas("vectorised");
}

/// The seed-style reference (per-sample `df.iloc` loop, the original system's structure) that
/// the features benchmark also times must compute the same values.
#[test]
fn all_samples_match_seed_style_pandas() {
    samples_match_pandas("seed");
}

fn samples_match_pandas(style: &str) {
    let Some(py) = python() else { return };
    let bars = bars();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bars.csv");
    std::fs::write(&csv, write_csv(&bars, Dialect::Yahoo)).unwrap();
    let (xp, yp) = (dir.path().join("x.f32"), dir.path().join("y.f32"));
    pandas(
        &py,
        &[
            "--csv",
            csv.to_str().unwrap(),
            "--dump-x",
            xp.to_str().unwrap(),
            "--dump-ymag",
            yp.to_str().unwrap(),
            "--style",
            style,
        ],
    );

    let s = build_samples(&bars, &FeatureConfig::default()).unwrap();
    let (x, y) = (read_f32(&xp), read_f32(&yp));
    assert_eq!(x.len(), s.x.len());
    let mut worst = (0f32, 0usize);
    for (i, (a, b)) in s.x.iter().zip(&x).enumerate() {
        let d = (a - b).abs();
        if d > worst.0 {
            worst = (d, i);
        }
    }
    let (d, i) = worst;
    let feature = FEATURES[i % N_FEATURES].name;
    assert!(
        d <= 1e-5,
        "max |rust - pandas ({style})| = {d} at sample {}, feature {feature}",
        i / (60 * N_FEATURES)
    );
    eprintln!(
        "max |rust - pandas ({style})| over {} values: {d:e} ({feature})",
        x.len()
    );
    let flat: Vec<f32> = s.y_mag.iter().flatten().copied().collect();
    assert_eq!(flat.len(), y.len());
    assert!(flat.iter().zip(&y).all(|(a, b)| (a - b).abs() <= 1e-7));
}

#[test]
fn window_at_a_date_matches_pandas() {
    let Some(py) = python() else { return };
    let bars = bars();
    let end = 450;
    let rust = window_ending_at(&bars, end, &FeatureConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // pandas reads the plain/Yahoo dialects; that an akshare file of the same bars gives the same
    // window is checked in trainer-svc (commands::features tests).
    let csv = dir.path().join("bars.csv");
    std::fs::write(&csv, write_csv(&bars, Dialect::Yahoo)).unwrap();
    let out = pandas(
        &py,
        &[
            "--csv",
            csv.to_str().unwrap(),
            "--window",
            "--end",
            &bars[end].date.to_string(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 61);
    assert_eq!(lines[0].split(',').count(), 22);
    assert_eq!(
        lines[60].split(',').next().unwrap(),
        bars[end].date.to_string()
    );
    for (r, line) in lines[1..].iter().enumerate() {
        for (j, v) in line.split(',').skip(1).enumerate() {
            let p: f32 = v.parse().unwrap();
            let got = rust[r * N_FEATURES + j];
            assert!(
                (p - got).abs() <= 1e-5,
                "row {r} {}: pandas {p} rust {got}",
                FEATURES[j].name
            );
        }
    }
}
