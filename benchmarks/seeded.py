"""Helpers of the benchmark scripts that re-run params.yaml experiments over training seeds."""

from __future__ import annotations

import json
import statistics

from xmr.pipeline import params_experiment, run_spec
from xmr.spec.load import apply_sets, validate_spec
from xmr.store.layout import Store


def fmt(values: list[float]) -> str:
    """One value as is, several as mean ± std."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def run_seeded(params: dict, store: Store, experiment: str, run: str, seed: int,
               sets: list[str]) -> tuple[dict, dict]:
    """Train and test params.yaml's ``experiment`` as ``run`` with ``training.seed`` = ``seed``
    and ``sets`` applied, in ``store`` (outside DVC); its metrics and train log."""
    spec, _ = params_experiment(params, experiment)
    items = [f"name={run}", f"training.seed={seed}", *sets]
    spec = validate_spec(apply_sets(spec.model_dump(mode="json"), items), experiment)
    metrics = run_spec(spec, store)
    log = json.loads((store.experiment_dir(run) / "train_log.json").read_text())
    return metrics, log


def collect_runs(params: dict, store: Store, table: str, rows: dict[str, str], seeds: list[int],
                 sets: list[str], tag: str, keep, summary) -> dict:
    """Run each ``rows`` entry (row -> params.yaml experiment) once per seed, as
    ``<experiment>[_<tag>]_s<seed>``, with ``sets``; runs already in ``<store>/<table>.json`` are
    re-used. ``keep(metrics, log)`` gives what is recorded of a run beside its row, seed and
    sets, ``summary(metrics, log)`` the line printed when it finishes. Returns every run."""
    out_path = store.root / f"{table}.json"
    runs = json.loads(out_path.read_text()) if out_path.is_file() else {}
    suffix = f"_{tag}" if tag else ""
    for row, experiment in rows.items():
        for seed in seeds:
            run = f"{experiment}{suffix}_s{seed}"
            if run in runs:
                continue
            metrics, log = run_seeded(params, store, experiment, run, seed, sets)
            runs[run] = {"row": row + suffix, "seed": seed, "sets": sets, **keep(metrics, log)}
            store.root.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(runs, indent=1))
            print(f"{run}: {summary(metrics, log)}", flush=True)
    return runs


def row_runs(runs: dict, row: str, suffix: str, seeds: list[int]) -> list[dict]:
    """The recorded runs of one table row (``row`` + the probe's ``suffix``) among ``seeds``."""
    return [r for r in runs.values() if r["row"] == row + suffix and r["seed"] in seeds]


def table_arguments(doc: str, rows: list[str], default_rows: list[str], store: str):
    """The command line the table scripts share: a dataset, seeds, a scratch store, rows, and a
    probe's --sets with its --tag."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("dataset", choices=["scenes", "wikipedia"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--store", default=store)
    ap.add_argument("--rows", nargs="+", default=default_rows, choices=rows)
    ap.add_argument("--sets", nargs="*", default=[], help="--set items added to every run")
    ap.add_argument("--tag", default="", help="names the runs made with --sets")
    args = ap.parse_args()
    if args.sets and not args.tag:
        ap.error("--sets needs a --tag")
    return args
