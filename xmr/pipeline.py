"""The pipeline's steps as plain functions over a store: prepare, featurize, train, evaluate.

`stages/*.py` (what dvc.yaml calls) and `xmr run` (everything at once, outside DVC) are thin
wrappers over these.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from .datasets import DATASETS
from .datasets import prepare as prepare_dataset
from .datasets.base import source_fingerprint
from .featurize import Prepared, featurize, featureset_key
from .spec.checks import dataset_problems, feature_problems
from .spec.load import SpecError, format_validation_error, load_spec, read_yaml
from .spec.models import DatasetSpec, ExperimentSpec, FeatureSpec, branch_inputs, check_granularity
from .spec.protocols import resolve_protocol
from .store.catalog import refresh_catalog
from .store.files import (atomic_dir, check_component, is_temporary, read_json, stable_hash,
                          write_json, write_table)
from .store.fingerprint import HashCache
from .store.layout import Store

PARAMS_FILE = Path("params.yaml")


# ------------------------------------------------------------------------------ params.yaml


def read_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (run from the project root)")
    return read_yaml(path)


def _section(params: dict, family: str, key: str) -> dict:
    check_component(key, f"params.yaml: {family}.{key}:")
    section = (params.get(family) or {}).get(key)
    if section is None:
        known = ", ".join(params.get(family) or {})
        raise KeyError(f"params.yaml: no {family}.{key} ({family}: {known})")
    if not isinstance(section, dict):
        raise SpecError(f"params.yaml: {family}.{key}: expected a mapping")
    return section


def _model(model, data, where: str):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(f"params.yaml: {where}", exc, data)) from None


def params_dataset(params: dict, key: str) -> tuple[DatasetSpec, list[FeatureSpec]]:
    """``datasets.<key>`` of params.yaml: the dataset spec and its feature sets, fully checked.

    ``data`` names what the dataset is built from, the file or folder that DVC hashes as the
    prepare stage's dependency; it must be the dataset's root (which it sets when ``spec.root`` is
    unset), or, for a generated dataset, its generator module."""
    section = _section(params, "datasets", key)
    where = f"datasets.{key}"
    ds = _model(DatasetSpec, section.get("spec"), f"{where}.spec")
    problems = [f"{where}.spec.{p}" for p in dataset_problems(ds)]
    feats = []
    for i, f in enumerate(section.get("features") or []):
        feat = _model(FeatureSpec, f, f"{where}.features.{i}")
        if feat.modality is None:
            problems.append(f"{where}.features.{i}.modality: set `modality` (image or text)")
            continue
        try:
            check_granularity(f"{where}.features.{i}", feat)
        except ValueError as exc:
            problems.append(str(exc))
        problems += [p.replace("features.", f"{where}.features.", 1)
                     for p in feature_problems(str(i), feat, ds.name)]
        feats.append(feat)
    if section.get("data") is None:
        problems.append(f"{where}.data: name the folder (or, for a generated dataset, the "
                        "generator module) the dataset is built from; DVC hashes it")
    elif not problems:
        ds = _check_data(ds, str(section["data"]), where, problems)
    if problems:
        raise SpecError("\n".join([f"params.yaml: {len(problems)} error(s)",
                                   *(f"  {p}" for p in problems)]))
    return ds, feats


def _check_data(ds: DatasetSpec, data: str, where: str, problems: list[str]) -> DatasetSpec:
    source = DATASETS.get(ds.name)()
    if source.needs_root():
        if ds.root is None:
            return ds.model_copy(update={"root": data})
        if Path(ds.root).resolve() != Path(data).resolve():
            problems.append(f"{where}.data: {data!r} is not the dataset's root {ds.root!r}; DVC "
                            "would watch the wrong files")
    elif Path(data).resolve() != source.source_path(None).resolve():
        generator = os.path.relpath(source.source_path(None))
        problems.append(f"{where}.data: a generated dataset is built from its generator "
                        f"{generator}, not {data!r}")
    return ds


def params_experiment(params: dict, name: str) -> tuple[ExperimentSpec, str]:
    section = _section(params, "experiments", name)
    key = section.get("dataset")
    if not isinstance(key, str) or "spec" not in section:
        raise SpecError(f"params.yaml: experiments.{name}: needs `spec` (a file) and `dataset` "
                        "(a key of `datasets`)")
    ds, _ = params_dataset(params, key)
    overrides = {"name": name, "dataset": ds.model_dump(mode="json"), **(section.get("set") or {})}
    return load_spec(section["spec"], overrides=overrides), key


# ------------------------------------------------------------------------------ steps


def prepare_step(store: Store, key: str, spec: DatasetSpec) -> dict:
    store.remove_stale_temporaries()
    meta = prepare_dataset(spec, store.dataset_dir(key), store.root)
    refresh_catalog(store)
    return meta


def featurize_step(store: Store, key: str, feats: list[FeatureSpec], prune: bool = True) -> list[str]:
    """Build every listed feature set (reusing those already there); drop unlisted ones."""
    store.remove_stale_temporaries()
    names = [featurize(store, key, f).path.name for f in feats]
    if prune and store.features_dir(key).is_dir():
        for p in store.features_dir(key).iterdir():
            if p.is_dir() and p.name not in names and not is_temporary(p):
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


def train_step(store: Store, spec: ExperimentSpec, key: str, build_features: bool = False,
               write: bool = True, on_epoch=None) -> dict:
    """Train ``spec`` on prepared dataset ``key``; ``write=False`` keeps the model in memory only
    (a tuning trial), ``on_epoch`` gets each epoch's log entry."""
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
    store.remove_stale_temporaries()
    log = train_experiment(spec, data, store.experiment_dir(spec.name) if write else None, names,
                           on_epoch=on_epoch)
    if write:
        refresh_catalog(store)
    return log


def evaluate_step(store: Store, name: str) -> dict:
    """Score the test split of experiment ``name`` on every task of its protocol."""
    from .threads import configure_threads
    from .train import Representations, load_model, score_splits

    configure_threads()
    exp_dir = store.experiment_dir(name)
    store.remove_stale_temporaries()
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
    ev = spec.evaluation
    network = (load_model(exp_dir, spec).metric_network
               if "learned" in [protocol.distance, *ev.also_distances] else None)
    curve = [f"map@{r}" for r in ev.map_curve]
    results = score_splits(reps, category, labels, splits, "test", protocol, ev.tasks,
                           list(dict.fromkeys(ev.metrics + curve)), ev.pr_points, ev.query_chunk,
                           metric_network=network, memory_mb=ev.memory_mb)
    metrics = {
        "experiment": name,
        "protocol": protocol.model_dump(mode="json"),
        "queries": {"split": "test", "count": int(len(splits["test"]))},
        "database": {"split": protocol.database,
                     "count": int(len(splits[protocol.database]))},
        "tasks": {t: {m: round(r.metrics[m], 6) for m in ev.metrics} for t, r in results.items()},
        "empty_queries": {t: r.n_empty for t, r in results.items()},
        "average": {"map": round(float(np.mean([results[t].metrics["map"] for t in results
                                                if "map" in results[t].metrics] or [np.nan])), 6)},
        "split_hash": log["split_hash"], "spec_hash": log["spec_hash"],
    }
    if ev.also_distances:
        metrics["distances"] = {}
    for distance in ev.also_distances:
        other = protocol.model_copy(update={"distance": distance})
        res = score_splits(reps, category, labels, splits, "test", other, ev.tasks, ev.metrics,
                           ev.pr_points, ev.query_chunk, metric_network=network,
                           memory_mb=ev.memory_mb)
        metrics["distances"][distance] = {  # the spec's metrics under that distance too
            **{t: {m: round(r.metrics[m], 6) for m in ev.metrics} for t, r in res.items()},
            "average": {"map": round(float(np.mean([r.metrics["map"] for r in res.values()
                                                    if "map" in r.metrics] or [np.nan])), 6)}}
    write_json(store.metrics_path(name), metrics)
    with atomic_dir(store.plots_dir(name)) as tmp:
        for t, r in results.items():
            with open(tmp / f"pr_{t}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["rank", "recall", "precision"])
                for row in zip(r.pr["rank"], r.pr["recall"], r.pr["precision"]):
                    w.writerow([int(row[0]), f"{row[1]:.6f}", f"{row[2]:.6f}"])
            if r.radius is not None:  # hash lookup: one point per Hamming radius
                with open(tmp / f"radius_{t}.csv", "w", newline="") as fh:
                    w = csv.writer(fh)
                    w.writerow(["radius", "recall", "precision"])
                    for row in zip(r.radius["radius"], r.radius["recall"], r.radius["precision"]):
                        w.writerow([int(row[0]), f"{row[1]:.6f}", f"{row[2]:.6f}"])
    with atomic_dir(store.curves_dir(name)) as tmp:
        for t, r in results.items():
            with open(tmp / f"map_at_r_{t}.csv", "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["R", "map"])
                for cut, m in zip(ev.map_curve, curve):
                    w.writerow([cut, f"{r.metrics[m]:.6f}"])
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


def dataset_is_current(store: Store, key: str, spec: DatasetSpec) -> bool:
    """Whether ``store`` holds dataset ``key`` prepared from ``spec`` and from source files whose
    content is unchanged (sizes and mtimes checked, content hashes cached; see fingerprint.py)."""
    meta_path = store.dataset_dir(key) / "dataset.json"
    if not meta_path.is_file():
        return False
    meta = read_json(meta_path)
    if meta.get("config") != spec.model_dump(mode="json") or "sources" not in meta:
        return False
    with HashCache(store.root) as cache:
        return source_fingerprint(spec, cache)["sha256"] == meta["sources"]["sha256"]


def ensure_dataset(store: Store, spec: DatasetSpec) -> str:
    """The key of ``spec``'s prepared dataset in a scratch store, prepared when missing or when
    its source files changed."""
    key = f"{spec.name}-{stable_hash(spec.model_dump(mode='json'))}"
    if not dataset_is_current(store, key, spec):
        prepare_step(store, key, spec)
    return key


def run_spec(spec: ExperimentSpec, store: Store) -> dict:
    """All steps of one spec outside DVC, in a scratch store, reusing what is already there and
    still current: a changed source file re-prepares the dataset, and with it every feature set
    that reads what changed."""
    key = ensure_dataset(store, spec.dataset)
    train_step(store, spec, key, build_features=True)
    return evaluate_step(store, spec.name)


__all__ = ["ensure_dataset", "evaluate_step", "featureset_key", "featurize_step", "params_dataset",
           "params_experiment", "prepare_step", "read_params", "run_spec", "train_step"]
