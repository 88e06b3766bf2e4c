"""`mirflickr25k`: MIRFLICKR-25K (Huiskes & Lew, 2008), 25,000 Flickr images with tags and 24
potential labels. Two layouts, picked by ``dataset.params.layout`` (default ``auto``):

- ``official``: ``mirflickr/im<N>.jpg``, ``mirflickr/meta/tags/tags<N>.txt`` (one tag per line)
  and the annotation files ``<label>.txt`` (image numbers, one per line) in ``annotations/`` (or
  the root). ``recipe: dcmh`` keeps the images with at least one of the 24 labels and at least
  one tag used by ``min_tag_images`` (20) images or more, the rule DCMH describes for its release
  (20,015 pairs; the count this rule gives on the official files was not checked here, the images
  being absent); ``recipe: all`` keeps every image with the 24 labels. ``recipe: msdmml``
  (Hua et al. 2020, 4.1) adds the strict ``<label>_r1.txt`` annotations as labels of their own
  (24 + 14 = 38), keeps each image's tags among the ``top_tags`` (2,000) most frequent ones (by
  the number of images using them) and drops the images left without a label or a tag (the paper
  reports 21,093; not checked here, the official files being absent). ``README.txt`` is ignored.
- ``dcmh``: the DCMH ``.mat`` release: ``mirflickr25k-lall.mat`` (``LAll``, N x 24 labels),
  ``mirflickr25k-yall.mat`` (``YAll``, N x 1386 tag bag-of-words, offered as the precomputed set
  ``yall``) and, when present, ``mirflickr25k-iall.mat`` (``IAll``, the images, written to the
  store as JPEG files at prepare time).

The usual protocol: ``split: {recipe: query_retrieval, n_test: 2000, n_train: 10000}``, with the
protocol's ``database: retrieval``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from pydantic import Field

from ..spec.models import DatasetSpec
from ..store.files import sha256_file
from .base import (DATASETS, DatasetError, DatasetParams, DatasetSource, Item, LoadedDataset,
                   MissingFiles, Unit, check_params, load_mat, read_lines)

LABELS = ["animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor",
          "lake", "male", "night", "people", "plant_life", "portrait", "river", "sea", "sky",
          "structures", "sunset", "transport", "tree", "water"]
DCMH_FILES = {"labels": "mirflickr25k-lall.mat", "tags": "mirflickr25k-yall.mat",
              "images": "mirflickr25k-iall.mat"}


@DATASETS.register("mirflickr25k")
class MirFlickr25k(DatasetSource):
    """MIRFLICKR-25K: the official release (images, tags, annotations) or the DCMH .mat files."""

    name = "mirflickr25k"
    PRECOMPUTED = ("yall",)

    class Params(DatasetParams):
        layout: Literal["auto", "official", "dcmh"] = "auto"
        recipe: Literal["dcmh", "all", "msdmml"] = Field(
            "dcmh", description="official layout: which pairs and labels")
        min_tag_images: int = Field(20, ge=1, description="recipe dcmh: tags kept when used "
                                    "by at least this many images")
        top_tags: int = Field(2000, ge=1, description="recipe msdmml: the most frequent tags kept")

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        p = check_params(self.name, spec.params, self.Params)
        layout = p["layout"]
        if layout == "auto":
            layout = "official" if (root / "mirflickr").is_dir() else "dcmh"
        if layout == "dcmh":
            return self._load_dcmh(root, workdir)
        if layout != "official":
            raise ValueError(f"dataset.params.layout: {layout!r} is not auto, official or dcmh")
        return self._load_official(root, p, MissingFiles(self.name, spec.partial))

    def _load_official(self, root: Path, p: dict, missing: MissingFiles) -> LoadedDataset:
        images = root / "mirflickr"
        ann_dir = root / "annotations" if (root / "annotations").is_dir() else root
        numbers = sorted(int(m.group(1)) for f in images.glob("im*.jpg")
                         if (m := re.fullmatch(r"im(\d+)\.jpg", f.name)))
        if not numbers:
            raise DatasetError(f"mirflickr25k: no im<N>.jpg images in {images}")
        labels: dict[int, list[int]] = {n: [] for n in numbers}
        names = list(LABELS)
        if p["recipe"] == "msdmml":  # the strict (_r1) annotations as labels of their own
            names += sorted(f.stem for f in ann_dir.glob("*_r1.txt"))
        for j, label in enumerate(names):
            path = ann_dir / f"{label}.txt"
            for lineno, line in enumerate(read_lines(self.name, path, "annotation file"), 1):
                if not line.isdigit():
                    raise DatasetError(f"{path}:{lineno}: expected an image number, got {line!r}")
                if int(line) in labels:
                    labels[int(line)].append(j)
        tags: dict[int, list[str]] = {}
        for n in numbers:
            path = images / "meta" / "tags" / f"tags{n}.txt"
            if not path.is_file():
                missing(str(n), "tags", path)
                tags[n] = []
                continue
            raw = missing.text(str(n), path, "tags")
            tags[n] = [t.strip() for t in (raw or "").splitlines() if t.strip()]
        vocab = None
        if p["recipe"] in ("dcmh", "msdmml"):
            counts: dict[str, int] = {}
            for ts in tags.values():
                for t in set(ts):
                    counts[t] = counts.get(t, 0) + 1
            if p["recipe"] == "dcmh":
                vocab = {t for t, c in counts.items() if c >= p["min_tag_images"]}
            else:  # by frequency, ties by tag
                vocab = set(sorted(counts, key=lambda t: (-counts[t], t))[: p["top_tags"]])
        items = []
        for n in numbers:
            ts = tags[n] if vocab is None else [t for t in tags[n] if t in vocab]
            if vocab is not None and (not labels[n] or not ts):
                continue
            items.append(Item(item_id=str(n), category=-1, labels=labels[n], text=" ".join(ts),
                              tags=ts, image_path=missing.image(str(n), images / f"im{n}.jpg"),
                              units=[Unit("tag", text=t) for t in ts]))
        return LoadedDataset(items, [], names, True, f"{root.resolve()} (official, {p['recipe']})",
                             {f"{lab}.txt": sha256_file(ann_dir / f"{lab}.txt") for lab in names},
                             missing.rows)

    def _load_dcmh(self, root: Path, workdir: Path) -> LoadedDataset:
        lab_path = root / DCMH_FILES["labels"]
        lall = load_mat(self.name, lab_path, "LAll", "DCMH labels")
        if lall.ndim != 2 or lall.shape[1] != len(LABELS):
            raise DatasetError(f"{lab_path}: LAll has shape {lall.shape}, expected (N, 24)")
        n = len(lall)
        files = {lab_path.name: sha256_file(lab_path)}
        image_paths: list[str | None] = [None] * n
        img_path = root / DCMH_FILES["images"]
        if img_path.is_file():
            image_paths = _write_dcmh_images(img_path, n, workdir)
            files[img_path.name] = sha256_file(img_path)
        items = [Item(item_id=f"{i + 1:05d}", category=-1, labels=np.flatnonzero(lall[i]).tolist(),
                      image_path=image_paths[i]) for i in range(n)]
        return LoadedDataset(items, [], LABELS, True, f"{root.resolve()} (dcmh)", files)

    def precomputed(self, spec: DatasetSpec, root: Path, name: str, items=None) -> tuple[np.ndarray, dict]:
        if name != "yall":
            raise DatasetError(f"mirflickr25k ships the precomputed feature 'yall' (DCMH layout: "
                               f"1386-d tag bag-of-words), not {name!r}")
        path = root / DCMH_FILES["tags"]
        yall = load_mat(self.name, path, "YAll", "DCMH tag bag-of-words").astype(np.float32)
        return yall, {"file": str(path.resolve()), "sha256": sha256_file(path), "variables": ["YAll"]}


def _write_dcmh_images(path: Path, n: int, workdir: Path) -> list[str]:
    """Write ``IAll`` (any axis order of N x 3 x H x W) as JPEG files under ``workdir/images``."""
    import h5py
    from tqdm import tqdm

    out_dir = workdir / "images"
    out_dir.mkdir(exist_ok=True)
    names = []
    try:
        fh = h5py.File(path, "r")
        arr = fh["IAll"]
    except OSError:  # MATLAB v5 file: read whole
        fh, arr = None, load_mat("mirflickr25k", path, "IAll")
    try:
        shape = arr.shape
        if n not in shape or 3 not in shape:
            raise DatasetError(f"{path}: IAll has shape {shape}; expected N={n} images x 3 channels")
        n_axis = shape.index(n)
        c_axis = next(a for a, s in enumerate(shape) if s == 3 and a != n_axis)
        hw = [a for a in range(4) if a not in (n_axis, c_axis)]
        for i in tqdm(range(n), desc="IAll -> jpeg", unit="img", disable=None):
            img = np.take(arr, i, axis=n_axis) if fh is None else arr[(slice(None),) * n_axis + (i,)]
            axes = [a - (a > n_axis) for a in (*hw, c_axis)]
            img = np.transpose(np.asarray(img), axes)
            if fh is not None:  # h5py gives MATLAB's column-major order: H and W are swapped
                img = img.transpose(1, 0, 2)
            name = f"images/{i + 1:05d}.jpg"
            Image.fromarray(img.astype(np.uint8)).save(workdir / name, quality=95)
            names.append(name)
    finally:
        if fh is not None:
            fh.close()
    return names
