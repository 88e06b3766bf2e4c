"""Where things live in a store, and the feature-set arrays (Zarr v3).

```
<store>/
  datasets/<dataset>/      dataset.json, items.parquet, units.parquet, raw blobs   (prepare)
  features/<dataset>/<fs>/ arrays.zarr (data [+ offsets]), provenance.json,
                           units.parquet for fine-grained sets                    (featurize)
  experiments/<exp>/       model.pt, spec.json, embeddings.zarr, train_log.json    (train)
  metrics/<exp>.json, plots/<exp>/pr_<task>.csv, curves/<exp>/map_at_r_<task>.csv,
  results/<exp>/per_query.parquet  (evaluate)
  tuning/<exp>/            study.db (Optuna), trials.parquet, tuning.json         (xmr tune)
  catalog.duckdb           a DuckDB index over all of the above (rebuilt, never edited)
```
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .files import atomic_dir, check_component, read_json, remove_stale_temporaries, write_json


@dataclass(frozen=True)
class Store:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # Every name that becomes a path is checked to be one safe component, so that no write can
    # target a folder above its own item (`name: ..`) or the whole family (`name: .`).

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / "datasets" / check_component(dataset, "dataset")

    def features_dir(self, dataset: str) -> Path:
        return self.root / "features" / check_component(dataset, "dataset")

    def featureset_dir(self, dataset: str, name: str) -> Path:
        return self.features_dir(dataset) / check_component(name, "feature set")

    def experiment_dir(self, experiment: str) -> Path:
        return self.root / "experiments" / check_component(experiment, "experiment")

    def metrics_path(self, experiment: str) -> Path:
        return self.root / "metrics" / f"{check_component(experiment, 'experiment')}.json"

    def plots_dir(self, experiment: str) -> Path:
        return self.root / "plots" / check_component(experiment, "experiment")

    def curves_dir(self, experiment: str) -> Path:
        return self.root / "curves" / check_component(experiment, "experiment")

    def results_dir(self, experiment: str) -> Path:
        return self.root / "results" / check_component(experiment, "experiment")

    def tuning_dir(self, experiment: str) -> Path:
        return self.root / "tuning" / check_component(experiment, "experiment")

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove every temporary left in the store by a process that is gone (see files.py)."""
        return remove_stale_temporaries(self.root, depth=3)

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"


class FeatureSetWriter:
    """Fill a feature set batch by batch; it appears in the store only when complete.

    ``rows`` is the number of vectors (items, or units for fine-grained sets). Fine-grained sets
    also pass ``offsets`` (n_items + 1 ints: item i owns rows offsets[i]:offsets[i+1]).
    """

    def __init__(self, path: Path, rows: int, dim: int, dtype: str = "float32",
                 offsets: np.ndarray | None = None, chunk_rows: int = 4096):
        self.path, self.rows, self.dim, self.dtype = Path(path), rows, dim, np.dtype(dtype)
        self.offsets = offsets
        self.chunk_rows = chunk_rows
        self._filled = 0
        self._hash = hashlib.sha256()

    def __enter__(self) -> "FeatureSetWriter":
        remove_stale_temporaries(self.path.parent)
        self._ctx = atomic_dir(self.path)
        self.tmp = self._ctx.__enter__()
        self.group = zarr.open_group(self.tmp / "arrays.zarr", mode="w")
        shape = (self.rows, self.dim) if self.dim else (self.rows,)
        chunks = (min(self.chunk_rows, max(self.rows, 1)),) + shape[1:]
        self.data = self.group.create_array("data", shape=shape, dtype=self.dtype, chunks=chunks)
        if self.offsets is not None:
            off = np.asarray(self.offsets, dtype=np.int64)
            if off[0] != 0 or off[-1] != self.rows or np.any(np.diff(off) < 0):
                raise ValueError(f"{self.path.name}: offsets must rise from 0 to {self.rows}")
            self.group.create_array("offsets", data=off)
            self._hash.update(off.tobytes())
        return self

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        end = self._filled + len(block)
        if end > self.rows:
            raise ValueError(f"{self.path.name}: more rows written than declared ({self.rows})")
        self.data[self._filled:end] = block
        self._hash.update(block.tobytes())
        self._filled = end

    def finish(self, provenance: dict[str, Any], units: Any = None) -> dict[str, Any]:
        if self._filled != self.rows:
            raise ValueError(f"{self.path.name}: {self._filled} rows written, {self.rows} declared")
        provenance = dict(provenance, rows=self.rows, dim=self.dim, dtype=str(self.dtype),
                          fine=self.offsets is not None, content_hash=self._hash.hexdigest())
        if units is not None:
            from .files import write_table

            write_table(self.tmp / "units.parquet", units)
        write_json(self.tmp / "provenance.json", provenance)
        return provenance

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


@dataclass
class FeatureSet:
    """A feature set read back from the store: dense rows, and offsets when fine-grained."""

    path: Path
    provenance: dict[str, Any]
    data: np.ndarray
    offsets: np.ndarray | None

    @classmethod
    def open(cls, path: str | Path) -> "FeatureSet":
        path = Path(path)
        prov_path = path / "provenance.json"
        if not prov_path.is_file():
            raise FileNotFoundError(f"{path}: not a complete feature set (no provenance.json)")
        group = zarr.open_group(path / "arrays.zarr", mode="r")
        offsets = group["offsets"][:] if "offsets" in group.array_keys() else None
        return cls(path, read_json(prov_path), group["data"][:], offsets)

    @property
    def fine(self) -> bool:
        return self.offsets is not None
