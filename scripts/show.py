"""Pretty-printers for grpcurl's JSON output, used by scripts/main-job.sh.

  show.py progress VERSION_FILE   Train event stream on stdin -> progress lines; writes the
                                  completed version id to VERSION_FILE; exit 1 on a failed event
  show.py versions                ListVersions response on stdin -> one line per version
  show.py forecast                Predict response on stdin -> a short forecast summary and what
                                  the answer says about its own quality
  show.py ingest                  IngestBars response on stdin -> one summary line
"""
import json
import sys


def objects(stream):
    """Yields each JSON object of a stream of concatenated (pretty-printed) objects."""
    decoder = json.JSONDecoder()
    buf = ""
    for line in stream:
        buf += line
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, end = decoder.raw_decode(buf)
            except json.JSONDecodeError:
                break  # incomplete object: read more
            yield obj
            buf = buf[end:]


def progress(version_file):
    failed = False
    for ev in objects(sys.stdin):
        run = ev.get("runId", "")[:8]
        if "queued" in ev:
            print(f"[{run}] queued, position {ev['queued'].get('position', 0)}")
        elif "started" in ev:
            print(f"[{run}] started ({ev['started'].get('mode', '')}) on {ev['started'].get('device', '?')}")
        elif "stage" in ev:
            st = ev["stage"]
            print(f"[{run}] stage {st.get('stage', '')}: {st.get('detail', '')}")
        elif "cvFold" in ev:
            f = ev["cvFold"]
            print(f"[{run}]   cv combination {f.get('combination', 0)}/{f.get('combinations', 0)} "
                  f"fold {f.get('fold', 0)}/{f.get('folds', 0)} f1={f.get('f1', 0):.3f} mse={f.get('mse', 0):.2e}")
        elif "cvSummary" in ev:
            s = ev["cvSummary"]
            print(f"[{run}]   cv best: lr={s.get('bestLr', 0)} hidden={s.get('bestHiddenSize', 0)} "
                  f"epochs={s.get('bestEpochs', 0)} score={s.get('bestScore', 0):.4f}")
        elif "epoch" in ev:
            e = ev["epoch"]
            star = " *" if e.get("improved") else ""
            print(f"[{run}]   {e.get('phase', '')} epoch {e.get('epoch', 0):>3}/{e.get('maxEpochs', 0)} "
                  f"loss={e.get('trainLoss', 0):.4f} val_loss={e.get('valLoss', 0):.4f} "
                  f"val_vol_match={e.get('valVolatilityMatch', 0):.3f} lr={e.get('lr', 0):.2e} "
                  f"({e.get('seconds', 0):.1f}s){star}")
        elif "validation" in ev:
            v = ev["validation"]
            c = v.get("candidate", {})
            print(f"[{run}] validation on the holdout: candidate acc={c.get('accuracy', 0):.3f} "
                  f"f1={c.get('f1', 0):.3f} mse={c.get('mse', 0):.2e}; deploy={v.get('deploy', False)} "
                  f"({v.get('reason', '')})")
        elif "completed" in ev:
            r = ev["completed"]["result"]
            print(f"[{run}] completed: version {r.get('versionId')} deployed={r.get('deployed', False)} "
                  f"in {r.get('trainingSeconds', 0):.1f}s")
            with open(version_file, "w") as out:
                out.write(r.get("versionId", ""))
        elif "failed" in ev:
            print(f"[{run}] FAILED: {ev['failed'].get('code')}: {ev['failed'].get('message')}")
            failed = True
        sys.stdout.flush()
    return 1 if failed else 0


def versions():
    for resp in objects(sys.stdin):
        for v in resp.get("versions", []):
            print(f"  {v['symbol']}/{v['years']}y {v['versionId']} current={v.get('isCurrent', False)} "
                  f"kind={v.get('modelKind')} data {v.get('dataStart')}..{v.get('dataEnd')}")
    return 0


def pct(x):
    return "?" if x is None else f"{x * 100:.1f}%"


def num(x, fmt=".3f"):
    return "?" if x is None else format(x, fmt)


def forecast():
    for p in objects(sys.stdin):
        mags = ", ".join(f"{m * 100:+.2f}%" for m in p["magnitudes"])
        print(f"{p['symbol']}/{p['years']}y as of {p['asOf']} (version {p['versionId']}): "
              f"{p['direction']} prob_up={p.get('probUp', 0):.3f} (raw softmax {p.get('probUpRaw', 0):.3f})")
        print(f"  next 5 trading days {p['forecastDates'][0]} .. {p['forecastDates'][-1]}: daily {mags}; "
              f"cumulative {p.get('cumulativeReturn', 0) * 100:+.2f}%")
        for i in p.get("intervals", []):
            if i.get("available"):
                print(f"  {i.get('level', 0) * 100:.0f}% interval of the 5-day return: "
                      f"{i.get('cumulativeReturnLo', 0) * 100:+.2f}% .. {i.get('cumulativeReturnHi', 0) * 100:+.2f}%")
        print("  predicted closes: " + ", ".join(f"{c:.2f}" for c in p["predictedCloses"]))
        q = p.get("quality")
        if q:
            base = q.get("baseRate")
            w = q.get("shrinkageWeight")
            print(f"  quality (holdout of {q.get('nHoldout', 0)} days): hit rate {pct(q.get('holdoutHitRate'))} "
                  f"vs {pct(q.get('baselineHitRate'))} always-the-base-rate; Brier {num(q.get('holdoutBrier'))} "
                  f"vs {num(q.get('baselineBrier'))}; AUC {num(q.get('holdoutAuc'))}; "
                  f"beats the best baseline: {'yes' if q.get('beatsBaseline') else 'no'}")
            print(f"  base rate (up share of the training span) {pct(base)}; calibration "
                  f"{q.get('calibration', 'none')} on {q.get('nCalibration', 0)} out-of-sample forecasts; "
                  f"shrinkage weight {num(w, '.2f')}"
                  + (" -> no measured skill, the answer is the base rate" if w == 0 else ""))
            if q.get("note"):
                print(f"  note: {q['note']}")
    return 0


def ingest():
    for r in objects(sys.stdin):
        line = (f"  {r.get('symbol')}: {r.get('received', 0)} bars {r.get('firstDate')} .. {r.get('lastDate')}, "
                f"{r.get('inserted', 0)} new, {r.get('updated', 0)} updated")
        if r.get("droppedRepeats"):
            line += f"; {r['droppedRepeats']} calendar-fill rows dropped"
        if r.get("ignoredColumns"):
            line += f"; ignored columns: {', '.join(r['ignoredColumns'])}"
        if r.get("badRowsSkipped"):
            line += f"; {r['badRowsSkipped']} bad rows skipped"
        print(line)
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "progress":
        sys.exit(progress(sys.argv[2]))
    sys.exit({"versions": versions, "forecast": forecast, "ingest": ingest}[cmd]())
