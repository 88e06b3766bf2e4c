"""`corel5k`: Corel 5K (Duygulu et al., 2002) in the layout of the LEAR/TagProp release: 5,000
images from 50 Corel CDs (100 each), 260-word annotation vocabulary, 1-5 words per image.

- ``corel5k_dictionary.txt`` (one word per line), ``corel5k_train_list.txt`` /
  ``corel5k_test_list.txt`` (image paths without extension, ``<cd>/<id>``: the official
  4,500 / 500 split), ``corel5k_train_annot.hvecs`` / ``corel5k_test_annot.hvecs`` (one binary
  vector per image: an int32 length, then that many integers; the integer width is read off the
  file size);
- images ``images/<cd>/<id>.jpeg`` (or ``.jpg``, or directly under the root), optional.

Category = the image's CD (50 categories); labels and text = its annotation words, units = single
tags. mgmm drops the images without words and splits 4,493 / 250 / 249:
``split: {recipe: counts, n_train: 4493, n_val: 250, n_test: 249}``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pydantic import Field

from ..spec.models import DatasetSpec
from ..store.files import sha256_file
from .base import (DATASETS, DatasetError, DatasetParams, DatasetSource, Item, LoadedDataset,
                   MissingFiles, Unit, check_params, image_problem, read_lines, require_file)


def read_vecs(path: Path, n_rows: int) -> np.ndarray:
    """LEAR ``*vecs`` file: per row an int32 length d, then d values; width inferred (1/2/4 B)."""
    raw = require_file("corel5k", path).read_bytes()
    if len(raw) < 4:
        raise DatasetError(f"{path}: empty vector file")
    d = int(np.frombuffer(raw[:4], np.int32)[0])
    for width, dtype in ((4, np.int32), (2, np.int16), (1, np.uint8)):
        if d > 0 and len(raw) == n_rows * (4 + d * width):
            rows = np.frombuffer(raw, np.uint8).reshape(n_rows, 4 + d * width)
            if np.any(rows[:, :4].copy().view(np.int32).ravel() != d):
                raise DatasetError(f"{path}: rows of different lengths")
            return rows[:, 4:].copy().view(dtype).reshape(n_rows, d)
    raise DatasetError(f"{path}: {len(raw)} bytes do not hold {n_rows} vectors of length {d}")


@DATASETS.register("corel5k")
class Corel5k(DatasetSource):
    """Corel 5K, LEAR/TagProp layout; categories = CDs, texts = annotation words."""

    name = "corel5k"
    class Params(DatasetParams):
        drop_untagged: bool = Field(True, description="drop images without any annotation word")

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        p = check_params(self.name, spec.params, self.Params)
        words = read_lines(self.name, root / "corel5k_dictionary.txt", "annotation vocabulary")
        missing = MissingFiles(self.name, spec.partial)
        entries = []
        for split in ("train", "test"):
            names = read_lines(self.name, root / f"corel5k_{split}_list.txt", "image list")
            annot = read_vecs(root / f"corel5k_{split}_annot.hvecs", len(names))
            if annot.shape[1] != len(words):
                raise DatasetError(f"{root / f'corel5k_{split}_annot.hvecs'}: vectors of length "
                                   f"{annot.shape[1]}, but the dictionary has {len(words)} words")
            entries += [(name, split, np.flatnonzero(row).tolist()) for name, row in zip(names, annot)]
        cds = sorted({name.split("/")[0] for name, _, _ in entries})
        items = []
        for name, split, labs in entries:
            if not labs and p["drop_untagged"]:
                continue
            image = self._image(root, name)
            if image is None or (problem := image_problem(image)):
                if any((root / d).is_dir() for d in ("images", name.split("/")[0])):
                    missing(name, "image", image or root / "images" / f"{name}.jpeg",
                            reason="is missing" if image is None else problem)
                image = None
            ts = [words[j] for j in labs]
            items.append(Item(item_id=name.replace("/", "_"), category=cds.index(name.split("/")[0]),
                              labels=labs, text=" ".join(ts), tags=ts, official_split=split,
                              image_path=str(image.resolve()) if image else None,
                              units=[Unit("tag", text=t) for t in ts]))
        files = {f: sha256_file(root / f) for f in ("corel5k_dictionary.txt", "corel5k_train_list.txt",
                                                     "corel5k_test_list.txt")}
        return LoadedDataset(items, cds, words, False, str(root.resolve()), files, missing.rows)

    @staticmethod
    def _image(root: Path, name: str) -> Path | None:
        for base in (root / "images", root):
            for ext in (".jpeg", ".jpg", ".JPEG", ".JPG"):
                if (base / f"{name}{ext}").is_file():
                    return base / f"{name}{ext}"
        return None
