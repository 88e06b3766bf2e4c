"""The `mgmm` branch (Liu et al. 2023): the modules of Framework I and Framework II for one
modality. Training happens in phases: `mgmm_framework1` (xmr/phases/mgmm.py) fits the DBNs, the
joint optimisation networks, the joint RBM and the fusion network; a `gradient` phase then
trains `head` (Framework II) on the frozen fused features (or, listed as trainable, the whole
branch). `stages` leaves Framework I stages out, for ablations.

Shapes follow Section 5.1 by default: DBN 2048 -> 1024 for images (Gaussian RBM first) and
1024 -> 1024 for texts (Replicated Softmax first), joint optimisation layers of 1024, joint RBM
1024 per granularity then 2048, fusion and Framework II networks of 1024.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec.models import MGMMBranch as MGMMSpec
from . import BRANCHES, Branch, Ragged, mlp
from .rbm import RBM


class DBN(nn.Module):
    """Stacked RBMs (Eqs. 1-6): the first layer's visible units are ``gaussian`` (inputs
    standardised with training statistics kept as buffers) or ``replicated_softmax`` (word
    counts); the layers above are Bernoulli. The output is the mean-field up-pass, standardised
    with its training statistics: after CD training the top hidden probabilities vary by about
    1e-3 around their mean, a scale at which the networks above learn only that mean."""

    def __init__(self, n_in: int, sizes: list[int], visible: str):
        super().__init__()
        dims = [n_in, *sizes]
        self.rbms = nn.ModuleList([RBM(a, b, visible if i == 0 else "bernoulli")
                                   for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]))])
        self.visible = visible
        self.register_buffer("mean", torch.zeros(n_in))
        self.register_buffer("std", torch.ones(n_in))
        self.register_buffer("out_mean", torch.zeros(dims[-1]))
        self.register_buffer("out_std", torch.ones(dims[-1]))
        self.out_dim = dims[-1]

    def _visible(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return (x - self.mean) / self.std if self.visible == "gaussian" else x

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        h = self._visible(x)
        for rbm in self.rbms:
            h = rbm.hidden_probs(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.probs(x) - self.out_mean) / self.out_std

    @torch.no_grad()
    def pretrain(self, x: torch.Tensor, epochs: int, k: int, lr: float, batch_size: int,
                 rng) -> list[dict]:
        """Greedy layer-wise CD-k; returns each layer's reconstruction error before / after."""
        if self.visible == "gaussian":
            self.mean.copy_(x.float().mean(0))
            self.std.copy_(x.float().std(0).clamp(min=1e-6))
        h, errors = self._visible(x), []
        for depth, rbm in enumerate(self.rbms):
            errors.append({"layer": depth, **rbm.fit(h, epochs, k, lr, batch_size, rng)})
            h = rbm.hidden_probs(h)
        self.out_mean.copy_(h.mean(0))
        self.out_std.copy_(h.std(0).clamp(min=1e-6))
        return errors


def merge_units(o: torch.Tensor, segments: torch.Tensor, size: int) -> torch.Tensor:
    """Eq. 8: the mean of each item's unit outputs, m_q = (1 / N_q) sum_k o_k; an item without
    units gets zeros."""
    total = torch.zeros(size, o.shape[1], dtype=o.dtype, device=o.device)
    total.index_add_(0, segments, o)
    count = torch.bincount(segments, minlength=size).clamp(min=1).to(o.dtype)
    return total / count[:, None]


class JointRBM(nn.Module):
    """Eqs. 10-11: one RBM per granularity from its jointly optimised features r to h1 (Gaussian
    visible units on standardised inputs), and one RBM from the concatenated h1's to h2."""

    def __init__(self, in_dims: dict[str, int], h1: int, h2: int):
        super().__init__()
        self.paths = nn.ModuleDict({r: DBN(d, [h1], "gaussian") for r, d in in_dims.items()})
        self.top = RBM(h1 * len(in_dims), h2, "bernoulli")
        self.register_buffer("out_mean", torch.zeros(h2))
        self.register_buffer("out_std", torch.ones(h2))
        self.out_dim = h2

    def first(self, r: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([self.paths[k].probs(r[k]) for k in self.paths], dim=1)

    def forward(self, r: dict[str, torch.Tensor]) -> torch.Tensor:
        """h(2), standardised with its training statistics (see `DBN`)."""
        return (self.top.hidden_probs(self.first(r)) - self.out_mean) / self.out_std

    @torch.no_grad()
    def pretrain(self, r: dict[str, torch.Tensor], epochs: int, k: int, lr: float,
                 batch_size: int, rng) -> dict:
        errors = {key: self.paths[key].pretrain(r[key], epochs, k, lr, batch_size, rng)
                  for key in self.paths}
        h1 = self.first(r)
        errors["top"] = self.top.fit(h1, epochs, k, lr, batch_size, rng)
        h2 = self.top.hidden_probs(h1)
        self.out_mean.copy_(h2.mean(0))
        self.out_std.copy_(h2.std(0).clamp(min=1e-6))
        return errors


@BRANCHES.register("mgmm")
class MGMM(Branch):
    """mgmm's per-modality network: DBNs -> merging -> joint optimisation -> joint RBM ->
    fusion (Framework I, frozen once trained) -> fully connected head (Framework II)."""

    def __init__(self, spec: MGMMSpec, in_dim: dict[str, int] | int):
        super().__init__()
        roles = [r for r in ("coarse", "fine") if getattr(spec, r)]
        if not isinstance(in_dim, dict):
            in_dim = {roles[0]: in_dim}
        self.roles, self.stages = roles, list(spec.stages)
        self.dbn = nn.ModuleDict({r: DBN(in_dim[r], spec.dbn, spec.visible) for r in roles})
        o = spec.dbn[-1]
        # a stage left out of `stages` is absent (None): the next one reads the stage below
        self.joint = (nn.ModuleDict({r: mlp([o, *spec.joint, o], spec.activation) for r in roles})
                      if "joint" in self.stages else None)
        self.joint_rbm = (JointRBM({r: o for r in roles}, spec.joint_rbm[0], spec.joint_rbm[-1])
                          if "joint_rbm" in self.stages else None)
        top = spec.joint_rbm[-1] if self.joint_rbm is not None else o * len(roles)
        self.fusion = (mlp([top, *spec.fusion], spec.activation, last_activation=True)
                       if "fusion" in self.stages else None)
        self.fused_dim = spec.fusion[-1] if self.fusion is not None else top
        self.head = mlp([self.fused_dim, *spec.head, spec.out], spec.activation)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def dbn_outputs(self, x: dict) -> dict[str, torch.Tensor]:
        """O (coarse) and M (fine units merged per item, Eq. 8)."""
        out = {}
        for r in self.roles:
            if r == "fine":
                units: Ragged = x["fine"]
                out[r] = merge_units(self.dbn[r](units.values), units.segments, units.size)
            else:
                out[r] = self.dbn[r](x[r])
        return out

    def joint_outputs(self, o: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """R: the joint optimisation networks' outputs (Eqs. 7, 9); O itself without them."""
        if self.joint is None:
            return o
        return {r: self.joint[r](o[r]) for r in self.roles}

    def joint_top(self, r: dict[str, torch.Tensor]) -> torch.Tensor:
        """The joint RBM's h(2) (Eqs. 10-11); without it, R concatenated over granularities."""
        if self.joint_rbm is None:
            return torch.cat([r[k] for k in self.roles], dim=1)
        return self.joint_rbm(r)

    def fused(self, x: dict) -> torch.Tensor:
        """Framework I's output: the fused feature of each item. Framework I is frozen when
        Framework II trains only `head` (its parameters then need no gradients, so none are
        recorded); listing the whole branch as trainable fine-tunes it."""
        h = self.joint_top(self.joint_outputs(self.dbn_outputs(x)))
        return self.fusion(h) if self.fusion is not None else h

    def forward(self, x: dict) -> torch.Tensor:
        return self.finish(self.head(self.fused(x)))
