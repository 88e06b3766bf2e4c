"""Retrieval examples (mgmm Fig. 16, msdmml Figs. 7-8): for sampled test queries, the top-k
database items under the run's protocol, each marked relevant or not, with thumbnails for images
(where the dataset has image files) and snippets for texts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..metrics.evaluate import TASKS, make_scorer
from ..metrics.functional import relevance
from ..spec.models import ProtocolSpec
from .runs import Run

THUMB = 96  # pixels, the longer side
SNIPPET = 160  # characters


@dataclass
class Item:
    item_id: str
    modality: str
    category: str
    relevant: bool | None  # None for the query itself
    thumb: str | None = None  # a PNG under the report folder, for images with a file
    text: str | None = None  # a snippet, for texts


@dataclass
class Example:
    task: str
    query: Item
    results: list[Item]


class ItemView:
    """How a dataset's items appear in the gallery; thumbnails are written once per item."""

    def __init__(self, prepared, out: Path):
        self.items = prepared.items
        self.root = prepared.path
        self.out = out
        self.names = prepared.meta.get("categories") or prepared.meta.get("label_names") or []
        self.ids = self.items.column("item_id").to_pylist()
        self.category = np.asarray(self.items.column("category").to_pylist())
        self.texts = self.items.column("text").to_pylist()
        self.images = self.items.column("image_path").to_pylist()

    def category_name(self, row: int) -> str:
        c = int(self.category[row])
        return self.names[c] if 0 <= c < len(self.names) else str(c)

    def thumbnail(self, row: int) -> str | None:
        from PIL import Image

        rel = self.images[row]
        if not rel or not (self.root / rel).is_file():
            return None
        name = f"thumbs/{self.root.name}-{row}.png"
        target = self.out / name
        if not target.is_file():
            target.parent.mkdir(exist_ok=True)
            with Image.open(self.root / rel) as im:
                im = im.convert("RGB")
                im.thumbnail((THUMB, THUMB))
                im.save(target)
        return name

    def item(self, row: int, modality: str, relevant: bool | None) -> Item:
        if modality == "image":
            return Item(self.ids[row], modality, self.category_name(row), relevant,
                        thumb=self.thumbnail(row))
        text = " ".join((self.texts[row] or "").split())
        snippet = text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"
        return Item(self.ids[row], modality, self.category_name(row), relevant, text=snippet)


def examples(run: Run, reps: dict[str, np.ndarray], category: torch.Tensor,
             labels: torch.Tensor, queries: np.ndarray, database: np.ndarray,
             view: ItemView, protocol: ProtocolSpec, n_queries: int = 4, k: int = 5,
             seed: int = 0, metric_network=None) -> list[Example]:
    """``n_queries`` test queries per cross-modal task (the same ones for every run of a report,
    by ``seed``), each with its top ``k`` under ``protocol``; ``reps`` holds every item's
    representation per modality (codes for the Hamming distance)."""
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(queries), size=min(n_queries, len(queries)), replace=False))
    out = []
    for task in ("i2t", "t2i"):
        if task not in run.tasks:
            continue
        q_mod, db_mod = TASKS[task]
        scorer = make_scorer(protocol, task, metric_network)
        q_rows = queries[picked]
        scores = scorer(torch.as_tensor(reps[q_mod][q_rows]),
                        torch.as_tensor(reps[db_mod][database])).float().numpy()
        rel = relevance(category[q_rows], category[database], labels[q_rows], labels[database],
                        protocol.relevance, torch.as_tensor(q_rows),
                        torch.as_tensor(database)).numpy()
        for i, row in enumerate(q_rows):
            top = np.argsort(-scores[i], kind="stable")[:k]
            out.append(Example(task, view.item(int(row), q_mod, None),
                               [view.item(int(database[j]), db_mod, bool(rel[i, j]))
                                for j in top]))
    return out


__all__ = ["Example", "Item", "ItemView", "examples"]
