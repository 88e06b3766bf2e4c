"""mgmm's Table 6 ablation, each row over several seeds, from the experiments in params.yaml.

    python benchmarks/mgmm_ablation.py scenes [--seeds 0 1 2] [--store store/scratch/mgmm]

Runs `mgmm_<dataset>_<row>` for the rows c, cf, cm, f, fm, cfm (coarse / fine granularities,
multi-margin or single-margin triplet loss) with ``training.seed`` set to each seed (the data
split stays the one in params.yaml), outside DVC in a scratch store. Prints, per row, MAP
I->T, T->I and their average as mean +- std over the seeds, the Framework I and II training
times, and writes every run's figures to <store>/ablation_<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from xmr.pipeline import params_experiment, read_params, run_spec
from xmr.store.layout import Store

ROWS = {  # row -> (coarse, fine, multi-margin), as in the paper's Table 6
    "c": (True, False, False), "cf": (True, True, False), "cm": (True, False, True),
    "f": (False, True, False), "fm": (False, True, True), "cfm": (True, True, True),
}


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", choices=["scenes", "wikipedia"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--store", default="store/scratch/mgmm")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    args = ap.parse_args()
    params, store = read_params(), Store(Path(args.store))
    out_path = store.root / f"ablation_{args.dataset}.json"
    runs = json.loads(out_path.read_text()) if out_path.is_file() else {}
    for row in args.rows:
        for seed in args.seeds:
            run = f"mgmm_{args.dataset}_{row}_s{seed}"
            if run in runs:
                continue
            spec, _ = params_experiment(params, f"mgmm_{args.dataset}_{row}")
            spec = spec.model_copy(update={"name": run, "training": spec.training.model_copy(
                update={"seed": seed})})
            metrics = run_spec(spec, store)
            log = json.loads((store.experiment_dir(run) / "train_log.json").read_text())
            runs[run] = {"row": row, "seed": seed,
                         "i2t": metrics["tasks"]["i2t"], "t2i": metrics["tasks"]["t2i"],
                         "seconds": {p["name"]: p["seconds"] for p in log["phases"]}}
            store.root.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(runs, indent=1))
            print(f"{run}: I->T {runs[run]['i2t']['map']:.4f}  T->I {runs[run]['t2i']['map']:.4f}  "
                  f"{runs[run]['seconds']}", flush=True)
    print(f"\n{args.dataset}, seeds {args.seeds}")
    print("| coarse | fine | multi-margin | I→T | T→I | average | Framework I s | Framework II s |")
    print("|---|---|---|---|---|---|---|---|")
    for row, (c, f, m) in ROWS.items():
        rs = [r for r in runs.values() if r["row"] == row and r["seed"] in args.seeds]
        if not rs:
            continue
        i2t = [r["i2t"]["map"] for r in rs]
        t2i = [r["t2i"]["map"] for r in rs]
        avg = [(a + b) / 2 for a, b in zip(i2t, t2i)]
        f1 = statistics.mean(r["seconds"]["framework1"] for r in rs)
        f2 = statistics.mean(r["seconds"]["framework2"] for r in rs)
        marks = " | ".join("✓" if v else "" for v in (c, f, m))
        print(f"| {marks} | {fmt(i2t)} | {fmt(t2i)} | {fmt(avg)} | {f1:.0f} | {f2:.0f} |")


if __name__ == "__main__":
    main()
