-- CancelRun of a run that another trainer replica is running: the request is stored here and
-- the owner reads it at its next lease renewal (or queue poll) and cancels the run.
CREATE TABLE run_cancel_requests (
    run_id VARCHAR(255) NOT NULL PRIMARY KEY,
    requested_at_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
