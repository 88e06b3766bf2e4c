"""The DuckDB catalog: a read-only index over a store, rebuilt from the stage outputs.

Stages write immutable Parquet / JSON / Zarr outputs (which DVC tracks); the catalog is derived
from them, so it can never disagree with what is on disk. It is rebuilt atomically after each
stage and whenever `xmr sql` finds it older than the store.

Tables: ``datasets``, ``items``, ``units``, ``featuresets``, ``experiments``, ``results``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa

from .files import atomic_file, read_json
from .layout import Store

TABLES = ("datasets", "items", "units", "missing", "featuresets", "experiments", "results")


ITEMS = "datasets/*/items.parquet"
UNITS = ("datasets/*/units.parquet", "features/*/*/units.parquet")
MISSING = "datasets/*/missing.parquet"
JSON_SOURCES = {  # table -> files it is built from
    "datasets": "datasets/*/dataset.json", "featuresets": "features/*/*/provenance.json",
    "experiments": "experiments/*/train_log.json", "results": "metrics/*.json",
}


def _sources(store: Store) -> list[Path]:
    return [p for pat in (ITEMS, *UNITS, MISSING, *JSON_SOURCES.values()) for p in store.root.glob(pat)]


def _json_rows(paths: list[Path], flatten: callable) -> pa.Table | None:
    rows = [row for p in paths for row in flatten(p, read_json(p))]
    return pa.Table.from_pylist(rows) if rows else None


def _dataset_row(path: Path, meta: dict) -> list[dict]:
    return [{"dataset": path.parent.name, "source": meta.get("source"),
             "n_items": meta.get("n_items"), "split_counts": json.dumps(meta.get("split_counts")),
             "split_hash": meta.get("split_hash"), "items_hash": meta.get("items_hash"),
             "n_categories": len(meta.get("categories", [])), "multilabel": meta.get("multilabel"),
             "partial": meta.get("partial", False), "n_missing": meta.get("n_missing", 0),
             "config": json.dumps(meta.get("config")), "created_at": meta.get("created_at")}]


def _featureset_row(path: Path, prov: dict) -> list[dict]:
    return [{"name": path.parent.name, "dataset": prov.get("dataset"),
             "modality": prov.get("modality"), "granularity": prov.get("granularity"),
             "extractor": prov.get("extractor"), "params": json.dumps(prov.get("params")),
             "weights_sha256": prov.get("weights_sha256"), "dim": prov.get("dim"),
             "dtype": prov.get("dtype"), "rows": prov.get("rows"), "fine": prov.get("fine"),
             "zarr_path": str(path.parent / "arrays.zarr"),
             "content_hash": prov.get("content_hash"), "created_at": prov.get("created_at")}]


def _experiment_row(path: Path, log: dict) -> list[dict]:
    return [{"experiment": path.parent.name, "dataset": log.get("dataset"),
             "spec_hash": log.get("spec_hash"), "device": log.get("device"),
             "train_seconds": log.get("train_seconds"), "best_val_map": log.get("best_val_map"),
             "featuresets": json.dumps(log.get("featuresets")), "created_at": log.get("created_at")}]


def _result_rows(path: Path, metrics: dict) -> list[dict]:
    proto = metrics.get("protocol", {})
    return [{"experiment": path.stem, "protocol": proto.get("name"), "task": task,
             "metric": name, "value": float(value)}
            for task, values in metrics.get("tasks", {}).items() for name, value in values.items()]


def refresh_catalog(store: Store) -> Path:
    """Rebuild ``catalog.duckdb`` from the store's outputs (atomic replace)."""
    root = store.root
    with atomic_file(store.catalog_path) as tmp:
        con = duckdb.connect(str(tmp))
        try:
            for name, patterns in (("items", (ITEMS,)), ("units", UNITS), ("missing", (MISSING,))):
                files = sorted(str(p) for pat in patterns for p in root.glob(pat))
                if files:
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?, "
                                "union_by_name=true)", [files])
            flatteners = {"datasets": _dataset_row, "featuresets": _featureset_row,
                          "experiments": _experiment_row, "results": _result_rows}
            for name, pattern in JSON_SOURCES.items():
                table = _json_rows(sorted(root.glob(pattern)), flatteners[name])
                if table is not None:
                    con.register("_src", table)
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _src")
                    con.unregister("_src")
        finally:
            con.close()
    return store.catalog_path


def catalog_is_stale(store: Store) -> bool:
    path = store.catalog_path
    if not path.is_file():
        return True
    built = path.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _sources(store))


def query(store: Store, sql: str) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL over the catalog (rebuilt first when stale); returns (columns, rows)."""
    if not store.root.is_dir():
        raise FileNotFoundError(f"{store.root}: no store here; run `dvc repro` or `xmr run` first")
    if catalog_is_stale(store):
        refresh_catalog(store)
    con = duckdb.connect(str(store.catalog_path), read_only=True)
    try:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall()
    finally:
        con.close()
    return columns, rows


def format_table(columns: list[str], rows: list[tuple], max_width: int = 60) -> str:
    def cell(v: object) -> str:
        s = "NULL" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def existing_tables(store: Store) -> list[str]:
    if not store.catalog_path.is_file():
        return []
    con = duckdb.connect(str(store.catalog_path), read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    finally:
        con.close()


__all__ = ["TABLES", "catalog_is_stale", "existing_tables", "format_table", "query",
           "refresh_catalog"]
