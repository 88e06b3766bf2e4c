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
