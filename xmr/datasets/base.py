"""Dataset sources and the `prepare` step that turns one into catalog tables.

A source reads (or generates) a dataset and returns a `LoadedDataset`: one row per item with its
category, labels, raw text, image path and fine-grained units. `prepare` assigns the stored,
seeded, content-hashed split and writes ``items.parquet``, ``units.parquet`` and
``dataset.json`` into the dataset's store folder, atomically.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from ..registry import Registry
from ..spec.models import DatasetSpec, SplitSpec
from ..store.files import atomic_dir, write_json, write_table


class DatasetError(ValueError):
    """A dataset on disk that cannot be read; the message names the file and the row."""


@dataclass
class Unit:
    kind: str  # sentence | tag | object | region | patch
    text: str | None = None
    box: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 in pixels


@dataclass
class Item:
    item_id: str
    category: int  # -1 when the dataset has multi-labels only
    labels: list[int]
    text: str | None = None
    tags: list[str] | None = None
    image_path: str | None = None  # relative to the dataset's store folder, or absolute
    official_split: str | None = None  # train / test, for datasets that ship one
    units: list[Unit] = field(default_factory=list)


@dataclass
class LoadedDataset:
    items: list[Item]
    categories: list[str]
    label_names: list[str]
    multilabel: bool
    source: str  # where it came from (path, or generator + params)
    files: dict[str, str] = field(default_factory=dict)  # file -> sha256, for provenance


class DatasetSource:
    """Base class of registered datasets."""

    name: ClassVar[str]

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        """Read or generate the dataset. ``workdir`` is the store folder for raw blobs."""
        raise NotImplementedError

    def needs_root(self) -> bool:
        return True

    def precomputed(self, spec: DatasetSpec, root: Path, name: str) -> tuple[np.ndarray, dict]:
        """A feature matrix shipped with the dataset, rows in item order (see `prepare`)."""
        raise DatasetError(f"dataset {self.name!r} ships no precomputed features")


DATASETS: Registry[type[DatasetSource]] = Registry("dataset")


def resolve_root(spec: DatasetSpec) -> Path:
    """`spec.root`, else `$XMR_DATA/<name>`, else ../shared/data/<name> (relative to cwd)."""
    if spec.root:
        candidates = [Path(os.path.expandvars(spec.root)).expanduser()]
    elif os.environ.get("XMR_DATA"):
        candidates = [Path(os.environ["XMR_DATA"]) / spec.name]
    else:
        candidates = [Path("..") / "shared" / "data" / spec.name]
    root = candidates[0]
    if not root.is_dir():
        raise DatasetError(
            f"dataset {spec.name!r}: folder {root} not found. Set `dataset.root` in the spec "
            f"(or `datasets.{spec.name}.spec.root` in params.yaml), or $XMR_DATA to the folder holding "
            f"{spec.name}/; see README.md 'Datasets' for how to obtain it."
        )
    return root


def assign_splits(items: list[Item], split: SplitSpec) -> list[str]:
    rng = np.random.default_rng(split.seed)
    n = len(items)
    if split.recipe == "official":
        missing = [it.item_id for it in items if it.official_split not in ("train", "test")]
        if missing:
            raise DatasetError(f"split recipe 'official': item {missing[0]} has no official split")
        out = [it.official_split for it in items]
        train_idx = np.array([i for i, s in enumerate(out) if s == "train"])
        n_val = int(round(split.val * len(train_idx)))
        for i in rng.permutation(train_idx)[:n_val]:
            out[i] = "val"
        return out
    order = rng.permutation(n)
    n_train, n_val = int(round(split.train * n)), int(round(split.val * n))
    out = ["test"] * n
    for rank, i in enumerate(order):
        out[i] = "train" if rank < n_train else ("val" if rank < n_train + n_val else "test")
    return out


def _hash_rows(rows: list[str]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(r.encode())
        h.update(b"\n")
    return h.hexdigest()


def prepare(spec: DatasetSpec, out_dir: Path) -> dict[str, Any]:
    """Load the dataset named by ``spec`` and write its catalog tables into ``out_dir``."""
    source = DATASETS.get(spec.name)()
    root = resolve_root(spec) if source.needs_root() else None
    with atomic_dir(out_dir) as tmp:
        loaded = source.load(spec, root, tmp)
        if not loaded.items:
            raise DatasetError(f"dataset {spec.name!r}: no items found in {loaded.source}")
        splits = assign_splits(loaded.items, spec.split)
        ids = [it.item_id for it in loaded.items]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise DatasetError(f"dataset {spec.name!r}: item id {dup!r} appears twice")
        items = pa.table({
            "item_id": ids,
            "idx": list(range(len(ids))),
            "dataset": [spec.name] * len(ids),
            "split": splits,
            "category": [it.category for it in loaded.items],
            "labels": pa.array([it.labels for it in loaded.items], pa.list_(pa.int32())),
            "text": [it.text for it in loaded.items],
            "tags": pa.array([it.tags for it in loaded.items], pa.list_(pa.string())),
            "image_path": [it.image_path for it in loaded.items],
        })
        unit_rows = [
            {"dataset": spec.name, "featureset": None, "item_id": it.item_id, "item_idx": i,
             "unit": j, "kind": u.kind, "text": u.text, "box": list(u.box) if u.box else None}
            for i, it in enumerate(loaded.items) for j, u in enumerate(it.units)
        ]
        units = pa.Table.from_pylist(unit_rows, schema=UNITS_SCHEMA)
        write_table(tmp / "items.parquet", items)
        write_table(tmp / "units.parquet", units)
        counts = {s: splits.count(s) for s in ("train", "val", "test")}
        meta = {
            "name": spec.name, "source": loaded.source, "config": spec.model_dump(mode="json"),
            "n_items": len(ids), "split_counts": counts,
            "split_hash": _hash_rows([f"{i}\t{s}" for i, s in zip(ids, splits)]),
            "items_hash": _hash_rows(ids),
            "categories": loaded.categories, "label_names": loaded.label_names,
            "multilabel": loaded.multilabel, "files": loaded.files,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(tmp / "dataset.json", meta)
    return meta


UNITS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("featureset", pa.string()), ("item_id", pa.string()),
    ("item_idx", pa.int64()), ("unit", pa.int64()), ("kind", pa.string()),
    ("text", pa.string()), ("box", pa.list_(pa.float32())),
])
