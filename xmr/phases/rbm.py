"""Restricted Boltzmann machines trained by contrastive divergence, and the `rbm_pretrain` phase.

`RBM` is a Bernoulli-hidden RBM with Gaussian (unit variance) or Bernoulli visible units, trained
by CD-k: the gradient is the difference of <v h> under the data and after k Gibbs steps. No
backpropagation is involved. `rbm_pretrain` uses it layer by layer to initialise MLP branches.
"""

from __future__ import annotations

import torch
from torch import nn

from ..branches import MLP
from ..spec.models import RBMPretrainPhase
from .base import PHASES, PhaseContext


class RBM(nn.Module):
    def __init__(self, n_visible: int, n_hidden: int, visible: str = "gaussian"):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden) * 0.01, requires_grad=False)
        self.b_v = nn.Parameter(torch.zeros(n_visible), requires_grad=False)
        self.b_h = nn.Parameter(torch.zeros(n_hidden), requires_grad=False)
        self.visible = visible

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(v @ self.W + self.b_h)

    def visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        a = h @ self.W.T + self.b_v
        return a if self.visible == "gaussian" else torch.sigmoid(a)

    def sample_visible(self, h: torch.Tensor) -> torch.Tensor:
        mean = self.visible_mean(h)
        if self.visible == "gaussian":
            return mean + torch.randn_like(mean)
        return torch.bernoulli(mean)

    @torch.no_grad()
    def cd_step(self, v0: torch.Tensor, k: int = 1, lr: float = 1e-3) -> float:
        """One CD-k update on a batch; returns the batch's mean squared reconstruction error."""
        ph0 = self.hidden_probs(v0)
        h = torch.bernoulli(ph0)
        vk = v0
        for _ in range(k):
            vk = self.sample_visible(h)
            phk = self.hidden_probs(vk)
            h = torch.bernoulli(phk)
        n = len(v0)
        self.W += lr * (v0.T @ ph0 - vk.T @ phk) / n
        self.b_v += lr * (v0 - vk).mean(0)
        self.b_h += lr * (ph0 - phk).mean(0)
        return self.reconstruction_error(v0)

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor) -> float:
        return float(((self.visible_mean(self.hidden_probs(v)) - v) ** 2).mean())


@PHASES.register("rbm_pretrain")
def rbm_pretrain(ctx: PhaseContext, spec: RBMPretrainPhase) -> dict:
    """Greedy layer-wise CD-k pre-training of each hidden layer of the named MLP branches."""
    data, out = ctx.data, {}
    idx = torch.as_tensor(data.split("train"), device=ctx.device)
    bs = ctx.spec.training.batch_size
    for m in spec.modalities:
        branch = ctx.model.branches[m]
        if not isinstance(branch, MLP):
            raise ValueError(f"rbm_pretrain pre-trains mlp branches; architecture.{m} is not one")
        x = data.views[m].take(idx).float()
        x = (x - x.mean(0)) / x.std(0).clamp(min=1e-6) if spec.visible == "gaussian" else x
        linears = [layer for layer in branch.net if isinstance(layer, nn.Linear)][:-1]
        errors = []
        for depth, layer in enumerate(linears):
            rbm = RBM(layer.in_features, layer.out_features,
                      spec.visible if depth == 0 else "bernoulli").to(ctx.device)
            first = rbm.reconstruction_error(x)
            for _ in range(spec.epochs):
                perm = torch.as_tensor(ctx.generator.permutation(len(x)), device=ctx.device)
                for s in range(0, len(x), bs):
                    rbm.cd_step(x[perm[s:s + bs]], spec.k, spec.lr)
            errors.append({"layer": depth, "before": first, "after": rbm.reconstruction_error(x)})
            with torch.no_grad():
                layer.weight.copy_(rbm.W.T)
                layer.bias.copy_(rbm.b_h)
                x = rbm.hidden_probs(x)
        out[m] = errors
    ctx.log.append({"phase": spec.name, "reconstruction": out})
    return {"reconstruction": out}
