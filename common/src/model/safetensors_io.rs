//! In-memory safetensors encoding of a [`VarStore`], and strict loading into one.
use crate::{Error, Result};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// One f32 tensor, already laid out as little-endian bytes.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn tensor_to_view(t: &Tensor) -> Result<F32View> {
    let flat = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view(-1);
    let values = Vec::<f32>::try_from(&flat)?;
    let shape = t.size().iter().map(|&d| d as usize).collect();
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok(F32View { shape, bytes })
}

/// Encodes every variable of `vs` (by its `state_dict` name) as safetensors bytes (f32,
/// names sorted, so equal weights give equal bytes).
pub fn to_safetensors(vs: &VarStore) -> Result<Vec<u8>> {
    let vars: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut views = Vec::with_capacity(vars.len());
    for (name, t) in &vars {
        views.push((name.clone(), tensor_to_view(t)?));
    }
    safetensors::tensor::serialize(views, &None)
        .map_err(|e| Error::internal(format!("encoding safetensors: {e}")))
}

/// Decodes safetensors bytes into named CPU tensors.
pub fn read_safetensors(bytes: &[u8]) -> Result<HashMap<String, Tensor>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::Corrupt(format!("weights are not valid safetensors: {e}")))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(Error::Corrupt(format!(
                "weights: tensor {name} has dtype {:?}, expected F32",
                view.dtype()
            )));
        }
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        out.insert(name, Tensor::from_slice(&data).reshape(&shape));
    }
    Ok(out)
}

/// Copies the tensors in `bytes` into the variables of `vs`, strictly like PyTorch's
/// `load_state_dict(strict=True)`: every variable must be present with the same shape and no
/// unknown tensor may be present; otherwise [`Error::Corrupt`] names the offenders.
pub fn load_safetensors_into(vs: &VarStore, bytes: &[u8]) -> Result<()> {
    let mut loaded = read_safetensors(bytes)?;
    let vars = vs.variables();
    let mut missing: Vec<&str> = vars.keys().filter(|k| !loaded.contains_key(*k)).map(|k| k.as_str()).collect();
    let mut unexpected: Vec<&str> = loaded.keys().filter(|k| !vars.contains_key(*k)).map(|k| k.as_str()).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        missing.sort_unstable();
        unexpected.sort_unstable();
        return Err(Error::Corrupt(format!(
            "weights do not match the architecture: missing {missing:?}, unexpected {unexpected:?}"
        )));
    }
    for (name, var) in &vars {
        let src = loaded.remove(name).expect("presence checked above");
        if src.size() != var.size() {
            return Err(Error::Corrupt(format!(
                "weights: tensor {name} has shape {:?}, the architecture needs {:?}",
                src.size(),
                var.size()
            )));
        }
        tch::no_grad(|| {
            let mut var = var.shallow_clone();
            var.copy_(&src.to_device(var.device()));
        });
    }
    Ok(())
}

/// Copies the current values of all variables (for restoring the best epoch later).
pub fn snapshot(vs: &VarStore) -> HashMap<String, Tensor> {
    tch::no_grad(|| vs.variables().into_iter().map(|(k, v)| (k, v.detach().copy())).collect())
}

/// Writes a [`snapshot`] back into `vs`.
pub fn restore(vs: &VarStore, snap: &HashMap<String, Tensor>) {
    tch::no_grad(|| {
        for (name, var) in vs.variables() {
            if let Some(src) = snap.get(&name) {
                let mut var = var;
                var.copy_(src);
            }
        }
    });
}
