"""Branches: per-modality encoders built from the spec (`xmr list branches`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry
from ..spec.models import ConvNetBranch, LinearBranch, MLPBranch, UnitPoolBranch

BRANCHES: Registry[type[nn.Module]] = Registry("branch")

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
               "none": nn.Identity}


@dataclass
class Ragged:
    """A batch of items with a variable number of units each.

    ``values`` holds all units (U x d); ``segments`` (U,) gives each unit's item position in the
    batch; ``size`` is the number of items (items may own zero units).
    """

    values: torch.Tensor
    segments: torch.Tensor
    size: int

    def to(self, device) -> "Ragged":
        return Ragged(self.values.to(device), self.segments.to(device), self.size)


def mlp(sizes: list[int], activation: str, dropout: float = 0.0, batch_norm: bool = False,
        last_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Branch(nn.Module):
    out_dim: int
    normalize: bool

    def finish(self, z: torch.Tensor) -> torch.Tensor:
        return F.normalize(z, dim=-1) if self.normalize else z


@BRANCHES.register("mlp")
class MLP(Branch):
    """Fully connected layers over a coarse feature vector."""

    def __init__(self, spec: MLPBranch, in_dim: int):
        super().__init__()
        self.net = mlp([in_dim, *spec.hidden, spec.out], spec.activation, spec.dropout,
                       spec.batch_norm)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.net(x.float()))


@BRANCHES.register("linear")
class Linear(Branch):
    """One linear projection (filled in closed form by the `cca` phase).

    It computes in float64: closed-form maps of rank-deficient features (e.g. topic proportions
    that sum to 1) have large weights and biases that cancel, which float32 cannot represent.
    """

    def __init__(self, spec: LinearBranch, in_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, spec.out, dtype=torch.float64)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.proj(x.double()).float())


@BRANCHES.register("unit_pool")
class UnitPool(Branch):
    """Per-unit MLP, then mean / max pooling of each item's units (items without units -> 0)."""

    def __init__(self, spec: UnitPoolBranch, in_dim: int):
        super().__init__()
        self.net = mlp([in_dim, *spec.hidden, spec.out], spec.activation)
        self.pool = spec.pool
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: Ragged) -> torch.Tensor:
        if not isinstance(x, Ragged):
            raise TypeError("unit_pool needs a fine-grained feature set (units + offsets)")
        h = self.net(x.values.float())
        out = h.new_zeros(x.size, h.shape[1])
        idx = x.segments.unsqueeze(1).expand_as(h)
        if self.pool == "mean":
            out.scatter_add_(0, idx, h)
            counts = torch.bincount(x.segments, minlength=x.size).clamp(min=1)
            out = out / counts.unsqueeze(1).to(h.dtype)
        else:
            out = out.scatter_reduce(0, idx, h, reduce="amax", include_self=False)
        return self.finish(out)


@BRANCHES.register("convnet")
class ConvNet(Branch):
    """A small CNN trained end to end from uint8 pixels (3 x s x s, flattened in the store)."""

    def __init__(self, spec: ConvNetBranch, in_dim: int):
        super().__init__()
        side = int(round((in_dim / 3) ** 0.5))
        if 3 * side * side != in_dim:
            raise ValueError(f"convnet needs a `pixels` feature set; got dimension {in_dim}")
        self.side = side
        layers, c_in = [], 3
        for c in spec.channels:
            layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, spec.out)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.view(-1, 3, self.side, self.side).float() / 127.5 - 1.0
        return self.finish(self.head(self.features(x)))


def build_branch(spec, in_dim: int | dict[str, int]) -> Branch:
    return BRANCHES.get(spec.type)(spec, in_dim)


from . import mgmm  # noqa: E402,F401  (registration; it builds on the classes above)
