"""Import torchvision on a CPU-only torch whose torchvision wheel is a CUDA build.

That wheel's compiled extension cannot load, so ``import torchvision`` fails with
``operator torchvision::nms does not exist``. Only when that happens, we declare the two missing
operator schemas (``nms``, ``qnms``) and import again: models and transforms then work, while
``torchvision.ops`` kernels and ``torchvision.io`` decoding stay unavailable (xmr reads images
with Pillow and needs neither).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

_shim_lib = None  # keeps the operator library alive


def import_torchvision() -> ModuleType:
    global _shim_lib
    try:
        return importlib.import_module("torchvision")
    except RuntimeError as exc:
        if "torchvision::nms does not exist" not in str(exc):
            raise
    import torch

    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    if _shim_lib is None:
        _shim_lib = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            _shim_lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    return importlib.import_module("torchvision")
