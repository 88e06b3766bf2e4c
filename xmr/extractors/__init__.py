"""Registered extractors (`xmr list extractors`). Importing this module imports no torch."""

from . import backbones, glove, handcrafted, image, precomputed, text  # noqa: F401  (registration)
from .base import EXTRACTORS, Extractor, ExtractorParams

__all__ = ["EXTRACTORS", "Extractor", "ExtractorParams"]
