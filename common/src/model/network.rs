//! The two architectures behind one type, and the hyper-parameters that shape them.
use super::base::LstmDualHead;
use super::enhanced::LstmDualHeadEnhanced;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Tensor};

/// Which network a model version uses (serialised with the PyTorch class names).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Single-layer LSTM + MLP + two heads.
    #[serde(rename = "LSTMDualHead")]
    LstmDualHead,
    /// Bidirectional 3-layer LSTM + attention + skip connection + deeper MLP (default).
    #[serde(rename = "LSTMDualHeadEnhanced")]
    LstmDualHeadEnhanced,
}

impl ModelKind {
    /// The PyTorch class name (`LSTMDualHead` | `LSTMDualHeadEnhanced`).
    pub fn as_str(&self) -> &'static str {
        match self {
            ModelKind::LstmDualHead => "LSTMDualHead",
            ModelKind::LstmDualHeadEnhanced => "LSTMDualHeadEnhanced",
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shape of a network: everything needed to rebuild its variables.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Architecture {
    /// Which network.
    pub kind: ModelKind,
    /// Features per time step (21).
    pub input_size: i64,
    /// LSTM hidden units per direction.
    pub hidden_size: i64,
    /// Stacked LSTM layers.
    pub num_layers: i64,
    /// Dropout probability (fc dropout, and inter-layer LSTM dropout when `num_layers > 1`).
    pub dropout: f64,
    /// Bidirectional LSTM.
    pub bidirectional: bool,
}

impl Architecture {
    /// SPEC §4 base network: 1 layer, dropout 0.3, unidirectional.
    pub fn base(input_size: i64, hidden_size: i64) -> Architecture {
        Architecture {
            kind: ModelKind::LstmDualHead,
            input_size,
            hidden_size,
            num_layers: 1,
            dropout: 0.3,
            bidirectional: false,
        }
    }

    /// SPEC §4 enhanced network: 3 bidirectional layers, dropout 0.2 (hidden 128 by default).
    pub fn enhanced(input_size: i64, hidden_size: i64) -> Architecture {
        Architecture {
            kind: ModelKind::LstmDualHeadEnhanced,
            input_size,
            hidden_size,
            num_layers: 3,
            dropout: 0.2,
            bidirectional: true,
        }
    }

    /// Rejects shapes the networks cannot be built with.
    pub fn validate(&self) -> Result<()> {
        let ok_common = self.input_size > 0
            && self.hidden_size > 0
            && self.num_layers > 0
            && (0.0..1.0).contains(&self.dropout);
        let ok_kind = match self.kind {
            ModelKind::LstmDualHead => self.num_layers == 1 && !self.bidirectional,
            ModelKind::LstmDualHeadEnhanced => self.bidirectional && self.hidden_size >= 2,
        };
        if ok_common && ok_kind {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "invalid architecture for {}: {self:?} (base needs 1 unidirectional layer, enhanced \
                 a bidirectional LSTM with hidden_size >= 2; dropout in [0, 1))",
                self.kind
            )))
        }
    }
}

/// A built network of either kind.
#[derive(Debug)]
pub enum Network {
    /// [`LstmDualHead`].
    Base(LstmDualHead),
    /// [`LstmDualHeadEnhanced`].
    Enhanced(LstmDualHeadEnhanced),
}

impl Network {
    /// Creates the variables of `arch` under `p` (pass the var store's root for PyTorch names).
    pub fn new(p: &nn::Path, arch: &Architecture) -> Result<Network> {
        arch.validate()?;
        Ok(match arch.kind {
            ModelKind::LstmDualHead => Network::Base(LstmDualHead::new(
                p,
                arch.input_size,
                arch.hidden_size,
                arch.dropout,
            )),
            ModelKind::LstmDualHeadEnhanced => Network::Enhanced(LstmDualHeadEnhanced::new(
                p,
                arch.input_size,
                arch.hidden_size,
                arch.num_layers,
                arch.dropout,
            )),
        })
    }

    /// Forward pass on `xs` `[batch, time, features]`: `(direction logits [B, 2],
    /// magnitudes [B, 5])`. `train` enables dropout.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> (Tensor, Tensor) {
        match self {
            Network::Base(n) => n.forward_t(xs, train),
            Network::Enhanced(n) => n.forward_t(xs, train),
        }
    }

    /// The one inference forward, shared by CV / holdout evaluation (`training::fit::evaluate`)
    /// and [`super::LoadedModel::forecast`] (holdout, backtest, predictor): eval mode, no
    /// gradients, [`PREDICT_CHUNK`] windows at a time. `xs` are standardised windows
    /// `[n, time, features]`; returns `(direction logits [n, 2], magnitudes [n, 5])`, the
    /// magnitudes in the training target scale (divide by the target scale for returns).
    pub fn predict(&self, xs: &Tensor) -> (Tensor, Tensor) {
        tch::no_grad(|| {
            let n = xs.size()[0];
            let (mut logits, mut mags) = (Vec::new(), Vec::new());
            let mut start = 0i64;
            while start < n {
                let len = PREDICT_CHUNK.min(n - start);
                let (l, m) = self.forward_t(&xs.narrow(0, start, len), false);
                logits.push(l);
                mags.push(m);
                start += len;
            }
            (Tensor::cat(&logits, 0), Tensor::cat(&mags, 0))
        })
    }
}

/// Windows per forward pass of [`Network::predict`] (bounds activation memory on long sets).
pub const PREDICT_CHUNK: i64 = 512;

/// `P(up)` per window from direction logits `[n, 2]`: the softmax of the `up` class, `[n]`.
pub fn prob_up(logits: &Tensor) -> Tensor {
    logits.softmax(-1, tch::Kind::Float).select(1, 1)
}
