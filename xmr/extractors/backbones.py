"""torchvision backbones the papers use, with weights from a `.pth` file the user names.

No model hub is reachable, so ``params.weights`` is required: a torchvision state dict (e.g.
``vgg16-397923af.pth``, ``resnet101-63fe2227.pth``); its sha256 goes into the feature set's
provenance. Features: VGG-16 / VGG-19 / AlexNet fc7 (4096-d, after the second fully connected
layer's ReLU), ResNet-34 / ResNet-101 global-average-pooled (512 / 2048-d).

Preprocessing as in the papers: the shorter side resized to ``resize`` (256), a ``crop`` (224)
square taken at the centre (or at random, seeded), ImageNet normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from ..spec.models import Seed
from .base import ExtractorParams, register
from ..pretrained import IMAGENET_MEAN, IMAGENET_STD, torchvision_model, weights_path
from .image import TorchImageExtractor


class BackboneParams(ExtractorParams):
    weights: str | None = Field(None, description="torchvision state dict (.pth) to load; required")
    resize: int = Field(256, ge=32, le=4096, description="shorter image side after resizing")
    crop: int = Field(224, ge=32, le=4096, description="square crop fed to the network")
    crop_mode: Literal["center", "random"] = "center"
    seed: Seed = Field(0, description="random crops: the seed, combined with each unit's path "
                       "and box")
    batch_size: int = Field(32, ge=1, le=65536)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class TorchvisionBackbone(TorchImageExtractor):
    Params = BackboneParams
    arch: ClassVar[str]
    out_dim: ClassVar[int]

    def weights_file(self) -> Path:
        return weights_path(f"extractor {self.name}", self.params.weights,
                            f"torchvision {self.arch} state dict")

    @property
    def dim(self) -> int:
        return self.out_dim

    def _network(self):
        import torch

        model = torchvision_model(f"extractor {self.name}", self.arch, self.params.weights)
        torch.manual_seed(self.params.seed)
        return self._head(model, torch.nn)

    def _head(self, model, nn):
        raise NotImplementedError

    def _unit_tensor(self, unit):
        """Random crops are seeded per unit (its path and box), so they do not depend on the
        batching or on which worker decodes the unit."""
        if self.params.crop_mode == "random":
            import zlib

            import torch

            torch.manual_seed(self.params.seed * 1_000_003 + zlib.crc32(repr(unit).encode()))
        return super()._unit_tensor(unit)

    def _tensor(self, image):
        from ..compat.torchvision import import_torchvision

        if getattr(self, "_transform", None) is None:
            T = import_torchvision().transforms
            crop = T.CenterCrop if self.params.crop_mode == "center" else T.RandomCrop
            self._transform = T.Compose([T.Resize(self.params.resize), crop(self.params.crop),
                                         T.ToTensor(), T.Normalize(IMAGENET_MEAN.tolist(),
                                                                   IMAGENET_STD.tolist())])
        return self._transform(image)


class _FC7(TorchvisionBackbone):
    out_dim = 4096
    fc7_end: ClassVar[int]  # classifier layers up to and including fc7's ReLU

    def _head(self, model, nn):
        return nn.Sequential(model.features, model.avgpool, nn.Flatten(1),
                             model.classifier[: self.fc7_end])


class _Pooled(TorchvisionBackbone):
    def _head(self, model, nn):
        model.fc = nn.Identity()
        return model


@register("vgg16_fc7")
class VGG16FC7(_FC7):
    """VGG-16 fc7 (4096-d), torchvision weights from a named .pth file."""

    arch, fc7_end = "vgg16", 5


@register("vgg19_fc7")
class VGG19FC7(_FC7):
    """VGG-19 fc7 (4096-d), torchvision weights from a named .pth file."""

    arch, fc7_end = "vgg19", 5


@register("alexnet_fc7")
class AlexNetFC7(_FC7):
    """AlexNet fc7 (4096-d), torchvision weights from a named .pth file."""

    arch, fc7_end = "alexnet", 6


@register("resnet34_pool")
class ResNet34Pool(_Pooled):
    """ResNet-34 global-average-pooled (512-d), torchvision weights from a named .pth file."""

    arch, out_dim = "resnet34", 512


@register("resnet101_pool")
class ResNet101Pool(_Pooled):
    """ResNet-101 global-average-pooled (2048-d), torchvision weights from a named .pth file."""

    arch, out_dim = "resnet101", 2048
