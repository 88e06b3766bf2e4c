"""`wikipedia`: the SVCL Wikipedia cross-modal dataset (Rasiwasia et al., 2010), official layout.

Reads ``trainset_txt_img_cat.list`` / ``testset_txt_img_cat.list`` (text id, image id, category
1..10), ``categories.list``, and, when present, ``texts/<text id>.xml`` (raw article sections) and
``images/<category>/<image id>.jpg``. ``raw_features.mat`` (SIFT BoVW ``I_tr``/``I_te``, LDA
``T_tr``/``T_te``) is offered as precomputed feature sets ``sift_bovw`` and ``lda``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..spec.models import DatasetSpec
from ..store.files import sha256_file
from .base import (DATASETS, DatasetError, DatasetSource, Item, LoadedDataset, MissingFiles, Unit,
                   check_params, decode_text, load_mat, read_lines, stack_rows)

_TEXT_RE = re.compile(r"<text>(.*?)</text>", re.S)
_SENT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_RE.split(text) if len(s.strip()) > 1]


@DATASETS.register("wikipedia")
class WikipediaDataset(DatasetSource):
    """SVCL Wikipedia: 2,866 image-text pairs, 10 categories, official 2,173 / 693 split."""

    name = "wikipedia"
    LISTS = {"train": "trainset_txt_img_cat.list", "test": "testset_txt_img_cat.list"}
    FEATURES = {"sift_bovw": ("I_tr", "I_te"), "lda": ("T_tr", "T_te")}
    PRECOMPUTED = tuple(FEATURES)

    def _read_lists(self, root: Path) -> list[tuple[str, str, int, str]]:
        rows = []
        for split, fname in self.LISTS.items():
            path = root / fname
            if not path.is_file():
                raise DatasetError(f"wikipedia: missing {path} (official list file)")
            for lineno, line in enumerate(decode_text(path.read_bytes(), path).splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) != 3 or not parts[2].strip().isdigit():
                    raise DatasetError(f"{path}:{lineno}: expected 'text_id<TAB>image_id<TAB>"
                                       f"category', got {line!r}")
                rows.append((parts[0].strip(), parts[1].strip(), int(parts[2]), split))
        return rows

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        check_params(self.name, spec.params, self.Params)
        cats_path = root / "categories.list"
        if not cats_path.is_file():
            raise DatasetError(f"wikipedia: missing {cats_path}")
        categories = read_lines(self.name, cats_path, "category names")
        rows = self._read_lists(root)
        texts_dir, images_dir = root / "texts", root / "images"
        missing = MissingFiles(self.name, spec.partial)
        items = []
        for text_id, image_id, cat, split in rows:
            if not 1 <= cat <= len(categories):
                raise DatasetError(f"wikipedia: text {text_id}: category {cat} outside "
                                   f"1..{len(categories)} ({cats_path})")
            text, units = None, []
            xml = texts_dir / f"{text_id}.xml"
            raw = missing.text(text_id, xml) if xml.is_file() else None
            if raw is not None:
                m = _TEXT_RE.search(raw)
                if not m or not m.group(1).strip():
                    missing(text_id, "text", xml, reason="has no <text> content")
                else:
                    text = " ".join(m.group(1).split())
                    units = [Unit("sentence", text=s) for s in split_sentences(text)]
            elif texts_dir.is_dir() and not xml.is_file():
                missing(text_id, "text", xml)
            image = None
            if images_dir.is_dir():
                found = sorted((images_dir / categories[cat - 1]).glob(f"{image_id}.*"))
                image = missing.image(text_id, found[0] if found else
                                      images_dir / categories[cat - 1] / f"{image_id}.jpg")
            items.append(Item(item_id=text_id, category=cat - 1, labels=[cat - 1], text=text,
                              image_path=image, official_split=split, units=units))
        files = {n: sha256_file(root / n) for n in (*self.LISTS.values(), "categories.list")}
        return LoadedDataset(items=items, categories=categories, label_names=categories,
                             multilabel=False, source=str(root.resolve()), files=files,
                             missing=missing.rows)

    def precomputed(self, spec: DatasetSpec, root: Path, name: str, items=None) -> tuple[np.ndarray, dict]:
        if name not in self.FEATURES:
            raise DatasetError(f"wikipedia ships precomputed features {sorted(self.FEATURES)}, "
                               f"not {name!r}")
        path = root / "raw_features.mat"
        if not path.is_file():
            raise DatasetError(f"wikipedia: missing {path} (needed for feature {name!r})")
        parts = []
        splits = [r[3] for r in self._read_lists(root)]
        n_rows = {s: splits.count(s) for s in ("train", "test")}
        for key, split in zip(self.FEATURES[name], ("train", "test")):
            part = load_mat(self.name, path, key, f"feature {name!r}")
            if part.ndim != 2 or part.shape[0] != n_rows[split]:
                raise DatasetError(f"{path}: {key} has shape {part.shape} but "
                                   f"{self.LISTS[split]} lists {n_rows[split]} items (one per row)")
            parts.append(np.asarray(part, dtype=np.float64))
        matrix = stack_rows(path, list(self.FEATURES[name]), parts)
        return matrix, {"file": str(path.resolve()), "sha256": sha256_file(path),
                        "variables": list(self.FEATURES[name])}
