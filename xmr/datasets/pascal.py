"""`pascal_sentence`: Pascal Sentence (Rashtchian et al., 2010): 1,000 images, 20 categories x 50,
five sentences each. Three layouts, picked by ``dataset.params.layout`` (default ``auto``):

- ``official``: ``dataset/<category>/<image>.jpg`` and ``sentence/<category>/<image>.txt`` (one
  sentence per line), as the UIUC release unpacks.
- ``json``: ``pascal_sentences.json`` = ``{image_file: {category, captions: [...]}}``; images,
  when present, in ``dataset/<category>/`` or ``images/``.
- ``dscmr``: the pre-extracted features released with DSCMR (``dscmr-features/``:
  ``{train,test}_img.mat`` VGG-19 fc7, ``{train,test}_txt.mat`` sentence-CNN features,
  ``{train,test}_img_lab.mat`` labels 0..19): items are the label rows (800 train + 100 test), the
  features are precomputed sets ``dscmr_image`` / ``dscmr_text``. Whatever subset of the files is
  present loads; a feature whose file is missing fails naming that file.

The papers' split is 800 / 100 / 100: ``split: {recipe: counts, n_train: 800, n_val: 100,
n_test: 100}`` (``official`` recipe for the DSCMR layout, its 800 / 100 lists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ..spec.models import DatasetSpec
from ..store.files import sha256_file, stable_hash
from .base import (DATASETS, DatasetError, DatasetParams, DatasetSource, Item, LoadedDataset,
                   MissingFiles, Unit, check_params, decode_text, load_mat, read_json_file, stack_rows)

CATEGORIES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
              "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
              "train", "tvmonitor"]
DSCMR_DIR = "dscmr-features"
DSCMR_FEATURES = {"dscmr_image": "img", "dscmr_text": "txt"}


def _layout(root: Path, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    if (root / "sentence").is_dir() and (root / "dataset").is_dir():
        return "official"
    if (root / "pascal_sentences.json").is_file():
        return "json"
    if (root / DSCMR_DIR).is_dir():
        return "dscmr"
    raise DatasetError(f"pascal_sentence: {root} holds none of the known layouts (dataset/ + "
                       f"sentence/ folders, pascal_sentences.json, or {DSCMR_DIR}/)")


@DATASETS.register("pascal_sentence")
class PascalSentence(DatasetSource):
    """Pascal Sentence: official folders, the captions JSON, or the DSCMR feature release."""

    name = "pascal_sentence"
    PRECOMPUTED = tuple(DSCMR_FEATURES)

    class Params(DatasetParams):
        layout: Literal["auto", "official", "json", "dscmr"] = "auto"

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        p = check_params(self.name, spec.params, self.Params)
        layout = _layout(root, p["layout"])
        if layout not in ("official", "json", "dscmr"):
            raise ValueError(f"dataset.params.layout: {layout!r} is not auto, official, json or dscmr")
        missing = MissingFiles(self.name, spec.partial)
        if layout == "dscmr":
            return self._load_dscmr(root)
        entries = self._official(root) if layout == "official" else self._json(root)
        categories = sorted({c for _, c, _, _ in entries})
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise DatasetError(f"pascal_sentence: unknown categories {unknown} in {root}")
        items = []
        for image_file, cat, captions, source in entries:
            item_id = Path(image_file).stem
            captions = [c.strip() for c in captions if c and c.strip()]
            if not captions:
                missing(item_id, "text", source, dropped=True, reason="has no sentences")
                continue
            image = None
            for folder in (root / "dataset" / cat, root / "images"):
                if (folder / image_file).exists():
                    image = folder / image_file
                    break
            if image is not None:
                image = missing.image(item_id, image)
            elif layout == "official":
                missing(item_id, "image", root / "dataset" / cat / image_file)
            idx = CATEGORIES.index(cat)
            items.append(Item(item_id=item_id, category=idx, labels=[idx], text=" ".join(captions),
                              image_path=image,
                              units=[Unit("sentence", text=c) for c in captions]))
        files = {"pascal_sentences.json": sha256_file(root / "pascal_sentences.json")} \
            if layout == "json" else {}
        return LoadedDataset(items, CATEGORIES, CATEGORIES, False, f"{root.resolve()} ({layout})",
                             files, missing.rows)

    def _json(self, root: Path) -> list[tuple[str, str, list[str], Path]]:
        path = root / "pascal_sentences.json"
        data = read_json_file(path)
        out = []
        for image_file, entry in data.items():
            if not isinstance(entry, dict) or "category" not in entry or "captions" not in entry:
                raise DatasetError(f"{path}: entry {image_file!r} lacks 'category' or 'captions'")
            out.append((image_file, entry["category"], list(entry["captions"]), path))
        return out

    def _official(self, root: Path) -> list[tuple[str, str, list[str], Path]]:
        out = []
        for cat_dir in sorted(p for p in (root / "sentence").iterdir() if p.is_dir()):
            for txt in sorted(cat_dir.glob("*.txt")):
                lines = decode_text(txt.read_bytes(), txt).splitlines()
                images = sorted((root / "dataset" / cat_dir.name).glob(f"{txt.stem}.*"))
                name = images[0].name if images else f"{txt.stem}.jpg"
                out.append((name, cat_dir.name, lines, txt))
        if not out:
            raise DatasetError(f"pascal_sentence: no sentence files under {root / 'sentence'}")
        return out

    def _load_dscmr(self, root: Path) -> LoadedDataset:
        folder = root / DSCMR_DIR
        items, files = [], {}
        for split in ("train", "test"):
            path = folder / f"{split}_img_lab.mat"
            labels = load_mat(self.name, path, f"{split}_img_lab", "DSCMR labels").ravel()
            files[path.name] = sha256_file(path)
            for r, lab in enumerate(labels):
                lab = int(lab)
                if not 0 <= lab < len(CATEGORIES):
                    raise DatasetError(f"{path}: row {r}: label {lab} outside 0..19")
                items.append(Item(item_id=f"dscmr-{split}-{r:04d}", category=lab, labels=[lab],
                                  official_split=split))
        return LoadedDataset(items, CATEGORIES, CATEGORIES, False, f"{folder.resolve()} (dscmr)",
                             files)

    def precomputed(self, spec: DatasetSpec, root: Path, name: str, items=None) -> tuple[np.ndarray, dict]:
        if name not in DSCMR_FEATURES:
            raise DatasetError(f"pascal_sentence ships precomputed features {sorted(DSCMR_FEATURES)} "
                               f"(DSCMR layout), not {name!r}")
        part, parts, shas = DSCMR_FEATURES[name], [], {}
        for split in ("train", "test"):
            path = root / DSCMR_DIR / f"{split}_{part}.mat"
            if not path.is_file():
                raise DatasetError(f"pascal_sentence: feature {name!r} needs {path}, which is "
                                   "missing from this copy of the DSCMR release")
            parts.append(load_mat(self.name, path, f"{split}_{part}"))
            shas[path.name] = sha256_file(path)
        matrix = stack_rows(root / DSCMR_DIR, [f"train_{part}", f"test_{part}"], parts).astype(np.float32)
        return matrix, {"file": str((root / DSCMR_DIR).resolve()), "sha256": stable_hash(shas, 64),
                        "files": shas,
                        "variables": [f"train_{part}", f"test_{part}"]}
