"""Registered datasets (`xmr list datasets`). Importing this module imports no torch."""

from . import captions, corel5k, mirflickr, nus_wide, pascal, scenes, wikipedia, xmedia  # noqa: F401
from .base import DATASETS, DatasetError, DatasetSource, Item, LoadedDataset, Unit, prepare, resolve_root

__all__ = ["DATASETS", "DatasetError", "DatasetSource", "Item", "LoadedDataset", "Unit", "prepare",
           "resolve_root"]
