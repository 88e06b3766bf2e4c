"""Branches: per-modality encoders built from the spec (`xmr list branches`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry
from ..spec.models import CNNBranch, ConvNetBranch, LinearBranch, MLPBranch, UnitPoolBranch

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


def normal_init(module: nn.Module, std: float) -> None:
    """Every linear layer's weights from N(0, std^2), biases 0."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.zeros_(layer.bias)


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
                       spec.batch_norm, last_activation=spec.out_activation)
        if spec.init_std is not None:
            normal_init(self.net, spec.init_std)
        self.softmax = spec.output == "softmax"
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x.float())
        return self.finish(z.softmax(-1) if self.softmax else z)


@BRANCHES.register("linear")
class Linear(Branch):
    """One linear projection (filled in closed form by the `cca` phase).

    It computes in float64: closed-form maps of rank-deficient features (e.g. topic proportions
    that sum to 1) have large weights and biases that cancel, which float32 cannot represent.
    """

    def __init__(self, spec: LinearBranch, in_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, spec.out, dtype=torch.float64)
        self.softmax = spec.output == "softmax"
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.proj(x.double())
        return self.finish((z.softmax(-1) if self.softmax else z).float())


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


@BRANCHES.register("cnn")
class CNN(Branch):
    """A pretrained CNN over stored uint8 pixels (3 x s x s), fine-tuned end to end, then FC
    layers: random crops in training, the centre crop in evaluation (msdmml 4.2)."""

    def __init__(self, spec: CNNBranch, in_dim: int):
        super().__init__()
        from ..pretrained import IMAGENET_MEAN, IMAGENET_STD, POOLED_DIMS, pooled_cnn

        side = int(round((in_dim / 3) ** 0.5))
        if 3 * side * side != in_dim:
            raise ValueError(f"a cnn branch needs a `pixels` feature set; got dimension {in_dim}")
        if spec.crop > side:
            raise ValueError(f"cnn branch: crop {spec.crop} is larger than the stored pixels "
                             f"({side} x {side}); raise the pixels extractor's `size`")
        self.side, self.crop = side, spec.crop
        self.frozen_bn = spec.batch_norm == "frozen"
        self.backbone = pooled_cnn(f"architecture (cnn branch, {spec.backbone})", spec.backbone,
                                   spec.weights)
        self.head = mlp([POOLED_DIMS[spec.backbone], *spec.hidden, spec.out], spec.activation,
                        spec.dropout, last_activation=spec.out_activation)
        if spec.init_std is not None:
            normal_init(self.head, spec.init_std)
        self.register_buffer("mean", torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1) * 255,
                             persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1) * 255,
                             persistent=False)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def crops(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, crop, crop) float crops of the stored squares: random offsets per image in
        training (torch's seeded generator), the centre in evaluation."""
        x = x.view(-1, 3, self.side, self.side)
        room = self.side - self.crop
        if not self.training or room == 0:
            o = room // 2
            return x[:, :, o:o + self.crop, o:o + self.crop].float()
        offsets = torch.randint(0, room + 1, (len(x), 2)).tolist()
        return torch.stack([x[i, :, r:r + self.crop, c:c + self.crop]
                            for i, (r, c) in enumerate(offsets)]).float()

    def train(self, mode: bool = True) -> "CNN":
        super().train(mode)
        if self.frozen_bn:  # evaluation-mode backbone, also while it is fine-tuned
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (self.crops(x) - self.mean) / self.std
        if any(p.requires_grad for p in self.backbone.parameters()):
            h = self.backbone(x)
        else:  # frozen: evaluation-mode batch norm, no graph
            mode = self.backbone.training
            self.backbone.eval()
            with torch.no_grad():
                h = self.backbone(x)
            self.backbone.train(mode)
        return self.finish(self.head(h))


def build_branch(spec, in_dim: int | dict[str, int]) -> Branch:
    return BRANCHES.get(spec.type)(spec, in_dim)


from . import dbn, kernel, mgmm, txtnet, uncsm, words  # noqa: E402,F401  (registration; they build on the classes above)
