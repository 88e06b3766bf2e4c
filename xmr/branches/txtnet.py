"""dmsfh's TxtNet (Section 3.2): a bag-of-words vector -> multi-scale fusion -> FC layers."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..spec.models import TxtNetBranch
from . import ACTIVATIONS, BRANCHES, Branch, mlp


class MultiScaleBlock(nn.Module):
    """Average pooling of the (B, 1, T) BoW signal with window = stride = ``scale`` (a partial
    last window is averaged over what it covers), a 1 x 1 convolution and the activation:
    (B, 1, ceil(T / scale))."""

    def __init__(self, scale: int, activation: str):
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv1d(1, 1, kernel_size=1)
        self.act = ACTIVATIONS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(F.avg_pool1d(x, self.scale, self.scale, ceil_mode=True)))


@BRANCHES.register("txtnet")
class TxtNet(Branch):
    """T -> MS -> hidden (4096 -> 512) -> out. `fusion: concat` joins the blocks' pooled maps
    (and the input) end to end; `resize` spreads each pooled value back over its window (length
    T) and stacks the maps as channels."""

    def __init__(self, spec: TxtNetBranch, in_dim: int):
        super().__init__()
        if in_dim < max(spec.scales):
            raise ValueError(f"txtnet: the text feature has {in_dim} dimensions, fewer than the "
                             f"largest pooling scale {max(spec.scales)}; use a larger BoW "
                             "vocabulary or smaller `scales`")
        self.blocks = nn.ModuleList(MultiScaleBlock(s, spec.activation) for s in spec.scales)
        self.include_input, self.fusion = spec.include_input, spec.fusion
        if spec.fusion == "resize":
            width = (len(spec.scales) + int(spec.include_input)) * in_dim
        else:
            width = sum(math.ceil(in_dim / s) for s in spec.scales) + in_dim * spec.include_input
        self.net = mlp([width, *spec.hidden, spec.out], spec.activation)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def fuse(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) -> the fused multi-scale input: (B, width) for concat, (B, channels, T) for
        resize; the input first when included."""
        x = x.float().unsqueeze(1)
        maps = [b(x) for b in self.blocks]
        if self.fusion == "resize":
            t = x.shape[-1]  # each pooled value back over the window it averages
            maps = [m.repeat_interleave(b.scale, dim=-1)[..., :t]
                    for m, b in zip(maps, self.blocks)]
            return torch.cat(([x] if self.include_input else []) + maps, dim=1)
        return torch.cat(([x] if self.include_input else []) + maps, dim=2).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.net(self.fuse(x).flatten(1)))
