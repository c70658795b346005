//! One small pure function per indicator of SPEC §3, over whole series in date order.
//!
//! Every function returns a vector as long as its input, computed in `f64`. Days before an
//! indicator has enough history (its warm-up) get the neutral value named in its doc comment.
//! Nothing here looks ahead: the value on day `t` uses days `0..=t` only.

/// Simple daily returns `r_t = c_t / c_{t-1} - 1`, with `r_0 = 0` (SPEC §3).
pub fn simple_returns(close: &[f64]) -> Vec<f64> {
    let mut r = vec![0.0; close.len()];
    for t in 1..close.len() {
        r[t] = close[t] / close[t - 1] - 1.0;
    }
    r
}

/// Wilder's RSI(`period`) scaled to `[0, 1]`.
///
/// Changes are `d_i = c_i - c_{i-1}` for `i >= 1`. The first average gain / loss is the simple
/// mean of the first `period` changes (`d_1..=d_period`) and gives the RSI on day `period`; after
/// that `avg = (avg * (period - 1) + current) / period`. Warm-up (days `0..period`): 0.5.
/// A window with no losses gives 1.0, one with neither gains nor losses 0.5 (neutral).
pub fn rsi_wilder(close: &[f64], period: usize) -> Vec<f64> {
    let n = close.len();
    let mut out = vec![0.5; n];
    if period == 0 || n <= period {
        return out;
    }
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in 1..=period {
        let d = close[i] - close[i - 1];
        if d > 0.0 {
            gain += d;
        } else {
            loss -= d;
        }
    }
    let p = period as f64;
    let (mut avg_gain, mut avg_loss) = (gain / p, loss / p);
    out[period] = rsi_from_averages(avg_gain, avg_loss);
    for i in period + 1..n {
        let d = close[i] - close[i - 1];
        let (g, l) = if d > 0.0 { (d, 0.0) } else { (0.0, -d) };
        avg_gain = (avg_gain * (p - 1.0) + g) / p;
        avg_loss = (avg_loss * (p - 1.0) + l) / p;
        out[i] = rsi_from_averages(avg_gain, avg_loss);
    }
    out
}

/// `1 - 1 / (1 + gain / loss)` with the degenerate cases made explicit (see [`rsi_wilder`]).
fn rsi_from_averages(avg_gain: f64, avg_loss: f64) -> f64 {
    if avg_loss == 0.0 {
        if avg_gain == 0.0 {
            0.5
        } else {
            1.0
        }
    } else {
        let rs = avg_gain / avg_loss;
        1.0 - 1.0 / (1.0 + rs)
    }
}

/// Exponential moving average with `alpha = 2 / (span + 1)`, seeded with the first value
/// (`ema_0 = x_0`; pandas `ewm(span=span, adjust=False)`).
pub fn ema(x: &[f64], span: usize) -> Vec<f64> {
    let alpha = 2.0 / (span as f64 + 1.0);
    let mut out = Vec::with_capacity(x.len());
    let mut prev = match x.first() {
        Some(&v) => v,
        None => return out,
    };
    for &v in x {
        prev = alpha * v + (1.0 - alpha) * prev;
        out.push(prev);
    }
    out
}

/// MACD histogram in price units: `macd = EMA_fast(c) - EMA_slow(c)`, `hist = macd - EMA_signal(macd)`,
/// every EMA seeded with its first value (so there is no warm-up: `hist_0 = 0`).
pub fn macd_hist(close: &[f64], fast: usize, slow: usize, signal: usize) -> Vec<f64> {
    let ef = ema(close, fast);
    let es = ema(close, slow);
    let macd: Vec<f64> = ef.iter().zip(&es).map(|(f, s)| f - s).collect();
    let sig = ema(&macd, signal);
    macd.iter().zip(&sig).map(|(m, s)| m - s).collect()
}

/// Mean and population (`ddof = 0`) or sample (`ddof = 1`) standard deviation of a slice,
/// two-pass for accuracy.
fn mean_std(x: &[f64], ddof: usize) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let ss: f64 = x.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, (ss / (n - ddof as f64)).sqrt())
}

/// Bollinger-band position `(c - SMA) / (upper - lower)` with bands `SMA ± k·std` over `period`
/// days, `std` the **population** standard deviation, clipped to `[-1, 1]`.
/// Warm-up (days `0..period-1`): 0. A flat window (zero band width) also gives 0.
pub fn bollinger_position(close: &[f64], period: usize, k: f64) -> Vec<f64> {
    let n = close.len();
    let mut out = vec![0.0; n];
    if period == 0 {
        return out;
    }
    for t in period.saturating_sub(1)..n {
        let (sma, sd) = mean_std(&close[t + 1 - period..=t], 0);
        let width = 2.0 * k * sd;
        if width > 0.0 {
            out[t] = ((close[t] - sma) / width).clamp(-1.0, 1.0);
        }
    }
    out
}

/// Rolling **sample** (`ddof = 1`) standard deviation of `x` over the last `period` values,
/// including today. Warm-up (days `0..period-1`): 0.
///
/// Applied to returns, the window on day `period - 1` includes `r_0 = 0` by definition
/// (as pandas `pct_change().fillna(0).rolling(period).std()` does).
pub fn rolling_std_sample(x: &[f64], period: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![0.0; n];
    if period < 2 {
        return out;
    }
    for t in period - 1..n {
        out[t] = mean_std(&x[t + 1 - period..=t], 1).1;
    }
    out
}

/// On-balance volume, cumulative from 0 on day 0: `obv_t = obv_{t-1} + sign(c_t - c_{t-1})·v_t`.
pub fn obv(close: &[f64], volume: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; close.len()];
    for t in 1..close.len() {
        let d = close[t] - close[t - 1];
        let step = if d > 0.0 {
            volume[t]
        } else if d < 0.0 {
            -volume[t]
        } else {
            0.0
        };
        out[t] = out[t - 1] + step;
    }
    out
}

/// Money-flow index MFI(`period`) scaled to `[0, 1]`.
///
/// Typical price `tp = (h + l + c) / 3`, raw money flow `tp·v`. Day `i >= 1` adds its flow to
/// the positive side if `tp_i > tp_{i-1}`, to the negative side if `tp_i < tp_{i-1}`, to neither
/// if equal. `MFI_t = 1 - 1 / (1 + pos / neg)` over days `t-period+1..=t`, defined from day
/// `period` on (warm-up 0.5). No negative flow gives 1.0; no flow at all 0.5.
pub fn mfi(high: &[f64], low: &[f64], close: &[f64], volume: &[f64], period: usize) -> Vec<f64> {
    let n = close.len();
    let mut out = vec![0.5; n];
    if period == 0 || n <= period {
        return out;
    }
    let tp: Vec<f64> = (0..n)
        .map(|i| (high[i] + low[i] + close[i]) / 3.0)
        .collect();
    let mut pos = vec![0.0; n];
    let mut neg = vec![0.0; n];
    for i in 1..n {
        let flow = tp[i] * volume[i];
        if tp[i] > tp[i - 1] {
            pos[i] = flow;
        } else if tp[i] < tp[i - 1] {
            neg[i] = flow;
        }
    }
    for t in period..n {
        let p: f64 = pos[t + 1 - period..=t].iter().sum();
        let m: f64 = neg[t + 1 - period..=t].iter().sum();
        out[t] = if m == 0.0 {
            if p == 0.0 {
                0.5
            } else {
                1.0
            }
        } else {
            1.0 - 1.0 / (1.0 + p / m)
        };
    }
    out
}

/// Aroon-up(`period`) in `[0, 1]`: `(period - bars since the highest high) / period` over the
/// last `period + 1` bars including today.
///
/// Ties go to the **most recent** highest high (TA-Lib's `>=` convention). Warm-up (days
/// `0..period`, fewer than `period + 1` bars): 0.5, the neutral midpoint.
pub fn aroon_up(high: &[f64], period: usize) -> Vec<f64> {
    let n = high.len();
    let mut out = vec![0.5; n];
    if period == 0 {
        return out;
    }
    for (t, o) in out.iter_mut().enumerate().skip(period) {
        let window = &high[t - period..=t];
        // Index within the window of the most recent highest high.
        let mut best = 0;
        for (i, &h) in window.iter().enumerate() {
            if h >= window[best] {
                best = i;
            }
        }
        let since = period - best;
        *o = (period - since) as f64 / period as f64;
    }
    out
}

/// Volume change `v_t / v_{t-1} - 1` clipped to `[-1, 5]`; 0 on day 0 and when `v_{t-1} = 0`.
pub fn volume_change(volume: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; volume.len()];
    for (o, w) in out.iter_mut().skip(1).zip(volume.windows(2)) {
        if w[0] != 0.0 {
            *o = (w[1] / w[0] - 1.0).clamp(-1.0, 5.0);
        }
    }
    out
}

/// Min-max scaler fitted on `values`: maps `x` to `(x - min) / (max - min)`, or to 0.5 when the
/// values are flat.
pub fn min_max_scaler(values: impl IntoIterator<Item = f64>) -> impl Fn(f64) -> f64 {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    let range = hi - lo;
    move |v| if range > 0.0 { (v - lo) / range } else { 0.5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_inputs_give_neutral_values() {
        assert!(simple_returns(&[]).is_empty());
        assert_eq!(rsi_wilder(&[1.0; 20], 14)[19], 0.5);
        assert_eq!(rsi_wilder(&[1.0, 2.0], 14), vec![0.5, 0.5]);
        assert!(ema(&[], 3).is_empty());
        assert_eq!(bollinger_position(&[5.0; 25], 20, 2.0)[24], 0.0);
        assert_eq!(
            mfi(&[1.0; 20], &[1.0; 20], &[1.0; 20], &[1.0; 20], 14)[19],
            0.5
        );
        assert_eq!(volume_change(&[0.0, 10.0, 20.0]), vec![0.0, 0.0, 1.0]);
        assert_eq!(volume_change(&[1.0, 100.0, 0.0]), vec![0.0, 5.0, -1.0]);
        let f = min_max_scaler([3.0, 3.0]);
        assert_eq!(f(3.0), 0.5);
    }

    #[test]
    fn aroon_ties_go_to_the_most_recent_high() {
        let mut h = vec![1.0; 21];
        h[5] = 9.0;
        h[15] = 9.0;
        // Highest high 9 on days 5 and 15; most recent is day 15, 5 bars before day 20.
        assert_eq!(aroon_up(&h, 20)[20], 15.0 / 20.0);
        assert_eq!(aroon_up(&h, 20)[19], 0.5);
    }
}
