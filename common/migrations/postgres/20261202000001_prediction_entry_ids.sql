-- Each served forecast carries an id drawn by the predictor when it answers, unique in the log:
-- a write that timed out but reached the database is not stored twice by its retry. Rows logged
-- before this migration have none (NULL; the unique index admits many NULLs on every backend).
ALTER TABLE predictions ADD COLUMN entry_id TEXT;
CREATE UNIQUE INDEX predictions_entry_id ON predictions (entry_id);
