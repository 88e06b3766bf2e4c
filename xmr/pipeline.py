"""The pipeline's steps as plain functions over a store: prepare, featurize, train, evaluate.

`stages/*.py` (what dvc.yaml calls) and `xmr run` (everything at once, outside DVC) are thin
wrappers over these.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .datasets import prepare as prepare_dataset
from .featurize import Prepared, featurize, featureset_key
from .spec.load import load_spec, read_yaml
from .spec.models import DatasetSpec, ExperimentSpec, FeatureSpec, branch_inputs
from .spec.protocols import resolve_protocol
from .store.catalog import refresh_catalog
from .store.files import atomic_dir, read_json, remove_stale_temporaries, stable_hash, write_json, write_table
from .store.layout import Store

PARAMS_FILE = Path("params.yaml")


# ------------------------------------------------------------------------------ params.yaml


def read_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (run from the project root)")
    return read_yaml(path)


def params_dataset(params: dict, key: str) -> tuple[DatasetSpec, list[FeatureSpec]]:
    try:
        section = params["datasets"][key]
    except KeyError:
        known = ", ".join(params.get("datasets", {}))
        raise KeyError(f"params.yaml: no datasets.{key} (datasets: {known})") from None
    ds = DatasetSpec.model_validate(section["spec"])
    feats = [FeatureSpec.model_validate(f) for f in section.get("features", [])]
    for i, f in enumerate(feats):
        if f.modality is None:
            raise ValueError(f"params.yaml: datasets.{key}.features.{i}: set `modality`")
    return ds, feats


def params_experiment(params: dict, name: str) -> tuple[ExperimentSpec, str]:
    try:
        section = params["experiments"][name]
    except KeyError:
        known = ", ".join(params.get("experiments", {}))
        raise KeyError(f"params.yaml: no experiments.{name} (experiments: {known})") from None
    key = section["dataset"]
    ds, _ = params_dataset(params, key)
    overrides = {"name": name, "dataset": ds.model_dump(mode="json"), **(section.get("set") or {})}
    return load_spec(section["spec"], overrides=overrides), key


# ------------------------------------------------------------------------------ steps


def prepare_step(store: Store, key: str, spec: DatasetSpec) -> dict:
    remove_stale_temporaries(store.dataset_dir(key).parent)
    meta = prepare_dataset(spec, store.dataset_dir(key))
    refresh_catalog(store)
    return meta


def featurize_step(store: Store, key: str, feats: list[FeatureSpec], prune: bool = True) -> list[str]:
    """Build every listed feature set (reusing those already there); drop unlisted ones."""
    names = [featurize(store, key, f).path.name for f in feats]
    if prune and store.features_dir(key).is_dir():
        for p in store.features_dir(key).iterdir():
            if p.is_dir() and p.name not in names:
                shutil.rmtree(p)
    refresh_catalog(store)
    return names


def check_dataset(spec: ExperimentSpec, prepared: Prepared) -> None:
    want = spec.dataset.model_dump(mode="json")
    have = prepared.meta["config"]
    if want != have:
        diff = [k for k in sorted(set(want) | set(have)) if want.get(k) != have.get(k)]
        raise ValueError(f"experiment {spec.name}: its dataset section differs from the prepared "
                         f"dataset {prepared.key!r} in {', '.join(diff)}; re-run prepare")


def train_step(store: Store, spec: ExperimentSpec, key: str, build_features: bool = False) -> dict:
    from .data import ExperimentData
    from .device import resolve_device
    from .train import train_experiment

    prepared = Prepared.open(store, key)
    check_dataset(spec, prepared)
    featuresets, names = {}, {}
    for m in ("image", "text"):
        featuresets[m] = {}
        for role, fkey in branch_inputs(getattr(spec.architecture, m)).items():
            fs = featurize(store, key, spec.features[fkey], build=build_features)
            featuresets[m][role] = fs
            names[m if role == "input" else f"{m}.{role}"] = fs.path.name
    relevance = resolve_protocol(spec.evaluation.protocol).relevance
    device = resolve_device(spec.training.device)
    data = ExperimentData.build(prepared, featuresets, relevance, device)
    remove_stale_temporaries(store.experiment_dir(spec.name).parent)
    log = train_experiment(spec, data, store.experiment_dir(spec.name), names)
    refresh_catalog(store)
    return log


def evaluate_step(store: Store, name: str) -> dict:
    """Score the test split of experiment ``name`` on every task of its protocol."""
    from .train import Representations, load_model, score_splits

    exp_dir = store.experiment_dir(name)
    if not (exp_dir / "spec.json").is_file():
        raise FileNotFoundError(f"experiment {name!r} is not trained in {store.root}")
    spec = ExperimentSpec.model_validate(read_json(exp_dir / "spec.json"))
    log = read_json(exp_dir / "train_log.json")
    prepared = Prepared.open(store, log["dataset"])
    if prepared.meta["split_hash"] != log["split_hash"]:
        raise ValueError(f"experiment {name!r} was trained on another split of "
                         f"{log['dataset']!r}; re-run its train stage")
    protocol = resolve_protocol(spec.evaluation.protocol)
    reps = Representations.load(exp_dir / "embeddings.zarr")
    items = prepared.items
    category, labels = prepared.targets()
    splits = {s: prepared.split_indices(s) for s in ("train", "val", "test")}
    splits["retrieval"] = np.setdiff1d(np.arange(items.num_rows), splits["test"])
    network = load_model(exp_dir, spec).metric_network if protocol.distance == "learned" else None
    ev = spec.evaluation
    results = score_splits(reps, category, labels, splits, "test", protocol, ev.tasks, ev.metrics,
                           ev.pr_points, ev.query_chunk, metric_network=network)
    metrics = {
        "experiment": name,
        "protocol": protocol.model_dump(mode="json"),
        "queries": {"split": "test", "count": int(len(splits["test"]))},
        "database": {"split": protocol.database,
                     "count": int(len(splits[protocol.database]))},
        "tasks": {t: {m: round(v, 6) for m, v in r.metrics.items()} for t, r in results.items()},
        "empty_queries": {t: r.n_empty for t, r in results.items()},
        "average": {"map": round(float(np.mean([results[t].metrics["map"] for t in results
                                                if "map" in results[t].metrics] or [np.nan])), 6)},
        "split_hash": log["split_hash"], "spec_hash": log["spec_hash"],
    }
    write_json(store.metrics_path(name), metrics)
    with atomic_dir(store.plots_dir(name)) as tmp:
        for t, r in results.items():
            with open(tmp / f"pr_{t}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["rank", "recall", "precision"])
                for row in zip(r.pr["rank"], r.pr["recall"], r.pr["precision"]):
                    w.writerow([int(row[0]), f"{row[1]:.6f}", f"{row[2]:.6f}"])
    ids = np.asarray(items.column("item_id").to_pylist())[splits["test"]]
    with atomic_dir(store.results_dir(name)) as tmp:
        rows = {"task": [], "query_item_id": [], **{m: [] for m in ev.metrics}}
        for t, r in results.items():
            rows["task"] += [t] * len(ids)
            rows["query_item_id"] += ids.tolist()
            for m in ev.metrics:
                rows[m] += r.per_query[m].tolist()
        write_table(tmp / "per_query.parquet", pa.table(rows))
    refresh_catalog(store)
    return metrics


def run_spec(spec: ExperimentSpec, store: Store) -> dict:
    """All steps of one spec outside DVC, in a scratch store, reusing what is already there."""
    key = f"{spec.dataset.name}-{stable_hash(spec.dataset.model_dump(mode='json'))}"
    if not (store.dataset_dir(key) / "dataset.json").is_file():
        prepare_step(store, key, spec.dataset)
    train_step(store, spec, key, build_features=True)
    return evaluate_step(store, spec.name)


__all__ = ["evaluate_step", "featureset_key", "featurize_step", "params_dataset",
           "params_experiment", "prepare_step", "read_params", "run_spec", "train_step"]
