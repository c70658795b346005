//! The charts are real, decodable PNGs of the advertised size; empty input is an error.

use chrono::NaiveDate;
use common::evaluation::plots::{HEIGHT, WIDTH};
use common::evaluation::{plot_holdout, plot_training_curves, TrainingCurves};
use common::Error;

const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Decodes `bytes` and returns (width, height, number of distinct colours).
fn decode(bytes: &[u8]) -> (u32, u32, usize) {
    assert_eq!(&bytes[..8], &PNG_MAGIC, "not a PNG");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("valid PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("decodable PNG");
    let px = &buf[..info.buffer_size()];
    let colours: std::collections::HashSet<&[u8]> = px.chunks(3).collect();
    (info.width, info.height, colours.len())
}

fn curves(n: u32) -> TrainingCurves {
    let epochs: Vec<u32> = (1..=n).collect();
    TrainingCurves {
        train_loss: epochs.iter().map(|&e| 1.0 / f64::from(e)).collect(),
        val_loss: epochs.iter().map(|&e| 1.2 / f64::from(e) + 0.05).collect(),
        val_volatility_match: epochs.iter().map(|&e| 1.0 - 0.5 / f64::from(e)).collect(),
        lr: epochs
            .iter()
            .map(|&e| 1e-5 + 0.5 * (1e-3 - 1e-5) * (1.0 + (std::f64::consts::PI * f64::from(e - 1) / 50.0).cos()))
            .collect(),
        epochs,
    }
}

#[test]
fn training_curves_are_a_png() {
    let png = plot_training_curves(&curves(60)).unwrap();
    let (w, h, colours) = decode(&png);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    assert!(colours > 5, "the chart has lines and text, got {colours} colours");
    if let Ok(dir) = std::env::var("PLOT_OUT_DIR") {
        std::fs::write(format!("{dir}/training_curves.png"), &png).unwrap();
    }
}

#[test]
fn training_curves_tolerate_nan_and_a_single_epoch() {
    let mut c = curves(10);
    c.val_loss[3] = f64::NAN;
    c.val_volatility_match = vec![f64::NAN; 10];
    assert!(decode(&plot_training_curves(&c).unwrap()).0 == WIDTH);
    assert!(decode(&plot_training_curves(&curves(1)).unwrap()).1 == HEIGHT);
}

#[test]
fn training_curves_reject_empty_or_ragged_input() {
    let err = plot_training_curves(&TrainingCurves::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    assert!(err.to_string().contains("no epochs"), "{err}");
    let mut c = curves(5);
    c.lr.pop();
    let err = plot_training_curves(&c).unwrap_err();
    assert!(err.to_string().contains("4 lr values"), "{err}");
}

#[test]
fn holdout_chart_is_a_png() {
    let n = 66;
    let start = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let dates: Vec<NaiveDate> = (0..n).map(|i| start + chrono::Days::new(i as u64)).collect();
    let actual: Vec<f64> = (0..n).map(|i| 0.03 * (i as f64 / 5.0).sin()).collect();
    let predicted: Vec<f64> = actual.iter().map(|a| 0.6 * a + 0.002).collect();
    let prob: Vec<f64> = predicted.iter().map(|p| 0.5 + 8.0 * p).collect();
    let y: Vec<i64> = actual.iter().map(|a| i64::from(*a > 0.0)).collect();
    let png = plot_holdout(&dates, &predicted, &actual, &prob, &y).unwrap();
    let (w, h, colours) = decode(&png);
    assert_eq!((w, h), (WIDTH, HEIGHT));
    assert!(colours > 5);
    if let Ok(dir) = std::env::var("PLOT_OUT_DIR") {
        std::fs::write(format!("{dir}/holdout.png"), &png).unwrap();
    }
    // One sample still renders.
    assert_eq!(decode(&plot_holdout(&dates[..1], &[0.01], &[0.02], &[0.7], &[1]).unwrap()).0, WIDTH);
}

#[test]
fn holdout_chart_rejects_empty_or_ragged_input() {
    let err = plot_holdout(&[], &[], &[], &[], &[]).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
    let d = [NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()];
    let err = plot_holdout(&d, &[0.1, 0.2], &[0.1], &[0.5], &[1]).unwrap_err();
    assert!(err.to_string().contains("2 predicted_cum values"), "{err}");
}
