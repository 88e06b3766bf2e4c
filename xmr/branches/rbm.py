"""Restricted Boltzmann machines trained by contrastive divergence (CD-k).

`RBM` has Bernoulli hidden units over Gaussian (unit variance), Bernoulli or Replicated Softmax
visible units. CD-k moves the weights by the difference of <v h> under the data and after k
Gibbs steps; no backpropagation is involved. Used by the `rbm_pretrain` phase and the `mgmm`
branch's DBNs and joint RBM.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class RBM(nn.Module):
    """Bernoulli hidden units over Gaussian (unit variance), Bernoulli or Replicated Softmax
    visible units (Salakhutdinov & Hinton 2009: word counts whose hidden biases scale with the
    document length D, reconstructed by drawing D words from a softmax)."""

    def __init__(self, n_visible: int, n_hidden: int, visible: str = "gaussian"):
        super().__init__()
        if visible not in VISIBLE:
            raise ValueError(f"RBM visible units {visible!r}: not one of {VISIBLE}")
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden) * 0.01, requires_grad=False)
        self.b_v = nn.Parameter(torch.zeros(n_visible), requires_grad=False)
        self.b_h = nn.Parameter(torch.zeros(n_hidden), requires_grad=False)
        self.visible = visible

    def _length(self, v: torch.Tensor) -> torch.Tensor:
        return v.sum(1, keepdim=True)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        bias = self.b_h * self._length(v) if self.visible == "replicated_softmax" else self.b_h
        return torch.sigmoid(v @ self.W + bias)

    def visible_mean(self, h: torch.Tensor, length: torch.Tensor | None = None) -> torch.Tensor:
        a = h @ self.W.T + self.b_v
        if self.visible == "gaussian":
            return a
        if self.visible == "bernoulli":
            return torch.sigmoid(a)
        return torch.softmax(a, dim=1) * length  # expected word counts

    def sample_visible(self, h: torch.Tensor, length: torch.Tensor | None = None) -> torch.Tensor:
        if self.visible == "gaussian":
            mean = self.visible_mean(h)
            return mean + torch.randn_like(mean)
        if self.visible == "bernoulli":
            return torch.bernoulli(self.visible_mean(h))
        probs = torch.softmax(h @ self.W.T + self.b_v, dim=1)
        counts = length.squeeze(1).round().long()
        n_max = int(counts.max()) if len(counts) else 0
        v = torch.zeros_like(probs)
        if n_max > 0:  # D_r words per row: draw n_max, keep the first D_r
            words = torch.multinomial(probs, n_max, replacement=True)
            keep = torch.arange(n_max, device=h.device)[None, :] < counts[:, None]
            v.scatter_add_(1, words, keep.to(probs.dtype))
        return v

    @torch.no_grad()
    def cd_step(self, v0: torch.Tensor, k: int = 1, lr: float = 1e-3) -> float:
        """One CD-k update on a batch; returns the batch's mean squared reconstruction error."""
        length = self._length(v0) if self.visible == "replicated_softmax" else None
        ph0 = self.hidden_probs(v0)
        h = torch.bernoulli(ph0)
        vk = v0
        for _ in range(k):
            vk = self.sample_visible(h, length)
            phk = self.hidden_probs(vk)
            h = torch.bernoulli(phk)
        n = len(v0)
        self.W += lr * (v0.T @ ph0 - vk.T @ phk) / n
        self.b_v += lr * (v0 - vk).mean(0)
        scale = length if length is not None else 1.0
        self.b_h += lr * (scale * (ph0 - phk)).mean(0)
        return self.reconstruction_error(v0)

    @torch.no_grad()
    def reconstruction_error(self, v: torch.Tensor) -> float:
        length = self._length(v) if self.visible == "replicated_softmax" else None
        return float(((self.visible_mean(self.hidden_probs(v), length) - v) ** 2).mean())

    @torch.no_grad()
    def fit(self, x: torch.Tensor, epochs: int, k: int, lr: float, batch_size: int,
            rng) -> dict[str, float]:
        """CD-k over ``x`` in shuffled minibatches; reconstruction error before and after.
        Raises `CDDiverged` as soon as a batch's reconstruction error is not finite."""
        before = self.reconstruction_error(x)
        for epoch in range(epochs):
            perm = torch.as_tensor(rng.permutation(len(x)), device=x.device)
            for s in range(0, len(x), batch_size):
                error = self.cd_step(x[perm[s:s + batch_size]], k, lr)
                if not math.isfinite(error):
                    raise CDDiverged(f"CD-{k} diverged ({self.visible} visible units, "
                                     f"{tuple(self.W.shape)} weights): the reconstruction error "
                                     f"became {error} in epoch {epoch + 1} at learning rate {lr}; "
                                     f"lower the learning rate")
        return {"before": before, "after": self.reconstruction_error(x)}


class CDDiverged(ValueError):
    """Contrastive divergence drove an RBM's weights to non-finite values."""


VISIBLE = ("gaussian", "bernoulli", "replicated_softmax")
