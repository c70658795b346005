-- Pooled versions (SPEC §14.3): a version may serve several symbols of one `years`. Its member
-- symbols are rows of `version_members` (none for a single-symbol version), and one version may
-- be current for several keys, so `current_versions.version_id` is no longer unique.
CREATE TABLE version_members (
    version_id TEXT NOT NULL REFERENCES model_versions (version_id),
    symbol TEXT NOT NULL,
    years BIGINT NOT NULL,
    PRIMARY KEY (version_id, symbol)
);
CREATE INDEX version_members_key ON version_members (symbol, years);

ALTER TABLE current_versions DROP CONSTRAINT current_versions_version_id_key;
CREATE INDEX current_versions_version ON current_versions (version_id);
