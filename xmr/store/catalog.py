"""The DuckDB catalog: a read-only index over a store, rebuilt from the stage outputs.

Stages write immutable Parquet / JSON / Zarr outputs (which DVC tracks); the catalog is derived
from them, so it can never disagree with what is on disk. It is rebuilt atomically after each
stage and whenever `xmr sql` finds that the set of source files (paths, sizes, mtimes) differs
from the one it was built from, so outputs that DVC removed or restored are seen. Temporaries
(`.tmp-*`) are never read.

Tables: ``datasets``, ``items``, ``units``, ``missing``, ``featuresets``, ``experiments``,
``results``, ``trials`` (every `xmr tune` trial), and ``catalog_info`` (the signature of the sources it was built from).

`query` is a sandbox: the catalog is opened read-only with DuckDB's external access disabled
(no file reads or writes, no ATTACH, no extension INSTALL / LOAD) and its configuration locked,
so a statement cannot re-enable any of it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pyarrow as pa

from .files import atomic_file, read_json
from .layout import Store

SANDBOX = {"enable_external_access": False, "autoinstall_known_extensions": False,
           "autoload_known_extensions": False, "allow_community_extensions": False,
           "lock_configuration": True}

# Results come back through Arrow (time zones without pytz; lists, structs and maps as Python
# values). Types that Arrow shows poorly or not at all are cast to text by DuckDB first, and if a
# result still cannot be converted, every column that is not a number, boolean or text is.
_AS_TEXT = ("BIT", "INTERVAL", "UNION", "VARIANT", "UHUGEINT", "BIGNUM", "GEOMETRY")
_PLAIN_TYPES = {"BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "VARCHAR"}


def _fetch(rel: "duckdb.DuckDBPyRelation", as_text) -> list[tuple]:
    quoted = ['"' + c.replace('"', '""') + '"' for c in rel.columns]
    types = [str(t) for t in rel.types]
    if any(as_text(t) for t in types):
        rel = rel.project(", ".join(f"CAST({q} AS VARCHAR) AS {q}" if as_text(t) else q
                                    for q, t in zip(quoted, types)))
    table = rel.to_arrow_table()
    return list(zip(*(col.to_pylist() for col in table.columns)))

TABLES = ("datasets", "items", "units", "missing", "featuresets", "experiments", "results",
          "trials", "catalog_info")


ITEMS = "datasets/*/items.parquet"
UNITS = ("datasets/*/units.parquet", "features/*/*/units.parquet")
MISSING = "datasets/*/missing.parquet"
TRIALS = "tuning/*/trials.parquet"
JSON_SOURCES = {  # table -> files it is built from
    "datasets": "datasets/*/dataset.json", "featuresets": "features/*/*/provenance.json",
    "experiments": "experiments/*/train_log.json", "results": "metrics/*.json",
}


class CatalogError(ValueError):
    """A store file the catalog cannot index; the message names it."""


def _glob(root: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` under ``root``, never inside a hidden folder or temporary."""
    return sorted(p for p in root.glob(pattern)
                  if not any(part.startswith(".") for part in p.relative_to(root).parts))


def _sources(store: Store) -> list[Path]:
    return [p for pat in (ITEMS, *UNITS, MISSING, TRIALS, *JSON_SOURCES.values())
            for p in _glob(store.root, pat)]


def _signature(store: Store) -> str:
    h = hashlib.sha256()
    for p in sorted(_sources(store)):
        st = p.stat()
        h.update(f"{p.relative_to(store.root)}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _json_rows(paths: list[Path], flatten: callable) -> pa.Table | None:
    rows = []
    for p in paths:
        try:
            data = read_json(p)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{p}: not valid JSON ({exc}); re-run the stage that writes it") from None
        rows += flatten(p, data)
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
    """Rebuild ``catalog.duckdb`` from the store's outputs (atomic replace), after removing the
    temporaries of processes that are gone."""
    root = store.root
    store.remove_stale_temporaries()
    signature = _signature(store)
    with atomic_file(store.catalog_path) as tmp:
        con = duckdb.connect(str(tmp))
        try:
            con.execute("CREATE TABLE catalog_info AS SELECT ? AS signature, now()::VARCHAR AS built_at",
                        [signature])
            for name, patterns in (("items", (ITEMS,)), ("units", UNITS), ("missing", (MISSING,)),
                                   ("trials", (TRIALS,))):
                files = [str(p) for pat in patterns for p in _glob(root, pat)]
                if files:
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet(?, "
                                "union_by_name=true)", [files])
            flatteners = {"datasets": _dataset_row, "featuresets": _featureset_row,
                          "experiments": _experiment_row, "results": _result_rows}
            for name, pattern in JSON_SOURCES.items():
                table = _json_rows(_glob(root, pattern), flatteners[name])
                if table is not None:
                    con.register("_src", table)
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _src")
                    con.unregister("_src")
        finally:
            con.close()
    return store.catalog_path


def catalog_is_stale(store: Store) -> bool:
    """True when the catalog is missing, unreadable, or built from another set of source files
    (one added, removed, or rewritten since)."""
    if not store.catalog_path.is_file():
        return True
    try:
        con = duckdb.connect(str(store.catalog_path), read_only=True, config=SANDBOX)
        try:
            built = con.execute("SELECT signature FROM catalog_info").fetchone()[0]
        finally:
            con.close()
    except duckdb.Error:
        return True
    return built != _signature(store)


def query(store: Store, sql: str) -> tuple[list[str], list[tuple]]:
    """Run SQL in the catalog's sandbox (rebuilt first when stale); returns (columns, rows).

    A statement that returns nothing gives no columns. Every result type converts (see
    `_AS_TEXT`)."""
    if not store.root.is_dir():
        raise FileNotFoundError(f"{store.root}: no store here; run `dvc repro` or `xmr run` first")
    store.remove_stale_temporaries()
    if catalog_is_stale(store):
        refresh_catalog(store)
    con = duckdb.connect(str(store.catalog_path), read_only=True, config=SANDBOX)
    try:
        rel = con.sql(sql)
        if rel is None:
            return [], []
        columns = list(rel.columns)
        try:
            rows = _fetch(rel, lambda t: t.split("(")[0] in _AS_TEXT)
        except (duckdb.Error, pa.ArrowException, NotImplementedError):
            rows = _fetch(rel, lambda t: t not in _PLAIN_TYPES)
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
    con = duckdb.connect(str(store.catalog_path), read_only=True, config=SANDBOX)
    try:
        return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    finally:
        con.close()


__all__ = ["TABLES", "CatalogError", "SANDBOX", "catalog_is_stale", "existing_tables", "format_table", "query",
           "refresh_catalog"]
