//! Calibration maths on synthetic data (issue 11, issue 14.3): temperature / Platt scaling,
//! split-conformal coverage, the precision-constrained threshold, the baselines and the
//! baseline gate.
use common::baselines::{score_baselines, BaseRate, BaselineScore, LinearBaseline};
use common::calibration::conformal::conformal_quantile;
use common::calibration::scores::{ece, log_loss, sigmoid};
use common::calibration::{
    coverage, precision_threshold, window_vol, CalibrationMethod, ConformalIntervals, ConformalScore,
    DirectionCalibration,
};
use common::evaluation::{apply_baseline_gate, compare_with_baselines, DeployDecision};
use common::features::{col, Samples, N_FEATURES, SEQ_LEN};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// `n` true logits `z ~ N(0, 1.5)` and labels drawn from `σ(z)`.
fn logits_and_labels(n: usize, seed: u64) -> (Vec<f64>, Vec<i64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let normal = Normal::new(0.0, 1.5).unwrap();
    let z: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
    let y = z.iter().map(|z| i64::from(rng.random::<f64>() < sigmoid(*z))).collect();
    (z, y)
}

#[test]
fn temperature_shrinks_over_confident_logits_and_leaves_calibrated_ones_alone() {
    let (z, y) = logits_and_labels(3000, 1);
    // Over-confident: the model's margin is 3× the true one.
    let over: Vec<f64> = z.iter().map(|z| sigmoid(3.0 * z)).collect();
    let cal = DirectionCalibration::fit(CalibrationMethod::Temperature, &over, &y).unwrap().unwrap();
    let t = cal.temperature.unwrap();
    assert!((t - 3.0).abs() < 0.4, "T = {t}, expected ≈ 3");
    assert_eq!(cal.b, 0.0);
    assert!(cal.after.log_loss < cal.before.log_loss - 0.05, "{:?} → {:?}", cal.before, cal.after);
    assert!(cal.after.ece < cal.before.ece / 2.0, "{:?} → {:?}", cal.before, cal.after);
    let after: Vec<f64> = over.iter().map(|p| cal.apply(*p)).collect();
    assert!((log_loss(&after, &y) - cal.after.log_loss).abs() < 1e-12);
    assert!((ece(&after, &y) - cal.after.ece).abs() < 1e-12);
    // Temperature keeps the side of ½.
    assert!(over.iter().zip(&after).all(|(a, b)| (a - 0.5) * (b - 0.5) >= 0.0));

    // Already calibrated: T ≈ 1 and nothing gets worse.
    let calibrated: Vec<f64> = z.iter().map(|z| sigmoid(*z)).collect();
    let cal = DirectionCalibration::fit(CalibrationMethod::Temperature, &calibrated, &y).unwrap().unwrap();
    let t = cal.temperature.unwrap();
    assert!((t - 1.0).abs() < 0.12, "T = {t}, expected ≈ 1");
    assert!(cal.after.log_loss <= cal.before.log_loss + 1e-9);
}

#[test]
fn platt_moves_toward_the_base_rate_and_none_fits_nothing() {
    // A useless, over-confident model on data that is up 70 % of the time (and, below, 30 %:
    // linfa labels the more frequent class "positive", which the fit must undo).
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let raw: Vec<f64> = (0..1000).map(|_| if rng.random::<bool>() { 0.98 } else { 0.02 }).collect();
    let y: Vec<i64> = (0..1000).map(|_| i64::from(rng.random::<f64>() < 0.7)).collect();
    let platt = DirectionCalibration::fit(CalibrationMethod::Platt, &raw, &y).unwrap().unwrap();
    assert!(platt.a.abs() < 0.05, "slope {}", platt.a);
    assert!((platt.apply(0.98) - 0.7).abs() < 0.05 && (platt.apply(0.02) - 0.7).abs() < 0.05);
    assert!(platt.after.brier < 0.23, "{:?}", platt.after);
    let y_down: Vec<i64> = y.iter().map(|v| 1 - v).collect();
    let down = DirectionCalibration::fit(CalibrationMethod::Platt, &raw, &y_down).unwrap().unwrap();
    assert!((down.apply(0.5) - 0.3).abs() < 0.05, "{}", down.apply(0.5));
    // Over-confident logits on down-majority data: T still ≈ 3, not negative.
    let (z, yz) = logits_and_labels(3000, 9);
    let shifted: Vec<(f64, i64)> = z.iter().zip(&yz).filter(|(z, _)| **z < 0.8).map(|(z, y)| (sigmoid(3.0 * z), *y)).collect();
    let (ps, ys): (Vec<f64>, Vec<i64>) = shifted.into_iter().unzip();
    assert!(ys.iter().filter(|y| **y == 0).count() * 2 > ys.len(), "downs are the majority");
    let t = DirectionCalibration::fit(CalibrationMethod::Temperature, &ps, &ys).unwrap().unwrap().temperature.unwrap();
    assert!((t - 3.0).abs() < 0.5, "T = {t}");
    // Temperature can only shrink toward ½ (Brier 0.25 at best here): Platt beats it.
    let temp = DirectionCalibration::fit(CalibrationMethod::Temperature, &raw, &y).unwrap().unwrap();
    assert!(platt.after.log_loss < temp.after.log_loss);
    assert_eq!(DirectionCalibration::fit(CalibrationMethod::None, &raw, &y).unwrap(), None);
    // Too few samples or a single class: an error that says why (the version is then served raw).
    let e = DirectionCalibration::fit(CalibrationMethod::Platt, &raw[..5], &y[..5]).unwrap_err();
    assert!(e.to_string().contains("at least 10 samples"), "{e}");
    let e = DirectionCalibration::fit(CalibrationMethod::Platt, &raw[..20], &[1; 20]).unwrap_err();
    assert!(e.to_string().contains("one class only"), "{e}");
    // Request spelling.
    assert_eq!("".parse::<CalibrationMethod>().unwrap(), common::calibration::DEFAULT_CALIBRATION);
    assert_eq!("Temperature".parse::<CalibrationMethod>().unwrap(), CalibrationMethod::Temperature);
    let e = "isotonic".parse::<CalibrationMethod>().unwrap_err();
    assert!(e.to_string().contains("temperature, platt, none"), "{e}");
}

/// `n` exchangeable points: volatility scale `s ~ U(0.005, 0.05)`, prediction `ŷ ~ N(0, 0.01)`,
/// truth `y = ŷ + s·ε`, `ε ~ N(0, 1)` (heteroscedastic, so the normalised score is the right one).
fn points(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let std = Normal::new(0.0, 1.0).unwrap();
    let vol: Vec<f64> = (0..n).map(|_| rng.random_range(0.005..0.05)).collect();
    let pred: Vec<f64> = (0..n).map(|_| 0.01 * std.sample(&mut rng)).collect();
    let truth = (0..n).map(|i| pred[i] + vol[i] * std.sample(&mut rng)).collect();
    (pred, truth, vol)
}

#[test]
fn conformal_intervals_cover_at_their_levels_and_widen_with_volatility() {
    use rand::seq::SliceRandom;
    // 2 000 exchangeable points, split at random into 1 000 calibration / 1 000 test points, 20
    // seeded times: split-conformal coverage averaged over splits is at least the level and at
    // most level + 1/(n_cal + 1) (conditionally on the points), so it must land within ±3 pp.
    let (p, t, v) = points(2000, 3);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut idx: Vec<usize> = (0..2000).collect();
    for score in [ConformalScore::Normalized, ConformalScore::Absolute] {
        for level in [0.8, 0.95] {
            let mut covs = Vec::new();
            for _ in 0..20 {
                idx.shuffle(&mut rng);
                let pick = |x: &[f64], r: std::ops::Range<usize>| idx[r].iter().map(|&i| x[i]).collect::<Vec<_>>();
                let ci = ConformalIntervals::fit(&pick(&p, 0..1000), &pick(&t, 0..1000), &pick(&v, 0..1000));
                covs.push(coverage(&ci, score, level, &pick(&p, 1000..2000), &pick(&t, 1000..2000), &pick(&v, 1000..2000)));
            }
            let mean = covs.iter().sum::<f64>() / covs.len() as f64;
            assert!((mean - level).abs() <= 0.03, "{score:?} {level}: mean coverage {mean} over splits {covs:?}");
        }
    }
    let ci = ConformalIntervals::fit(&p, &t, &v);
    assert_eq!(ci.n_calibration, 2000);
    let (p2, t2, v2) = points(2000, 4);
    // Normalised intervals are wider on turbulent windows than on calm ones; absolute ones are not.
    let width = |score, vol| {
        let iv = ci.intervals(score, 0.0, vol);
        let (lo, hi) = iv[0].bounds.unwrap();
        hi - lo
    };
    assert!(width(ConformalScore::Normalized, 0.045) > 3.0 * width(ConformalScore::Normalized, 0.008));
    assert_eq!(width(ConformalScore::Absolute, 0.045), width(ConformalScore::Absolute, 0.008));
    // ... and on this heteroscedastic data the normalised ones hold their level on calm and
    // turbulent windows alike, where the absolute ones over- and under-cover.
    let calm: Vec<usize> = (0..2000).filter(|&i| v2[i] < 0.015).collect();
    let wild: Vec<usize> = (0..2000).filter(|&i| v2[i] > 0.04).collect();
    let cov = |score, idx: &[usize]| {
        let pick = |x: &[f64]| idx.iter().map(|&i| x[i]).collect::<Vec<_>>();
        coverage(&ci, score, 0.8, &pick(&p2), &pick(&t2), &pick(&v2))
    };
    assert!((cov(ConformalScore::Normalized, &calm) - 0.8).abs() < 0.06);
    assert!((cov(ConformalScore::Normalized, &wild) - 0.8).abs() < 0.06);
    assert!(cov(ConformalScore::Absolute, &calm) > 0.95 && cov(ConformalScore::Absolute, &wild) < 0.7);
}

#[test]
fn too_little_calibration_data_gives_no_interval() {
    // ⌈(n+1)·0.95⌉ ≤ n needs n ≥ 19; ⌈(n+1)·0.8⌉ ≤ n needs n ≥ 4.
    let scores: Vec<f64> = (1..=18).map(f64::from).collect();
    assert_eq!(conformal_quantile(&scores, 0.95), None);
    assert_eq!(conformal_quantile(&scores, 0.8), Some(16.0)); // ⌈19·0.8⌉ = 16th smallest
    let scores19: Vec<f64> = (1..=19).map(f64::from).collect();
    assert_eq!(conformal_quantile(&scores19, 0.95), Some(19.0));
    let (p, t, v) = points(10, 5);
    let ci = ConformalIntervals::fit(&p, &t, &v);
    assert_eq!(ci.levels[0].min_samples, 4);
    assert_eq!(ci.levels[1].min_samples, 19);
    let iv = ci.intervals(ConformalScore::Normalized, 0.01, 0.02);
    assert!(iv[0].bounds.is_some() && iv[1].bounds.is_none(), "{iv:?}");
    // The window scale is √5 · hv_20 of the last day.
    let mut w = vec![0f32; SEQ_LEN * N_FEATURES];
    w[(SEQ_LEN - 1) * N_FEATURES + col::HV_20] = 0.02;
    assert!((window_vol(&w) - 0.02 * 5f64.sqrt()).abs() < 1e-7);
}

#[test]
fn threshold_is_the_lowest_with_the_target_precision_and_five_positives() {
    // Scores 0.50 .. 0.95 in steps of 0.05 with hand-placed labels.
    let p = [0.50, 0.55, 0.60, 0.62, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95, 0.30, 0.20];
    let y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0];
    // τ = 0.50: 11 positives, 6 up → 0.545; τ = 0.51..0.55: 10 positives, 6 up → 0.6 ≥ 0.6.
    let t = precision_threshold(&p, &y, 0.6);
    assert_eq!(t.threshold, Some(0.51));
    assert_eq!((t.positives, t.precision), (10, Some(0.6)));
    assert!((t.recall.unwrap() - 6.0 / 7.0).abs() < 1e-12);
    // 0.7 first holds at τ = 0.63 (≥ 0.63: 7 positives, 5 up = 0.714; ≥ 0.62: 8 with 5 up = 0.625).
    assert_eq!(precision_threshold(&p, &y, 0.7).threshold, Some(0.63));
    // No threshold with ≥ 5 positives reaches 0.9 → "none", and the signal is never UP.
    let none = precision_threshold(&p, &y, 0.9);
    assert_eq!((none.threshold, none.precision, none.recall), (None, None, None));
    assert!(!none.is_up(0.99));
    // Fewer than 5 predicted positives never qualify, even at precision 1.
    let few = precision_threshold(&[0.9, 0.9, 0.9, 0.9, 0.1], &[1, 1, 1, 1, 0], 0.6);
    assert_eq!(few.threshold, None);
    assert!(t.is_up(0.51) && !t.is_up(0.509));
}

/// Samples whose last-day `ret_1d` decides the label (a planted linear effect).
fn planted(n: usize, seed: u64) -> Samples {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w = SEQ_LEN * N_FEATURES;
    let mut s = Samples::default();
    for i in 0..n {
        let mut x: Vec<f32> = (0..w).map(|_| rng.random_range(-1.0..1.0)).collect();
        let r: f32 = rng.random_range(-0.03..0.03);
        x[(SEQ_LEN - 1) * N_FEATURES + col::RET_1D] = r;
        s.x.extend(x);
        s.y_dir.push(i64::from(r + rng.random_range(-0.01..0.01) > 0.0));
        s.y_mag.push([0.0; 5]);
        s.end_dates.push(chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(i as i64));
        s.end_closes.push(100.0);
    }
    s
}

#[test]
fn baselines_and_the_gate() {
    let train = planted(300, 6);
    let holdout = planted(100, 7);
    assert!((BaseRate::fit(&[1, 1, 0, 1]).prob_up - 0.75).abs() < 1e-12);
    let linear = LinearBaseline::fit(&train).unwrap();
    let p = linear.predict(&holdout).unwrap();
    assert_eq!(p.len(), 100);
    let scored = score_baselines(&train, &holdout).unwrap();
    let names: Vec<&str> = scored.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["base_rate", "linear"]);
    assert!(scored[1].scores.brier < scored[0].scores.brier - 0.05, "{scored:?}");
    assert!(scored[1].auc.unwrap() > 0.85, "{scored:?}");
    assert_eq!(scored[0].auc, Some(0.5), "a constant answer ranks nothing");
    // Mostly-down training data: the answer is still P(up).
    let mut down = planted(300, 10);
    down.y_dir.iter_mut().zip(0..).for_each(|(y, i)| if i % 3 != 0 { *y = 0 });
    let p_down = LinearBaseline::fit(&down).unwrap().predict(&down).unwrap();
    assert!(p_down.iter().sum::<f64>() / 300.0 < 0.5);

    let base = |brier: f64| BaselineScore { scores: common::calibration::ProbabilityScores { brier, log_loss: 0.7, ece: 0.0, n: 10 }, ..scored[0].clone() };
    let seed_rule = DeployDecision { deploy: true, reason: "no current model: candidate deployed".into() };
    let lose = compare_with_baselines(0.2710, &[base(0.2480), BaselineScore { name: "linear".into(), ..base(0.2600) }]);
    assert_eq!((lose.best_baseline.as_str(), lose.beats_baseline), ("base_rate", false));
    let kept = apply_baseline_gate(seed_rule.clone(), &lose, true);
    assert!(!kept.deploy);
    assert!(kept.reason.contains("lost by 0.0230") && kept.reason.contains("require_beats_baseline"), "{}", kept.reason);
    let free = apply_baseline_gate(seed_rule.clone(), &lose, false);
    assert!(free.deploy, "without the flag the seed's rule decides");
    assert!(free.reason.starts_with(&seed_rule.reason) && free.reason.contains("lost by 0.0230"), "{}", free.reason);
    let win = compare_with_baselines(0.2000, &[base(0.2480)]);
    let passed = apply_baseline_gate(seed_rule, &win, true);
    assert!(passed.deploy && passed.reason.contains("beats the best baseline (base_rate 0.2480) by 0.0480"), "{}", passed.reason);
    let rejected = DeployDecision { deploy: false, reason: "not better enough".into() };
    assert!(!apply_baseline_gate(rejected, &win, true).deploy, "the gate never deploys what the seed's rule keeps out");
}
