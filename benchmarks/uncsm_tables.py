"""uncsm's Table 5 (cosine vs the metric network on the same shared representation) and
Table 6 (with / without the contrastive pre-training) analogues, each row over several seeds,
beside the paper's numbers and the deep baseline under the same split and protocol.

    python benchmarks/uncsm_tables.py wikipedia [--seeds 0 1 2] [--store store/scratch/uncsm]
    python benchmarks/uncsm_tables.py scenes --rows full deep

Runs `uncsm_<dataset>[_<row>]` (or the baseline) from params.yaml with ``training.seed`` set to
each seed (the split stays the one in params.yaml) in a scratch store, outside DVC. Prints the
whole-list MAP (4.3) of I->T, T->I and their average as mean +- std; for uncsm rows both the
metric network's ranking and cosine on the same representation (`evaluation.also_distances`).
Every run's figures go to <store>/tables_<dataset>.json (runs already there are re-used).
``--sets`` adds --set items to every run (a probe), recorded under ``--tag``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from seeded import collect_runs, fmt, row_runs, table_arguments
from xmr.pipeline import read_params
from xmr.store.layout import Store

ROWS = {  # row -> (params.yaml experiment, what it is)
    "full": ("uncsm_{}", "UNCSM (contrastive pre-training, double triplet, metric network)"),
    "nopretrain": ("uncsm_{}_nopretrain", "UNCSM without the contrastive pre-training"),
    "deep": ("uncsm_{}_deep", "deep baseline (README's `{}_deep`), same split and protocol"),
}
SAME_SPLIT_DEEP = {"scenes": "scenes_deep"}  # scenes_deep already has uncsm's split
# The paper's Wikipedia numbers (MAP I->T, T->I, average): Table 5 (cosine / metric network on
# the two-pathway representation) and Table 6 (without pre-training)
PAPER = {"wikipedia": {"cosine": (0.301, 0.290, 0.296), "full": (0.360, 0.310, 0.335),
                       "nopretrain": (0.335, 0.297, 0.316)}}


def main() -> None:
    args = table_arguments(__doc__, list(ROWS), list(ROWS),
                           "store/scratch/uncsm")
    params, store = read_params(), Store(Path(args.store))
    tag = f"_{args.tag}" if args.tag else ""
    experiments = {row: ROWS[row][0].format(args.dataset) for row in args.rows}
    if "deep" in experiments:
        experiments["deep"] = SAME_SPLIT_DEEP.get(args.dataset, experiments["deep"])
    runs = collect_runs(
        params, store, f"tables_{args.dataset}", experiments, args.seeds, args.sets, args.tag,
        keep=lambda m, log: {
            "tasks": m["tasks"], "distances": m.get("distances", {}),
            "seconds": log["train_seconds"],
            "phases": [{k: p[k] for k in ("name", "seconds") if k in p} for p in log["phases"]]},
        summary=lambda m, log: "  ".join(f"{t} {m['tasks'][t]['map']:.4f}" for t in ("i2t", "t2i"))
        + f"  {log['train_seconds']:.0f} s")
    paper = PAPER.get(args.dataset, {})
    print(f"\n{args.dataset}, seeds {args.seeds}: MAP over the whole ranked list "
          "(the paper's in brackets)")
    print("| row | ranking | I→T | T→I | average | train s |")
    print("|---" * 6 + "|")
    for row in args.rows:
        rs = row_runs(runs, row, tag, args.seeds)
        if not rs:
            continue
        rankings = [("metric network" if row != "deep" else "cosine", "tasks", row)]
        if rs[0]["distances"].get("cosine"):
            rankings.append(("cosine", "cosine", "cosine" if row == "full" else None))
        for label, source, key in rankings:
            def values(t):
                return [(r["tasks"] if source == "tasks" else r["distances"]["cosine"])[t]["map"]
                        for r in rs]
            cells = [fmt(values(t)) for t in ("i2t", "t2i")]
            avg = [statistics.mean(pair) for pair in zip(values("i2t"), values("t2i"))]
            cells.append(fmt(avg))
            if key in paper:
                cells = [f"{c} ({p:.3f})" for c, p in zip(cells, paper[key])]
            secs = statistics.mean(r["seconds"] for r in rs)
            name = ROWS[row][1].format(args.dataset) + (f" {args.tag}" if tag else "")
            print(f"| {name} | {label} | {' | '.join(cells)} | {secs:.0f} |")


if __name__ == "__main__":
    main()
