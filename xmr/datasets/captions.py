"""Caption datasets without classes: `flickr8k` and `mscoco` (captions + instance categories).

**flickr8k** (Hodosh et al., 2013), official layout: ``Flickr8k.token.txt`` (``<image>#<k>\\t
<caption>``), ``Flickr_8k.trainImages.txt`` / ``Flickr_8k.devImages.txt`` /
``Flickr_8k.testImages.txt`` (the official 6,000 / 1,000 / 1,000 split; ``split.recipe: official``
uses all three), images in ``Flicker8k_Dataset/`` (the zip's spelling), ``Flickr8k_Dataset/`` or
``images/``. No classes: evaluate with ``relevance: instance``.

**mscoco** (Lin et al., 2014), official layout: ``annotations/captions_<part>.json``,
``annotations/instances_<part>.json`` and ``<part>/<file_name>`` images, for each part in
``dataset.params.parts`` (default ``[train2014, val2014]``: official train / test). Labels are the
80 instance categories present in the image (multi-label); images without instances are dropped
(``require_labels``). ``n_items`` draws a seeded subset (idcmr: 15,000 train + 4,000 queries).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pydantic import Field

from ..spec.models import DatasetSpec, Seed
from ..store.files import sha256_file
from .base import (DATASETS, DatasetError, DatasetParams, DatasetSource, Item, LoadedDataset,
                   MissingFiles, Unit, check_params, read_json_file, read_lines,
                   require_file)


@DATASETS.register("flickr8k")
class Flickr8k(DatasetSource):
    """Flickr8k: 8,000 images x 5 captions, official train/dev/test lists."""

    name = "flickr8k"
    SPLITS = {"train": "Flickr_8k.trainImages.txt", "val": "Flickr_8k.devImages.txt",
              "test": "Flickr_8k.testImages.txt"}

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        check_params(self.name, spec.params, self.Params)
        text_dir = root / "Flickr8k_text" if (root / "Flickr8k_text").is_dir() else root
        token = text_dir / "Flickr8k.token.txt"
        captions: dict[str, list[str]] = {}
        for lineno, line in enumerate(read_lines(self.name, token, "captions"), 1):
            key, _, caption = line.partition("\t")
            image, sep, _ = key.partition("#")
            if not sep or not caption.strip():
                raise DatasetError(f"{token}:{lineno}: expected '<image>#<k><TAB><caption>', got {line!r}")
            captions.setdefault(image, []).append(caption.strip())
        split_of = {}
        for split, fname in self.SPLITS.items():
            for name in read_lines(self.name, text_dir / fname, "split list"):
                split_of[name] = split
        image_dir = next((root / d for d in ("Flicker8k_Dataset", "Flickr8k_Dataset", "images")
                          if (root / d).is_dir()), None)
        missing = MissingFiles(self.name, spec.partial)
        items = []
        for image, caps in captions.items():
            path = missing.image(image, image_dir / image) if image_dir is not None else None
            items.append(Item(item_id=Path(image).stem, category=-1, labels=[], text=" ".join(caps),
                              image_path=path,
                              official_split=split_of.get(image),
                              units=[Unit("sentence", text=c) for c in caps]))
        return LoadedDataset(items, [], [], False, str(root.resolve()),
                             {f: sha256_file(text_dir / f) for f in ("Flickr8k.token.txt", *self.SPLITS.values())},
                             missing.rows)


@DATASETS.register("mscoco")
class MSCOCO(DatasetSource):
    """MSCOCO captions with instance categories as multi-labels."""

    name = "mscoco"
    class Params(DatasetParams):
        parts: list[str] = Field(default_factory=lambda: ["train2014", "val2014"], min_length=1,
                                 description="annotation parts; the first is train, the rest test")
        n_items: int | None = Field(None, ge=1, description="a seeded subset of this many items")
        seed: Seed = 0
        require_labels: bool = Field(True, description="drop images without instances")

    def load(self, spec: DatasetSpec, root: Path | None, workdir: Path) -> LoadedDataset:
        assert root is not None
        p = check_params(self.name, spec.params, self.Params)
        missing = MissingFiles(self.name, spec.partial)
        items, files, names = [], {}, None
        for k, part in enumerate(p["parts"]):
            caps_path = require_file(self.name, root / "annotations" / f"captions_{part}.json")
            inst_path = require_file(self.name, root / "annotations" / f"instances_{part}.json")
            caps, inst = read_json_file(caps_path), read_json_file(inst_path)
            files.update({caps_path.name: sha256_file(caps_path), inst_path.name: sha256_file(inst_path)})
            cats = sorted(inst.get("categories", []), key=lambda c: c["id"])
            if names is None:
                names = [c["name"] for c in cats]
                cat_index = {c["id"]: j for j, c in enumerate(cats)}
            captions: dict[int, list[str]] = {}
            for a in caps.get("annotations", []):
                captions.setdefault(a["image_id"], []).append(" ".join(str(a["caption"]).split()))
            labels: dict[int, set[int]] = {}
            for a in inst.get("annotations", []):
                if a["category_id"] not in cat_index:
                    raise DatasetError(f"{inst_path}: annotation {a.get('id')} has unknown "
                                       f"category {a['category_id']}")
                labels.setdefault(a["image_id"], set()).add(cat_index[a["category_id"]])
            split = "train" if k == 0 else "test"
            for img in sorted(caps.get("images", []), key=lambda im: im["id"]):
                iid = img["id"]
                labs = sorted(labels.get(iid, ()))
                if not captions.get(iid) or (p["require_labels"] and not labs):
                    continue
                path = (missing.image(str(iid), root / part / img["file_name"])
                        if (root / part).is_dir() else None)
                items.append(Item(item_id=str(iid), category=-1, labels=labs,
                                  text=" ".join(captions[iid]), official_split=split,
                                  image_path=path,
                                  units=[Unit("sentence", text=c) for c in captions[iid]]))
        if p["n_items"] is not None:
            if p["n_items"] > len(items):
                raise DatasetError(f"mscoco: n_items={p['n_items']} but only {len(items)} images qualify")
            keep = np.sort(np.random.default_rng(p["seed"]).choice(len(items), p["n_items"], replace=False))
            items = [items[i] for i in keep]
        return LoadedDataset(items, [], names or [], True, f"{root.resolve()} ({', '.join(p['parts'])})",
                             files, missing.rows)
