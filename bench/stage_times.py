#!/usr/bin/env python3
"""Per-run stage times of the training runs in a SQLite registry (bench/train_sizing.sh).

Each run's stored events carry timestamps: a stage lasts from its `stage` event to the next
stage event (or the terminal event). `run` is the first event to the terminal one, `fit` the
`training` stage (the optimiser), `outside fit` the rest (features, CV, calibration, validation,
importance, plots, saving, bookkeeping). Usage: stage_times.py registry.db
"""
import json
import re
import sqlite3
import sys

db = sqlite3.connect(sys.argv[1])
runs = db.execute("SELECT run_id, symbol, years, status FROM training_runs ORDER BY run_id").fetchall()
print(f"   {'symbol':<6} {'status':<10} {'run s':>7} {'fit s':>7} {'outside':>8}  stages (s)")
for run_id, symbol, years, status in runs:
    evs = db.execute("SELECT event_json, at_ms FROM run_events WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
    if not evs:
        continue
    marks = []
    for js, at in evs:
        e = json.loads(js)
        stage = None
        if e.get("kind") == "stage":
            m = re.search(r'stage: "([a-z_]+)"', e.get("detail", ""))
            stage = m.group(1) if m else "?"
        marks.append((stage, at))
    t_first, t_last = evs[0][1], evs[-1][1]
    stages = {}
    current, since = "start", t_first
    for stage, at in marks:
        if stage is not None:
            stages[current] = stages.get(current, 0) + (at - since)
            current, since = stage, at
    stages[current] = stages.get(current, 0) + (t_last - since)
    total = (t_last - t_first) / 1000
    fit = stages.get("training", 0) / 1000
    detail = ", ".join(f"{k} {v / 1000:.1f}" for k, v in stages.items() if v >= 50)
    print(f"   {symbol:<6} {status:<10} {total:7.1f} {fit:7.1f} {total - fit:8.1f}  {detail}")
