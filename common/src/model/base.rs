//! `LSTMDualHead`, the base network of SPEC §4.
//!
//! ```text
//! x [B, 60, 21] → lstm (1 layer, hidden h) → last step [B, h] → Dropout(p)
//!   → fc_shared.0 = Linear(h, h) → ReLU → Dropout(p)
//!   → fc_direction = Linear(h, 2)   (logits: down, up)
//!   → fc_magnitude = Linear(h, 5)   (scaled daily returns)
//! ```
//! PyTorch equivalent: `self.lstm = nn.LSTM(21, h, 1, batch_first=True)`,
//! `self.dropout = nn.Dropout(p)`, `self.fc_shared = nn.Sequential(nn.Linear(h, h), nn.ReLU(),
//! nn.Dropout(p))`, `self.fc_direction`, `self.fc_magnitude`.
use super::layers::{Linear, Lstm};
use tch::{nn, Tensor};

/// The base dual-head LSTM.
#[derive(Debug)]
pub struct LstmDualHead {
    lstm: Lstm,
    fc: Linear,
    direction: Linear,
    magnitude: Linear,
    dropout: f64,
}

impl LstmDualHead {
    /// Creates the network's variables under `p` (use the var store's root so the names are
    /// `lstm.weight_ih_l0`, `fc_shared.0.weight`, `fc_direction.weight`, ...).
    pub fn new(p: &nn::Path, input_size: i64, hidden: i64, dropout: f64) -> LstmDualHead {
        LstmDualHead {
            lstm: Lstm::new(p / "lstm", input_size, hidden, 1, 0.0, false),
            fc: Linear::xavier(p / "fc_shared" / "0", hidden, hidden),
            direction: Linear::normal(p / "fc_direction", hidden, 2, 0.01),
            magnitude: Linear::normal(p / "fc_magnitude", hidden, 5, 0.01),
            dropout,
        }
    }

    /// Forward pass: `(direction logits [B, 2], magnitudes [B, 5])`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> (Tensor, Tensor) {
        let out = self.lstm.seq(xs, train);
        let last = out.select(1, -1);
        let h = last.dropout(self.dropout, train);
        let h = self.fc.forward(&h).relu().dropout(self.dropout, train);
        (self.direction.forward(&h), self.magnitude.forward(&h))
    }
}
