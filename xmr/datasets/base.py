"""Dataset sources and the `prepare` step that turns one into catalog tables.

A source reads (or generates) a dataset and returns a `LoadedDataset`: one row per item with its
category, labels, raw text, image path and fine-grained units. `prepare` assigns the stored,
seeded, content-hashed split and writes ``items.parquet``, ``units.parquet`` and
``dataset.json`` into the dataset's store folder, atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
from PIL import Image
from pydantic import BaseModel, ConfigDict

from ..registry import Registry
from ..spec.load import decode_utf8, params_errors
from ..spec.models import DatasetSpec, SplitSpec
from ..store.files import atomic_dir, sha256_file, write_json, write_table
from ..store.fingerprint import HashCache, fingerprint_tree


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
    missing: list["Missing"] = field(default_factory=list)  # what a partial load left out


@dataclass
class Missing:
    """Something a partial load could not read: the item, what is missing and the file."""

    item_id: str
    what: str  # image | text | tags | labels | item
    path: str
    dropped: bool = False  # the whole item was left out


class MissingFiles:
    """Collects missing files while a loader reads; raises on the first one unless partial."""

    def __init__(self, dataset: str, partial: bool):
        self.dataset, self.partial, self.rows = dataset, partial, []

    def __call__(self, item_id: str, what: str, path: Path | str, dropped: bool = False,
                 reason: str = "is missing") -> None:
        if not self.partial:
            raise DatasetError(f"{self.dataset}: item {item_id}: {what} file {path} {reason} (set "
                               "`dataset.partial: true` to load the dataset without it)")
        self.rows.append(Missing(item_id, what, str(path), dropped))

    def text(self, item_id: str, path: Path, what: str = "text") -> str | None:
        """The UTF-8 content of an item's text file; an undecodable one is an error, or, when
        partial, recorded in the `missing` table (the item keeps no text) and None."""
        try:
            return decode_text(path.read_bytes(), path)
        except DatasetError as exc:
            self(item_id, what, path, reason=f"is not UTF-8 text ({str(exc).split('(', 1)[1]}")
            return None

    def image(self, item_id: str, path: Path) -> str | None:
        """``path`` resolved when it is a readable image; otherwise recorded (or an error unless
        partial) and None."""
        if problem := image_problem(path):
            self(item_id, "image", path, reason=problem)
            return None
        return str(path.resolve())


class DatasetParams(BaseModel):
    """A dataset's own `dataset.params`: unknown keys and non-finite numbers are errors. Each
    dataset subclasses it; `xmr validate` checks a spec's params against it before any run."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DatasetSource:
    """Base class of registered datasets."""

    name: ClassVar[str]
    Params: ClassVar[type[DatasetParams]] = DatasetParams
    PRECOMPUTED: ClassVar[tuple[str, ...]] = ()  # names `precomputed` features may ask for

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        """Read or generate the dataset. ``workdir`` is the store folder for raw blobs."""
        raise NotImplementedError

    def needs_root(self) -> bool:
        return True

    def source_path(self, root: Path | None) -> Path:
        """What the dataset is built from, fingerprinted to decide re-use: its folder on disk, or,
        for a generated dataset, the module that generates it."""
        if root is not None:
            return root
        import inspect

        return Path(inspect.getsourcefile(type(self)))

    def precomputed(self, spec: DatasetSpec, root: Path, name: str,
                    items: pa.Table) -> tuple[np.ndarray, dict]:
        """A feature matrix shipped with the dataset, one row per prepared item, in item order."""
        raise DatasetError(f"dataset {self.name!r} ships no precomputed features")


DATASETS: Registry[type[DatasetSource]] = Registry("dataset")


def check_params(dataset: str, params: dict[str, Any], model: type[DatasetParams]) -> dict[str, Any]:
    """``dataset.params`` validated by the dataset's model, with defaults filled in."""
    problems = params_errors(model, params, "dataset.params")
    if problems:
        raise ValueError(f"dataset {dataset!r}: " + "; ".join(problems))
    return model.model_validate(params).model_dump()


def image_problem(path: Path) -> str | None:
    """Why an image file cannot be used (missing, unreadable), or None. Reads the header only."""
    if not path.is_file():
        return "is missing"
    try:
        with Image.open(path) as im:
            im.size  # noqa: B018  (parses the header)
    except (OSError, ValueError) as exc:
        return f"is not a readable image ({exc})"
    return None


def read_json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None


def require_file(dataset: str, path: Path, what: str = "") -> Path:
    if not path.is_file():
        raise DatasetError(f"{dataset}: missing {path}{f' ({what})' if what else ''}")
    return path


def read_lines(dataset: str, path: Path, what: str = "") -> list[str]:
    """The non-empty lines of a text file (stripped), with a clear error when it is missing or
    not UTF-8."""
    require_file(dataset, path, what)
    return [ln.strip() for ln in decode_text(path.read_bytes(), path).splitlines() if ln.strip()]


def load_mat(dataset: str, path: Path, variable: str, what: str = "") -> np.ndarray:
    """One variable of a MATLAB file (v5 via scipy, v7.3 via h5py, transposed back to MATLAB's
    row order), with errors that name the file and the variable."""
    require_file(dataset, path, what)
    import h5py

    if h5py.is_hdf5(path):  # MATLAB v7.3
        try:
            with h5py.File(path, "r") as fh:
                if variable not in fh:
                    raise DatasetError(f"{path}: no variable {variable!r} (it has {sorted(fh)})")
                return np.asarray(fh[variable]).T
        except (OSError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: cannot read variable {variable!r} ({exc}); is the file "
                               "truncated?") from None
    from scipy.io import loadmat, whosmat

    try:
        have = [n for n, *_ in whosmat(path)]
        if variable not in have:
            raise DatasetError(f"{path}: no variable {variable!r} (it has {have})")
        return np.asarray(loadmat(path, variable_names=[variable])[variable])
    except DatasetError:
        raise
    except (NotImplementedError, ValueError, OSError, TypeError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc}); is "
                           "it truncated?") from None


def stack_rows(path: Path, variables: list[str], parts: list[np.ndarray]) -> np.ndarray:
    """Matrices of one view stored per split, stacked as rows (items), with an error naming the
    file, the variables and their shapes when they do not line up."""
    shapes = [p.shape for p in parts]
    if any(len(s) != 2 for s in shapes) or len({s[1] for s in shapes}) != 1:
        shown = ", ".join(f"{v} {s}" for v, s in zip(variables, shapes))
        raise DatasetError(f"{path}: {shown}: the parts of one view must be 2-D with the same "
                           "number of columns (items as rows); is one stored items-as-columns?")
    return np.concatenate(parts)


def check_finite(matrix: np.ndarray, where: str, row_names: list[str] | None = None) -> None:
    """A DatasetError naming ``where`` and the first rows with NaN or infinite values."""
    bad = np.flatnonzero(~np.isfinite(matrix).reshape(len(matrix), -1).all(axis=1))
    if len(bad):
        first = ", ".join(f"row {r}" + (f" (item {row_names[r]})" if row_names else "")
                          for r in bad[:3])
        raise DatasetError(f"{where}: {len(bad)} row(s) hold NaN or infinite values: {first}"
                           f"{', ...' if len(bad) > 3 else ''}")


def decode_text(data: bytes, path: Path) -> str:
    """UTF-8 text, or a DatasetError naming the file and the first undecodable byte."""
    return decode_utf8(data, path, DatasetError)


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
        missing = [it.item_id for it in items if it.official_split not in ("train", "val", "test")]
        if missing:
            raise DatasetError(f"split recipe 'official': item {missing[0]} has no official split")
        out = [it.official_split for it in items]
        if "val" in out:  # the dataset ships its own validation list
            return out
        source = split.val_from
        pool = np.array([i for i, s in enumerate(out) if s == source])
        n_val = split.n_val or int(round(split.val * len(pool)))
        if n_val >= len(pool):
            raise DatasetError(f"split recipe 'official': n_val {n_val} leaves no {source} item of "
                               f"the {len(pool)} in the official {source} list")
        for i in rng.permutation(pool)[:n_val]:
            out[i] = "val"
        return out
    if split.recipe in ("counts", "query_retrieval"):
        counts = {"train": split.n_train, "val": split.n_val, "test": split.n_test}
        total = sum(counts.values())
        if split.recipe == "counts" and total != n:
            raise DatasetError(f"split recipe 'counts': n_train + n_val + n_test = {total} but the "
                               f"dataset has {n} items")
        if total > n:
            raise DatasetError(f"split recipe 'query_retrieval': n_train + n_val + n_test = {total} "
                               f"exceeds the dataset's {n} items")
        order = rng.permutation(n)
        out = ["retrieval"] * n
        bounds = np.cumsum([0, counts["test"], counts["train"], counts["val"]])
        for name, lo, hi in zip(("test", "train", "val"), bounds[:-1], bounds[1:]):
            for i in order[lo:hi]:
                out[i] = name
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


def source_fingerprint(spec: DatasetSpec, cache: HashCache) -> dict[str, Any]:
    """The fingerprint (file count, bytes, sha256 of every file) of what ``spec`` is built from."""
    source = DATASETS.get(spec.name)()
    path = source.source_path(resolve_root(spec) if source.needs_root() else None)
    return {"path": str(path.resolve()), **fingerprint_tree(path, cache)}


def _content_hashes(items: pa.Table, units: pa.Table, folder: Path, cache: HashCache) -> dict:
    """What extractors read, hashed: the texts (documents, tags, fine units) and the image files
    (cached by size and mtime; images written into the store are hashed directly)."""
    text = _hash_rows([json.dumps(r, sort_keys=True) for r in
                       items.select(["item_id", "text", "tags"]).to_pylist()] +
                      [json.dumps(r, sort_keys=True) for r in
                       units.select(["item_idx", "unit", "kind", "text", "box"]).to_pylist()])
    images = _hash_rows(["-" if p is None else cache.sha256(Path(p)) if Path(p).is_absolute()
                         else sha256_file(folder / p) for p in items.column("image_path").to_pylist()])
    return {"text_hash": text, "image_hash": images}


def prepare(spec: DatasetSpec, out_dir: Path, store_root: Path | None = None) -> dict[str, Any]:
    """Load the dataset named by ``spec`` and write its catalog tables into ``out_dir``.

    ``dataset.json`` records the fingerprint of the source (``sources``) and hashes of the texts
    and images the extractors will read; ``store_root`` holds the file-hash cache."""
    source = DATASETS.get(spec.name)()
    root = resolve_root(spec) if source.needs_root() else None
    with HashCache(store_root) as cache, atomic_dir(out_dir) as tmp:
        sources = source_fingerprint(spec, cache)
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
        missing = pa.Table.from_pylist(
            [{"dataset": spec.name, "item_id": m.item_id, "what": m.what, "path": m.path,
              "dropped": m.dropped} for m in loaded.missing], schema=MISSING_SCHEMA)
        write_table(tmp / "missing.parquet", missing)
        counts = {s: splits.count(s) for s in ("train", "val", "test")}
        if "retrieval" in splits:
            counts["retrieval"] = splits.count("retrieval")
        meta = {
            "name": spec.name, "source": loaded.source, "config": spec.model_dump(mode="json"),
            "sources": sources, **_content_hashes(items, units, tmp, cache),
            "n_items": len(ids), "split_counts": counts,
            "split_hash": _hash_rows([f"{i}\t{s}" for i, s in zip(ids, splits)]),
            "items_hash": _hash_rows(ids),
            "categories": loaded.categories, "label_names": loaded.label_names,
            "multilabel": loaded.multilabel, "files": loaded.files,
            "partial": spec.partial, "n_missing": len(loaded.missing),
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        write_json(tmp / "dataset.json", meta)
    return meta


UNITS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("featureset", pa.string()), ("item_id", pa.string()),
    ("item_idx", pa.int64()), ("unit", pa.int64()), ("kind", pa.string()),
    ("text", pa.string()), ("box", pa.list_(pa.float32())),
])

MISSING_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("item_id", pa.string()), ("what", pa.string()),
    ("path", pa.string()), ("dropped", pa.bool_()),
])
