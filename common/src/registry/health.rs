//! Can the registry be written? Health checks of a writer (trainer-svc) ask with a real,
//! harmless write, so a read-only or full disk, or a database that refuses writes, shows. A
//! file-backed SQLite registry is also judged by its filesystem: a small write can still fit in
//! the write-ahead log's reused pages on a disk with no room for a new version.
use std::path::Path;

use super::Registry;
use crate::error::{Error, Result};

impl Registry {
    /// For a SQLite file, first its filesystem ([`check_disk`]); then moves the probe counter
    /// (`health_probe`) in one autocommit statement — a real change, which SQLite and InnoDB
    /// cannot skip as they skip an UPDATE that leaves a row as it was, and which no reader
    /// watches. `Unavailable` or `StorageFull` naming the cause otherwise.
    pub async fn check_writable(&self, min_free_bytes: u64) -> Result<()> {
        if let Some(file) = &self.sqlite_file {
            // statvfs blocks on a hung volume: off the async workers (the caller's timeout
            // then reports it).
            let file = file.clone();
            tokio::task::spawn_blocking(move || check_disk(&file, min_free_bytes))
                .await
                .map_err(|e| Error::Internal(format!("disk check panicked: {e}")))??;
        }
        let done = sqlx::query("UPDATE health_probe SET probes = probes + 1 WHERE id = 1")
            .execute(&self.pool)
            .await
            .map_err(|e| match Error::from(e) {
                known @ (Error::StorageFull(_) | Error::Unavailable(_)) => known,
                other => Error::Unavailable(format!("registry is not writable: {other}")),
            })?;
        if done.rows_affected() != 1 {
            return Err(Error::Internal(
                "registry health_probe row is missing; the schema was changed outside this program".into(),
            ));
        }
        Ok(())
    }
}

/// The filesystem holding the SQLite file `db_file`: mounted read-only → `Unavailable`; fewer
/// than `min_free_bytes` available to this process → `StorageFull` with the numbers.
fn check_disk(db_file: &Path, min_free_bytes: u64) -> Result<()> {
    let on = if db_file.exists() { db_file } else { db_file.parent().unwrap_or(Path::new(".")) };
    let on = if on.as_os_str().is_empty() { Path::new(".") } else { on };
    let fs = rustix::fs::statvfs(on).map_err(|e| {
        Error::Unavailable(format!("cannot stat the filesystem of {}: {e}", on.display()))
    })?;
    if fs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) {
        return Err(Error::Unavailable(format!(
            "the filesystem of {} is mounted read-only; remount it read-write (or fix the volume), then retry",
            on.display()
        )));
    }
    let free = fs.f_bavail.saturating_mul(fs.f_frsize);
    if free < min_free_bytes {
        return Err(Error::StorageFull(format!(
            "{} MiB free on the filesystem of {}, below the {} MiB a write needs (--registry-min-free-mb)",
            free >> 20,
            on.display(),
            min_free_bytes >> 20
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_with_room_passes_and_an_impossible_minimum_is_storage_full() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("registry.db");
        check_disk(&db, 1).unwrap();
        let err = check_disk(&db, u64::MAX).unwrap_err();
        assert!(matches!(err, Error::StorageFull(_)), "{err}");
        assert!(err.to_string().contains("--registry-min-free-mb"), "{err}");
    }
}
