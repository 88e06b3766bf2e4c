"""Speed and yield of the `selective_search` granularity.

    python benchmarks/selective_search.py [--store store] [--images 40]

Times the region proposals (OpenCV selective search + the bigger-box overlap rule) on the first
``--images`` pictures of the prepared `scenes` dataset (128 x 128) and on a synthetic 500 x 375
photo-sized image, in `fast` and `quality` modes, and prints milliseconds per image and the
regions kept per image (``max_units`` 16).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from xmr.featurize import Prepared
from xmr.granularity import selective_search_boxes
from xmr.spec.models import SelectiveSearchGranularity
from xmr.store.layout import Store


def measure(paths: list[Path], mode: str, resize: int) -> tuple[float, list[int]]:
    spec = SelectiveSearchGranularity(type="selective_search", mode=mode, resize=resize)
    t0 = time.perf_counter()
    kept = [len(selective_search_boxes(p, spec)) for p in paths]
    return (time.perf_counter() - t0) / len(paths) * 1000, kept


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="store")
    ap.add_argument("--images", type=int, default=40)
    args = ap.parse_args()
    prepared = Prepared.open(Store(Path(args.store)), "scenes")
    scenes = [prepared.path / p for p in prepared.items.column("image_path").to_pylist()[:args.images]]
    with tempfile.TemporaryDirectory() as tmp:
        noise = (np.random.default_rng(0).random((375, 500, 3)) * 255).astype(np.uint8)
        photo = Path(tmp) / "photo.jpg"
        Image.fromarray(noise).filter(ImageFilter.GaussianBlur(6)).save(photo)
        print(f"{'images':<28} {'mode':<8} {'ms / image':>10} {'regions kept (mean, min-max)':>30}")
        for label, paths, resize in ((f"scenes 128 x 128 (x{len(scenes)})", scenes, 256),
                                     ("synthetic 500 x 375", [photo] * 5, 256)):
            for mode in ("fast", "quality"):
                ms, kept = measure(paths, mode, resize)
                print(f"{label:<28} {mode:<8} {ms:>10.0f} {np.mean(kept):>18.1f} ({min(kept)}-{max(kept)})")


if __name__ == "__main__":
    main()
