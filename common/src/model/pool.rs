//! The members of a pooled version (SPEC §14.3, seed 002): one network trained on the windows of
//! several symbols, each member's features standardised on its own training span. What a member
//! needs to be served — its normalisation statistics, its calibration, its data range and holdout
//! metrics — is stored per member in [`Pool`]; [`ModelMetadata::for_member`] is the one place
//! that turns a pooled version into the metadata one member is served with.
//!
//! Layout in the version's metadata JSON (`pool`, absent for a single-symbol version):
//! `{"members": [{"symbol", "norm": {"mean", "std"}, "calibration", "data_start", "data_end",
//! "metrics"}, ...]}`, the version's own symbol first. The weights are the ordinary
//! safetensors of the network (no per-member tensor), so PyTorch loads them as it loads any
//! version; a PyTorch user standardises a member's windows with that member's `norm`.
use super::artifact::ModelMetadata;
use crate::calibration::Calibration;
use crate::features::NormStats;
use crate::{Error, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The members of a pooled version, the version's own symbol first.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Pool {
    /// One entry per member symbol (same `years` for all).
    pub members: Vec<PoolMember>,
}

/// What serving one member of a pooled version needs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PoolMember {
    /// The member's ticker.
    pub symbol: String,
    /// Standardisation statistics fitted on this member's training samples.
    pub norm: NormStats,
    /// This member's calibration, fitted on its own calibration samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// First training sample end date of this member.
    pub data_start: Option<NaiveDate>,
    /// Last training sample end date of this member.
    pub data_end: Option<NaiveDate>,
    /// This member's holdout metrics (finite values only).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

impl Pool {
    /// The member symbols in stored order.
    pub fn symbols(&self) -> Vec<String> {
        self.members.iter().map(|m| m.symbol.clone()).collect()
    }
}

impl ModelMetadata {
    /// The member symbols of a pooled version; empty for a single-symbol version.
    pub fn pool_symbols(&self) -> Vec<String> {
        self.pool.as_ref().map(Pool::symbols).unwrap_or_default()
    }

    /// Whether the version serves `symbol`: its own symbol, or one of its pool's members.
    pub fn serves(&self, symbol: &str) -> bool {
        self.symbol == symbol || self.pool.as_ref().is_some_and(|p| p.members.iter().any(|m| m.symbol == symbol))
    }

    /// The metadata `symbol` is served with: for a pooled version, the member's symbol,
    /// normalisation, calibration, data range, metrics and embedding row in place of the
    /// version's own, without the other members; for a
    /// single-symbol version of `symbol`, a copy. `InvalidArgument` when the version does not
    /// serve `symbol`.
    pub fn for_member(&self, symbol: &str) -> Result<ModelMetadata> {
        let Some(pool) = &self.pool else {
            if self.symbol == symbol {
                return Ok(self.clone());
            }
            return Err(not_a_member(self, symbol));
        };
        let index = pool.members.iter().position(|m| m.symbol == symbol).ok_or_else(|| not_a_member(self, symbol))?;
        let m = &pool.members[index];
        Ok(ModelMetadata {
            symbol: m.symbol.clone(),
            norm: m.norm.clone(),
            calibration: m.calibration.clone(),
            data_start: m.data_start,
            data_end: m.data_end,
            metrics: m.metrics.clone(),
            // Only this member: a version fine-tuned from it (incremental) is this member's.
            pool: None,
            member_index: if self.architecture.symbol_embedding_dim > 0 { index } else { 0 },
            ..self.clone()
        })
    }
}

fn not_a_member(md: &ModelMetadata, symbol: &str) -> Error {
    let members = match &md.pool {
        Some(p) => format!("pool {}", p.symbols().join(",")),
        None => format!("symbol {}", md.symbol),
    };
    Error::invalid(format!(
        "this version serves {members}, not {}; pick a version of that symbol (ListVersions)",
        crate::text::clip(symbol)
    ))
}
