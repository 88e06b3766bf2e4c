"""The feature store: Parquet tables, Zarr arrays and a DuckDB catalog, all written atomically."""

from .catalog import format_table, query, refresh_catalog
from .files import atomic_dir, atomic_file, read_json, sha256_file, stable_hash, write_json
from .layout import FeatureSet, FeatureSetWriter, Store

__all__ = ["FeatureSet", "FeatureSetWriter", "Store", "atomic_dir", "atomic_file", "format_table",
           "query", "read_json", "refresh_catalog", "sha256_file", "stable_hash", "write_json"]
