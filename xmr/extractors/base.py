"""Extractors turn units (image crops or strings) into feature vectors.

An extractor declares its modality, validates its parameters with a pydantic model (unknown keys
are errors), may `fit` on the training split's units (vocabularies), and transforms units in
batches. Heavy libraries (torch, scikit-learn) are imported inside methods, so the registry can
be imported by `xmr validate` cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError

from ..registry import Registry


class ExtractorParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Extractor:
    """Base class of registered extractors."""

    modality: ClassVar[str]  # image | text
    Params: ClassVar[type[ExtractorParams]] = ExtractorParams
    dtype: ClassVar[str] = "float32"

    def __init__(self, params: dict[str, Any] | None = None):
        try:
            self.params = self.Params.model_validate(params or {})
        except ValidationError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"extractor {self.name!r} params: {details}") from None

    @property
    def name(self) -> str:
        return getattr(self, "registered_name", type(self).__name__)

    def resolved_params(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")

    def weights_file(self) -> Path | None:
        return None

    def fit(self, train_units: Sequence[Any]) -> None:
        """Learn what the extractor needs from the training split (default: nothing)."""

    def transform(self, units: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def batches(self, units: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
        for i in range(0, len(units), size):
            yield units[i:i + size]


EXTRACTORS: Registry[type[Extractor]] = Registry("extractor")


def register(name: str):
    def deco(cls: type[Extractor]) -> type[Extractor]:
        cls.registered_name = name
        return EXTRACTORS.register(name)(cls)

    return deco


def load_crop(path: Path, box: tuple[float, float, float, float] | None) -> Image.Image:
    """Open an image with Pillow as RGB and crop a fractional box (x0, y0, x1, y1)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if box is not None:
                w, h = im.size
                im = im.crop((round(box[0] * w), round(box[1] * h), max(round(box[2] * w), round(box[0] * w) + 1),
                              max(round(box[3] * h), round(box[1] * h) + 1)))
            return im
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read image ({exc})") from None
