-- Model registry schema (PostgreSQL). Dates are 'YYYY-MM-DD' text, timestamps UTC epoch ms.
CREATE TABLE registry_state (
    id BIGINT PRIMARY KEY,
    change_counter BIGINT NOT NULL
);
INSERT INTO registry_state (id, change_counter) VALUES (1, 0);

CREATE TABLE registry_locks (
    name TEXT PRIMARY KEY,
    bumps BIGINT NOT NULL
);
INSERT INTO registry_locks (name, bumps) VALUES ('bars', 0), ('versions', 0), ('leases', 0), ('runs', 0);

CREATE TABLE bars (
    symbol TEXT NOT NULL,
    date TEXT NOT NULL,
    open DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    amount DOUBLE PRECISION,
    PRIMARY KEY (symbol, date)
);

CREATE TABLE model_versions (
    version_id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    model_kind TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    training_seconds DOUBLE PRECISION NOT NULL,
    data_start TEXT NOT NULL,
    data_end TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    metrics_json TEXT NOT NULL,
    weights BYTEA NOT NULL,
    weights_sha256 TEXT NOT NULL,
    weights_bytes BIGINT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX model_versions_key ON model_versions (symbol, years, seq);

CREATE TABLE current_versions (
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    version_id TEXT NOT NULL UNIQUE REFERENCES model_versions (version_id),
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (symbol, years)
);

CREATE TABLE promotion_history (
    id BIGSERIAL PRIMARY KEY,
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX promotion_history_key ON promotion_history (symbol, years, id);

CREATE TABLE training_runs (
    run_id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    config_json TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    duration_seconds DOUBLE PRECISION,
    version_id TEXT,
    error TEXT
);
CREATE INDEX training_runs_symbol ON training_runs (symbol, started_at_ms);

CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES training_runs (run_id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    event_json TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE run_plots (
    run_id TEXT NOT NULL REFERENCES training_runs (run_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    png BYTEA NOT NULL,
    bytes BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE training_failures (
    id BIGSERIAL PRIMARY KEY,
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    run_id TEXT,
    error TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX training_failures_symbol ON training_failures (symbol, id);

CREATE TABLE predictions (
    id BIGSERIAL PRIMARY KEY,
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    version_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    predicted_cumulative_return DOUBLE PRECISION NOT NULL,
    prob_up DOUBLE PRECISION NOT NULL,
    magnitudes_json TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    realized_return DOUBLE PRECISION,
    abs_error DOUBLE PRECISION,
    resolved_at_ms BIGINT
);
CREATE INDEX predictions_symbol ON predictions (symbol, as_of);

CREATE TABLE training_leases (
    symbol TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

CREATE TABLE lease_queue (
    symbol TEXT NOT NULL,
    holder TEXT NOT NULL,
    ticket BIGINT NOT NULL,
    enqueued_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (symbol, holder)
);
