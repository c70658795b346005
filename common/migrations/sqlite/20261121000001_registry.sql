-- Model registry schema (SQLite). Dates are 'YYYY-MM-DD' text, timestamps UTC epoch ms.
CREATE TABLE registry_state (
    id INTEGER PRIMARY KEY,
    change_counter INTEGER NOT NULL
);
INSERT INTO registry_state (id, change_counter) VALUES (1, 0);

CREATE TABLE registry_locks (
    name TEXT PRIMARY KEY,
    bumps INTEGER NOT NULL
);
INSERT INTO registry_locks (name, bumps) VALUES ('bars', 0), ('versions', 0), ('leases', 0), ('runs', 0);

CREATE TABLE bars (
    symbol TEXT NOT NULL,
    date TEXT NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    amount REAL,
    PRIMARY KEY (symbol, date)
);

CREATE TABLE model_versions (
    version_id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    model_kind TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    training_seconds REAL NOT NULL,
    data_start TEXT NOT NULL,
    data_end TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    metrics_json TEXT NOT NULL,
    weights BLOB NOT NULL,
    weights_sha256 TEXT NOT NULL,
    weights_bytes INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX model_versions_key ON model_versions (symbol, years, seq);

CREATE TABLE current_versions (
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    version_id TEXT NOT NULL UNIQUE REFERENCES model_versions (version_id),
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (symbol, years)
);

CREATE TABLE promotion_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX promotion_history_key ON promotion_history (symbol, years, id);

CREATE TABLE training_runs (
    run_id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    mode TEXT NOT NULL,
    status TEXT NOT NULL,
    config_json TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    finished_at_ms INTEGER,
    duration_seconds REAL,
    version_id TEXT,
    error TEXT
);
CREATE INDEX training_runs_symbol ON training_runs (symbol, started_at_ms);

CREATE TABLE run_events (
    run_id TEXT NOT NULL REFERENCES training_runs (run_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    event_json TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE run_plots (
    run_id TEXT NOT NULL REFERENCES training_runs (run_id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    png BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE training_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    run_id TEXT,
    error TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX training_failures_symbol ON training_failures (symbol, id);

CREATE TABLE predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    version_id TEXT NOT NULL,
    as_of TEXT NOT NULL,
    predicted_cumulative_return REAL NOT NULL,
    prob_up REAL NOT NULL,
    magnitudes_json TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    realized_return REAL,
    abs_error REAL,
    resolved_at_ms INTEGER
);
CREATE INDEX predictions_symbol ON predictions (symbol, as_of);

CREATE TABLE training_leases (
    symbol TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE TABLE lease_queue (
    symbol TEXT NOT NULL,
    holder TEXT NOT NULL,
    ticket INTEGER NOT NULL,
    enqueued_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (symbol, holder)
);
