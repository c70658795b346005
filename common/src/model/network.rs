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
    /// Width of the learned symbol embedding of a pooled network (SPEC §14.3, seed 002): each
    /// member's vector is appended to every time step's features (and to the enhanced skip
    /// input). 0 = none (every single-symbol network, and pooled ones trained without it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub symbol_embedding_dim: i64,
    /// Rows of the symbol embedding (the pool's members, in their stored order); 0 without one.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_symbols: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Largest symbol embedding a pooled network may have.
pub const MAX_SYMBOL_EMBEDDING_DIM: i64 = 64;

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
            symbol_embedding_dim: 0,
            n_symbols: 0,
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
            symbol_embedding_dim: 0,
            n_symbols: 0,
        }
    }

    /// Rejects shapes the networks cannot be built with.
    pub fn validate(&self) -> Result<()> {
        let ok_common = self.input_size > 0
            && self.hidden_size > 0
            && self.num_layers > 0
            && (0.0..1.0).contains(&self.dropout);
        let ok_embedding = (self.symbol_embedding_dim == 0 && self.n_symbols == 0)
            || ((1..=MAX_SYMBOL_EMBEDDING_DIM).contains(&self.symbol_embedding_dim) && self.n_symbols >= 1);
        let ok_kind = match self.kind {
            ModelKind::LstmDualHead => self.num_layers == 1 && !self.bidirectional,
            ModelKind::LstmDualHeadEnhanced => self.bidirectional && self.hidden_size >= 2,
        };
        if ok_common && ok_kind && ok_embedding {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "invalid architecture for {}: {self:?} (base needs 1 unidirectional layer, enhanced \
                 a bidirectional LSTM with hidden_size >= 2; dropout in [0, 1); a symbol embedding of \
                 1..={MAX_SYMBOL_EMBEDDING_DIM} columns with at least one symbol, or none)",
                self.kind
            )))
        }
    }
}

/// A built network of either kind, with the symbol embedding of a pooled network.
#[derive(Debug)]
pub struct Network {
    body: Body,
    /// `symbol_embedding.weight` `[n_symbols, dim]`, when the architecture has one.
    embedding: Option<Tensor>,
    input_size: i64,
}

/// The two architectures.
#[derive(Debug)]
enum Body {
    Base(LstmDualHead),
    Enhanced(LstmDualHeadEnhanced),
}

impl Network {
    /// Creates the variables of `arch` under `p` (pass the var store's root for PyTorch names).
    /// With a symbol embedding the body reads `input_size + symbol_embedding_dim` columns, and
    /// the embedding is `symbol_embedding.weight` (`nn.Embedding`, initialised N(0, 1)).
    pub fn new(p: &nn::Path, arch: &Architecture) -> Result<Network> {
        arch.validate()?;
        let width = arch.input_size + arch.symbol_embedding_dim;
        let body = match arch.kind {
            ModelKind::LstmDualHead => Body::Base(LstmDualHead::new(p, width, arch.hidden_size, arch.dropout)),
            ModelKind::LstmDualHeadEnhanced => {
                Body::Enhanced(LstmDualHeadEnhanced::new(p, width, arch.hidden_size, arch.num_layers, arch.dropout))
            }
        };
        let embedding = (arch.symbol_embedding_dim > 0).then(|| {
            p.sub("symbol_embedding").var(
                "weight",
                &[arch.n_symbols, arch.symbol_embedding_dim],
                nn::Init::Randn { mean: 0.0, stdev: 1.0 },
            )
        });
        Ok(Network { body, embedding, input_size: arch.input_size })
    }

    /// Forward pass on `xs` `[batch, time, features]`: `(direction logits [B, 2],
    /// magnitudes [B, 5])`. `train` enables dropout. A network with a symbol embedding reads one
    /// more column, the member index of each window (constant over time; [`with_symbol`]).
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> (Tensor, Tensor) {
        let embedded;
        let xs = match &self.embedding {
            None => xs,
            Some(w) => {
                let size = xs.size();
                let ids = xs.select(2, self.input_size).select(1, 0).to_kind(tch::Kind::Int64);
                let e = w.index_select(0, &ids).unsqueeze(1).expand([size[0], size[1], w.size()[1]], false);
                embedded = Tensor::cat(&[xs.narrow(2, 0, self.input_size), e], 2);
                &embedded
            }
        };
        match &self.body {
            Body::Base(n) => n.forward_t(xs, train),
            Body::Enhanced(n) => n.forward_t(xs, train),
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

/// `xs` `[n, time, features]` with one more column holding `member` (the index of a pooled
/// network's symbol embedding row) on every step: the input of a network with an embedding.
pub fn with_symbol(xs: &Tensor, member: usize) -> Tensor {
    let size = xs.size();
    let ids = Tensor::full([size[0], size[1], 1], member as f64, (xs.kind(), xs.device()));
    Tensor::cat(&[xs, &ids], 2)
}

/// `P(up)` per window from direction logits `[n, 2]`: the softmax of the `up` class, `[n]`.
pub fn prob_up(logits: &Tensor) -> Tensor {
    logits.softmax(-1, tch::Kind::Float).select(1, 1)
}
