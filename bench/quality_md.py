"""Renders QUALITY.md's tables from backtest reports written by `trainer-svc backtest --out`.

Usage: python bench/quality_md.py OUT_DIR > tables.md
OUT_DIR holds one folder per run, `<SYMBOL>-<recipe>/report.json` (recipe `default`, `base`, or
`temperature` / `platt` / `none`: the default recipe with that calibration).
Prints, per symbol, one row per model: pooled metrics with their 90 % block-bootstrap intervals,
and the model-minus-best-baseline differences. Numbers only; the reading is written by a person.
"""
import json
import pathlib
import sys

METRICS = ["hit_rate", "balanced_accuracy", "auc", "brier", "log_loss", "ece", "ic", "rank_ic", "mae_cum", "rmse_cum", "vol_match"]


def fmt(v, digits=3):
    return "—" if v is None else f"{v:.{digits}f}"


def ci(report, name, metric):
    iv = report["ci"].get(name, {}).get(metric)
    return "" if not iv else f" [{fmt(iv[0])}, {fmt(iv[1])}]"


def main(out_dir):
    runs = sorted(p for p in pathlib.Path(out_dir).iterdir() if (p / "report.json").is_file())
    by_symbol = {}
    for run in runs:
        symbol, recipe = run.name.rsplit("-", 1)
        by_symbol.setdefault(symbol, {})[recipe] = json.loads((run / "report.json").read_text())
    for symbol, reports in by_symbol.items():
        any_report = next(iter(reports.values()))
        folds = any_report["folds"]
        print(f"### {symbol}: {len(folds)} folds, test days {folds[0]['test_start']} … {folds[-1]['test_end']}, "
              f"{any_report['years']}-year keys\n")
        print("| model | n | hit rate [90 % CI] | bal. acc. | AUC | Brier [90 % CI] | log loss | ECE | IC [90 % CI] | rank IC | MAE cum | RMSE cum | vol match |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        rows = []
        for recipe, label in [("default", "lstm (default recipe)"), ("base", "lstm (base model)"),
                              ("platt", "lstm (default, platt)"), ("temperature", "lstm (default, temperature)"),
                              ("none", "lstm (default, no calibration)")]:
            if recipe in reports:
                rows.append((label, reports[recipe], "lstm"))
        baseline_source = reports.get("default") or any_report
        for name in ["base_rate", "momentum_5d", "reversion_20d", "linear", "zero_return"]:
            rows.append((name, baseline_source, name))
        for label, rep, name in rows:
            m = rep["models"][name]
            print(f"| {label} | {m['n']} | {fmt(m['hit_rate'])}{ci(rep, name, 'hit_rate')} | {fmt(m['balanced_accuracy'])} | "
                  f"{fmt(m['auc'])} | {fmt(m['brier'])}{ci(rep, name, 'brier')} | {fmt(m['log_loss'])} | {fmt(m['ece'])} | "
                  f"{fmt(m['ic'])}{ci(rep, name, 'ic')} | {fmt(m['rank_ic'])} | {fmt(m['mae_cum'], 4)} | {fmt(m['rmse_cum'], 4)} | "
                  f"{fmt(m['vol_match'])} |")
        print()
        print("| recipe | metric | best baseline | lstm − best | 90 % CI |")
        print("|---|---|---|---|---|")
        for recipe, rep in reports.items():
            for metric in ["hit_rate", "brier", "ic"]:
                best = rep["best_baseline"]["lstm"].get(metric)
                diff = rep["difference"]["lstm"].get(metric)
                iv = rep["ci"].get("lstm_minus_best_baseline", {}).get(metric)
                print(f"| {recipe} | {metric} | {best} | {fmt(diff)} | "
                      f"{'—' if not iv else f'[{fmt(iv[0])}, {fmt(iv[1])}]'} |")
        print()
        print("Interval coverage of the lstm, adaptive (the γ the build serves, `DEFAULT_GAMMA`; SPEC §14.2) vs static, and the adaptive "
              "coverage for other steps γ (pooled over folds; per fold in brackets):\n")
        gammas = ["0.002", "0.005", "0.01", "0.02", "0.05"]
        print("| recipe | level | static | adaptive | " + " | ".join(f"γ = {g}" for g in gammas) + " |")
        print("|---|---|---|---|" + "---|" * len(gammas))
        for recipe, rep in reports.items():
            m = rep["models"]["lstm"]
            for level in ["80", "95"]:
                per_fold = lambda key: ", ".join(fmt(f.get(key), 2) for f in m.get("per_fold", []))
                cells = [f"{fmt(m.get(f'coverage_{level}_aci_{g}'))}" for g in gammas]
                print(f"| {recipe} | {level} % | {fmt(m.get(f'coverage_{level}_static'))} [{per_fold(f'coverage_{level}_static')}] | "
                      f"{fmt(m.get(f'coverage_{level}'))} [{per_fold(f'coverage_{level}')}] | " + " | ".join(cells) + " |")
        print()
        methods = [r for r in ["default", "platt", "temperature", "none"] if r in reports]
        if len(methods) > 1:
            print("Calibration of the default recipe's fold models (same seeded fits; `raw` = softmax):\n")
            print("| recipe | calibration | Brier raw → calibrated | log loss raw → calibrated | ECE raw → calibrated | coverage 80 % | coverage 95 % |")
            print("|---|---|---|---|---|---|---|")
            for r in methods:
                rep = reports[r]
                m, raw = rep["models"]["lstm"], rep["models"]["lstm_raw"]
                print(f"| {r} | {rep['recipe'].get('calibration')} | {fmt(raw['brier'])} → {fmt(m['brier'])} | "
                      f"{fmt(raw['log_loss'])} → {fmt(m['log_loss'])} | {fmt(raw['ece'])} → {fmt(m['ece'])} | "
                      f"{fmt(m.get('coverage_80'))} | {fmt(m.get('coverage_95'))} |")
            print()
        print("Per fold (lstm hit rate, default / base; base_rate hit rate):\n")
        print("| fold | test days | default | base | base_rate |")
        print("|---|---|---|---|---|")
        for i, f in enumerate(folds):
            d = reports.get("default", {}).get("models", {}).get("lstm", {}).get("per_fold", [{}] * len(folds))[i].get("hit_rate")
            b = reports.get("base", {}).get("models", {}).get("lstm", {}).get("per_fold", [{}] * len(folds))[i].get("hit_rate")
            r = baseline_source["models"]["base_rate"]["per_fold"][i]["hit_rate"]
            print(f"| {i + 1} | {f['test_start']} … {f['test_end']} | {fmt(d)} | {fmt(b)} | {fmt(r)} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1])
