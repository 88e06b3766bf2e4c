"""Image extraction speed: xmr's EfficientNet-Lite0 extractor against a bare forward pass of the
same network on pre-decoded tensors, in one process, with an agreement check.

Each is run `--repeat` times and its fastest run counts.
Images: `--images` synthetic JPEGs of `--source` px (smooth colour fields + noise, about the
size of the Wikipedia / Pascal photos), written to a temporary folder. Reported: images/s of
- the bare forward (`torch.inference_mode`, `channels_last`, batches of `--batch` tensors
  decoded beforehand: the ceiling);
- the same without `channels_last` (the memory format xmr used before);
- xmr's extractor `transform` (decoding and resizing in DataLoader workers, overlapped with
  inference), whose features must equal the bare forward's (max |diff| printed, <= 1e-4);
- the measured matmul rate of this CPU (GFLOP/s of a 1024^3 float32 GEMM), for scale.

    python benchmarks/extraction.py            # 224 px (about two minutes)
    python benchmarks/extraction.py --size 128
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from xmr.extractors.image import EfficientNetLite0
from xmr.threads import configure_threads


def make_images(folder: Path, n: int, size: tuple[int, int]) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    yy, xx = np.mgrid[0:size[1], 0:size[0]] / max(size)
    for i in range(n):
        a, b, c = rng.random(3) * 6
        img = np.stack([np.sin(a * xx + b * yy), np.cos(b * xx - c * yy), np.sin(c * xx * yy)], -1)
        img = (img * 100 + 128 + rng.normal(0, 12, img.shape)).clip(0, 255).astype(np.uint8)
        paths.append(folder / f"{i:04d}.jpg")
        Image.fromarray(img).save(paths[-1], quality=90)
    return paths


def gemm_rate() -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    return 10 * 2 * 1024 ** 3 / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--source", type=int, nargs=2, default=[500, 375])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = ap.parse_args()
    threads = configure_threads()
    ext = EfficientNetLite0({"image_size": args.size, "batch_size": args.batch, "device": "cpu"})
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.images, tuple(args.source))
        units = [(p, None) for p in paths]
        t0 = time.perf_counter()
        x = torch.stack([ext._tensor(Image.open(p).convert("RGB")) for p in paths])
        t_decode = time.perf_counter() - t0
        net = ext._network().eval()

        def bare(memory_format):
            model = net.to(memory_format=memory_format)
            outs = []
            with torch.inference_mode():
                model(x[: args.batch].contiguous(memory_format=memory_format))  # warm-up
                t0 = time.perf_counter()
                for s in range(0, len(x), args.batch):
                    outs.append(model(x[s:s + args.batch].contiguous(memory_format=memory_format)))
            return torch.cat(outs).numpy(), time.perf_counter() - t0

        def extractor():
            t0 = time.perf_counter()
            return ext.transform(units), time.perf_counter() - t0

        ext.transform(units[: args.batch])  # warm-up (loads the network)
        runs = {name: [fn() for _ in range(args.repeat)] for name, fn in
                [("bare", lambda: bare(torch.channels_last)),
                 ("plain", lambda: bare(torch.contiguous_format)), ("xmr", extractor)]}
        ref, feats = runs["bare"][0][0], runs["xmr"][0][0]
        t_bare, t_plain, t_xmr = (min(t for _, t in runs[k]) for k in ("bare", "plain", "xmr"))
    diff = float(np.abs(feats - ref).max())
    n = args.images
    print(f"EfficientNet-Lite0 at {args.size} px, {n} JPEGs of {args.source[0]} x "
          f"{args.source[1]}, batch {args.batch}, torch threads {threads}; "
          f"float32 GEMM {gemm_rate():.0f} GFLOP/s")
    print(f"{'':<44}{'images/s':>10}{'vs bare':>9}")
    for name, t in [("bare forward, channels_last, inference_mode", t_bare),
                    ("bare forward, contiguous (the format before)", t_plain),
                    ("xmr extractor (decoding overlapped)", t_xmr),
                    ("decoding + resizing alone, one thread", t_decode)]:
        print(f"{name:<44}{n / t:>10.1f}{t_bare / t:>8.2f}x")
    print(f"max |feature difference| xmr vs bare forward: {diff:.1e}")
    if diff > 1e-4:
        raise SystemExit("the extractor's features differ from the bare forward's")


if __name__ == "__main__":
    main()
