//! A model version as stored: JSON [`ModelMetadata`] + safetensors weights, and the
//! [`LoadedModel`] that serves forecasts from them.
use super::network::{prob_up, Architecture, Network};
use super::safetensors_io;
use crate::evaluation::FeatureImportance;
use crate::features::{NormStats, FORECAST_DAYS, N_FEATURES, SEQ_LEN};
use crate::{Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// Version of the artifact layout described by [`ModelMetadata`]; bumped on incompatible change.
pub const FORMAT_VERSION: u32 = 1;

/// Key in [`ModelMetadata::hyperparameters`] holding the factor the magnitude targets were
/// multiplied by during training (`y_scaled = y · target_scale`); [`LoadedModel::forecast`]
/// divides the magnitude head by it so API values are fractional returns. Absent → 1.0.
pub const TARGET_SCALE_KEY: &str = "target_scale";

/// Everything about a model version except its weights (stored as JSON next to them).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ModelMetadata {
    /// Artifact layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Network architecture: `kind`, `input_size`, `hidden_size`, `num_layers`, `dropout`,
    /// `bidirectional`, stored as top-level JSON keys (flattened; the layout is unchanged).
    #[serde(flatten)]
    pub architecture: Architecture,
    /// Names of the input features, in column order.
    pub feature_names: Vec<String>,
    /// Standardisation statistics fitted on the training samples; applied before every forward.
    pub norm: NormStats,
    /// Training hyper-parameters (lr, epochs, batch size, loss, mode, `target_scale`, ...).
    pub hyperparameters: serde_json::Value,
    /// Final training / holdout metrics by name. Only finite values are written (JSON has no
    /// NaN: serde would write `null`); a stored `null` (versions written before this rule) is
    /// read as absent, so such a version still loads.
    #[serde(serialize_with = "finite_metrics::serialize", deserialize_with = "finite_metrics::deserialize")]
    pub metrics: BTreeMap<String, f64>,
    /// Free-form diagnostics (prediction std vs true std, class balance, epochs run, device...).
    pub diagnostics: serde_json::Value,
    /// Per-feature importance (permutation / integrated gradients), when computed.
    #[serde(default)]
    pub feature_importance: Vec<FeatureImportance>,
    /// Symbol the model was trained for.
    pub symbol: String,
    /// Years of history the `(symbol, years)` model covers.
    pub years: u32,
    /// First sample end date used in training.
    pub data_start: Option<NaiveDate>,
    /// Last sample end date used in training.
    pub data_end: Option<NaiveDate>,
    /// When training finished.
    pub trained_at: DateTime<Utc>,
    /// Calibrated `prob_up`, conformal intervals, signal threshold and holdout quality
    /// ([`crate::calibration`]); absent in versions trained before them, which are served raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::calibration::Calibration>,
    /// The members of a pooled version ([`super::Pool`]); absent for a single-symbol version.
    /// The top-level `symbol`, `norm` and `calibration` are then the first member's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<super::Pool>,
    /// The row of the network's symbol embedding these metadata forecast with (a pooled
    /// version's member, in `pool.members` order); 0 for the first member and for networks
    /// without an embedding.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub member_index: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl ModelMetadata {
    /// The architecture these metadata describe.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// The magnitude target scale ([`TARGET_SCALE_KEY`]), 1.0 when absent.
    pub fn target_scale(&self) -> f64 {
        self.hyperparameters
            .get(TARGET_SCALE_KEY)
            .and_then(serde_json::Value::as_f64)
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(1.0)
    }

    /// Checks the fields a forward pass depends on.
    pub fn validate(&self) -> Result<()> {
        if self.format_version != FORMAT_VERSION {
            return Err(Error::Corrupt(format!(
                "model artifact format_version {} is not supported (this build reads {FORMAT_VERSION})",
                self.format_version
            )));
        }
        self.architecture().validate().map_err(|e| Error::Corrupt(e.to_string()))?;
        let rows = self.architecture.n_symbols.max(1) as usize;
        if self.member_index >= rows {
            return Err(Error::Corrupt(format!(
                "member_index {} is outside the symbol embedding's {rows} rows",
                self.member_index
            )));
        }
        let n = self.architecture.input_size as usize;
        if n != N_FEATURES {
            return Err(Error::Corrupt(format!(
                "model expects {n} input features, this build produces {N_FEATURES}"
            )));
        }
        if self.norm.mean.len() != n || self.norm.std.len() != n {
            return Err(Error::Corrupt(format!(
                "normalisation stats have {} means / {} stds, expected {n}",
                self.norm.mean.len(),
                self.norm.std.len()
            )));
        }
        if self.norm.std.iter().any(|s| !s.is_finite() || *s <= 0.0)
            || self.norm.mean.iter().any(|m| !m.is_finite())
        {
            return Err(Error::Corrupt("normalisation stats contain non-finite or zero std".into()));
        }
        Ok(())
    }
}

/// `n` raw windows (`n × 60 × 21`, row-major) standardised with `norm`, as an `[n, 60, 21]`
/// tensor on `device`: the one input path of every forward (training sets, evaluation,
/// [`LoadedModel::forecast`]).
pub fn standardised_windows(raw: &[f32], n: usize, norm: &NormStats, device: Device) -> Tensor {
    let mut x = raw.to_vec();
    norm.apply(&mut x);
    Tensor::from_slice(&x)
        .reshape([n as i64, SEQ_LEN as i64, N_FEATURES as i64])
        .to_device(device)
}

/// One forecast: probability that the 5-day cumulative return is positive, and the 5 daily
/// returns (fractional: 0.012 = +1.2 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Forecast {
    /// P(up) from the direction head's softmax.
    pub prob_up: f64,
    /// Predicted daily returns of the next 5 trading days.
    pub magnitudes: [f64; FORECAST_DAYS],
}

/// A model version ready to forecast: its var store and network on one device.
/// `Send` (move it to a worker thread), not `Sync`.
#[derive(Debug)]
pub struct LoadedModel {
    metadata: ModelMetadata,
    vs: VarStore,
    net: Network,
}

impl LoadedModel {
    /// Rebuilds the network described by `metadata` on `device` and loads `safetensors` into it,
    /// strictly: every parameter present with the right shape and nothing else, else
    /// [`Error::Corrupt`].
    pub fn from_artifact(
        metadata: &ModelMetadata,
        safetensors: &[u8],
        device: Device,
    ) -> Result<LoadedModel> {
        metadata.validate()?;
        let vs = VarStore::new(device);
        let net = Network::new(&vs.root(), &metadata.architecture())?;
        safetensors_io::load_safetensors_into(&vs, safetensors)?;
        Ok(LoadedModel { metadata: metadata.clone(), vs, net })
    }

    /// A second model on the same weights (no copy: every parameter shares its storage with
    /// `self`'s), for another serving thread. `LoadedModel` is not `Sync`; two threads may run
    /// forwards concurrently through two replicas because inference only reads the weights.
    pub fn replica(&self) -> Result<LoadedModel> {
        let vs = VarStore::new(self.vs.device());
        let net = Network::new(&vs.root(), &self.metadata.architecture())?;
        let source = self.vs.variables();
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                let src = source.get(&name).ok_or_else(|| {
                    Error::internal(format!("replica: parameter {name} missing in the source model"))
                })?;
                var.set_data(src);
            }
            Ok::<_, Error>(())
        })?;
        Ok(LoadedModel { metadata: self.metadata.clone(), vs, net })
    }

    /// A [`LoadedModel::replica`] (the same weights, not copied) that forecasts with
    /// `metadata` — the metadata one member of a pooled version is served with
    /// ([`ModelMetadata::for_member`]). The architecture must be the same.
    pub fn with_metadata(&self, metadata: ModelMetadata) -> Result<LoadedModel> {
        if metadata.architecture() != self.metadata.architecture() {
            return Err(Error::internal("with_metadata: the architecture differs from the loaded network's"));
        }
        metadata.validate()?;
        let mut m = self.replica()?;
        m.metadata = metadata;
        Ok(m)
    }

    /// Wraps a freshly trained var store (used by the training pipeline).
    pub(crate) fn from_trained(metadata: ModelMetadata, vs: VarStore, net: Network) -> LoadedModel {
        LoadedModel { metadata, vs, net }
    }

    /// Forecasts `n` raw (un-standardised) windows laid out `n × 60 × 21`: applies the stored
    /// normalisation, runs the network in eval mode without gradients, softmax → `prob_up`,
    /// magnitudes divided by the target scale.
    pub fn forecast(&self, raw_windows: &[f32], n: usize) -> Result<Vec<Forecast>> {
        let window = SEQ_LEN * N_FEATURES;
        if raw_windows.len() != n * window {
            return Err(Error::invalid(format!(
                "forecast input has {} values, expected {n} windows × {SEQ_LEN} days × {N_FEATURES} \
                 features = {}",
                raw_windows.len(),
                n * window
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Some(i) = raw_windows.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "forecast input value {i} (window {}) is not finite",
                i / window
            )));
        }
        let mut xs = standardised_windows(raw_windows, n, &self.metadata.norm, self.vs.device());
        if self.metadata.architecture.symbol_embedding_dim > 0 {
            xs = super::with_symbol(&xs, self.metadata.member_index);
        }
        let (logits, mags) = self.net.predict(&xs);
        let prob_up = Vec::<f32>::try_from(prob_up(&logits).to_device(Device::Cpu))?;
        let mags = Vec::<f32>::try_from(
            mags.to_kind(Kind::Float).to_device(Device::Cpu).contiguous().view(-1),
        )?;
        let scale = self.metadata.target_scale();
        Ok((0..n)
            .map(|i| {
                let mut magnitudes = [0f64; FORECAST_DAYS];
                for (k, m) in magnitudes.iter_mut().enumerate() {
                    *m = f64::from(mags[i * FORECAST_DAYS + k]) / scale;
                }
                Forecast { prob_up: f64::from(prob_up[i]), magnitudes }
            })
            .collect())
    }

    /// The version's metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// Bytes held by the parameters (f32), for memory budgeting.
    pub fn param_bytes(&self) -> usize {
        self.vs.variables().values().map(|t| t.numel() * 4).sum()
    }

    /// The var store holding the parameters (training fine-tunes it in place).
    pub(crate) fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// Mutable metadata (the pipeline fills metrics after validation).
    pub(crate) fn metadata_mut(&mut self) -> &mut ModelMetadata {
        &mut self.metadata
    }

    /// The device the model lives on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The network (for gradient-based tools such as integrated gradients).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The weights as safetensors bytes.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        safetensors_io::to_safetensors(&self.vs)
    }
}

/// (De)serialisation of [`ModelMetadata::metrics`] that never writes and always survives `null`.
mod finite_metrics {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().filter(|(_, v)| v.is_finite()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let raw = BTreeMap::<String, Option<f64>>::deserialize(d)?;
        Ok(raw.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_shares_every_parameter_and_forecasts_the_same_on_another_thread() {
        let arch = Architecture::enhanced(N_FEATURES as i64, 8);
        let vs = VarStore::new(Device::Cpu);
        Network::new(&vs.root(), &arch).unwrap();
        let bytes = safetensors_io::to_safetensors(&vs).unwrap();
        let md = ModelMetadata {
            format_version: FORMAT_VERSION,
            architecture: arch,
            feature_names: crate::features::FEATURES.iter().map(|f| f.name.to_string()).collect(),
            norm: NormStats { mean: vec![0.0; N_FEATURES], std: vec![1.0; N_FEATURES] },
            hyperparameters: serde_json::json!({}),
            metrics: BTreeMap::new(),
            diagnostics: serde_json::json!({}),
            feature_importance: Vec::new(),
            symbol: "REP".into(),
            years: 1,
            data_start: None,
            data_end: None,
            trained_at: Utc::now(),
            calibration: None,
            pool: None,
            member_index: 0,
        };
        let model = LoadedModel::from_artifact(&md, &bytes, Device::Cpu).unwrap();
        let replica = model.replica().unwrap();
        let (a, b) = (model.vs.variables(), replica.vs.variables());
        assert_eq!(a.len(), b.len());
        for (name, t) in &a {
            assert_eq!(t.data_ptr(), b[name].data_ptr(), "{name} was copied, not shared");
        }
        let x: Vec<f32> = (0..3 * SEQ_LEN * N_FEATURES).map(|i| ((i % 17) as f32 - 8.0) / 4.0).collect();
        let expected = model.forecast(&x, 3).unwrap();
        let xr = x.clone();
        let other = std::thread::spawn(move || (0..20).map(|_| replica.forecast(&xr, 3).unwrap()).collect::<Vec<_>>());
        for _ in 0..20 {
            assert_eq!(model.forecast(&x, 3).unwrap(), expected);
        }
        for f in other.join().unwrap() {
            assert_eq!(f, expected);
        }
    }
}
