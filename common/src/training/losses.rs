//! Loss functions of SPEC §5, on tensors `pred`, `target` of shape `[B, 5]` (magnitude head vs
//! the scaled daily returns) and `logits [B, 2]` vs `y_dir [B]` (int64).
//!
//! Conventions used by every formula below:
//! - `mean` is over all elements unless an axis is named; `std(·)` is the **population**
//!   standard deviation (divisor N, so a batch of one sample never yields NaN), computed as
//!   `sqrt(var + 1e-12)` so its gradient stays finite for constant predictions;
//! - `ε = 1e-8`; `e = target − pred`;
//! - `std_k(·)` is the std over the batch of forecast step `k` (column k, k = 0..4).
//!
//! | kind | formula |
//! |---|---|
//! | `mse` | `mean(e²)` |
//! | `huber` | `mean(h(e))`, `h(e) = ½e²` if `|e| ≤ 1`, else `|e| − ½` (delta 1.0) |
//! | `volatility` | `mse + 0.2·relu(0.7 − std(pred)/(std(target)+ε))` |
//! | `full` | `mse + 0.35·V + 0.15·V_step + 0.1·D + 0.1·D_seq + 0.05·Q` |
//!
//! with, for `full`:
//! - `V = |std(pred) − std(target)| / (std(target)+ε)` (overall volatility match, all B·5 values);
//! - `V_step = (1/5)·Σ_k |std_k(pred) − std_k(target)| / (std_k(target)+ε)`;
//! - `D = mean(relu(−pred·target)) / (mean(target²)+ε)` (direction agreement: penalises
//!   predicted returns with the wrong sign, in proportion to both magnitudes);
//! - `D_seq = mean(relu(−Δpred·Δtarget)) / (mean(Δtarget²)+ε)` with `Δx[:, k] = x[:, k+1] −
//!   x[:, k]`, k = 0..3 (within-sequence direction agreement: the shape of the 5-day path);
//! - `Q = (1/3)·Σ_{q∈{0.1,0.5,0.9}} mean(max(q·e, (q−1)·e))` (pinball loss of the single point
//!   prediction at the three quantiles; for one prediction this equals `0.5·mean(|e|)`, i.e. an
//!   L1 term that is robust to outlier days).
//!
//! Classification: `cross_entropy(logits, y_dir)` (mean). Total training loss:
//! `w_cls·cls + w_reg·reg` with `w_cls = w_reg = 1.0`.
//!
//! Validation *volatility match* (early stopping, SPEC §6): `1 − |std(pred) − std(target)| /
//! std(target)` over all validation predictions (higher is better; [`volatility_match`]).
use super::config::RegLossType;
use tch::{Kind, Reduction, Tensor};

/// The ε of the formulas above.
pub const EPS: f64 = 1e-8;

/// Added to variances before the square root so the gradient of `std` stays finite when a
/// batch of predictions is constant (std = 0); negligible otherwise.
const VAR_FLOOR: f64 = 1e-12;

fn pop_std(t: &Tensor) -> Tensor {
    (t - t.mean(Kind::Float)).square().mean(Kind::Float).g_add_scalar(VAR_FLOOR).sqrt()
}

fn pop_std_dim0(t: &Tensor) -> Tensor {
    let m = t.mean_dim(Some(&[0i64][..]), true, Kind::Float);
    (t - m).square().mean_dim(Some(&[0i64][..]), false, Kind::Float).g_add_scalar(VAR_FLOOR).sqrt()
}

/// `mean((target − pred)²)`.
pub fn mse(pred: &Tensor, target: &Tensor) -> Tensor {
    pred.mse_loss(target, Reduction::Mean)
}

/// Huber loss with delta 1.0 (mean).
pub fn huber(pred: &Tensor, target: &Tensor) -> Tensor {
    pred.huber_loss(target, Reduction::Mean, 1.0)
}

/// `mse + 0.2·relu(0.7 − std(pred)/(std(target)+ε))`: penalises over-smoothed predictions.
pub fn volatility(pred: &Tensor, target: &Tensor) -> Tensor {
    let ratio = pop_std(pred) / (pop_std(target) + EPS);
    mse(pred, target) + (ratio.neg() + 0.7).relu() * 0.2
}

/// `V`: overall volatility-match penalty `|std(pred) − std(target)| / (std(target)+ε)`.
pub fn volatility_match_penalty(pred: &Tensor, target: &Tensor) -> Tensor {
    let st = pop_std(target);
    (pop_std(pred) - &st).abs() / (st + EPS)
}

/// `V_step`: the same penalty per forecast step (std over the batch), averaged over steps.
pub fn per_step_volatility_penalty(pred: &Tensor, target: &Tensor) -> Tensor {
    let st = pop_std_dim0(target);
    ((pop_std_dim0(pred) - &st).abs() / (st + EPS)).mean(Kind::Float)
}

/// `D = mean(relu(−pred·target)) / (mean(target²)+ε)`.
pub fn direction_penalty(pred: &Tensor, target: &Tensor) -> Tensor {
    (pred * target).neg().relu().mean(Kind::Float) / (target.square().mean(Kind::Float) + EPS)
}

/// `D_seq`: [`direction_penalty`] on consecutive differences along the 5 steps.
pub fn sequence_direction_penalty(pred: &Tensor, target: &Tensor) -> Tensor {
    let steps = pred.size()[1];
    if steps < 2 {
        return Tensor::zeros([], (Kind::Float, pred.device()));
    }
    let dp = pred.narrow(1, 1, steps - 1) - pred.narrow(1, 0, steps - 1);
    let dt = target.narrow(1, 1, steps - 1) - target.narrow(1, 0, steps - 1);
    direction_penalty(&dp, &dt)
}

/// Quantiles of the pinball term `Q`.
pub const QUANTILES: [f64; 3] = [0.1, 0.5, 0.9];

/// `Q = (1/3)·Σ_q mean(max(q·e, (q−1)·e))`, `e = target − pred`.
pub fn pinball(pred: &Tensor, target: &Tensor) -> Tensor {
    let e = target - pred;
    let per_q: Vec<Tensor> =
        QUANTILES.iter().map(|&q| (&e * q).maximum(&(&e * (q - 1.0))).mean(Kind::Float)).collect();
    Tensor::stack(&per_q, 0).mean(Kind::Float)
}

/// `full = mse + 0.35·V + 0.15·V_step + 0.1·D + 0.1·D_seq + 0.05·Q`.
pub fn full(pred: &Tensor, target: &Tensor) -> Tensor {
    mse(pred, target)
        + volatility_match_penalty(pred, target) * 0.35
        + per_step_volatility_penalty(pred, target) * 0.15
        + direction_penalty(pred, target) * 0.1
        + sequence_direction_penalty(pred, target) * 0.1
        + pinball(pred, target) * 0.05
}

/// The regression loss selected by `kind`.
pub fn regression(kind: RegLossType, pred: &Tensor, target: &Tensor) -> Tensor {
    match kind {
        RegLossType::Mse => mse(pred, target),
        RegLossType::Huber => huber(pred, target),
        RegLossType::Volatility => volatility(pred, target),
        RegLossType::Full => full(pred, target),
    }
}

/// Cross-entropy of direction logits `[B, 2]` against `y_dir [B]` (int64 in {0, 1}), mean.
pub fn classification(logits: &Tensor, y_dir: &Tensor) -> Tensor {
    logits.cross_entropy_for_logits(y_dir)
}

/// Population standard deviation of `v` (divides by `n`), accumulated in f64; 0 when empty.
/// The one std of the evaluation numbers (volatility match, prediction-spread diagnostics).
pub fn population_std(v: &[f32]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let n = v.len() as f64;
    let m = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
    (v.iter().map(|x| (f64::from(*x) - m).powi(2)).sum::<f64>() / n).sqrt()
}

/// Validation volatility match `1 − |std(pred) − std(true)| / std(true)` over all values
/// (population std, f64). When the truth is constant the ratio is undefined: the result is 1.0
/// if the predictions are constant too, else 0.0.
pub fn volatility_match(pred: &[f32], truth: &[f32]) -> f64 {
    let (sp, st) = (population_std(pred), population_std(truth));
    if st <= 0.0 {
        return if sp <= 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - (sp - st).abs() / st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[f32], rows: i64) -> Tensor {
        Tensor::from_slice(v).reshape([rows, v.len() as i64 / rows])
    }

    fn val(x: &Tensor) -> f64 {
        x.double_value(&[])
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
    }

    // pred/target 2×2, values chosen so every term is easy by hand.
    fn pair() -> (Tensor, Tensor) {
        (t(&[1.0, 2.0, 3.0, 4.0], 2), t(&[1.0, 3.0, 2.0, 6.0], 2))
    }

    #[test]
    fn mse_and_huber_match_hand_values() {
        let (p, y) = pair();
        // e = [0, 1, -1, 2] → mse = (0+1+1+4)/4 = 1.5
        close(val(&mse(&p, &y)), 1.5);
        // huber: 0, .5, .5, 2-.5=1.5 → 2.5/4
        close(val(&huber(&p, &y)), 0.625);
    }

    #[test]
    fn volatility_loss_matches_hand_value() {
        // pred std (population) of [1,1,1,2]: mean 1.25, var = (3·0.0625 + 0.5625)/4 = 0.1875
        let p = t(&[1.0, 1.0, 1.0, 2.0], 2);
        let y = t(&[0.0, 2.0, 4.0, 6.0], 2); // std = sqrt(5)
        let ratio = 0.1875f64.sqrt() / 5f64.sqrt();
        let e2 = [1.0, 1.0, 9.0, 16.0];
        let m = e2.iter().sum::<f64>() / 4.0;
        close(val(&volatility(&p, &y)), m + 0.2 * (0.7 - ratio));
        // no penalty once pred is at least 70 % as volatile as the truth
        close(val(&volatility(&y, &y)), 0.0);
    }

    #[test]
    fn full_loss_terms_match_hand_values() {
        let (p, y) = pair();
        // V: std(p) of 1..4 = sqrt(1.25); std(y) of [1,3,2,6]: mean 3, var (4+0+1+9)/4 = 3.5
        let v = (1.25f64.sqrt() - 3.5f64.sqrt()).abs() / (3.5f64.sqrt() + EPS);
        close(val(&volatility_match_penalty(&p, &y)), v);
        // V_step: col0 p [1,3] std 1, y [1,2] std .5 → 1; col1 p [2,4] std 1, y [3,6] std 1.5 → 1/3
        let vs = (1.0 / (0.5 + EPS) * 0.5 + (0.5 / (1.5 + EPS))) / 2.0;
        close(val(&per_step_volatility_penalty(&p, &y)), vs);
        // D: all products positive → 0 ; mixed case below
        close(val(&direction_penalty(&p, &y)), 0.0);
        let pm = t(&[-1.0, 2.0, 3.0, -4.0], 2);
        // relu(-p·y) = [1, 0, 0, 24] → mean 6.25 ; mean(y²) = (1+9+4+36)/4 = 12.5
        close(val(&direction_penalty(&pm, &y)), 6.25 / (12.5 + EPS));
        // D_seq: Δp = [1, 1], Δy = [2, 4] → agree → 0 ; Δpm = [3, -7] vs [2, 4] → relu = [0, 28]
        close(val(&sequence_direction_penalty(&p, &y)), 0.0);
        close(val(&sequence_direction_penalty(&pm, &y)), 14.0 / ((4.0 + 16.0) / 2.0 + EPS));
        // Q: e = [0, 1, -1, 2] → 0.5·mean|e| = 0.5
        close(val(&pinball(&p, &y)), 0.5);
        let total = 1.5 + 0.35 * v + 0.15 * vs + 0.0 + 0.0 + 0.05 * 0.5;
        close(val(&full(&p, &y)), total);
    }

    #[test]
    fn cross_entropy_matches_hand_value() {
        let logits = t(&[0.0, 0.0, 2.0, 0.0], 2);
        let y = Tensor::from_slice(&[1i64, 0]);
        let l2 = (1.0 + (-2f64).exp()).ln();
        close(val(&classification(&logits, &y)), (2f64.ln() + l2) / 2.0);
    }

    #[test]
    fn every_loss_has_finite_gradients_even_for_constant_predictions() {
        for kind in [RegLossType::Mse, RegLossType::Huber, RegLossType::Volatility, RegLossType::Full] {
            for init in [vec![0.0f32; 10], vec![0.1, -0.2, 0.3, 0.0, 0.5, 0.2, 0.1, -0.4, 0.0, 1.0]] {
                let p = t(&init, 2).set_requires_grad(true);
                let y = t(&[0.5, -1.0, 2.0, 0.1, -0.3, 1.0, 0.2, -0.2, 0.7, 0.0], 2);
                let loss = regression(kind, &p, &y);
                loss.backward();
                let g = Vec::<f32>::try_from(p.grad().view(-1)).unwrap();
                assert!(val(&loss).is_finite(), "{kind}");
                assert!(g.iter().all(|v| v.is_finite()), "{kind}: {g:?}");
                assert!(g.iter().any(|v| *v != 0.0), "{kind}: zero gradient");
            }
        }
    }

    #[test]
    fn volatility_match_metric() {
        close(volatility_match(&[1.0, 3.0], &[1.0, 3.0]), 1.0);
        close(volatility_match(&[2.0, 2.0], &[1.0, 3.0]), 0.0);
        close(volatility_match(&[0.0, 4.0], &[1.0, 3.0]), 0.0);
        close(volatility_match(&[-2.0, 4.0], &[1.0, 3.0]), -1.0);
        close(volatility_match(&[1.0, 1.0], &[2.0, 2.0]), 1.0);
    }
}
