-- Pooled versions (SPEC §14.3): a version may serve several symbols of one `years`. Its member
-- symbols are rows of `version_members` (none for a single-symbol version), and one version may
-- be current for several keys, so `current_versions.version_id` is no longer unique (the
-- foreign key keeps a plain index).
CREATE TABLE version_members (
    version_id VARCHAR(128) NOT NULL,
    symbol VARCHAR(64) NOT NULL,
    years BIGINT NOT NULL,
    PRIMARY KEY (version_id, symbol),
    FOREIGN KEY (version_id) REFERENCES model_versions (version_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX version_members_key ON version_members (symbol, years);

CREATE INDEX current_versions_version ON current_versions (version_id);
ALTER TABLE current_versions DROP INDEX version_id;
