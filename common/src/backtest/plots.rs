//! Charts of a backtest (PNG, same renderer and embedded font as the training plots):
//! `reliability.png` (observed share of ups per prob_up bin, model vs baselines),
//! `rolling.png` (rolling 60-day hit rate and cumulative IC over the test days) and
//! `predicted_vs_realised.png` (the model's predicted vs realised 5-day returns).
use plotters::prelude::*;

use super::metrics::{hit_rate, pearson, up, ECE_BINS};
use super::run::FoldOutput;
use crate::evaluation::plots::{draw_err, encode_png, ensure_font, finite_range, line_panel, HEIGHT, WIDTH};
use crate::Result;

/// Days in the rolling hit-rate window.
pub const ROLLING_DAYS: usize = 60;

const COLORS: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

struct Series {
    name: String,
    prob_up: Option<Vec<f64>>,
    cum: Option<Vec<f64>>,
}

fn series(outputs: &[FoldOutput]) -> (Vec<Series>, Vec<f64>) {
    let names: Vec<String> = outputs.first().map(|o| o.answers.iter().map(|a| a.0.clone()).collect()).unwrap_or_default();
    let s = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let cat = |f: &dyn Fn(&super::Answers) -> Option<&Vec<f64>>| -> Option<Vec<f64>> {
                outputs.iter().map(|o| f(&o.answers[j].1).cloned()).collect::<Option<Vec<_>>>().map(|v| v.concat())
            };
            Series { name: name.clone(), prob_up: cat(&|a| a.prob_up.as_ref()), cum: cat(&|a| a.cum_return.as_ref()) }
        })
        .collect();
    (s, outputs.iter().flat_map(|o| o.realised.iter().copied()).collect())
}

fn canvas(draw: impl FnOnce(&crate::evaluation::plots::Area<'_>) -> Result<()>) -> Result<Vec<u8>> {
    ensure_font()?;
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    encode_png(&buf, WIDTH, HEIGHT)
}

fn reliability(s: &[Series], realised: &[f64]) -> Result<Vec<u8>> {
    let y: Vec<bool> = realised.iter().map(|r| up(*r)).collect();
    canvas(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Reliability: observed share of 5-day ups per P(up) bin", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("predicted P(up)")
            .y_desc("observed share of ups")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4).stroke_width(1)))
            .map_err(draw_err)?
            .label("perfectly calibrated")
            .legend(|(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], BLACK.mix(0.4)));
        for (k, ser) in s.iter().filter(|ser| ser.prob_up.is_some()).enumerate() {
            let p = ser.prob_up.as_ref().map_or(&[][..], Vec::as_slice);
            let color = COLORS[k % COLORS.len()];
            let mut pts = Vec::new();
            for b in 0..ECE_BINS {
                let in_bin: Vec<usize> = (0..p.len())
                    .filter(|&i| ((p[i] * ECE_BINS as f64).floor() as usize).min(ECE_BINS - 1) == b)
                    .collect();
                if in_bin.is_empty() {
                    continue;
                }
                let n = in_bin.len() as f64;
                let mp = in_bin.iter().map(|&i| p[i]).sum::<f64>() / n;
                let share = in_bin.iter().filter(|&&i| y[i]).count() as f64 / n;
                pts.push((mp, share));
            }
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(draw_err)?
                .label(ser.name.clone())
                .legend(move |(x, yy)| PathElement::new(vec![(x, yy), (x + 20, yy)], color.stroke_width(2)));
            chart.draw_series(pts.into_iter().map(|pt| Circle::new(pt, 4, color.filled()))).map_err(draw_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        Ok(())
    })
}

fn rolling(s: &[Series], realised: &[f64]) -> Result<Vec<u8>> {
    let n = realised.len();
    let y: Vec<bool> = realised.iter().map(|r| up(*r)).collect();
    let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let hit: Vec<(String, Vec<f64>)> = s
        .iter()
        .filter_map(|ser| {
            let p = ser.prob_up.as_ref()?;
            let v = (0..n)
                .map(|i| {
                    let from = (i + 1).saturating_sub(ROLLING_DAYS);
                    if i + 1 < ROLLING_DAYS.min(n) { f64::NAN } else { hit_rate(&p[from..=i], &y[from..=i]).unwrap_or(f64::NAN) }
                })
                .collect();
            Some((ser.name.clone(), v))
        })
        .collect();
    let ic: Vec<(String, Vec<f64>)> = s
        .iter()
        .filter_map(|ser| {
            let c = ser.cum.as_ref()?;
            let v: Vec<f64> = (0..n).map(|i| pearson(&c[..=i], &realised[..=i]).unwrap_or(f64::NAN)).collect();
            v.iter().any(|x| x.is_finite()).then(|| (ser.name.clone(), v))
        })
        .collect();
    let fmt_day = |x: &f64| format!("{x:.0}");
    canvas(|root| {
        let (top, bottom) = root.split_vertically(HEIGHT / 2);
        let with_colors = |v: &[(String, Vec<f64>)]| -> Vec<(String, Vec<f64>, RGBColor)> {
            v.iter().enumerate().map(|(k, (n, d))| (n.clone(), d.clone(), COLORS[k % COLORS.len()])).collect()
        };
        let h = with_colors(&hit);
        let h_ref: Vec<(&str, &[f64], RGBColor)> = h.iter().map(|(n, d, c)| (n.as_str(), d.as_slice(), *c)).collect();
        line_panel(&top, &format!("Rolling {ROLLING_DAYS}-day hit rate over the test days"), "hit rate", &xs, &h_ref, &fmt_day, &|v| format!("{v:.2}"))?;
        let c = with_colors(&ic);
        let c_ref: Vec<(&str, &[f64], RGBColor)> = c.iter().map(|(n, d, c)| (n.as_str(), d.as_slice(), *c)).collect();
        line_panel(&bottom, "Cumulative IC (Pearson, days so far)", "IC", &xs, &c_ref, &fmt_day, &|v| format!("{v:.2}"))
    })
}

fn predicted_vs_realised(s: &[Series], realised: &[f64]) -> Result<Vec<u8>> {
    let pct = |v: &[f64]| v.iter().map(|x| x * 100.0).collect::<Vec<f64>>();
    let real = pct(realised);
    let shown: Vec<(String, Vec<f64>)> = s
        .iter()
        .filter(|ser| ser.name == super::forecast::MODEL || ser.name == "linear")
        .filter_map(|ser| ser.cum.as_ref().map(|c| (ser.name.clone(), pct(c))))
        .collect();
    let all_pred: Vec<f64> = shown.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let (x0, x1) = finite_range([all_pred.as_slice()]);
    let (y0, y1) = finite_range([real.as_slice()]);
    canvas(|root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Predicted vs realised 5-day cumulative return (%)", ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("predicted (%)")
            .y_desc("realised (%)")
            .label_style(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        for (k, (name, pred)) in shown.iter().enumerate() {
            let color = COLORS[k % COLORS.len()];
            chart
                .draw_series(pred.iter().zip(&real).map(|(&x, &yy)| Circle::new((x, yy), 3, color.mix(0.6).filled())))
                .map_err(draw_err)?
                .label(name.clone())
                .legend(move |(x, yy)| Circle::new((x + 10, yy), 4, color.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
        Ok(())
    })
}

/// The three charts by file name.
pub fn render(outputs: &[FoldOutput]) -> Result<Vec<(String, Vec<u8>)>> {
    let (s, realised) = series(outputs);
    if realised.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![
        ("reliability.png".into(), reliability(&s, &realised)?),
        ("rolling.png".into(), rolling(&s, &realised)?),
        ("predicted_vs_realised.png".into(), predicted_vs_realised(&s, &realised)?),
    ])
}
