//! PyTorch parity: the Rust networks' safetensors load into an independently written PyTorch
//! module (`tests/py/parity.py`, strict=True) and give the same outputs to 1e-5; a pooled
//! version's stored form (`tests/py/pooled_forecast.py`) reproduces each member's forecast.
//! Skipped with a NOTICE when the project venv (`../.venv`) is missing.
use common::data::synthetic::{generate, SyntheticConfig};
use common::features::{build_samples, FeatureConfig, N_FEATURES, SEQ_LEN};
use common::model::{safetensors_io, Architecture, LoadedModel, Network};
use common::training::pipeline::{run_pooled, PoolInput};
use common::training::{DeviceChoice, PipelineConfig};
use std::path::PathBuf;
use std::process::Command;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

fn python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

#[test]
fn rust_and_pytorch_networks_agree_for_both_kinds() {
    let Some(py) = python() else {
        common::test_skip::notice("../.venv/bin/python not found; PyTorch parity needs it (run scripts/setup.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(11);
    let x = Tensor::randn([4, SEQ_LEN as i64, N_FEATURES as i64], (Kind::Float, Device::Cpu));
    Tensor::write_safetensors(&[("x", &x)], dir.path().join("input.safetensors")).unwrap();
    let mut nets = Vec::new();
    for (name, arch) in [
        ("base", Architecture::base(N_FEATURES as i64, 64)),
        ("enhanced", Architecture::enhanced(N_FEATURES as i64, 128)),
    ] {
        let vs = VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), &arch).unwrap();
        // Perturb every parameter (incl. zero biases and LayerNorm) so parity covers all of them.
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                let noise = Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.05;
                let _ = v.g_add_(&noise);
            }
        });
        std::fs::write(dir.path().join(format!("{name}.safetensors")), safetensors_io::to_safetensors(&vs).unwrap())
            .unwrap();
        std::fs::write(dir.path().join(format!("{name}.json")), serde_json::to_vec(&arch).unwrap()).unwrap();
        nets.push((name, vs, net));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/parity.py");
    let out = Command::new(&py).arg(&script).arg(dir.path()).output().unwrap();
    assert!(
        out.status.success(),
        "parity.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, _vs, net) in &nets {
        let (logits, mags) = tch::no_grad(|| net.forward_t(&x, false));
        let theirs: std::collections::HashMap<String, Tensor> =
            Tensor::read_safetensors(dir.path().join(format!("{name}_out.safetensors"))).unwrap().into_iter().collect();
        for (what, ours) in [("logits", &logits), ("magnitudes", &mags)] {
            let t = &theirs[what];
            assert_eq!(t.size(), ours.size(), "{name} {what}");
            let diff = (t - ours).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{name} {what}: max abs diff {diff}");
            assert!(ours.abs().max().double_value(&[]) > 1e-3, "{name} {what}: outputs are trivially small");
        }
    }
}

/// A pooled version trained here (enhanced network, two members at price scales 100× apart;
/// without and with a symbol embedding) loads strictly into the PyTorch module from its stored
/// metadata and weights alone, and each member's forecast — its windows standardised with its
/// own statistics, its embedding row appended — matches the Rust model's to 1e-5.
#[test]
fn pytorch_reproduces_each_member_of_a_pooled_version() {
    pooled_parity(0);
    pooled_parity(4);
}

fn pooled_parity(symbol_embedding_dim: u32) {
    let Some(py) = python() else {
        common::test_skip::notice("../.venv/bin/python not found; PyTorch parity needs it (run scripts/setup.sh)");
        return;
    };
    let members = ["PYA", "PYB"];
    let samples: Vec<_> = [(61u64, 20.0), (62, 2000.0)]
        .iter()
        .map(|&(seed, price)| {
            let bars = generate(&SyntheticConfig { seed, days: 330, start_price: price, ..SyntheticConfig::default() });
            build_samples(&bars, &FeatureConfig::default()).unwrap()
        })
        .collect();
    let inputs: Vec<PoolInput<'_>> =
        members.iter().zip(&samples).map(|(m, s)| PoolInput { symbol: m, samples: s, current: None }).collect();
    let cfg = PipelineConfig {
        symbol: "PYA".into(),
        do_cv_tune: false,
        do_shap: false,
        do_plot: false,
        seed: Some(4),
        device: DeviceChoice::Cpu,
        max_epochs: Some(1),
        symbol_embedding_dim,
        ..PipelineConfig::default()
    };
    let out = run_pooled(&inputs, &cfg, &mut |_| {}, &tokio_util::sync::CancellationToken::new()).unwrap().outcome;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metadata.json"), serde_json::to_vec(&out.metadata).unwrap()).unwrap();
    std::fs::write(dir.path().join("weights.safetensors"), &out.weights).unwrap();
    let n = 8usize;
    let windows: Vec<(String, Tensor)> = members
        .iter()
        .zip(&samples)
        .map(|(m, s)| {
            let x = &s.x[(s.len() - n) * SEQ_LEN * N_FEATURES..];
            (m.to_string(), Tensor::from_slice(x).reshape([n as i64, SEQ_LEN as i64, N_FEATURES as i64]))
        })
        .collect();
    let named: Vec<(&str, &Tensor)> = windows.iter().map(|(m, t)| (m.as_str(), t)).collect();
    Tensor::write_safetensors(&named, dir.path().join("windows.safetensors")).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/pooled_forecast.py");
    let run = Command::new(&py).arg(&script).arg(dir.path()).output().unwrap();
    assert!(run.status.success(), "pooled_forecast.py failed:\n{}", String::from_utf8_lossy(&run.stderr));
    let theirs: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("out.safetensors")).unwrap().into_iter().collect();
    let mut probs = Vec::new();
    for (m, s) in members.iter().zip(&samples) {
        let model = LoadedModel::from_artifact(&out.metadata.for_member(m).unwrap(), &out.weights, Device::Cpu).unwrap();
        let ours = model.forecast(&s.x[(s.len() - n) * SEQ_LEN * N_FEATURES..], n).unwrap();
        let p: Vec<f32> = Vec::try_from(&theirs[&format!("{m}.prob_up")]).unwrap();
        let mags: Vec<f32> = Vec::try_from(theirs[&format!("{m}.magnitudes")].view(-1)).unwrap();
        for (i, f) in ours.iter().enumerate() {
            assert!((f.prob_up - f64::from(p[i])).abs() < 1e-5, "{m} window {i}: {} vs {}", f.prob_up, p[i]);
            for k in 0..5 {
                let d = (f.magnitudes[k] - f64::from(mags[i * 5 + k])).abs();
                assert!(d < 1e-5, "{m} window {i} day {k}: diff {d}");
            }
        }
        probs.push(ours[0].prob_up);
    }
    assert_ne!(probs[0], probs[1], "each member is standardised with its own statistics");
    assert_eq!(out.metadata.architecture.symbol_embedding_dim, i64::from(symbol_embedding_dim));
}
