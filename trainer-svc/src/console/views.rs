//! The console's pages, rendered on the server with `maud` (every interpolated string is HTML-
//! escaped by the template engine: symbols, CSV-derived text, error messages). One stylesheet
//! and one small script are inlined: no external asset is loaded.
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::data::{ModelPage, RunPage, RunRow};

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}header{background:#123;color:#fff;padding:8px 16px}\
header a{color:#fff;margin-right:16px}main{padding:16px}table{border-collapse:collapse;margin:8px 0}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.state-running{color:#06c;font-weight:bold}.state-failed{color:#b00}.state-succeeded{color:#070}\
.current{font-weight:bold;background:#efe}img{max-width:100%;border:1px solid #ddd;margin:4px 0}\
.error{color:#b00;white-space:pre-wrap}form.inline{display:inline}.muted{color:#777}";

/// Refreshes the runs table from `/api/runs` every second without a reload; text goes in with
/// `textContent` only, so nothing a run stores can become markup.
const RUNS_SCRIPT: &str = r#"(function(){
const body=document.getElementById('runs-body');if(!body)return;
async function refresh(){
 try{const r=await fetch('/api/runs'+window.location.search,{credentials:'same-origin'});if(!r.ok)return;
  const runs=await r.json();body.replaceChildren();
  for(const run of runs){const tr=document.createElement('tr');tr.dataset.runId=run.run_id;
   const cells=[run.run_id,run.symbol,String(run.years),run.mode,run.status,run.progress,run.duration,run.outcome];
   cells.forEach((text,i)=>{const td=document.createElement('td');
    if(i===0){const a=document.createElement('a');a.href='/runs/'+encodeURIComponent(run.run_id);a.textContent=text.slice(0,8);td.appendChild(a);}
    else{td.textContent=text;}
    if(i===4){td.className='state-'+run.status;}
    if(i===5){td.className='progress';}
    tr.appendChild(td);});
   body.appendChild(tr);}
 }catch(e){}
}
setInterval(refresh,1000);
})();"#;

fn layout(title: &str, body: Markup, script: Option<&str>) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                // No favicon request (it would 404 and log a console error).
                link rel="icon" href="data:,";
                title { (title) " · lstm-forecast console" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { a href="/" { "Runs" } span.muted { "lstm-forecast console" } }
                main { (body) }
                @if let Some(s) = script { script { (PreEscaped(s)) } }
            }
        }
    }
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.filter(|v| v.is_finite()).map_or_else(|| "—".to_string(), |v| format!("{v:.digits$}"))
}

/// `/`: runs, newest first, with filters.
pub fn runs(rows: &[RunRow], symbol: &str, state: &str) -> Markup {
    let body = html! {
        h1 { "Training runs" }
        form method="get" action="/" {
            "Symbol " input name="symbol" value=(symbol) size="10";
            " State " select name="state" {
                @for s in ["", "queued", "running", "succeeded", "failed", "cancelled", "abandoned"] {
                    option value=(s) selected[s == state] { (if s.is_empty() { "any" } else { s }) }
                }
            }
            " " button type="submit" { "Filter" }
        }
        table #runs {
            thead { tr { th { "run" } th { "symbol" } th { "years" } th { "mode" } th { "state" } th { "progress" } th { "duration" } th { "outcome" } } }
            tbody #runs-body {
                @for r in rows {
                    tr data-run-id=(r.run_id) {
                        td { a href={ "/runs/" (r.run_id) } { (r.run_id.chars().take(8).collect::<String>()) } }
                        td { a href={ "/models/" (r.symbol) "/" (r.years) } { (r.symbol) } }
                        td { (r.years) } td { (r.mode) }
                        td class={ "state-" (r.status) } { (r.status) }
                        td.progress { (r.progress) } td { (r.duration) } td { (r.outcome) }
                    }
                }
            }
        }
    };
    layout("Runs", body, Some(RUNS_SCRIPT))
}

/// A loss curve as inline SVG: one polyline per series (train, validation), y scaled to the
/// series' joint range.
fn curves(points: &[(u32, f64, f64)]) -> Markup {
    let (w, h) = (600.0, 200.0);
    let finite: Vec<f64> = points.iter().flat_map(|p| [p.1, p.2]).filter(|v| v.is_finite()).collect();
    if points.len() < 2 || finite.is_empty() {
        return html! { p.muted { "No epoch events to draw." } };
    }
    let (lo, hi) = finite.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    let span = (hi - lo).max(1e-12);
    let n = points.len() as f64 - 1.0;
    let line = |pick: fn(&(u32, f64, f64)) -> f64| {
        points
            .iter()
            .enumerate()
            .filter(|(_, p)| pick(p).is_finite())
            .map(|(i, p)| format!("{:.1},{:.1}", i as f64 / n * w, h - (pick(p) - lo) / span * h))
            .collect::<Vec<_>>()
            .join(" ")
    };
    html! {
        svg #curves width="600" height="200" viewBox="0 0 600 200" style="border:1px solid #ddd" {
            polyline fill="none" stroke="#06c" stroke-width="2" points=(line(|p| p.1)) {}
            polyline fill="none" stroke="#c60" stroke-width="2" points=(line(|p| p.2)) {}
        }
        p.muted { "blue: training loss, orange: validation loss; " (points.len()) " epochs, loss " (format!("{lo:.4}")) " … " (format!("{hi:.4}")) }
    }
}

/// `/runs/{id}`.
pub fn run(page: &RunPage, csrf: &str, needs_token: bool) -> Markup {
    let r = &page.record;
    let body = html! {
        h1 { "Run " (r.run_id) }
        table {
            tr { th { "symbol" } td { a href={ "/models/" (r.symbol) "/" (r.years) } { (r.symbol) " / " (r.years) "y" } } }
            tr { th { "mode" } td { (r.mode) } }
            tr { th { "state" } td #state class={ "state-" (r.status.as_str()) } { (r.status.as_str()) } }
            tr { th { "started" } td { (r.started_at.to_rfc3339()) } }
            tr { th { "duration" } td { (fmt(r.duration_seconds, 1)) " s" } }
            tr { th { "version" } td { (r.version_id.clone().unwrap_or_default()) } }
            @if let Some(e) = &r.error { tr { th { "error" } td.error #run-error { (e) } } }
        }
        @if !r.status.is_terminal() {
            form.inline method="post" action={ "/runs/" (r.run_id) "/cancel" } {
                input type="hidden" name="csrf" value=(csrf);
                button #cancel type="submit" { "Cancel run" }
                @if needs_token { span.muted { " (needs the token: " a href="/login" { "sign in" } ")" } }
            }
        }
        h2 { "Loss curves" }
        (curves(&page.curve))
        @if !page.plots.is_empty() {
            h2 { "Plots" }
            @for name in &page.plots {
                figure { img src={ "/runs/" (r.run_id) "/plots/" (name) } alt=(name); figcaption { (name) } }
            }
        }
        @if let Some(report) = &page.report {
            h2 { "Backtest report" }
            (report_tables(report))
        }
        h2 { "Events" }
        table #events {
            thead { tr { th { "seq" } th { "kind" } th { "detail" } } }
            tbody { @for (seq, kind, detail) in &page.events { tr { td { (seq) } td { (kind) } td { (detail) } } } }
        }
    };
    layout(&format!("Run {}", r.run_id), body, None)
}

fn report_tables(report: &serde_json::Value) -> Markup {
    let metrics = ["n", "hit_rate", "auc", "brier", "ic", "mae_cum", "coverage_80", "coverage_80_static", "coverage_95", "coverage_95_static"];
    let models = report["models"].as_object().cloned().unwrap_or_default();
    let num = |v: &serde_json::Value| v.as_f64().map_or_else(|| "—".to_string(), |x| if x.fract() == 0.0 { format!("{x}") } else { format!("{x:.3}") });
    let ci = |name: &str, m: &str| match report["ci"][name][m].as_array() {
        Some(iv) if iv.len() == 2 => format!(" [{}, {}]", num(&iv[0]), num(&iv[1])),
        _ => String::new(),
    };
    html! {
        table #report {
            thead { tr { th { "model" } @for m in metrics { th { (m) } } } }
            tbody {
                @for (name, m) in &models {
                    tr { td { (name) } @for k in metrics { td { (num(&m[k])) (ci(name, k)) } } }
                }
            }
        }
        @if let Some(folds) = report["folds"].as_array() {
            table #folds {
                thead { tr { th { "fold" } th { "origin" } th { "test days" } th { "n" } th { "lstm hit rate" } th { "lstm Brier" } } }
                tbody {
                    @for (i, f) in folds.iter().enumerate() {
                        tr {
                            td { (i + 1) } td { (f["origin"].as_str().unwrap_or("")) }
                            td { (f["test_start"].as_str().unwrap_or("")) " … " (f["test_end"].as_str().unwrap_or("")) }
                            td { (num(&f["n"])) }
                            td { (num(&report["models"]["lstm"]["per_fold"][i]["hit_rate"])) }
                            td { (num(&report["models"]["lstm"]["per_fold"][i]["brier"])) }
                        }
                    }
                }
            }
        }
    }
}

/// `/models/{symbol}/{years}`.
pub fn model(page: &ModelPage, csrf: &str, needs_token: bool) -> Markup {
    let m = |v: &common::registry::VersionInfo, k: &str| fmt(v.metrics.get(k).copied(), 4);
    let body = html! {
        h1 { "Model " (page.symbol) " / " (page.years) "y" }
        p { "Current version: " strong #current { (page.current.clone().unwrap_or_else(|| "none".into())) } }
        @if needs_token { p.muted { "Changing the current version needs the token: " a href="/login" { "sign in" } } }
        @if let Some(e) = &page.live_error { p.error { "Live quality unavailable: " (e) } }
        table #versions {
            thead { tr {
                th { "version" } th { "created" } th { "data" } th { "holdout Brier" } th { "base-rate Brier" } th { "linear Brier" }
                th { "hit rate" } th { "AUC" } th { "base rate" } th { "shrinkage w" } th { "live (scored, skill, cov. 80 %)" } th { "" }
            } }
            tbody {
                @for v in &page.versions {
                    @let current = page.current.as_deref() == Some(v.version_id.as_str());
                    tr class=[current.then_some("current")] data-version-id=(v.version_id) {
                        td {
                            (v.version_id) @if current { " (current)" }
                            @if !v.pool_symbols.is_empty() {
                                br; span.muted { "pooled: " (v.pool_symbols.join(", ")) "; metrics of " (v.symbol) }
                            }
                        }
                        td { (v.created_at.format("%Y-%m-%d %H:%M").to_string()) }
                        td { (v.data_start) " … " (v.data_end) }
                        td.holdout-brier { (m(v, "holdout_brier")) } td { (m(v, "baseline_base_rate_brier")) } td { (m(v, "baseline_linear_brier")) }
                        td { (m(v, "holdout_hit_rate")) } td { (m(v, "holdout_auc")) } td { (m(v, "base_rate")) } td { (m(v, "shrinkage_weight")) }
                        td {
                            @match page.live.iter().find(|q| q.version_id == v.version_id) {
                                Some(q) => { (q.n_scored) ", " (fmt(q.brier_skill, 3)) ", " (fmt(q.coverage_80, 2)) }
                                None => { span.muted { "not served yet" } }
                            }
                        }
                        td {
                            @if !current {
                                form.inline method="post" action={ "/models/" (page.symbol) "/" (page.years) "/current" } {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="version_id" value=(v.version_id);
                                    button.make-current type="submit" { "Make current" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Promotion history" }
        table #history {
            thead { tr { th { "at" } th { "from" } th { "to" } th { "by" } th { "reason" } } }
            tbody {
                @for p in page.history.iter().rev() {
                    tr { td { (p.at.to_rfc3339()) } td { (p.from_version.clone().unwrap_or_default()) } td { (p.to_version) } td { (p.actor) } td { (p.reason) } }
                }
            }
        }
    };
    layout(&format!("{} {}y", page.symbol, page.years), body, None)
}

/// `/login`.
pub fn login(csrf: &str, message: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        p { "Actions that change state need the server's bearer token (AUTH_TOKEN). It is kept for this browser session only." }
        @if let Some(m) = message { p.error { (m) } }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            input #token type="password" name="token" autocomplete="off";
            " " button #sign-in type="submit" { "Sign in" }
        }
    };
    layout("Sign in", body, None)
}

/// An error page (status set by the caller).
pub fn error(title: &str, message: &str) -> Markup {
    layout(title, html! { h1 { (title) } p.error #message { (message) } p { a href="/" { "Back to the runs" } } }, None)
}
