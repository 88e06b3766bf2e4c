"""Granularity strategies: how an item is cut into the units a feature set describes.

Each strategy maps the prepared items to one list of units per item: for images, boxes to crop
(`None` = the whole image); for texts, strings. Whole-item strategies give exactly one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyarrow as pa

from ..registry import Registry
from ..spec.models import GridGranularity, SentencesGranularity, TagsGranularity, WholeGranularity


@dataclass
class Units:
    """Per item, the units to featurize: boxes (image) or strings (text)."""

    modality: str
    kind: str
    per_item: list[list]  # list of boxes (x0, y0, x1, y1) | None, or of strings
    fine: bool

    @property
    def count(self) -> int:
        return sum(len(u) for u in self.per_item)


Strategy = Callable[[object, str, pa.Table, pa.Table], Units]
GRANULARITIES: Registry[Strategy] = Registry("granularity")


def _units_by_item(units: pa.Table, kind: str, n_items: int) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(n_items)]
    cols = units.select(["item_idx", "kind", "text"]).to_pydict()
    for i, k, t in zip(cols["item_idx"], cols["kind"], cols["text"]):
        if k == kind and t:
            out[i].append(t)
    return out


def _require_text(items: pa.Table) -> list[str]:
    texts = items.column("text").to_pylist()
    ids = items.column("item_id").to_pylist()
    for i, t in zip(ids, texts):
        if t is None or not t.strip():
            raise ValueError(f"item {i}: empty or missing text; text features need every "
                             "item's text (are the dataset's text files present?)")
    return texts


@GRANULARITIES.register("whole")
def whole(spec: WholeGranularity, modality: str, items: pa.Table, units: pa.Table) -> Units:
    """The whole item: one unit per item."""
    n = items.num_rows
    if modality == "image":
        return Units(modality, "image", [[None] for _ in range(n)], fine=False)
    return Units(modality, "document", [[t] for t in _require_text(items)], fine=False)


@GRANULARITIES.register("grid")
def grid(spec: GridGranularity, modality: str, items: pa.Table, units: pa.Table) -> Units:
    """n x n grid patches of each image (boxes as fractions of the image, resolved at crop time)."""
    if modality != "image":
        raise ValueError("granularity 'grid' applies to images only")
    n = spec.n
    boxes = [(c / n, r / n, (c + 1) / n, (r + 1) / n) for r in range(n) for c in range(n)]
    return Units(modality, "patch", [list(boxes) for _ in range(items.num_rows)], fine=True)


def _text_units(kind: str, spec, modality: str, items: pa.Table, units: pa.Table) -> Units:
    if modality != "text":
        raise ValueError(f"granularity {spec.type!r} applies to texts only")
    per = [u[: spec.max_units] for u in _units_by_item(units, kind, items.num_rows)]
    return Units(modality, kind, per, fine=True)


@GRANULARITIES.register("sentences")
def sentences(spec: SentencesGranularity, modality: str, items: pa.Table, units: pa.Table) -> Units:
    """The sentences of each text (from the prepared units), at most `max_units` per item."""
    return _text_units("sentence", spec, modality, items, units)


@GRANULARITIES.register("tags")
def tags(spec: TagsGranularity, modality: str, items: pa.Table, units: pa.Table) -> Units:
    """The tags of each item, at most `max_units` per item."""
    return _text_units("tag", spec, modality, items, units)
