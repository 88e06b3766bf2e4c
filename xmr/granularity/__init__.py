"""Granularity strategies: how an item is cut into the units a feature set describes.

Each strategy maps the prepared items to one list of units per item: for images, boxes to crop
(fractions of the image; `None` = the whole image); for texts, strings. Whole-item strategies
give exactly one unit. ``base`` is the prepared dataset's folder (relative image paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from ..registry import Registry
from ..spec.models import (GridGranularity, SelectiveSearchGranularity, SentencesGranularity,
                           TagsGranularity, WholeGranularity, WordsGranularity)


@dataclass
class Units:
    """Per item, the units to featurize: boxes (image) or strings (text)."""

    modality: str
    kind: str
    per_item: list[list]  # list of boxes (x0, y0, x1, y1) | None, or of strings
    fine: bool
    fit_per_item: list[list] | None = None  # what extractors fit on, when not the units themselves

    @property
    def count(self) -> int:
        return sum(len(u) for u in self.per_item)


Strategy = Callable[[object, str, pa.Table, pa.Table, Path], Units]
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
def whole(spec: WholeGranularity, modality: str, items: pa.Table,
          units: pa.Table, base: Path | None = None) -> Units:
    """The whole item: one unit per item."""
    n = items.num_rows
    if modality == "image":
        return Units(modality, "image", [[None] for _ in range(n)], fine=False)
    return Units(modality, "document", [[t] for t in _require_text(items)], fine=False)


@GRANULARITIES.register("grid")
def grid(spec: GridGranularity, modality: str, items: pa.Table,
         units: pa.Table, base: Path | None = None) -> Units:
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
def sentences(spec: SentencesGranularity, modality: str, items: pa.Table,
              units: pa.Table, base: Path | None = None) -> Units:
    """The sentences of each text (from the prepared units), at most `max_units` per item."""
    return _text_units("sentence", spec, modality, items, units)


@GRANULARITIES.register("tags")
def tags(spec: TagsGranularity, modality: str, items: pa.Table,
         units: pa.Table, base: Path | None = None) -> Units:
    """The tags of each item, at most `max_units` per item."""
    return _text_units("tag", spec, modality, items, units)


@GRANULARITIES.register("words")
def words(spec: WordsGranularity, modality: str, items: pa.Table,
          units: pa.Table, base: Path | None = None) -> Units:
    """The words of each text in reading order, stop words removed, at most `max_units` per item.
    Extractors fit on the whole documents (word2vec needs the words' contexts)."""
    from ..extractors.text import stop_word_set, tokenize

    if modality != "text":
        raise ValueError("granularity 'words' applies to texts only")
    stop = stop_word_set(spec.stop_words)
    texts = _require_text(items)
    per = [[w for w in tokenize(t) if w not in stop][: spec.max_units] for t in texts]
    return Units(modality, "word", per, fine=True, fit_per_item=[[t] for t in texts])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of (x0, y0, x1, y1) boxes."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def keep_bigger(boxes: np.ndarray, iou: float) -> np.ndarray:
    """mgmm's rule: of two regions with IoU > ``iou`` the bigger one is kept. Greedy from the
    biggest box down (ties: earlier box first); returns kept indices, biggest first."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    order = np.argsort(-area, kind="stable")
    overlaps = box_iou(boxes[order], boxes[order]) > iou
    alive = np.ones(len(order), bool)
    kept = []
    for i in range(len(order)):
        if alive[i]:
            kept.append(order[i])
            alive[i + 1:] &= ~overlaps[i, i + 1:]
    return np.asarray(kept, np.int64)


def selective_search_boxes(path: Path, spec: SelectiveSearchGranularity) -> list[tuple]:
    """Selective-search proposals of one image (opencv-contrib), filtered by ``min_area``,
    overlaps resolved by `keep_bigger`, the ``max_units`` biggest kept, as fractional boxes."""
    import cv2
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = spec.resize / max(im.size)
        if scale < 1:
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
        rgb = np.asarray(im)
    h, w = rgb.shape[:2]
    cv2.setNumThreads(1)
    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    {"fast": ss.switchToSelectiveSearchFast, "quality": ss.switchToSelectiveSearchQuality,
     "single": ss.switchToSingleStrategy}[spec.mode]()
    rects = ss.process()  # (x, y, w, h)
    if len(rects) == 0:
        return []
    boxes = np.column_stack([rects[:, 0] / w, rects[:, 1] / h, (rects[:, 0] + rects[:, 2]) / w,
                             (rects[:, 1] + rects[:, 3]) / h]).astype(np.float64)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    boxes = boxes[area >= spec.min_area]
    kept = keep_bigger(boxes, spec.iou)[: spec.max_units]
    return [tuple(round(float(v), 6) for v in boxes[i]) for i in kept]


@GRANULARITIES.register("selective_search")
def selective_search(spec: SelectiveSearchGranularity, modality: str, items: pa.Table,
                     units: pa.Table, base: Path | None = None) -> Units:
    """Selective-search regions per image, overlaps resolved by the bigger-box rule (mgmm)."""
    from tqdm import tqdm

    if modality != "image":
        raise ValueError("granularity 'selective_search' applies to images only")
    per = []
    ids = items.column("item_id").to_pylist()
    for item_id, p in tqdm(list(zip(ids, items.column("image_path").to_pylist())),
                           desc="selective search", unit="img", disable=None):
        if p is None:
            raise ValueError(f"item {item_id} has no image; selective search needs the images")
        path = Path(p) if Path(p).is_absolute() or base is None else base / p
        per.append(selective_search_boxes(path, spec))
    return Units(modality, "region", per, fine=True)
