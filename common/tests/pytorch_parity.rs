//! PyTorch parity: the Rust networks' safetensors load into an independently written PyTorch
//! module (`tests/py/parity.py`, strict=True) and give the same outputs to 1e-5.
//! Skipped with a NOTICE when the project venv (`../.venv`) is missing.
use common::features::{N_FEATURES, SEQ_LEN};
use common::model::{safetensors_io, Architecture, Network};
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
