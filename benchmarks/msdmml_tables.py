"""msdmml's Table 1 (intra / inter / full) and Table 2 (binary vs multi-scale similarity at
alpha 0.4 and 0.8) analogues, each row over several seeds, beside the paper's numbers.

    python benchmarks/msdmml_tables.py wikipedia [--seeds 0 1 2] [--store store/scratch/msdmml]
    python benchmarks/msdmml_tables.py scenes --rows pixels frozen

Runs `msdmml_<dataset>[_<row>]` (or the baselines `<dataset>_deep`, `<dataset>_cca`) from
params.yaml with ``training.seed`` set to each seed (the split stays the one in params.yaml) in a
scratch store, outside DVC. Prints mAP@100 (Eq. 12) per
task, their average and the whole-list MAP of I->T and T->I as mean +- std, and writes every
run's figures to <store>/tables_<dataset>.json (runs already there are re-used). ``--sets``
adds --set items to every run (a probe), recorded under ``--tag``.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from seeded import collect_runs, fmt, row_runs, table_arguments
from xmr.pipeline import read_params
from xmr.store.layout import Store

TASKS = ("i2t", "t2i", "i2i", "t2t")
ROWS = {  # row -> (params.yaml experiment, what it is)
    "full": ("msdmml_{}", "MS-DMML (lambdas 0.6 / 0.2 / 0.2, alpha 0.4)"),
    "intra": ("msdmml_{}_intra", "MS-DMML-Intra (lambda_1 = 0)"),
    "inter": ("msdmml_{}_inter", "MS-DMML-Inter (lambda_2 = lambda_3 = 0)"),
    "bin": ("msdmml_{}_bin", "MS-DMML-bin, alpha 0.4"),
    "a08": ("msdmml_{}_a08", "MS-DMML, alpha 0.8"),
    "bin_a08": ("msdmml_{}_bin_a08", "MS-DMML-bin, alpha 0.8"),
    "pixels": ("msdmml_{}_pixels", "from pixels, fine-tuned end to end"),
    "frozen": ("msdmml_{}_frozen", "from pixels, backbone frozen"),
    "deep": ("{}_deep", "deep baseline (README)"),
    "cca": ("{}_cca", "CCA baseline (README)"),
}
# The paper's Wikipedia rows (mAP@100 %, I->T, T->I, I->I, T->T; Tables 1 and 2, validation)
PAPER = {"wikipedia": {
    "full": (47.44, 49.01, 42.94, 78.33), "intra": (17.50, 14.60, 42.83, 78.76),
    "inter": (46.55, 48.52, 43.01, 72.23), "bin": (28.53, 29.18, 34.82, 38.91),
    "a08": (48.34, 49.41, 44.03, 76.45), "bin_a08": (33.86, 34.25, 38.06, 43.88)}}


def main() -> None:
    args = table_arguments(__doc__, list(ROWS), ["full", "intra", "inter", "bin", "a08", "bin_a08"],
                           "store/scratch/msdmml")
    params, store = read_params(), Store(Path(args.store))
    tag = f"_{args.tag}" if args.tag else ""
    runs = collect_runs(
        params, store, f"tables_{args.dataset}",
        {row: ROWS[row][0].format(args.dataset) for row in args.rows}, args.seeds, args.sets,
        args.tag, keep=lambda m, log: {"tasks": m["tasks"], "seconds": log["train_seconds"]},
        summary=lambda m, log: "  ".join(f"{t} {m['tasks'][t]['map@100']:.4f}" for t in TASKS)
        + f"  {log['train_seconds']:.0f} s")
    paper = PAPER.get(args.dataset, {})
    print(f"\n{args.dataset}, seeds {args.seeds}: mAP@100 (paper's, validation, in brackets)")
    print("| row | I→T | T→I | I→I | T→T | average | MAP I→T | MAP T→I | train s |")
    print("|---" * 9 + "|")
    for row in args.rows:
        rs = row_runs(runs, row, tag, args.seeds)
        if not rs:
            continue
        cells = []
        for k, t in enumerate(TASKS):
            cell = fmt([r["tasks"][t]["map@100"] for r in rs])
            cells.append(cell + (f" ({paper[row][k] / 100:.3f})" if row in paper else ""))
        avg = [statistics.mean(r["tasks"][t]["map@100"] for t in TASKS) for r in rs]
        whole = [fmt([r["tasks"][t]["map"] for r in rs]) for t in ("i2t", "t2i")]
        secs = statistics.mean(r["seconds"] for r in rs)
        print(f"| {ROWS[row][1]}{' ' + args.tag if tag else ''} | {' | '.join(cells)} | "
              f"{fmt(avg)} | {' | '.join(whole)} | {secs:.0f} |")


if __name__ == "__main__":
    main()
