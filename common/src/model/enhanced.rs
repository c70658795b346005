//! `LSTMDualHeadEnhanced`, the default network of SPEC §4.
//!
//! ```text
//! x [B, T, 21] → lstm: bidirectional LSTM(21 → h, 3 layers, inter-layer dropout p) → out [B, T, 2h]
//! attention: w = softmax_T(Linear(2h, 1)(out)) ; ctx = Σ_T w·out            [B, 2h]
//! skip:      s = ReLU(Linear(21, 2h)(x[:, -1, :]))                          [B, 2h]
//! fc_shared: concat(ctx, s) [B, 4h] → Linear(4h, 2h) → LayerNorm(2h) → ReLU → Dropout(p)
//!            → Linear(2h, h) → ReLU → Dropout(p) → Linear(h, h/2) → ReLU       [B, h/2]
//! heads:     fc_direction = Linear(h/2, 2), fc_magnitude = Linear(h/2, 5)
//! ```
//! With the default h = 128 this is exactly SPEC §4 (512 → 256 → 128 → 64). Parameter names
//! follow a PyTorch module with `self.lstm`, `self.attention = nn.Linear(2h, 1)`,
//! `self.skip = nn.Sequential(nn.Linear(21, 2h), nn.ReLU())` (→ `skip.0.*`) and
//! `self.fc_shared = nn.Sequential(Linear, LayerNorm, ReLU, Dropout, Linear, ReLU, Dropout,
//! Linear, ReLU)` (→ `fc_shared.0.*`, `fc_shared.1.*` (LayerNorm), `fc_shared.4.*`,
//! `fc_shared.7.*`).
use super::layers::{Linear, Lstm};
use tch::{nn, Tensor};

/// The enhanced dual-head network: bi-LSTM + attention + skip connection + deeper MLP.
#[derive(Debug)]
pub struct LstmDualHeadEnhanced {
    lstm: Lstm,
    attention: Linear,
    skip: Linear,
    fc0: Linear,
    norm: nn::LayerNorm,
    fc4: Linear,
    fc7: Linear,
    direction: Linear,
    magnitude: Linear,
    dropout: f64,
}

impl LstmDualHeadEnhanced {
    /// Creates the network's variables under `p` (normally the var store's root).
    pub fn new(
        p: &nn::Path,
        input_size: i64,
        hidden: i64,
        num_layers: i64,
        dropout: f64,
    ) -> LstmDualHeadEnhanced {
        let h2 = 2 * hidden;
        let fc = p / "fc_shared";
        LstmDualHeadEnhanced {
            lstm: Lstm::new(p / "lstm", input_size, hidden, num_layers, dropout, true),
            attention: Linear::xavier(p / "attention", h2, 1),
            skip: Linear::xavier(p / "skip" / "0", input_size, h2),
            fc0: Linear::xavier(&fc / "0", 2 * h2, h2),
            norm: nn::layer_norm(&fc / "1", vec![h2], Default::default()),
            fc4: Linear::xavier(&fc / "4", h2, hidden),
            fc7: Linear::xavier(&fc / "7", hidden, hidden / 2),
            direction: Linear::normal(p / "fc_direction", hidden / 2, 2, 0.01),
            magnitude: Linear::normal(p / "fc_magnitude", hidden / 2, 5, 0.01),
            dropout,
        }
    }

    /// Forward pass: `(direction logits [B, 2], magnitudes [B, 5])`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> (Tensor, Tensor) {
        use tch::nn::Module;
        let out = self.lstm.seq(xs, train); // [B, T, 2h]
        let weights = self.attention.forward(&out).softmax(1, out.kind()); // [B, T, 1]
        let context = (&out * &weights).sum_dim_intlist(1, false, out.kind()); // [B, 2h]
        let skip = self.skip.forward(&xs.select(1, -1)).relu();
        let h = Tensor::cat(&[context, skip], 1);
        let h = self.norm.forward(&self.fc0.forward(&h)).relu().dropout(self.dropout, train);
        let h = self.fc4.forward(&h).relu().dropout(self.dropout, train);
        let h = self.fc7.forward(&h).relu();
        (self.direction.forward(&h), self.magnitude.forward(&h))
    }
}
