//! The importance stage: per-feature permutation importance and integrated gradients of the
//! candidate, on the holdout (or the last training samples without one), stored with the
//! version.
use super::split::Split;
use super::{check_cancel, PipelineRun, IG_STEPS, PERMUTATION_REPEATS};
use crate::evaluation::{importance_table, integrated_gradients, permutation_importance, FeatureImportance};
use crate::features::{Samples, FORECAST_DAYS, N_FEATURES, SEQ_LEN};
use crate::model::LoadedModel;
use crate::training::config::PipelineConfig;
use crate::training::events::stage;
use crate::training::losses;
use crate::Result;
use tch::{Device, Kind, Tensor};

impl PipelineRun<'_> {
    /// With `do_shap`, the candidate's feature importance (also stored in its metadata); empty
    /// otherwise.
    pub(super) fn importance(&mut self, split: &Split, model: &mut LoadedModel) -> Result<Vec<FeatureImportance>> {
        if !self.cfg.do_shap {
            return Ok(Vec::new());
        }
        check_cancel(self.cancel)?;
        let train = &split.train;
        let data = split.holdout.clone().unwrap_or_else(|| {
            let k = 66.min(train.len());
            train.subset(train.len() - k..train.len())
        });
        self.stage(
            stage::IMPORTANCE,
            format!("permutation importance ({PERMUTATION_REPEATS} rounds) and integrated gradients ({IG_STEPS} steps) on {} samples", data.len()),
        );
        let importance = feature_importance(model, &data, self.cfg, self.session.seed)?;
        model.metadata_mut().feature_importance = importance.clone();
        Ok(importance)
    }
}

/// Permutation importance (loss = CE + regression loss of the run, on standardised inputs) and
/// integrated gradients of the direction logit margin `logit_up − logit_down` against the
/// all-zero (= training mean) baseline. Runs on the model's device; integrated gradients on a
/// CPU copy when the model is on CUDA (cuDNN RNN backward needs training mode).
fn feature_importance(model: &LoadedModel, data: &Samples, cfg: &PipelineConfig, seed: u64) -> Result<Vec<FeatureImportance>> {
    let n = data.len();
    let mut x = data.x.clone();
    model.metadata().norm.apply(&mut x);
    let scale = model.metadata().target_scale();
    let device = model.device();
    let net = model.network();
    let y_dir = Tensor::from_slice(&data.y_dir).to_device(device);
    let y_mag: Vec<f32> = data.y_mag.iter().flatten().map(|v| (f64::from(*v) * scale) as f32).collect();
    let y_mag = Tensor::from_slice(&y_mag).reshape([n as i64, FORECAST_DAYS as i64]).to_device(device);
    let shape = [n as i64, SEQ_LEN as i64, N_FEATURES as i64];
    let reg = cfg.reg_loss_type;
    let mut loss_of = |xs: &[f32]| -> Result<f64> {
        tch::no_grad(|| {
            let t = Tensor::from_slice(xs).reshape(shape).to_device(device);
            let (logits, mags) = net.forward_t(&t, false);
            let l = losses::classification(&logits, &y_dir) + losses::regression(reg, &mags, &y_mag);
            Ok(l.double_value(&[]))
        })
    };
    let perm = permutation_importance(&x, n, seed, PERMUTATION_REPEATS, &mut loss_of)?;

    let cpu_copy;
    let ig_model = if device.is_cuda() {
        cpu_copy = LoadedModel::from_artifact(model.metadata(), &model.to_safetensors()?, Device::Cpu)?;
        &cpu_copy
    } else {
        model
    };
    let ig_net = ig_model.network();
    let mut grad_of = |xs: &[f32], k: usize| -> Result<Vec<f32>> {
        let t = Tensor::from_slice(xs)
            .reshape([k as i64, SEQ_LEN as i64, N_FEATURES as i64])
            .set_requires_grad(true);
        let (logits, _) = ig_net.forward_t(&t, false);
        let margin = (logits.select(1, 1) - logits.select(1, 0)).sum(Kind::Float);
        let g = Tensor::run_backward(&[margin], &[&t], false, false);
        Ok(Vec::<f32>::try_from(g[0].contiguous().view(-1))?)
    };
    let ig = integrated_gradients(&x, n, IG_STEPS, &mut grad_of)?;
    Ok(importance_table(&perm, &ig))
}
