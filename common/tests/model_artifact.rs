//! Model shapes, parameter counts and names, artifact round trip and strict loading.
use common::features::{NormStats, FORECAST_DAYS, N_FEATURES, SEQ_LEN};
use common::model::{
    safetensors_io, Architecture, LoadedModel, ModelKind, ModelMetadata, Network, FORMAT_VERSION,
};
use common::Error;
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const IN: i64 = N_FEATURES as i64;

fn base_params(h: i64) -> i64 {
    let lstm = 4 * h * IN + 4 * h * h + 8 * h;
    lstm + (h * h + h) + (2 * h + 2) + (5 * h + 5)
}

fn enhanced_params(h: i64, layers: i64) -> i64 {
    let layer0 = 4 * h * IN + 4 * h * h + 8 * h;
    let deeper = 4 * h * (2 * h) + 4 * h * h + 8 * h;
    let lstm = 2 * (layer0 + (layers - 1) * deeper);
    let attention = 2 * h + 1;
    let skip = IN * 2 * h + 2 * h;
    let fc0 = 4 * h * 2 * h + 2 * h;
    let ln = 2 * (2 * h);
    let fc4 = 2 * h * h + h;
    let fc7 = h * (h / 2) + h / 2;
    let heads = (h / 2) * 2 + 2 + (h / 2) * 5 + 5;
    lstm + attention + skip + fc0 + ln + fc4 + fc7 + heads
}

fn count(vs: &VarStore) -> i64 {
    vs.variables().values().map(|t| t.numel() as i64).sum()
}

fn metadata(arch: &Architecture) -> ModelMetadata {
    ModelMetadata {
        format_version: FORMAT_VERSION,
        architecture: *arch,
        feature_names: common::features::feature_names(),
        norm: NormStats { mean: vec![0.5; N_FEATURES], std: vec![2.0; N_FEATURES] },
        hyperparameters: serde_json::json!({"target_scale": 100.0}),
        metrics: BTreeMap::new(),
        diagnostics: serde_json::Value::Null,
        feature_importance: vec![],
        symbol: "TEST".into(),
        years: 1,
        data_start: None,
        data_end: None,
        trained_at: chrono::Utc::now(),
        calibration: None,
        pool: None,
        member_index: 0,
    }
}

fn random_windows(n: usize, seed: i64) -> Vec<f32> {
    tch::manual_seed(seed);
    Vec::<f32>::try_from(Tensor::randn([(n * SEQ_LEN * N_FEATURES) as i64], (Kind::Float, Device::Cpu))).unwrap()
}

#[test]
fn output_shapes_and_parameter_counts_match_the_formulas() {
    for (arch, expected) in [
        (Architecture::base(IN, 64), base_params(64)),
        (Architecture::base(IN, 32), base_params(32)),
        (Architecture::enhanced(IN, 128), enhanced_params(128, 3)),
        (Architecture::enhanced(IN, 16), enhanced_params(16, 3)),
    ] {
        let vs = VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), &arch).unwrap();
        assert_eq!(count(&vs), expected, "{arch:?}");
        let x = Tensor::randn([3, SEQ_LEN as i64, IN], (Kind::Float, Device::Cpu));
        for train in [false, true] {
            let (d, m) = net.forward_t(&x, train);
            assert_eq!(d.size(), vec![3, 2]);
            assert_eq!(m.size(), vec![3, FORECAST_DAYS as i64]);
        }
    }
    // The SPEC §4 enhanced network, summed by hand: LSTM 945 152 + attention 257 + skip 5 632 +
    // fc 131 328 + 512 + 32 896 + 8 256 + heads 455.
    assert_eq!(enhanced_params(128, 3), 1_124_488);
}

#[test]
fn parameter_names_are_pytorch_state_dict_names() {
    let vs = VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &Architecture::enhanced(IN, 128)).unwrap();
    let vars = vs.variables();
    for name in [
        "lstm.weight_ih_l0",
        "lstm.weight_hh_l0_reverse",
        "lstm.bias_ih_l2",
        "lstm.bias_hh_l2_reverse",
        "attention.weight",
        "attention.bias",
        "skip.0.weight",
        "fc_shared.0.weight",
        "fc_shared.1.weight",
        "fc_shared.1.bias",
        "fc_shared.4.weight",
        "fc_shared.7.bias",
        "fc_direction.weight",
        "fc_magnitude.bias",
    ] {
        assert!(vars.contains_key(name), "missing {name}; have {:?}", vars.keys().collect::<Vec<_>>());
    }
    assert_eq!(vars["lstm.weight_ih_l1"].size(), vec![512, 256]);
    assert_eq!(vars["fc_shared.0.weight"].size(), vec![256, 512]);
    assert_eq!(vars.len(), 3 * 2 * 4 + 2 + 2 + 2 + 2 + 2 + 2 + 2 + 2);
    let vs = VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &Architecture::base(IN, 64)).unwrap();
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "fc_direction.bias", "fc_direction.weight", "fc_magnitude.bias", "fc_magnitude.weight",
            "fc_shared.0.bias", "fc_shared.0.weight", "lstm.bias_hh_l0", "lstm.bias_ih_l0",
            "lstm.weight_hh_l0", "lstm.weight_ih_l0",
        ]
    );
}

#[test]
fn initialisation_follows_the_spec() {
    tch::manual_seed(7);
    let vs = VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &Architecture::enhanced(IN, 128)).unwrap();
    let v = vs.variables();
    // weight_hh orthogonal: W^T W = I (columns orthonormal, W is [4h, h]).
    let w = &v["lstm.weight_hh_l1_reverse"];
    let wtw = w.transpose(0, 1).matmul(w);
    let eye = Tensor::eye(128, (Kind::Float, Device::Cpu));
    assert!((wtw - eye).abs().max().double_value(&[]) < 1e-4);
    // xavier uniform bound sqrt(6 / (fan_in + fan_out))
    let bound = (6.0f64 / (512.0 + 256.0)).sqrt();
    let m = v["fc_shared.0.weight"].abs().max().double_value(&[]);
    assert!(m <= bound && m > 0.9 * bound, "{m} vs {bound}");
    // heads N(0, 0.01), biases zero
    let s = v["fc_magnitude.weight"].std(true).double_value(&[]);
    assert!((0.006..0.014).contains(&s), "{s}");
    for b in ["lstm.bias_ih_l0", "fc_direction.bias", "attention.bias", "fc_shared.1.bias"] {
        assert_eq!(v[b].abs().sum(Kind::Float).double_value(&[]), 0.0, "{b}");
    }
    assert_eq!(v["fc_shared.1.weight"].mean(Kind::Float).double_value(&[]), 1.0);
}

#[test]
fn eval_mode_is_deterministic_and_train_mode_uses_dropout() {
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), &Architecture::enhanced(IN, 16)).unwrap();
    let x = Tensor::randn([4, SEQ_LEN as i64, IN], (Kind::Float, Device::Cpu));
    let (a, _) = net.forward_t(&x, false);
    let (b, _) = net.forward_t(&x, false);
    assert!(a.equal(&b));
    let (c, _) = net.forward_t(&x, true);
    assert!(!a.equal(&c), "dropout must change training-mode outputs");
}

#[test]
fn save_load_round_trip_gives_identical_forecasts_for_both_kinds() {
    for arch in [Architecture::base(IN, 32), Architecture::enhanced(IN, 16)] {
        let vs = VarStore::new(Device::Cpu);
        Network::new(&vs.root(), &arch).unwrap();
        let bytes = safetensors_io::to_safetensors(&vs).unwrap();
        let meta = metadata(&arch);
        let json = serde_json::to_string(&meta).unwrap();
        let meta2: ModelMetadata = serde_json::from_str(&json).unwrap();
        let a = LoadedModel::from_artifact(&meta, &bytes, Device::Cpu).unwrap();
        let b = LoadedModel::from_artifact(&meta2, &bytes, Device::Cpu).unwrap();
        let x = random_windows(5, 3);
        let fa = a.forecast(&x, 5).unwrap();
        assert_eq!(fa, b.forecast(&x, 5).unwrap());
        assert_eq!(fa.len(), 5);
        assert!(fa.iter().all(|f| (0.0..=1.0).contains(&f.prob_up)));
        // re-serialising the loaded weights gives the same bytes
        assert_eq!(a.to_safetensors().unwrap(), bytes);
        assert_eq!(a.param_bytes(), count(&vs) as usize * 4);
        assert_eq!(meta2.architecture, arch);
    }
    assert_eq!(serde_json::to_string(&ModelKind::LstmDualHeadEnhanced).unwrap(), "\"LSTMDualHeadEnhanced\"");
    assert_eq!(serde_json::to_string(&ModelKind::LstmDualHead).unwrap(), "\"LSTMDualHead\"");
}

#[test]
fn forecast_applies_norm_stats_and_target_scale() {
    let arch = Architecture::base(IN, 8);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), &arch).unwrap();
    let bytes = safetensors_io::to_safetensors(&vs).unwrap();
    let meta = metadata(&arch);
    let model = LoadedModel::from_artifact(&meta, &bytes, Device::Cpu).unwrap();
    let raw = random_windows(2, 5);
    let mut normed = raw.clone();
    meta.norm.apply(&mut normed);
    let xs = Tensor::from_slice(&normed).reshape([2, SEQ_LEN as i64, IN]);
    let (logits, mags) = tch::no_grad(|| net.forward_t(&xs, false));
    let p = Vec::<f32>::try_from(logits.softmax(-1, Kind::Float).select(1, 1)).unwrap();
    let m = Vec::<f32>::try_from(mags.view(-1)).unwrap();
    let fc = model.forecast(&raw, 2).unwrap();
    for i in 0..2 {
        assert!((fc[i].prob_up - f64::from(p[i])).abs() < 1e-6);
        for k in 0..FORECAST_DAYS {
            assert!((fc[i].magnitudes[k] - f64::from(m[i * 5 + k]) / 100.0).abs() < 1e-8);
        }
    }
}

#[test]
fn strict_loading_rejects_missing_unexpected_misshapen_and_garbage_weights() {
    let arch = Architecture::base(IN, 8);
    let meta = metadata(&arch);
    let vs = VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &arch).unwrap();
    let good = safetensors_io::to_safetensors(&vs).unwrap();

    let corrupt = |bytes: &[u8], meta: &ModelMetadata| match LoadedModel::from_artifact(meta, bytes, Device::Cpu) {
        Err(Error::Corrupt(msg)) => msg,
        other => panic!("expected Corrupt, got {other:?}"),
    };
    // a different hidden size → shape mismatch
    let vs16 = VarStore::new(Device::Cpu);
    Network::new(&vs16.root(), &Architecture::base(IN, 16)).unwrap();
    let msg = corrupt(&safetensors_io::to_safetensors(&vs16).unwrap(), &meta);
    assert!(msg.contains("shape"), "{msg}");
    // the other architecture → missing / unexpected names
    let vse = VarStore::new(Device::Cpu);
    Network::new(&vse.root(), &Architecture::enhanced(IN, 8)).unwrap();
    let msg = corrupt(&safetensors_io::to_safetensors(&vse).unwrap(), &meta);
    assert!(msg.contains("missing") && msg.contains("attention.weight"), "{msg}");
    // truncated / garbage bytes
    let msg = corrupt(&good[..good.len() / 2], &meta);
    assert!(msg.contains("safetensors"), "{msg}");
    corrupt(b"not a model", &meta);
    // broken metadata
    let mut bad = meta.clone();
    bad.norm.std.pop();
    corrupt(&good, &bad);
    let mut bad = meta.clone();
    bad.format_version = 99;
    corrupt(&good, &bad);
    // and the good one loads
    LoadedModel::from_artifact(&meta, &good, Device::Cpu).unwrap();
}

#[test]
fn forecast_rejects_wrong_sizes_and_non_finite_input() {
    let arch = Architecture::base(IN, 8);
    let vs = VarStore::new(Device::Cpu);
    Network::new(&vs.root(), &arch).unwrap();
    let m = LoadedModel::from_artifact(&metadata(&arch), &safetensors_io::to_safetensors(&vs).unwrap(), Device::Cpu).unwrap();
    let mut x = random_windows(2, 1);
    assert!(matches!(m.forecast(&x, 3), Err(Error::InvalidArgument(_))));
    assert!(m.forecast(&[], 0).unwrap().is_empty());
    x[100] = f32::NAN;
    let e = m.forecast(&x, 2).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)) && e.to_string().contains("not finite"), "{e}");
}

/// Metadata JSON as stored by versions written before `ModelMetadata` embedded
/// `Architecture`: it still parses, and re-serialises byte for byte (same keys, same order).
#[test]
fn metadata_json_layout_is_unchanged_by_the_flattened_architecture() {
    let stored = r#"{"format_version":1,"kind":"LSTMDualHeadEnhanced","input_size":21,"hidden_size":16,"num_layers":3,"dropout":0.2,"bidirectional":true,"feature_names":["close_norm"],"norm":{"mean":[0.5],"std":[2.0]},"hyperparameters":{"target_scale":100.0},"metrics":{"holdout_mse":0.25},"diagnostics":null,"feature_importance":[],"symbol":"ACME","years":1,"data_start":"2024-01-02","data_end":"2024-12-31","trained_at":"2025-01-02T03:04:05Z"}"#;
    let md: ModelMetadata = serde_json::from_str(stored).unwrap();
    assert_eq!(md.architecture, Architecture::enhanced(IN, 16));
    assert_eq!(md.architecture(), md.architecture);
    assert_eq!(serde_json::to_string(&md).unwrap(), stored);
}
