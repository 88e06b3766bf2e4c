"""`xmedia`: the image and text parts of PKU XMedia / XMediaNet (Peng et al.), 20 categories.

Two layouts, picked by ``dataset.params.layout`` (default ``auto``):

- ``raw``: ``image/<category>/<file>.jpg`` and ``text/<category>/<file>.txt``. XMedia's image and
  text instances are not paired one to one; xmr pairs the k-th image with the k-th text of the
  same category (files in name order) and leaves the surplus out (listed in ``missing``), so
  every item is an image-text pair of one category.
- ``features``: a MATLAB file (``features_file``, default ``XMediaFeatures.mat``) with train/test
  matrices for images and texts and per-row category labels (1-based). The variable names differ
  between copies of the release, so they are parameters (``variables``; defaults
  ``I_tr_CNN/I_te_CNN``, ``T_tr_BOW/T_te_BOW``, ``trImgCat/teImgCat``); a missing one is an error
  that lists the file's variables. The matrices are the precomputed sets ``image`` and ``text``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from pydantic import Field

from ..spec.models import DatasetSpec
from ..store.files import sha256_file
from .base import (DATASETS, DatasetError, DatasetParams, DatasetSource, Item, LoadedDataset,
                   MissingFiles, Unit, check_params, image_problem, load_mat, stack_rows)
from .wikipedia import split_sentences

DEFAULT_VARIABLES = {"image": ["I_tr_CNN", "I_te_CNN"], "text": ["T_tr_BOW", "T_te_BOW"],
                     "labels": ["trImgCat", "teImgCat"]}


def category_vector(path: Path, var: str, labels: np.ndarray) -> np.ndarray:
    """1-based categories from a vector, or from a one-hot matrix (items as rows); anything else
    is an error naming the file, the variable and its shape."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and min(labels.shape) > 1:
        if set(np.unique(labels).tolist()) <= {0, 1} and np.all(labels.sum(1) == 1):
            return labels.argmax(1) + 1  # one-hot rows
        raise DatasetError(f"{path}: {var} is a {labels.shape[0]} x {labels.shape[1]} matrix but "
                           "not one-hot (a row with no or several labels: multi-label data is "
                           "not supported by the xmedia features layout)")
    if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
        raise DatasetError(f"{path}: {var} (shape {labels.shape}) holds non-integer categories")
    return labels.ravel().astype(int)


@DATASETS.register("xmedia")
class XMedia(DatasetSource):
    """XMedia / XMediaNet image + text parts: raw folders or the released feature file."""

    name = "xmedia"
    PRECOMPUTED = ("image", "text")

    class Params(DatasetParams):
        layout: Literal["auto", "raw", "features"] = "auto"
        features_file: str = Field("XMediaFeatures.mat", min_length=1)
        variables: dict[Literal["image", "text", "labels"], list[str]] = Field(
            default_factory=dict, description="variable names (train, test) per view; missing "
            "views keep the defaults")

    def _params(self, spec: DatasetSpec) -> dict:
        p = check_params(self.name, spec.params, self.Params)
        p["variables"] = {**DEFAULT_VARIABLES, **p["variables"]}
        return p

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        p = self._params(spec)
        layout = p["layout"]
        if layout == "auto":
            layout = "raw" if (root / "image").is_dir() and (root / "text").is_dir() else "features"
        if layout == "features":
            return self._load_features(root, p)
        if layout != "raw":
            raise ValueError(f"dataset.params.layout: {layout!r} is not auto, raw or features")
        missing = MissingFiles(self.name, True)  # unpaired surplus is expected, never an error
        strict = MissingFiles(self.name, spec.partial)
        categories = sorted(d.name for d in (root / "image").iterdir() if d.is_dir())
        if not categories:
            raise DatasetError(f"xmedia: no category folders in {root / 'image'}")
        items = []
        for c, cat in enumerate(categories):
            images = sorted(f for f in (root / "image" / cat).iterdir() if f.is_file())
            texts = sorted((root / "text" / cat).glob("*.txt"))
            for extra in images[len(texts):] + texts[len(images):]:
                missing(extra.stem, "pair", extra, dropped=True)
            for image, text_path in zip(images, texts):
                item_id = f"{cat}/{image.stem}"
                raw = strict.text(item_id, text_path)
                if raw is None:
                    continue
                text = " ".join(raw.split())
                if not text:
                    strict(item_id, "text", text_path, dropped=True, reason="is empty")
                    continue
                if problem := image_problem(image):
                    strict(item_id, "image", image, dropped=True, reason=problem)
                    continue
                items.append(Item(item_id=item_id, category=c, labels=[c], text=text,
                                  image_path=str(image.resolve()),
                                  units=[Unit("sentence", text=s) for s in split_sentences(text)]))
        return LoadedDataset(items, categories, categories, False, f"{root.resolve()} (raw)", {},
                             missing.rows + strict.rows)

    def _load_features(self, root: Path, p: dict) -> LoadedDataset:
        path = root / p["features_file"]
        items = []
        for split, var in zip(("train", "test"), p["variables"]["labels"]):
            labels = category_vector(path, var, load_mat(self.name, path, var, "XMedia features"))
            for r, lab in enumerate(labels):
                if lab < 1:
                    raise DatasetError(f"{path}: {var} row {r}: category {lab} is not 1-based")
                items.append(Item(item_id=f"{split}-{r:05d}", category=lab - 1, labels=[lab - 1],
                                  official_split=split))
        n_cat = max(it.category for it in items) + 1
        names = [f"category_{c + 1}" for c in range(n_cat)]
        return LoadedDataset(items, names, names, False, f"{path.resolve()} (features)",
                             {path.name: sha256_file(path)})

    def precomputed(self, spec: DatasetSpec, root: Path, name: str, items=None) -> tuple[np.ndarray, dict]:
        p = self._params(spec)
        if name not in ("image", "text"):
            raise DatasetError(f"xmedia ships precomputed features ['image', 'text'] (features "
                               f"layout), not {name!r}")
        path = root / p["features_file"]
        parts = [load_mat(self.name, path, v).astype(np.float32) for v in p["variables"][name]]
        return stack_rows(path, p["variables"][name], parts), {"file": str(path.resolve()), "sha256": sha256_file(path),
                                       "variables": p["variables"][name]}
