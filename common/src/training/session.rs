//! Per-run training context: device, thread count, seeds and the process-wide RNG lock.
//!
//! libtorch has one global CPU generator (weight init, dropout). A seeded run calls
//! `tch::manual_seed` and takes the write side of [`RNG_LOCK`] for its whole duration, so no
//! other training in this process draws from that generator meanwhile: that is what makes CPU
//! runs with the same seed bit-for-bit repeatable. Unseeded runs take the read side and may
//! run concurrently with each other.
use super::config::DeviceChoice;
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tch::Device;

static RNG_LOCK: RwLock<()> = RwLock::new(());

enum Guard {
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
}

/// Runs `f` while no seeded run trains: for work outside a training session that draws from
/// libtorch's global generator, such as building a network before loading weights into it
/// (`LoadedModel::from_artifact`), which would otherwise shift a concurrent seeded run's draws.
pub(crate) fn outside_seeded_runs<T>(f: impl FnOnce() -> T) -> T {
    let _shared = RNG_LOCK.read().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Device, seed and RNGs of one training run.
pub(crate) struct Session {
    /// Resolved device.
    pub device: Device,
    /// The run's seed (given, or drawn at random and recorded).
    pub seed: u64,
    /// Shuffling / augmentation RNG.
    pub rng: ChaCha8Rng,
    _guard: Guard,
}

impl Session {
    /// Resolves the device, applies the thread count and seeds both RNGs.
    pub fn start(device: DeviceChoice, seed: Option<u64>, cpu_threads: Option<i32>) -> Result<Session> {
        let device = device.resolve()?;
        if let Some(t) = cpu_threads {
            tch::set_num_threads(t);
        }
        let guard = match seed {
            // A panicking run poisons the lock; the guarded data is `()`, so recover.
            Some(_) => Guard::Exclusive(RNG_LOCK.write().unwrap_or_else(|e| e.into_inner())),
            None => Guard::Shared(RNG_LOCK.read().unwrap_or_else(|e| e.into_inner())),
        };
        let seed = seed.unwrap_or_else(rand::random);
        if matches!(guard, Guard::Exclusive(_)) {
            tch::manual_seed(seed as i64);
        }
        Ok(Session { device, seed, rng: ChaCha8Rng::seed_from_u64(seed), _guard: guard })
    }
}
