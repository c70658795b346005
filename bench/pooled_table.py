"""The pooled-vs-per-symbol table of QUALITY.md from the reports bench/pooled_quality.sh writes.

usage: pooled_table.py DIR   (reads DIR/pooled.json and DIR/single_SYMBOL.json)
"""
import json, sys
O=sys.argv[1]
pooled=json.load(open(f'{O}/pooled.json'))
def row(name, rep):
    m=rep['models']; ci=rep['ci']
    f=lambda x: '-' if x is None else f"{x:.3f}"
    iv=lambda model,met: ci.get(model,{}).get(met)
    def ivs(model,met):
        v=iv(model,met)
        return '' if not v else f" [{v[0]:.3f}, {v[1]:.3f}]"
    d=rep['difference']['lstm']
    return (f"| {name} | {m['lstm']['n']} | {f(m['lstm']['brier'])}{ivs('lstm','brier')} | {f(m['base_rate']['brier'])} | "
            f"{f(m['lstm_raw']['brier'])} | {f(m['lstm_raw'].get('auc'))} | {f(m['lstm']['ic'])} | {f(m['lstm_raw']['ic'])} | "
            f"{f(d.get('brier'))}{ivs('lstm_minus_best_baseline','brier')} ({rep['best_baseline']['lstm']['brier']}) |")
print("| series | model | days | served Brier [90 %] | base-rate Brier | unshrunk Brier | unshrunk AUC | served IC | unshrunk IC | served − best baseline Brier [90 %] |")
print("|---|---|---|---|---|---|---|---|---|---|")
for s in ["AMZN","NVDA","NFLX","MSFT","SPX"]:
    single=json.load(open(f'{O}/single_{s}.json'))
    for name,rep in (("per-symbol",single),("pooled",pooled['members'][s])):
        print(row(f"{s} | {name}", rep))
print(row("all five | pooled (pooled days)", pooled))
