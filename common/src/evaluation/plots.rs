//! PNG charts of SPEC §6 (`do_plot`): training curves and holdout predicted-vs-actual.
//!
//! Rendered with plotters into an in-memory RGB buffer and encoded with the `png` crate; chart
//! text uses DejaVu Sans embedded in the binary (`common/assets/`, licence beside it), so no
//! system font is needed.

use std::sync::OnceLock;

use chrono::NaiveDate;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// DejaVu Sans 2.37 (Bitstream Vera licence, see `common/assets/DejaVuSans.LICENSE.txt`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Width of every chart, pixels.
pub const WIDTH: u32 = 1000;
/// Height of every chart, pixels.
pub const HEIGHT: u32 = 900;

/// Per-epoch history of a training run, as plotted by [`plot_training_curves`].
///
/// All vectors have one entry per epoch; a metric that was not measured in an epoch may be NaN
/// (it is then left out of the chart).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct TrainingCurves {
    /// Epoch numbers (1-based).
    pub epochs: Vec<u32>,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// Validation loss of each epoch.
    pub val_loss: Vec<f64>,
    /// Validation volatility match `1 − |std(pred) − std(true)| / std(true)` of each epoch.
    pub val_volatility_match: Vec<f64>,
    /// Learning rate used in each epoch.
    pub lr: Vec<f64>,
}

pub(crate) fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font("sans-serif", FontStyle::Normal, FONT)
                .map_err(|_| "embedded DejaVu Sans font could not be parsed".to_string())
        })
        .clone()
        .map_err(Error::internal)
}

pub(crate) fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::internal(format!("drawing chart: {e:?}"))
}

/// `(min, max)` of the finite values, widened so that the range is never empty; `(0, 1)` when
/// there is no finite value.
pub(crate) fn finite_range<'a>(series: impl IntoIterator<Item = &'a [f64]>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        for &v in s.iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { (hi - lo) * 0.05 } else { lo.abs().max(1e-9) * 0.1 };
    (lo - pad, hi + pad)
}

/// Consecutive runs of finite points, so a NaN breaks the line instead of ending the chart.
pub(crate) fn finite_runs(xs: &[f64], ys: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut cur = Vec::new();
    for (&x, &y) in xs.iter().zip(ys) {
        if y.is_finite() {
            cur.push((x, y));
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| Error::internal(format!("png: {e}")))?;
        writer.write_image_data(rgb).map_err(|e| Error::internal(format!("png: {e}")))?;
    }
    Ok(out)
}

pub(crate) type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Draws named line series into one panel with a legend.
pub(crate) fn line_panel(
    area: &Area<'_>,
    title: &str,
    y_desc: &str,
    xs: &[f64],
    series: &[(&str, &[f64], RGBColor)],
    x_fmt: &dyn Fn(&f64) -> String,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<()> {
    let (x0, x1) = finite_range([xs]);
    let (y0, y1) = finite_range(series.iter().map(|s| s.1));
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .y_desc(y_desc)
        .x_label_formatter(x_fmt)
        .y_label_formatter(y_fmt)
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(draw_err)?;
    for &(name, ys, color) in series {
        let mut first = true;
        for run in finite_runs(xs, ys) {
            let drawn = chart
                .draw_series(LineSeries::new(run, color.stroke_width(2)))
                .map_err(draw_err)?;
            if first {
                drawn.label(name).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// Training curves as a PNG: three stacked panels — train and validation loss, validation
/// volatility match, learning rate — against the epoch.
///
/// Errors with [`Error::InvalidArgument`] when there is no epoch or the vectors differ in
/// length. Non-finite values are left out of the lines.
pub fn plot_training_curves(c: &TrainingCurves) -> Result<Vec<u8>> {
    let n = c.epochs.len();
    if n == 0 {
        return Err(Error::invalid("no epochs to plot: the training history is empty"));
    }
    for (name, len) in [
        ("train_loss", c.train_loss.len()),
        ("val_loss", c.val_loss.len()),
        ("val_volatility_match", c.val_volatility_match.len()),
        ("lr", c.lr.len()),
    ] {
        if len != n {
            return Err(Error::invalid(format!(
                "training curves disagree in length: {n} epochs but {len} {name} values"
            )));
        }
    }
    ensure_font()?;
    let xs: Vec<f64> = c.epochs.iter().map(|&e| f64::from(e)).collect();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let panels = root.split_evenly((3, 1));
        let epoch_fmt = |x: &f64| format!("{x:.0}");
        line_panel(
            &panels[0],
            "Loss",
            "loss",
            &xs,
            &[("train", &c.train_loss, BLUE), ("validation", &c.val_loss, RED)],
            &epoch_fmt,
            &|y| format!("{y:.4}"),
        )?;
        line_panel(
            &panels[1],
            "Validation volatility match (higher is better)",
            "1 - |std(pred) - std(true)| / std(true)",
            &xs,
            &[("val volatility match", &c.val_volatility_match, GREEN)],
            &epoch_fmt,
            &|y| format!("{y:.3}"),
        )?;
        line_panel(
            &panels[2],
            "Learning rate (x axis: epoch)",
            "lr",
            &xs,
            &[("lr", &c.lr, MAGENTA)],
            &epoch_fmt,
            &|y| format!("{y:.1e}"),
        )?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, WIDTH, HEIGHT)
}

/// Holdout chart as a PNG: top panel, predicted vs actual 5-day cumulative return (in %) for
/// each holdout sample by date; bottom panel, the predicted probability of "up" with the 0.5
/// threshold and the true direction (dots at 1 = up, 0 = down).
///
/// Errors with [`Error::InvalidArgument`] when there is no sample or the slices differ in
/// length.
pub fn plot_holdout(
    dates: &[NaiveDate],
    predicted_cum: &[f64],
    actual_cum: &[f64],
    prob_up: &[f64],
    y_dir: &[i64],
) -> Result<Vec<u8>> {
    let n = dates.len();
    if n == 0 {
        return Err(Error::invalid("no holdout samples to plot"));
    }
    for (name, len) in [
        ("predicted_cum", predicted_cum.len()),
        ("actual_cum", actual_cum.len()),
        ("prob_up", prob_up.len()),
        ("y_dir", y_dir.len()),
    ] {
        if len != n {
            return Err(Error::invalid(format!(
                "holdout series disagree in length: {n} dates but {len} {name} values"
            )));
        }
    }
    ensure_font()?;
    let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let pct = |v: &[f64]| v.iter().map(|x| x * 100.0).collect::<Vec<f64>>();
    let (pred_pct, act_pct) = (pct(predicted_cum), pct(actual_cum));
    let date_fmt = |x: &f64| {
        let i = x.round();
        if i >= 0.0 && (i as usize) < n && (x - i).abs() < 1e-6 {
            dates[i as usize].format("%Y-%m-%d").to_string()
        } else {
            String::new()
        }
    };
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let (top, bottom) = root.split_vertically(HEIGHT * 3 / 5);
        line_panel(
            &top,
            &format!(
                "Holdout: 5-day cumulative return, {} to {}",
                dates[0].format("%Y-%m-%d"),
                dates[n - 1].format("%Y-%m-%d")
            ),
            "cumulative return (%)",
            &xs,
            &[("predicted", &pred_pct, BLUE), ("actual", &act_pct, BLACK)],
            &date_fmt,
            &|y| format!("{y:.1}"),
        )?;

        let (x0, x1) = finite_range([xs.as_slice()]);
        let mut chart = ChartBuilder::on(&bottom)
            .caption("Predicted P(up) and true direction", ("sans-serif", 22))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, -0.05f64..1.05f64)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .y_desc("probability")
            .x_label_formatter(&date_fmt)
            .y_label_formatter(&|y| format!("{y:.1}"))
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        let orange = RGBColor(255, 140, 0);
        chart
            .draw_series(LineSeries::new([(x0, 0.5), (x1, 0.5)], orange.stroke_width(2)))
            .map_err(draw_err)?
            .label("0.5 threshold")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], orange.stroke_width(2)));
        let mut first = true;
        for run in finite_runs(&xs, prob_up) {
            let drawn = chart
                .draw_series(LineSeries::new(run, BLUE.stroke_width(2)))
                .map_err(draw_err)?;
            if first {
                drawn.label("P(up)").legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2))
                });
                first = false;
            }
        }
        chart
            .draw_series(xs.iter().zip(y_dir).map(|(&x, &y)| {
                let (v, color) = if y != 0 { (1.0, GREEN) } else { (0.0, RED) };
                Circle::new((x, v), 4, color.filled())
            }))
            .map_err(draw_err)?
            .label("true direction (1 = up, 0 = down)")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, GREEN.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, WIDTH, HEIGHT)
}
