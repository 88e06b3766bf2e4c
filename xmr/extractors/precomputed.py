"""Feature matrices that a dataset ships (e.g. Wikipedia's SIFT BoVW and LDA topics)."""

from __future__ import annotations

from pydantic import Field

from .base import Extractor, ExtractorParams, register


class PrecomputedParams(ExtractorParams):
    name: str = Field(description="the dataset's feature name, e.g. sift_bovw or lda (wikipedia)")


@register("precomputed")
class Precomputed(Extractor):
    """A feature matrix shipped with the dataset, imported as-is with its file's sha256."""

    modality = "any"
    Params = PrecomputedParams
