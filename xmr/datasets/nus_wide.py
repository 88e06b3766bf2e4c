"""`nus_wide`: NUS-WIDE (Chua et al., 2009), 269,648 Flickr images, 81 concepts, official layout:

- ``ImageList/Imagelist.txt`` (one Windows-style path per image, e.g.
  ``C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg``), ``ImageList/TrainImagelist.txt`` and
  ``TestImagelist.txt`` (the official split);
- ``Concepts81.txt`` and ``Groundtruth/AllLabels/Labels_<concept>.txt`` (one 0/1 per image);
- ``NUS_WID_Tags/TagList1k.txt`` and ``NUS_WID_Tags/AllTags1k.txt`` (one row of 1,000 0/1 per
  image): the item's text is its tags from the 1k list, and the matrix is the precomputed set
  ``tags1k``;
- ``Low_Level_Features/<name>.dat`` (one row of floats per image): precomputed sets ``ch`` (64-d
  colour histogram), ``corr`` (144-d colour correlogram), ``edh`` (73-d edge direction histogram),
  ``wt`` (128-d wavelet texture), ``cm55`` (225-d block-wise colour moments), ``bow500`` (500-d
  SIFT bag of visual words), and ``low_level``, the six side by side (1,134-d, uncsm);
- optionally the images, ``Flickr/<concept folder>/<file>.jpg``.

``dataset.params.recipe`` selects the papers' subsets (items keep the image-list order):

- ``all``: every image with at least one concept (multi-label over 81);
- ``nus81``: ... and at least one tag of the 1k list (msdmml); ``draw_train`` / ``draw_test``
  items drawn with ``seed`` from the official train / test lists (msdmml: 22,000, of which the
  split's ``n_val`` 2,000 validate, and 10,000);
- ``nus21``: labels restricted to the 21 most frequent concepts, images with at least one (dmsfh);
- ``nus10k``: images with exactly one concept, from the 10 concepts that have the most such
  images, ``per_class`` (1,000) drawn per concept with ``seed`` (uncsm's NUS-WIDE-10k; with
  ``per_class: null`` all of them, uncsm's NUS-WIDE);
- ``nus5k_mgmm``: images with exactly one of ``concepts`` (animal, clouds, person, sky, water,
  window) and at least one tag, ``n_items`` (4,996) drawn with ``seed`` (mgmm's NUS-WIDE 5K).
  The paper does not say how its 4,996 were drawn: here, uniformly.
"""

from __future__ import annotations

import hashlib

from pathlib import Path
from typing import Literal

import numpy as np

from pydantic import Field

from ..spec.models import DatasetSpec, Seed
from ..store.files import sha256_file
from .base import (DATASETS, DatasetError, DatasetParams, DatasetSource, Item, LoadedDataset,
                   MissingFiles, Unit, check_params, read_lines, require_file)

LOW_LEVEL = {"ch": ("Normalized_CH.dat", 64), "corr": ("Normalized_CORR.dat", 144),
             "edh": ("Normalized_EDH.dat", 73), "wt": ("Normalized_WT.dat", 128),
             "cm55": ("Normalized_CM55.dat", 225), "bow500": ("BoW_int.dat", 500)}
MGMM_CONCEPTS = ["animal", "clouds", "person", "sky", "water", "window"]
RECIPES = ("all", "nus81", "nus21", "nus10k", "nus5k_mgmm")


def read_binary_rows(path: Path, n_rows: int, n_cols: int) -> np.ndarray:
    """A text file of 0/1 digits (any separators) as an (n_rows, n_cols) uint8 matrix, fast."""
    require_file("nus_wide", path)
    raw = np.fromfile(path, dtype=np.uint8)
    digits = raw[(raw == 48) | (raw == 49)] - 48
    if digits.size != n_rows * n_cols:
        raise DatasetError(f"{path}: {digits.size} 0/1 values, expected {n_rows} rows x {n_cols}")
    return digits.reshape(n_rows, n_cols)


def read_float_rows(path: Path, n_rows: int, dim: int) -> np.ndarray:
    require_file("nus_wide", path, "low-level feature file")
    values = np.array(path.read_text().split(), dtype=np.float32)
    if values.size != n_rows * dim:
        raise DatasetError(f"{path}: {values.size} values, expected {n_rows} rows x {dim}")
    return values.reshape(n_rows, dim)


@DATASETS.register("nus_wide")
class NusWide(DatasetSource):
    """NUS-WIDE, official distribution, with the papers' subset recipes."""

    name = "nus_wide"
    PRECOMPUTED = ("tags1k", "low_level", *LOW_LEVEL)

    class Params(DatasetParams):
        recipe: Literal[RECIPES] = "nus10k"
        per_class: int | None = Field(1000, ge=1, description="nus10k: items per concept "
                                      "(NUS-WIDE-10k); null: every single-label item of the ten "
                                      "concepts (uncsm's NUS-WIDE, about 100K)")
        n_items: int = Field(4996, ge=1, description="nus5k_mgmm: items drawn")
        concepts: list[str] = Field(default_factory=lambda: list(MGMM_CONCEPTS), min_length=1,
                                    description="nus5k_mgmm: the concepts used")
        top_concepts: int = Field(21, ge=1, le=81, description="nus21: most frequent concepts")
        draw_train: int | None = Field(None, ge=1, description="nus81: items drawn from the "
                                       "official train list (msdmml: 22,000); null: all")
        draw_test: int | None = Field(None, ge=1, description="nus81: items drawn from the "
                                      "official test list (msdmml: 10,000); null: all")
        seed: Seed = 0

    def _image_list(self, root: Path) -> list[str]:
        lines = read_lines(self.name, root / "ImageList" / "Imagelist.txt", "image list")
        return [ln.replace("\\", "/").split("Flickr/", 1)[-1] for ln in lines]

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        p = check_params(self.name, spec.params, self.Params)
        paths = self._image_list(root)
        n = len(paths)
        concepts = read_lines(self.name, root / "Concepts81.txt", "concept list")
        labels = np.stack([read_binary_rows(root / "Groundtruth" / "AllLabels" / f"Labels_{c}.txt",
                                            n, 1).ravel() for c in concepts], axis=1)
        tag_names = read_lines(self.name, root / "NUS_WID_Tags" / "TagList1k.txt", "tag list")
        tags = read_binary_rows(root / "NUS_WID_Tags" / "AllTags1k.txt", n, len(tag_names))
        has_tags = tags.any(1)
        rng = np.random.default_rng(p["seed"])
        names, category = concepts, None
        recipe = p["recipe"]
        if recipe in ("all", "nus81"):
            keep = labels.any(1) & (has_tags if recipe == "nus81" else True)
        elif recipe == "nus21":
            top = np.sort(np.argsort(-labels.sum(0), kind="stable")[: p["top_concepts"]])
            labels, names = labels[:, top], [concepts[j] for j in top]
            keep = labels.any(1)
        elif recipe == "nus10k":
            single = labels.sum(1) == 1
            counts = (labels * single[:, None]).sum(0)
            top = np.sort(np.argsort(-counts, kind="stable")[:10])
            keep = np.zeros(n, bool)
            for j in top:
                rows = np.flatnonzero(single & (labels[:, j] == 1))
                if p["per_class"] is not None:
                    if len(rows) < p["per_class"]:
                        raise DatasetError(f"nus_wide: concept {concepts[j]} has {len(rows)} "
                                           f"single-label images, fewer than per_class={p['per_class']}")
                    rows = rng.choice(rows, p["per_class"], replace=False)
                keep[rows] = True
            labels, names = labels[:, top], [concepts[j] for j in top]
            category = labels.argmax(1)
        else:  # nus5k_mgmm
            unknown = [c for c in p["concepts"] if c not in concepts]
            if unknown:
                raise DatasetError(f"nus_wide: concepts {unknown} not in {root / 'Concepts81.txt'}")
            cols = [concepts.index(c) for c in p["concepts"]]
            labels, names = labels[:, cols], list(p["concepts"])
            candidates = np.flatnonzero((labels.sum(1) == 1) & has_tags)
            if len(candidates) < p["n_items"]:
                raise DatasetError(f"nus_wide: only {len(candidates)} images have exactly one of "
                                   f"{names} and a tag; n_items={p['n_items']}")
            keep = np.zeros(n, bool)
            keep[rng.choice(candidates, p["n_items"], replace=False)] = True
            category = labels.argmax(1)
        official = self._official_split(root, paths)
        if recipe == "nus81":
            for part in ("train", "test"):
                want = p[f"draw_{part}"]
                if want is None:
                    continue
                rows = np.array([i for i in np.flatnonzero(keep) if official.get(paths[i]) == part])
                if len(rows) < want:
                    raise DatasetError(f"nus_wide: draw_{part}={want}, but only {len(rows)} images "
                                       f"of the official {part} list have a concept and a tag")
                keep[np.setdiff1d(rows, rng.choice(rows, want, replace=False))] = False
        missing = MissingFiles(self.name, spec.partial)
        image_root = root / "Flickr"
        items = []
        for i in np.flatnonzero(keep):
            item_id = Path(paths[i]).stem
            ts = [tag_names[j] for j in np.flatnonzero(tags[i])]
            image = missing.image(item_id, image_root / paths[i]) if image_root.is_dir() else None
            labs = np.flatnonzero(labels[i]).tolist()
            items.append(Item(item_id=item_id, category=int(category[i]) if category is not None else -1,
                              labels=labs, text=" ".join(ts), tags=ts,
                              image_path=image,
                              official_split=official.get(paths[i]),
                              units=[Unit("tag", text=t) for t in ts]))
        single_label = category is not None
        files = {f: sha256_file(root / f) for f in ("ImageList/Imagelist.txt", "Concepts81.txt",
                                                     "NUS_WID_Tags/TagList1k.txt")}
        return LoadedDataset(items, names if single_label else [], names, not single_label,
                             f"{root.resolve()} ({recipe})", files, missing.rows)

    def _official_split(self, root: Path, paths: list[str]) -> dict[str, str]:
        out = {}
        for split, fname in (("train", "TrainImagelist.txt"), ("test", "TestImagelist.txt")):
            path = root / "ImageList" / fname
            if path.is_file():
                for ln in read_lines(self.name, path):
                    out[ln.replace("\\", "/").split("Flickr/", 1)[-1]] = split
        return out

    def precomputed(self, spec: DatasetSpec, root: Path, name: str, items=None) -> tuple[np.ndarray, dict]:
        if name not in self.PRECOMPUTED:
            raise DatasetError(f"nus_wide ships precomputed features {list(self.PRECOMPUTED)}, "
                               f"not {name!r}")
        paths = self._image_list(root)
        row_of = {Path(p).stem: i for i, p in enumerate(paths)}
        rows = np.array([row_of[i] for i in items.column("item_id").to_pylist()])
        if name == "tags1k":
            path = root / "NUS_WID_Tags" / "AllTags1k.txt"
            n_tags = len(read_lines(self.name, root / "NUS_WID_Tags" / "TagList1k.txt"))
            matrix = read_binary_rows(path, len(paths), n_tags)[rows].astype(np.float32)
        elif name == "low_level":  # the six low-level features side by side: 1,134-d (uncsm 4.1)
            parts = [self.precomputed(spec, root, part, items) for part in LOW_LEVEL]
            matrix = np.hstack([m for m, _ in parts])
            digest = hashlib.sha256("".join(meta["sha256"] for _, meta in parts).encode())
            return matrix, {"file": str((root / "Low_Level_Features").resolve()),
                            "sha256": digest.hexdigest(), "variables": list(LOW_LEVEL)}
        else:
            fname, dim = LOW_LEVEL[name]
            path = root / "Low_Level_Features" / fname
            matrix = read_float_rows(path, len(paths), dim)[rows]
        return matrix, {"file": str(path.resolve()), "sha256": sha256_file(path), "variables": [name]}
