"""dmsfh's code-length series (Tables 3-4: MAP at 16, 32, 64 bits) and Table 6 ablation
(DMSFH-P: L1 + L2; DMSFH-S: without the graph term L4; DMSFH), each row over several seeds,
beside a real-valued deep baseline under the same split and relevance, and Table 5's hash lookup
(precision / recall / F1 within Hamming radius 0-2) at 32 bits.

    python benchmarks/dmsfh_tables.py wikipedia [--seeds 0 1 2] [--store store/scratch/dmsfh]
    python benchmarks/dmsfh_tables.py scenes --rows full_32 s_32 p_32 deep

Runs `dmsfh_<dataset>[_<variant>]_<bits>` (or the baseline) from params.yaml with
``training.seed`` set to each seed (the split stays the one in params.yaml) in a scratch store,
outside DVC. Prints the whole-list MAP of I->T, T->I and their average as mean +- std. The
baseline is `wikipedia_deep` (cosine, the same split and categories) on Wikipedia; on scenes,
`scenes_deep` scored under dmsfh's multi-label retrieval protocol with cosine (a --set of the
run). Every run's figures go to <store>/tables_<dataset>.json (runs already there are re-used);
``--sets`` adds --set items to every run (a probe), recorded under ``--tag``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from seeded import collect_runs, fmt, row_runs, table_arguments
from xmr.pipeline import read_params
from xmr.store.layout import Store

VARIANTS = {"full": ("", "DMSFH"), "s": ("_s", "DMSFH-S (no L4)"), "p": ("_p", "DMSFH-P (L1 + L2)")}
ROWS = {f"{v}_{b}": (f"dmsfh_{{}}{suffix}_{b}", f"{what}, {b} bits")
        for v, (suffix, what) in VARIANTS.items() for b in (16, 32, 64)}
ROWS["deep"] = ("{}_deep", "real-valued deep baseline (cosine), same split")
DEEP_SETS = {"scenes": ["evaluation.protocol=multilabel_cosine_retrieval"]}
LOOKUP = [f"{b}@{r}" for r in (0, 1, 2) for b in ("hp", "hr", "hf1")]


def main() -> None:
    args = table_arguments(__doc__, list(ROWS), list(ROWS), "store/scratch/dmsfh")
    params, store = read_params(), Store(Path(args.store))
    tag = f"_{args.tag}" if args.tag else ""
    rows = {row: ROWS[row][0].format(args.dataset) for row in args.rows if row != "deep"}
    runs = {}
    keep = lambda m, log: {"tasks": m["tasks"], "seconds": log["train_seconds"],  # noqa: E731
                           "val_map": log.get("best_val_map")}
    summary = lambda m, log: "  ".join(  # noqa: E731
        f"{t} {m['tasks'][t]['map']:.4f}" for t in ("i2t", "t2i")) + f"  {log['train_seconds']:.0f} s"
    if rows:
        runs = collect_runs(params, store, f"tables_{args.dataset}", rows, args.seeds, args.sets,
                            args.tag, keep=keep, summary=summary)
    if "deep" in args.rows:
        runs = collect_runs(params, store, f"tables_{args.dataset}",
                            {"deep": ROWS["deep"][0].format(args.dataset)}, args.seeds,
                            DEEP_SETS.get(args.dataset, []) + args.sets, args.tag, keep=keep,
                            summary=summary)
    print(f"\n{args.dataset}, seeds {args.seeds}: MAP over the whole ranked list")
    print("| row | I→T | T→I | average | val MAP (final model) | train s |")
    print("|---" * 6 + "|")
    for row in args.rows:
        rs = row_runs(runs, row, tag, args.seeds)
        if not rs:
            continue

        def values(t, metric="map"):
            return [r["tasks"][t][metric] for r in rs]
        avg = [statistics.mean(pair) for pair in zip(values("i2t"), values("t2i"))]
        val = [r["val_map"] for r in rs if r.get("val_map") is not None]
        cells = [fmt(values("i2t")), fmt(values("t2i")), fmt(avg), fmt(val) if val else "—"]
        secs = statistics.mean(r["seconds"] for r in rs)
        name = ROWS[row][1] + (f" {args.tag}" if tag else "")
        print(f"| {name} | {' | '.join(cells)} | {secs:.0f} |")
    rs = row_runs(runs, "full_32", tag, args.seeds)
    if rs and all(m in rs[0]["tasks"]["i2t"] for m in LOOKUP):
        print(f"\nhash lookup at 32 bits (Table 5), seeds {args.seeds}")
        print("| task | radius | precision | recall | F1 |")
        print("|---" * 5 + "|")
        for t in ("i2t", "t2i"):
            for r in (0, 1, 2):
                cells = [fmt([x["tasks"][t][f"{b}@{r}"] for x in rs]) for b in ("hp", "hr", "hf1")]
                print(f"| {t} | {r} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
