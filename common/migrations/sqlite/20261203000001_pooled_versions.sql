-- Pooled versions (SPEC §14.3): a version may serve several symbols of one `years`. Its member
-- symbols are rows of `version_members` (none for a single-symbol version), and one version may
-- be current for several keys, so `current_versions.version_id` is no longer unique (SQLite
-- drops a constraint by rebuilding the table).
CREATE TABLE version_members (
    version_id TEXT NOT NULL REFERENCES model_versions (version_id),
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    PRIMARY KEY (version_id, symbol)
);
CREATE INDEX version_members_key ON version_members (symbol, years);

CREATE TABLE current_versions_pooled (
    symbol TEXT NOT NULL,
    years INTEGER NOT NULL,
    version_id TEXT NOT NULL REFERENCES model_versions (version_id),
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (symbol, years)
);
INSERT INTO current_versions_pooled (symbol, years, version_id, updated_at_ms)
    SELECT symbol, years, version_id, updated_at_ms FROM current_versions;
DROP TABLE current_versions;
ALTER TABLE current_versions_pooled RENAME TO current_versions;
CREATE INDEX current_versions_version ON current_versions (version_id);
