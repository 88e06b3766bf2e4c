"""mgmm's Table 6 ablation, and Framework I's stage ablation, each row over several seeds.

    python benchmarks/mgmm_ablation.py scenes [--seeds 0 1 2] [--store store/scratch/mgmm]
    python benchmarks/mgmm_ablation.py wikipedia --stages [--seeds 0]

Runs `mgmm_<dataset>_<row>` from params.yaml for the rows c, cf, cm, f, fm, cfm (coarse / fine
granularities, multi-margin or single-margin triplet loss) or, with ``--stages``, the full model
`mgmm_<dataset>_cfm` with one Framework I stage left out at a time (`architecture.*.stages`),
with none of them (the DBN outputs straight to Framework II), or fine-tuned in Framework II
instead of frozen. ``training.seed`` is set to each seed (the data split stays the one in
params.yaml); the runs happen outside DVC in a scratch store. Prints, per row, MAP I->T, T->I and
their average as mean +- std over the seeds and the Framework I and II training times, and
writes every run's figures to <store>/ablation_<dataset>.json (runs already there are re-used).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from seeded import fmt, run_seeded
from xmr.pipeline import read_params
from xmr.store.layout import Store

ROWS = {  # row -> (coarse, fine, multi-margin), as in the paper's Table 6
    "c": (True, False, False), "cf": (True, True, False), "cm": (True, False, True),
    "f": (False, True, False), "fm": (False, True, True), "cfm": (True, True, True),
}
BOTH = ("image", "text")
STAGES = {  # variant of the full model (cfm) -> --set items
    "full": [],  # the same run as Table 6's cfm row
    "no_joint": [f"architecture.{m}.stages=[joint_rbm,fusion]" for m in BOTH],
    "no_joint_rbm": [f"architecture.{m}.stages=[joint,fusion]" for m in BOTH],
    "no_fusion": [f"architecture.{m}.stages=[joint,joint_rbm]" for m in BOTH],
    "dbn_only": [f"architecture.{m}.stages=[]" for m in BOTH],
    "finetune": ["training.phases.1.trainable=[image,text,label_head]"],
    # both searches chose the lowest CD learning rate on offer (1e-4): ten times lower still
    "dbn_lr_1e-5": ["training.phases.0.dbn.lr=1e-5"],
}


def _key(row: str) -> str:
    return "cfm" if row == "full" else row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", choices=["scenes", "wikipedia"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--store", default="store/scratch/mgmm")
    ap.add_argument("--stages", action="store_true", help="the Framework I stage ablation")
    ap.add_argument("--rows", nargs="+", help=f"rows to run: {list(ROWS)} or, with --stages, "
                    f"{list(STAGES)} (default: all)")
    args = ap.parse_args()
    table = STAGES if args.stages else ROWS
    rows = args.rows or list(table)
    if unknown := set(rows) - set(table):
        ap.error(f"unknown rows {sorted(unknown)}; choose from {list(table)}")
    params, store = read_params(), Store(Path(args.store))
    out_path = store.root / f"ablation_{args.dataset}.json"
    runs = json.loads(out_path.read_text()) if out_path.is_file() else {}
    for row in rows:
        experiment = f"mgmm_{args.dataset}_{'cfm' if args.stages else row}"
        for seed in args.seeds:
            run = f"mgmm_{args.dataset}_{_key(row)}_s{seed}"
            if run in runs:
                continue
            metrics, log = run_seeded(params, store, experiment, run, seed,
                                      STAGES[row] if args.stages else [])
            runs[run] = {"row": _key(row), "seed": seed,
                         "i2t": metrics["tasks"]["i2t"], "t2i": metrics["tasks"]["t2i"],
                         "seconds": {p["name"]: p["seconds"] for p in log["phases"]}}
            store.root.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(runs, indent=1))
            print(f"{run}: I->T {runs[run]['i2t']['map']:.4f}  T->I {runs[run]['t2i']['map']:.4f}  "
                  f"{runs[run]['seconds']}", flush=True)
    print(f"\n{args.dataset}, seeds {args.seeds}")
    first = "Framework I variant" if args.stages else "coarse | fine | multi-margin"
    print(f"| {first} | I→T | T→I | average | Framework I s | Framework II s |")
    print("|---" * (first.count("|") + 6) + "|")
    for row in rows:
        rs = [r for r in runs.values() if r["row"] == _key(row) and r["seed"] in args.seeds]
        if not rs:
            continue
        i2t = [r["i2t"]["map"] for r in rs]
        t2i = [r["t2i"]["map"] for r in rs]
        avg = [(a + b) / 2 for a, b in zip(i2t, t2i)]
        f1 = statistics.mean(r["seconds"]["framework1"] for r in rs)
        f2 = statistics.mean(r["seconds"]["framework2"] for r in rs)
        label = row if args.stages else " | ".join("✓" if v else "" for v in ROWS[row])
        print(f"| {label} | {fmt(i2t)} | {fmt(t2i)} | {fmt(avg)} | {f1:.0f} | {f2:.0f} |")


if __name__ == "__main__":
    main()
