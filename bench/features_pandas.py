#!/usr/bin/env python3
"""Independent pandas/numpy implementation of the 21 features of SPEC §3.

Two jobs:
  * reference for parity checks against the Rust crate `common::features` (written from the
    SPEC, not from the Rust code: rolling/ewm/cumsum idioms instead of explicit loops);
  * the baseline of the features benchmark (`bench/run_features_bench.sh`).

Two ways of cutting the samples (`--style`), same indicator table, same values:
  vectorised (default)  hand-vectorised numpy: `sliding_window_view` over the whole table, the
                        window-local normalisation as array operations over all windows at once;
  seed                  the original system's structure (seeds/000 §3.1 `build_features_from_df`):
                        indicators with pandas over the whole series, then a Python loop over
                        the samples that slices `df.iloc[t-59:t+1]`, min-max normalises
                        close/volume/obv within the window, scales macd_hist by the window's
                        max |value|, stacks the windows into X and builds the targets per sample.

Usage:
  features_pandas.py --csv BARS.csv --bench [--repeat 30] [--style S]   time build_samples
  features_pandas.py --csv BARS.csv --window [--end DATE]     print the 60-day window as CSV
  features_pandas.py --csv BARS.csv --dump-x X.f32 [--dump-ymag Y.f32] [--style S]
                                                             write all sample windows (raw f32 LE)
  features_pandas.py --csv BARS.csv --check-styles            both styles agree (exit 1 if not)
The CSV must be the plain dialect (date,open,high,low,close,volume) or Yahoo.
"""
import argparse
import sys
import time

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

SEQ_LEN, FORECAST_DAYS = 60, 5
NAMES = [
    "close_norm", "volume_norm", "rsi", "macd_hist", "bb_position", "volatility", "obv_norm",
    "mfi", "aroon_up", "ret_1d", "abs_ret", "ret_sign", "intraday_range", "open_gap", "hv_5",
    "hv_20", "vol_ratio", "big_up", "big_down", "volume_change", "pv_divergence",
]
WINDOW_LOCAL_MINMAX = [0, 1, 6]  # close, volume, obv
MACD_COL = 3


def load(path):
    df = pd.read_csv(path, encoding="utf-8-sig")
    df.columns = [c.strip().lower() for c in df.columns]
    df["date"] = pd.to_datetime(df["date"])
    return df.sort_values("date").reset_index(drop=True)


def wilder_mean(x, n):
    """Wilder smoothing of x (x[0] is NaN): SMA of x[1..n] on day n, then ewm(alpha=1/n)."""
    seeded = pd.Series(np.nan, index=x.index)
    if len(x) > n:
        seeded.iloc[n] = x.iloc[1:n + 1].mean()
        seeded.iloc[n + 1:] = x.iloc[n + 1:]
    return seeded.ewm(alpha=1.0 / n, adjust=False).mean()


def ratio_index(pos, neg):
    """1 - 1/(1 + pos/neg) with no-loss -> 1, nothing at all -> 0.5; NaN stays NaN."""
    out = 1.0 - 1.0 / (1.0 + pos / neg)
    out = out.mask((neg == 0) & (pos > 0), 1.0)
    return out.mask((neg == 0) & (pos == 0), 0.5)


def indicator_table(df, big_move=0.03):
    c, h, l, o, v = (df[k].astype(float) for k in ("close", "high", "low", "open", "volume"))
    r = c.pct_change().fillna(0.0)
    d = c.diff()

    rsi = ratio_index(wilder_mean(d.clip(lower=0), 14), wilder_mean((-d).clip(lower=0), 14)).fillna(0.5)

    macd = c.ewm(span=12, adjust=False).mean() - c.ewm(span=26, adjust=False).mean()
    hist = (macd - macd.ewm(span=9, adjust=False).mean()) / c

    sma, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    width = 4.0 * sd
    bb = ((c - sma) / width).where(width > 0, 0.0).clip(-1, 1).fillna(0.0)

    hv5 = r.rolling(5).std(ddof=1).fillna(0.0)
    hv20 = r.rolling(20).std(ddof=1).fillna(0.0)
    volatility = (hv20 * np.sqrt(252)).clip(0, 2) / 2

    obv = (np.sign(d).fillna(0.0) * v).cumsum()

    tp = (h + l + c) / 3
    flow, dtp = tp * v, tp.diff()
    mfi = ratio_index(flow.where(dtp > 0, 0.0).rolling(14).sum(), flow.where(dtp < 0, 0.0).rolling(14).sum())
    mfi.iloc[:14] = 0.5

    aroon = np.full(len(df), 0.5)
    if len(df) > 20:
        win = sliding_window_view(h.to_numpy(), 21)
        since = np.argmax(win[:, ::-1], axis=1)  # reversed: ties -> most recent high
        aroon[20:] = (20 - since) / 20.0

    prev_c = c.shift(1).fillna(c.iloc[0])
    v_prev = v.shift(1)
    vchg = (v / v_prev - 1).where(v_prev != 0, 0.0).fillna(0.0).clip(-1, 5)

    vol_ratio = (hv5 / hv20).where(hv20 != 0, 1.0).clip(0, 5)
    cols = [
        c, v, rsi, hist, bb, volatility, obv, mfi, pd.Series(aroon, index=df.index), r, r.abs(),
        np.sign(r), (h - l) / prev_c, o / prev_c - 1, hv5, hv20, vol_ratio,
        (r > big_move).astype(float), (r < -big_move).astype(float), vchg,
        (((r > 0) & (vchg < 0)) | ((r < 0) & (vchg > 0))).astype(float),
    ]
    return np.column_stack([np.asarray(x, dtype=float) for x in cols])


def normalise_windows(w):
    """w: (k, 60, 21) float64 windows -> window-local columns normalised in place."""
    for j in WINDOW_LOCAL_MINMAX:
        lo = w[:, :, j].min(axis=1, keepdims=True)
        rng = w[:, :, j].max(axis=1, keepdims=True) - lo
        w[:, :, j] = np.where(rng > 0, (w[:, :, j] - lo) / np.where(rng > 0, rng, 1.0), 0.5)
    m = np.abs(w[:, :, MACD_COL]).max(axis=1, keepdims=True)
    w[:, :, MACD_COL] = np.where(m > 0, w[:, :, MACD_COL] / np.where(m > 0, m, 1.0), 0.0)
    return w


def build_samples(df):
    """X (n-64, 60, 21) f32, y_dir (n-64,), y_mag (n-64, 5) f32 — windows ending at t = 59..n-6."""
    n = len(df)
    if n < SEQ_LEN + FORECAST_DAYS:
        raise ValueError(f"insufficient data: need at least 65 trading days, got {n}")
    table = indicator_table(df)
    k = n - SEQ_LEN - FORECAST_DAYS + 1
    windows = sliding_window_view(table, SEQ_LEN, axis=0)[:k]  # (k, 21, 60)
    x = normalise_windows(windows.transpose(0, 2, 1).copy()).astype(np.float32)
    c = df["close"].to_numpy(dtype=float)
    t = np.arange(SEQ_LEN - 1, SEQ_LEN - 1 + k)
    y_dir = (c[t + 5] / c[t] - 1 > 0).astype(np.int64)
    r = c[1:] / c[:-1] - 1  # r[j] = c[j+1]/c[j] - 1
    y_mag = sliding_window_view(r, FORECAST_DAYS)[t].astype(np.float32)
    return x, y_dir, y_mag


def build_samples_seed(df):
    """Same output as `build_samples`, cut the way the original system did: one pandas slice
    per sample in a Python loop (see the module docstring). Also collects the per-sample
    `y_info` (end date, end close) the original returned and the Rust `Samples` carries."""
    n = len(df)
    if n < SEQ_LEN + FORECAST_DAYS:
        raise ValueError(f"insufficient data: need at least 65 trading days, got {n}")
    feats = pd.DataFrame(indicator_table(df), columns=NAMES, index=df.index)
    close, dates = df["close"].astype(float), df["date"]
    xs, y_dir, y_mag, y_info = [], [], [], []
    for t in range(SEQ_LEN - 1, n - FORECAST_DAYS):
        win = feats.iloc[t - SEQ_LEN + 1: t + 1].copy()
        for name in ("close_norm", "volume_norm", "obv_norm"):
            col = win[name]
            lo, hi = col.min(), col.max()
            win[name] = (col - lo) / (hi - lo) if hi > lo else 0.5
        m = win["macd_hist"].abs().max()
        win["macd_hist"] = win["macd_hist"] / m if m > 0 else 0.0
        xs.append(win.to_numpy(dtype=np.float32))
        c_t = close.iloc[t]
        y_dir.append(1 if close.iloc[t + FORECAST_DAYS] / c_t - 1 > 0 else 0)
        y_mag.append([close.iloc[t + k + 1] / close.iloc[t + k] - 1 for k in range(FORECAST_DAYS)])
        y_info.append({"end_date": dates.iloc[t], "end_close": c_t, "direction": y_dir[-1]})
    return np.stack(xs), np.asarray(y_dir, dtype=np.int64), np.asarray(y_mag, dtype=np.float32)


STYLES = {"vectorised": build_samples, "seed": build_samples_seed}


def check_styles(df):
    """Both styles on the same bars: same shapes, X within 1e-6, identical targets."""
    (xv, dv, mv), (xs, ds, ms) = build_samples(df), build_samples_seed(df)
    dx = float(np.abs(xv - xs).max())
    ok = xv.shape == xs.shape and dx <= 1e-6 and np.array_equal(dv, ds) and np.array_equal(mv, ms)
    print(f"styles vectorised vs seed: X {xv.shape} max |diff| {dx:.3e}, "
          f"y_dir equal {np.array_equal(dv, ds)}, y_mag equal {np.array_equal(mv, ms)} -> "
          f"{'OK' if ok else 'MISMATCH'}")
    return ok


def window_at(df, end=None):
    """The raw 60x21 window ending at date `end` (or the last day)."""
    n = len(df)
    e = n - 1 if end is None else int(np.flatnonzero(df["date"] == pd.Timestamp(end))[0])
    table = indicator_table(df.iloc[: e + 1])
    w = normalise_windows(table[e - SEQ_LEN + 1: e + 1][None].copy())[0]
    return df["date"].iloc[e - SEQ_LEN + 1: e + 1], w


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--window", action="store_true")
    ap.add_argument("--end")
    ap.add_argument("--dump-x")
    ap.add_argument("--dump-ymag")
    ap.add_argument("--style", choices=sorted(STYLES), default="vectorised",
                    help="how samples are cut for --bench/--dump-* (default vectorised)")
    ap.add_argument("--check-styles", action="store_true")
    a = ap.parse_args()
    build = STYLES[a.style]
    df = load(a.csv)
    if a.window:
        dates, w = window_at(df, a.end)
        print("date," + ",".join(NAMES))
        for dt, row in zip(dates, w):
            print(dt.strftime("%Y-%m-%d") + "," + ",".join(f"{x:.8f}" for x in row.astype(np.float32)))
    if a.dump_x or a.dump_ymag:
        x, _, y_mag = build(df)
        if a.dump_x:
            x.astype("<f4").tofile(a.dump_x)
        if a.dump_ymag:
            y_mag.astype("<f4").tofile(a.dump_ymag)
    if a.bench:
        build(df)  # warm-up
        times = []
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            x, _, _ = build(df)
            times.append(time.perf_counter() - t0)
        med = float(np.median(times))
        print(f"pandas build_samples (--style {a.style}): {len(df)} bars -> {x.shape[0]} samples; "
              f"median {med * 1e3:.3f} ms over {a.repeat} runs (pandas {pd.__version__}, numpy {np.__version__})")
        print(f"PANDAS_MEDIAN_NS={med * 1e9:.0f}")
    if a.check_styles and not check_styles(df):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
