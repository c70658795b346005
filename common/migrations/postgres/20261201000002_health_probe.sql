-- The row the trainer's health probe rewrites: a counter that moves on every probe, so the
-- probe is a real write on every backend (SQLite and InnoDB skip an UPDATE that changes nothing,
-- which let a read-only disk pass the old probe).
CREATE TABLE health_probe (
    id INTEGER PRIMARY KEY,
    probes BIGINT NOT NULL
);
INSERT INTO health_probe (id, probes) VALUES (1, 0);
