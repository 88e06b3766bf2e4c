"""featurize: run an extractor over a prepared dataset's units, into one Zarr feature set.

A feature set is keyed by (modality, extractor, resolved params, granularity, the dataset's items
and split, and the content of what the extractor reads: the texts, the image files, or for
precomputed sets the dataset's source files): the same key is never computed twice, and any
change of parameter or of input data gives a new set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from .datasets import DATASETS
from .datasets.base import UNITS_SCHEMA, check_finite, resolve_root
from .extractors import EXTRACTORS
from .granularity import GRANULARITIES
from .spec.models import DatasetSpec, FeatureSpec
from .store.files import read_json, read_table, sha256_file, stable_hash
from .store.layout import FeatureSet, FeatureSetWriter, Store


@dataclass
class Prepared:
    """A prepared dataset read back from the store."""

    key: str
    path: Path
    meta: dict[str, Any]
    items: pa.Table
    units: pa.Table

    @classmethod
    def open(cls, store: Store, key: str) -> "Prepared":
        path = store.dataset_dir(key)
        if not (path / "dataset.json").is_file():
            raise FileNotFoundError(f"dataset {key!r} is not prepared in {store.root} "
                                    f"(run `dvc repro prepare@{key}` or `xmr run`)")
        return cls(key, path, read_json(path / "dataset.json"), read_table(path / "items.parquet"),
                   read_table(path / "units.parquet"))

    def targets(self):
        """(category (n,) long, labels (n, C) multi-hot float) as torch tensors."""
        import torch

        n_cls = max(len(self.meta["label_names"]), 1)
        labels = torch.zeros(self.items.num_rows, n_cls)
        for i, labs in enumerate(self.items.column("labels").to_pylist()):
            labels[i, labs] = 1.0
        category = torch.tensor(self.items.column("category").to_pylist(), dtype=torch.long)
        return category, labels

    def split_indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.items.column("split").to_pylist()) == split)


def featureset_key(prepared: Prepared, fspec: FeatureSpec, ext=None) -> tuple[str, dict[str, Any]]:
    ext = ext or EXTRACTORS.get(fspec.extractor)(fspec.params)
    meta = prepared.meta
    if fspec.extractor == "precomputed":  # the files the dataset ships its matrices in
        inputs = (meta.get("sources") or {}).get("sha256")
    else:  # the texts or the image files the extractor reads
        inputs = meta.get(f"{fspec.modality}_hash")
    key = {"modality": fspec.modality, "extractor": fspec.extractor,
           "params": ext.resolved_params(), "granularity": fspec.granularity.model_dump(),
           "items_hash": meta["items_hash"], "split_hash": meta["split_hash"], "inputs": inputs}
    name = f"{fspec.modality}.{fspec.extractor}.{fspec.granularity.type}.{stable_hash(key)}"
    return name, key


def featurize(store: Store, dataset_key: str, fspec: FeatureSpec, build: bool = True) -> FeatureSet:
    """Return the feature set for ``fspec``, computing it only when it is not in the store."""
    prepared = Prepared.open(store, dataset_key)
    ext = EXTRACTORS.get(fspec.extractor)(fspec.params)
    name, key = featureset_key(prepared, fspec, ext)
    path = store.featureset_dir(dataset_key, name)
    if (path / "provenance.json").is_file():
        return FeatureSet.open(path)
    if not build:
        raise FileNotFoundError(
            f"feature set {name} ({fspec.extractor}, {fspec.granularity.type}, {fspec.modality}) "
            f"is not in {store.features_dir(dataset_key)}; add it to the "
            f"`datasets.{dataset_key}.features` list in params.yaml so `featurize@{dataset_key}` "
            "builds it")
    if ext.modality not in ("any", fspec.modality):
        raise ValueError(f"extractor {fspec.extractor!r} makes {ext.modality} features, "
                         f"not {fspec.modality}")
    provenance = dict(name=name, dataset=dataset_key, modality=fspec.modality,
                      granularity=fspec.granularity.model_dump(), extractor=fspec.extractor,
                      params=key["params"], items_hash=key["items_hash"], inputs=key["inputs"],
                      split_hash=prepared.meta["split_hash"], weights_sha256=None)
    n_items = prepared.items.num_rows
    if fspec.extractor == "precomputed":
        if fspec.granularity.type != "whole":
            raise ValueError("extractor 'precomputed' gives whole-item features only")
        ds_spec = DatasetSpec.model_validate(prepared.meta["config"])
        source = DATASETS.get(ds_spec.name)()
        matrix, info = source.precomputed(ds_spec, resolve_root(ds_spec), ext.params.name,
                                          prepared.items)
        if len(matrix) != n_items:
            raise ValueError(f"{info['file']}: {len(matrix)} rows for {n_items} items")
        check_finite(matrix, f"{info['file']}: feature {ext.params.name!r} (variables "
                     f"{', '.join(info.get('variables', []))})",
                     prepared.items.column("item_id").to_pylist())
        provenance.update(weights_sha256=info["sha256"], source=info)
        with FeatureSetWriter(path, n_items, matrix.shape[1], str(matrix.dtype)) as w:
            w.write(matrix)
            w.finish(dict(provenance, created_at=_now()))
        return FeatureSet.open(path)

    units = GRANULARITIES.get(fspec.granularity.type)(fspec.granularity, fspec.modality,
                                                      prepared.items, prepared.units, prepared.path)
    flat, owners = [], []
    if fspec.modality == "image":
        paths = prepared.items.column("image_path").to_pylist()
        ids = prepared.items.column("item_id").to_pylist()
        for i, boxes in enumerate(units.per_item):
            if paths[i] is None:
                raise ValueError(f"dataset {dataset_key}: item {ids[i]} has no image; image "
                                 "extractors need the dataset's images (or use precomputed features)")
            full = Path(paths[i]) if Path(paths[i]).is_absolute() else prepared.path / paths[i]
            flat += [(full, b) for b in boxes]
            owners += [i] * len(boxes)
    else:
        for i, texts in enumerate(units.per_item):
            flat += texts
            owners += [i] * len(texts)
    owners_arr = np.asarray(owners, dtype=np.int64)
    train = set(prepared.split_indices("train").tolist())
    if units.fit_per_item is None:
        ext.fit([u for u, o in zip(flat, owners) if o in train])
    else:  # e.g. words: word2vec learns from the training documents, not from lone words
        ext.fit([u for i in sorted(train) for u in units.fit_per_item[i]])
    weights = ext.weights_file()
    provenance["weights_sha256"] = sha256_file(weights) if weights else None
    offsets = None
    if units.fine:
        offsets = np.zeros(n_items + 1, np.int64)
        np.cumsum(np.bincount(owners_arr, minlength=n_items), out=offsets[1:])
    block = 2048
    with FeatureSetWriter(path, len(flat), ext.dim, ext.dtype, offsets=offsets) as w:
        for start in tqdm(range(0, len(flat), block), desc=f"featurize {name}", unit="block",
                          disable=None if len(flat) > block else True):
            out = ext.transform(flat[start:start + block])
            if not np.isfinite(out).all():
                ids = prepared.items.column("item_id").to_pylist()
                check_finite(out, f"feature set {name} ({fspec.extractor} on {dataset_key})",
                             [f"{ids[o]}, unit {start + k}" for k, o in
                              enumerate(owners[start:start + block])])
            w.write(out)
        extra = {}
        if hasattr(ext, "oov"):
            extra["oov_rate"] = ext.oov / max(ext.tokens, 1)
        if hasattr(ext, "vocabulary"):
            extra["vocabulary_size"] = ext.dim
        unit_table = None
        if units.fine:
            counters: dict[int, int] = {}
            rows = []
            item_ids = prepared.items.column("item_id").to_pylist()
            for u, o in zip(flat, owners):
                j = counters.get(o, 0)
                counters[o] = j + 1
                box, text = (list(u[1]), None) if fspec.modality == "image" else (None, u)
                rows.append({"dataset": dataset_key, "featureset": name, "item_id": item_ids[o],
                             "item_idx": o, "unit": j, "kind": units.kind, "text": text, "box": box})
            unit_table = pa.Table.from_pylist(rows, schema=UNITS_SCHEMA)
            extra["empty_items"] = int(np.sum(np.diff(offsets) == 0))
        w.finish(dict(provenance, **extra, created_at=_now()), units=unit_table)
    return FeatureSet.open(path)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
