-- What live scoring needs of each served forecast (SPEC §14.2): whether it was computed from
-- inline bars (not scored), and its 80 % and 95 % intervals of the 5-day cumulative return (NULL
-- where the version has none, and for rows logged before this migration). The index serves the
-- scoring reads, by key and by version and day.
ALTER TABLE predictions ADD COLUMN inline_bars INTEGER NOT NULL DEFAULT 0;
ALTER TABLE predictions ADD COLUMN lo80 REAL;
ALTER TABLE predictions ADD COLUMN hi80 REAL;
ALTER TABLE predictions ADD COLUMN lo95 REAL;
ALTER TABLE predictions ADD COLUMN hi95 REAL;
CREATE INDEX predictions_key_version ON predictions (symbol, years, version_id, as_of);
