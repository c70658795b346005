//! Helpers the benchmark programs share: untrained model versions stored in a registry, and
//! latency percentiles.
use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use common::features::{build_samples, FeatureConfig, NormStats, FEATURES};
use common::model::{safetensors_io, Architecture, ModelMetadata, Network, FORMAT_VERSION};
use common::registry::{NewVersion, Promotion, Registry};

/// The benchmarks' error type.
pub type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An untrained version of `arch` (initial weights from `seed`) with normalisation fitted on
/// `bars`: `(metadata, safetensors weights)`.
pub fn artifact(arch: Architecture, seed: i64, bars: &[common::data::Bar]) -> AnyResult<(ModelMetadata, Vec<u8>)> {
    let samples = build_samples(bars, &FeatureConfig::default())?;
    tch::manual_seed(seed);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let _net = Network::new(&vs.root(), &arch)?;
    let weights = safetensors_io::to_safetensors(&vs)?;
    let md = ModelMetadata {
        format_version: FORMAT_VERSION,
        architecture: arch,
        feature_names: FEATURES.iter().map(|f| f.name.to_string()).collect(),
        norm: NormStats::fit(&samples.x),
        hyperparameters: serde_json::json!({ "bench": true }),
        metrics: BTreeMap::new(),
        diagnostics: serde_json::json!({}),
        feature_importance: Vec::new(),
        symbol: "BENCH".into(),
        years: 1,
        data_start: samples.end_dates.first().copied(),
        data_end: samples.end_dates.last().copied(),
        trained_at: Utc::now(),
        calibration: None,
        pool: None,
        member_index: 0,
    };
    Ok((md, weights))
}

/// Stores a version built by [`artifact`]; `promote` makes it current.
pub async fn store(reg: &Registry, id: &str, (md, weights): (ModelMetadata, Vec<u8>), promote: bool) -> AnyResult<()> {
    let d = |x: Option<NaiveDate>| x.unwrap_or(NaiveDate::MIN);
    reg.save_version(
        NewVersion {
            version_id: id.into(),
            symbol: md.symbol.clone(),
            years: md.years,
            model_kind: md.architecture.kind.to_string(),
            data_start: d(md.data_start),
            data_end: d(md.data_end),
            training_seconds: 0.0,
            metadata_json: serde_json::to_string(&md)?,
            metrics: BTreeMap::new(),
            weights,
            note: "benchmark model (untrained)".into(),
            pool_symbols: Vec::new(),
        },
        promote.then(|| Promotion { actor: "bench".into(), reason: "bench".into() }),
    )
    .await?;
    Ok(())
}

/// The `p` quantile of sorted durations.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` gives them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
