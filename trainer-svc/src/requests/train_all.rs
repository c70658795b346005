//! TrainAll requests: the symbols, the shared recipe, concurrency and sharding.
use common::config::{validate_symbol, validate_years};
use common::pb;
use common::training::search::SearchFields;
use common::training::PipelineConfig;
use common::{Error, Result};

use super::recipe::{pipeline_config, RecipeFields};
use super::DateRange;

/// Training of every (or the listed / sharded) symbol.
#[derive(Debug, Clone)]
pub struct TrainAllJob {
    /// Explicit symbols (validated); empty = every symbol with bars.
    pub symbols: Vec<String>,
    /// Model key years.
    pub years: u32,
    /// Explicit data range.
    pub range: DateRange,
    /// Pipeline template (symbol filled per symbol).
    pub pipeline: PipelineConfig,
    /// Symbols trained at once.
    pub concurrency: usize,
    /// `(index, count)` shard of the sorted universe.
    pub shard: (u32, u32),
    /// Symbols per pooled model; 1 = one model per symbol.
    pub pool_size: usize,
}

impl TryFrom<pb::TrainAllRequest> for TrainAllJob {
    type Error = Error;
    fn try_from(r: pb::TrainAllRequest) -> Result<TrainAllJob> {
        let pb::TrainAllRequest {
            symbols,
            years,
            start,
            end,
            do_cv_tune,
            do_shap,
            do_plot,
            fast_training,
            use_improved_training,
            reg_loss_type,
            concurrency,
            shard_index,
            shard_count,
            seed,
            device: dev,
            max_epochs: max_ep,
            pool_size,
        } = r;
        let symbols = symbols
            .iter()
            .map(|s| validate_symbol(s))
            .collect::<Result<Vec<_>>>()?;
        let years = validate_years(years)?;
        let range = DateRange::parse(&start, &end)?;
        let pipeline = pipeline_config(
            "",
            years,
            RecipeFields {
                do_cv_tune,
                do_shap,
                do_plot,
                fast_training: fast_training.unwrap_or(true),
                use_improved_training,
                use_enhanced_model: None,
                reg_loss_type,
                param_grid: None,
                do_post_training_validation: None,
                seed,
                device: dev,
                max_epochs: max_ep,
                calibration: String::new(),
                require_beats_baseline: None,
                target_precision: None,
                search: SearchFields::default(),
                symbol_embedding_dim: None,
            },
        )?;
        let concurrency = concurrency.unwrap_or(1);
        if !(1..=64).contains(&concurrency) {
            return Err(Error::invalid(format!(
                "concurrency must be between 1 and 64, got {concurrency}"
            )));
        }
        let shard_count = shard_count.max(1);
        if shard_index >= shard_count {
            return Err(Error::invalid(format!(
                "shard_index {shard_index} must be below shard_count {shard_count}"
            )));
        }
        let pool_size = pool_size.unwrap_or(1).max(1) as usize;
        let max = common::training::pipeline::MAX_POOL_MEMBERS;
        if pool_size > max {
            return Err(Error::invalid(format!("pool_size must be at most {max}, got {pool_size}")));
        }
        Ok(TrainAllJob {
            symbols,
            years,
            range,
            pipeline,
            concurrency: concurrency as usize,
            shard: (shard_index, shard_count),
            pool_size,
        })
    }
}

/// Keeps the symbols of shard `(index, count)` of the sorted, de-duplicated list.
pub fn shard_symbols(mut symbols: Vec<String>, (index, count): (u32, u32)) -> Vec<String> {
    symbols.sort();
    symbols.dedup();
    let count = count.max(1) as usize;
    symbols
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % count == index as usize)
        .map(|(_, s)| s)
        .collect()
}
