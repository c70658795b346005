//! Building blocks shared by both networks: a PyTorch-named LSTM whose dropout follows the
//! per-call `train` flag, Xavier/normal-initialised linear layers.
use tch::nn::{self, Init};
use tch::Tensor;

/// Xavier (Glorot) uniform bound for a `[fan_out, fan_in]` weight, gain 1:
/// `a = sqrt(6 / (fan_in + fan_out))`, weights drawn from `U(-a, a)` like
/// `torch.nn.init.xavier_uniform_`.
pub(crate) fn xavier_uniform(fan_in: i64, fan_out: i64) -> Init {
    let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform { lo: -a, up: a }
}

/// A linear layer `y = x Wᵀ + b` with PyTorch names `weight` `[out, in]` and `bias` `[out]`.
#[derive(Debug)]
pub(crate) struct Linear {
    ws: Tensor,
    bs: Tensor,
}

impl Linear {
    /// Xavier-uniform weights, zero bias (the `fc` initialisation of SPEC §4).
    pub(crate) fn xavier(p: nn::Path, inp: i64, out: i64) -> Linear {
        Linear {
            ws: p.var("weight", &[out, inp], xavier_uniform(inp, out)),
            bs: p.var("bias", &[out], Init::Const(0.0)),
        }
    }

    /// `N(0, std)` weights, zero bias (the output heads of SPEC §4).
    pub(crate) fn normal(p: nn::Path, inp: i64, out: i64, std: f64) -> Linear {
        Linear {
            ws: p.var("weight", &[out, inp], Init::Randn { mean: 0.0, stdev: std }),
            bs: p.var("bias", &[out], Init::Const(0.0)),
        }
    }

    /// Applies the layer to the last dimension of `xs`.
    pub(crate) fn forward(&self, xs: &Tensor) -> Tensor {
        xs.linear(&self.ws, Some(&self.bs))
    }
}

/// A batch-first LSTM whose variables are named exactly like `torch.nn.LSTM`'s `state_dict`
/// (`weight_ih_l{k}[_reverse]`, `weight_hh_l{k}[_reverse]`, `bias_ih_l{k}[_reverse]`,
/// `bias_hh_l{k}[_reverse]`). Unlike `tch::nn::lstm`, inter-layer dropout follows the `train`
/// flag of each call, so evaluation is deterministic.
///
/// Initialisation: `weight_ih` Xavier uniform, `weight_hh` orthogonal, biases zero.
#[derive(Debug)]
pub(crate) struct Lstm {
    flat_weights: Vec<Tensor>,
    hidden: i64,
    num_layers: i64,
    dropout: f64,
    bidirectional: bool,
}

impl Lstm {
    /// Creates the layer's variables under `p`.
    pub(crate) fn new(
        p: nn::Path,
        input: i64,
        hidden: i64,
        num_layers: i64,
        dropout: f64,
        bidirectional: bool,
    ) -> Lstm {
        let dirs = if bidirectional { 2 } else { 1 };
        let gates = 4 * hidden;
        let mut flat_weights = Vec::new();
        for layer in 0..num_layers {
            let inp = if layer == 0 { input } else { hidden * dirs };
            for dir in 0..dirs {
                let sfx = if dir == 1 { "_reverse" } else { "" };
                // Registration order = PyTorch's `_flat_weights` order (w_ih, w_hh, b_ih, b_hh).
                flat_weights.push(p.var(
                    &format!("weight_ih_l{layer}{sfx}"),
                    &[gates, inp],
                    xavier_uniform(inp, gates),
                ));
                flat_weights.push(p.var(
                    &format!("weight_hh_l{layer}{sfx}"),
                    &[gates, hidden],
                    Init::Orthogonal { gain: 1.0 },
                ));
                flat_weights.push(p.var(&format!("bias_ih_l{layer}{sfx}"), &[gates], Init::Const(0.0)));
                flat_weights.push(p.var(&format!("bias_hh_l{layer}{sfx}"), &[gates], Init::Const(0.0)));
            }
        }
        Lstm {
            flat_weights,
            hidden,
            num_layers,
            // PyTorch ignores (and warns about) dropout on a single-layer LSTM.
            dropout: if num_layers > 1 { dropout } else { 0.0 },
            bidirectional,
        }
    }

    /// Runs the whole sequence `xs` `[batch, time, input]` from a zero state and returns the
    /// outputs `[batch, time, hidden * directions]`.
    pub(crate) fn seq(&self, xs: &Tensor, train: bool) -> Tensor {
        let dirs = if self.bidirectional { 2 } else { 1 };
        let batch = xs.size()[0];
        let zeros =
            Tensor::zeros([self.num_layers * dirs, batch, self.hidden], (xs.kind(), xs.device()));
        let weights: Vec<&Tensor> = self.flat_weights.iter().collect();
        let (out, _h, _c) = xs.lstm(
            &[&zeros, &zeros],
            &weights,
            true,
            self.num_layers,
            self.dropout,
            train,
            self.bidirectional,
            true,
        );
        out
    }
}
