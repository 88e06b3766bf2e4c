"""Registered datasets (`xmr list datasets`). Importing this module imports no torch."""

from . import scenes, wikipedia  # noqa: F401  (registration)
from .base import DATASETS, DatasetError, DatasetSource, Item, LoadedDataset, Unit, prepare, resolve_root

__all__ = ["DATASETS", "DatasetError", "DatasetSource", "Item", "LoadedDataset", "Unit", "prepare",
           "resolve_root"]
