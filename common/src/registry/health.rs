//! Can the registry be written? Health checks of a writer (trainer-svc) ask with a real,
//! harmless write, so a read-only or full disk, or a database that refuses writes, shows.
use super::Registry;
use crate::error::{Error, Result};

impl Registry {
    /// Rewrites the change counter with its own value in one autocommit statement (a real
    /// write that changes nothing readers see); `Unavailable` naming the cause otherwise.
    pub async fn check_writable(&self) -> Result<()> {
        sqlx::query("UPDATE registry_state SET change_counter = change_counter WHERE id = 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(format!("registry is not writable: {e}")))
    }
}
