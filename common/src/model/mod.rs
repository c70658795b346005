//! The two tch networks of SPEC §4 and their stored form.
//!
//! - [`LstmDualHead`] (base) and [`LstmDualHeadEnhanced`] (default), behind [`Network`];
//!   parameter names follow PyTorch's `state_dict` of the equivalent `nn.Module`
//!   (`common/tests/py/parity.py` loads them with `strict=True`);
//! - [`ModelMetadata`] (JSON) + safetensors weights = one model version;
//! - [`LoadedModel`] rebuilds a version on a device and forecasts;
//! - [`Pool`]: the members of a pooled version and what each is served with.
mod artifact;
mod base;
mod enhanced;
mod layers;
mod network;
mod pool;
pub mod safetensors_io;

pub use artifact::{
    standardised_windows, Forecast, LoadedModel, ModelMetadata, FORMAT_VERSION, TARGET_SCALE_KEY,
};
pub use base::LstmDualHead;
pub use enhanced::LstmDualHeadEnhanced;
pub use network::{prob_up, with_symbol, Architecture, ModelKind, Network, MAX_SYMBOL_EMBEDDING_DIM, PREDICT_CHUNK};
pub use pool::{Pool, PoolMember};
