"""What `xmr compare` and `xmr report` read of a run: its stored metrics, spec, training log and
curves, by experiment name or glob, from the store (or, for metrics and params, from a git
revision or DVC experiment through DVC's API). Nothing is trained or scored again here."""

from __future__ import annotations

import csv
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..store import Store
from ..store.files import check_component, read_json
from ..tables import ARROWS as TASK_NAMES  # the tasks as the comparison tables print them


def stored_experiments(store: Store) -> list[str]:
    """Every experiment with a metrics file in ``store``, sorted."""
    folder = store.root / "metrics"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def resolve_experiments(store: Store, patterns: list[str]) -> list[str]:
    """The experiments named by ``patterns`` (names or shell globs such as ``wikipedia_*``), in
    the order given, each once. A pattern that matches nothing is an error naming what exists."""
    known = stored_experiments(store)
    if not patterns:
        if not known:
            raise FileNotFoundError(f"no evaluated experiments in {store.root / 'metrics'}: run "
                                    "`dvc repro` (or `xmr run SPEC`) first")
        return known
    out: list[str] = []
    for pattern in patterns:
        is_glob = any(c in pattern for c in "*?[")
        if is_glob:
            hits = fnmatch.filter(known, pattern)
        else:
            check_component(pattern, "experiment")
            hits = [pattern] if pattern in known else []
        if not hits:
            sample = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "")
            stage = (f"dvc repro --glob 'evaluate@{pattern}'" if is_glob
                     else f"dvc repro evaluate@{pattern}")
            raise FileNotFoundError(f"no evaluated experiment matches {pattern!r} in "
                                    f"{store.root / 'metrics'} (there: {sample or 'none'}); "
                                    f"run `{stage}`")
        out += [h for h in hits if h not in out]
    return out


def _read_curve(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


@dataclass
class Run:
    """One evaluated experiment in a store."""

    name: str
    metrics: dict[str, Any]
    spec: dict[str, Any]
    log: dict[str, Any]
    # per task, the columns of its curve files: rank, recall, precision (pr_<task>.csv); R, map
    # (map_at_r_<task>.csv); radius, recall, precision (radius_<task>.csv, hash lookup)
    pr: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    map_at_r: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    radius: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return list(self.metrics["tasks"])

    @property
    def protocol(self) -> str:
        return self.metrics["protocol"]["name"]

    @property
    def dataset(self) -> str:
        return self.log["dataset"]

    @property
    def bits(self) -> int | None:
        head = self.spec["architecture"].get("hash_head")
        return head["bits"] if head else None

    def map(self, task: str) -> float:
        return float(self.metrics["tasks"][task]["map"])


def load_run(store: Store, name: str, curves: bool = True) -> Run:
    """Experiment ``name``'s stored metrics, spec, training log and (``curves``) curves."""
    metrics_path = store.metrics_path(name)
    exp_dir = store.experiment_dir(name)
    for path, stage in ((metrics_path, "evaluate"), (exp_dir / "spec.json", "train"),
                        (exp_dir / "train_log.json", "train")):
        if not path.is_file():
            raise FileNotFoundError(f"experiment {name!r}: {path} is missing; run "
                                    f"`dvc repro {stage}@{name}`")
    run = Run(name, read_json(metrics_path), read_json(exp_dir / "spec.json"),
              read_json(exp_dir / "train_log.json"))
    for task in run.tasks if curves else ():
        for folder, prefix, into in ((store.plots_dir(name), "pr", run.pr),
                                     (store.curves_dir(name), "map_at_r", run.map_at_r),
                                     (store.plots_dir(name), "radius", run.radius)):
            path = folder / f"{prefix}_{task}.csv"
            if path.is_file():
                into[task] = _read_curve(path)
    return run


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings and lists as ``{"a.b.0.c": leaf}``."""
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list) and any(isinstance(v, (dict, list)) for v in data):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: data}
    out: dict[str, Any] = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def differing(settings: list[dict[str, Any]], ignore: tuple[str, ...] = ()) -> list[str]:
    """The flattened keys whose values are not the same in every one of ``settings``."""
    flat = [flatten(s) for s in settings]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    missing = object()
    return [k for k in keys if not k.startswith(ignore)
            and len({json.dumps(f.get(k, missing), sort_keys=True, default=str)
                     for f in flat}) > 1]


__all__ = ["Run", "TASK_NAMES", "differing", "flatten", "load_run", "resolve_experiments",
           "stored_experiments"]
