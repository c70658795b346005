-- Model registry schema (MySQL / MariaDB, InnoDB, utf8mb4). Dates are 'YYYY-MM-DD' text, timestamps UTC epoch ms.
CREATE TABLE registry_state (
    id BIGINT PRIMARY KEY,
    change_counter BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO registry_state (id, change_counter) VALUES (1, 0);

CREATE TABLE registry_locks (
    name VARCHAR(200) PRIMARY KEY,
    bumps BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO registry_locks (name, bumps) VALUES ('bars', 0), ('versions', 0), ('leases', 0), ('runs', 0);

CREATE TABLE bars (
    symbol VARCHAR(64) NOT NULL,
    date VARCHAR(10) NOT NULL,
    open DOUBLE NOT NULL,
    high DOUBLE NOT NULL,
    low DOUBLE NOT NULL,
    close DOUBLE NOT NULL,
    volume DOUBLE NOT NULL,
    amount DOUBLE,
    PRIMARY KEY (symbol, date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE model_versions (
    version_id VARCHAR(128) PRIMARY KEY,
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    model_kind VARCHAR(64) NOT NULL,
    created_at_ms BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    training_seconds DOUBLE NOT NULL,
    data_start VARCHAR(10) NOT NULL,
    data_end VARCHAR(10) NOT NULL,
    metadata_json LONGTEXT NOT NULL,
    metrics_json LONGTEXT NOT NULL,
    weights LONGBLOB NOT NULL,
    weights_sha256 VARCHAR(64) NOT NULL,
    weights_bytes BIGINT NOT NULL,
    note LONGTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX model_versions_key ON model_versions (symbol, years, seq);

CREATE TABLE current_versions (
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    version_id VARCHAR(128) NOT NULL UNIQUE,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (symbol, years),
    FOREIGN KEY (version_id) REFERENCES model_versions (version_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE promotion_history (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    from_version VARCHAR(128),
    to_version VARCHAR(128) NOT NULL,
    actor VARCHAR(255) NOT NULL,
    reason LONGTEXT NOT NULL,
    at_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX promotion_history_key ON promotion_history (symbol, years, id);

CREATE TABLE training_runs (
    run_id VARCHAR(128) PRIMARY KEY,
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    mode VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    config_json LONGTEXT NOT NULL,
    requested_by VARCHAR(255) NOT NULL,
    started_at_ms BIGINT NOT NULL,
    finished_at_ms BIGINT,
    duration_seconds DOUBLE,
    version_id VARCHAR(128),
    error LONGTEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX training_runs_symbol ON training_runs (symbol, started_at_ms);

CREATE TABLE run_events (
    run_id VARCHAR(128) NOT NULL,
    seq BIGINT NOT NULL,
    event_json LONGTEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq),
    FOREIGN KEY (run_id) REFERENCES training_runs (run_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE run_plots (
    run_id VARCHAR(128) NOT NULL,
    name VARCHAR(200) NOT NULL,
    png LONGBLOB NOT NULL,
    bytes BIGINT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (run_id, name),
    FOREIGN KEY (run_id) REFERENCES training_runs (run_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE training_failures (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    run_id VARCHAR(128),
    error LONGTEXT NOT NULL,
    at_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX training_failures_symbol ON training_failures (symbol, id);

CREATE TABLE predictions (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    version_id VARCHAR(128) NOT NULL,
    as_of VARCHAR(10) NOT NULL,
    predicted_cumulative_return DOUBLE NOT NULL,
    prob_up DOUBLE NOT NULL,
    magnitudes_json LONGTEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    realized_return DOUBLE,
    abs_error DOUBLE,
    resolved_at_ms BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX predictions_symbol ON predictions (symbol, as_of);

CREATE TABLE training_leases (
    symbol VARCHAR(64) PRIMARY KEY,
    holder VARCHAR(255) NOT NULL,
    acquired_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE lease_queue (
    symbol VARCHAR(64) NOT NULL,
    holder VARCHAR(255) NOT NULL,
    ticket BIGINT NOT NULL,
    enqueued_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (symbol, holder)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
