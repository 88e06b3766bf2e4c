"""DCCA's objective (Andrew et al. 2013): the total canonical correlation of two views' outputs.

For centred outputs H1 (n x o1), H2 (n x o2) of a batch, with ridge r on each covariance,
S11 = H1'H1 / (n - 1) + r I, S22 likewise, S12 = H1'H2 / (n - 1) and
T = S11^-1/2 S12 S22^-1/2; the canonical correlations are T's singular values, and the objective
is their sum (the trace norm of T; Eq. 10), or the sum of the top k. Computed in float64: the
inverse square roots of nearly singular covariances lose everything in single precision.
"""

from __future__ import annotations

import torch

from .base import LOSSES, Batch, Loss


def _inv_sqrt(s: torch.Tensor) -> torch.Tensor:
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp_min(torch.finfo(w.dtype).tiny).rsqrt()) @ v.T


def total_correlation(h1: torch.Tensor, h2: torch.Tensor, ridge: float = 1e-4,
                      components: int | None = None) -> torch.Tensor:
    """The sum of the (top ``components``) canonical correlations of ``h1`` and ``h2`` (rows =
    paired items), differentiable, in float64."""
    if len(h1) < 2:
        raise ValueError("the correlation of a batch needs at least two items")
    h1, h2 = h1.double(), h2.double()
    h1, h2 = h1 - h1.mean(0), h2 - h2.mean(0)
    n = len(h1)
    s11 = h1.T @ h1 / (n - 1) + ridge * torch.eye(h1.shape[1], dtype=h1.dtype, device=h1.device)
    s22 = h2.T @ h2 / (n - 1) + ridge * torch.eye(h2.shape[1], dtype=h2.dtype, device=h2.device)
    t = _inv_sqrt(s11) @ (h1.T @ h2 / (n - 1)) @ _inv_sqrt(s22)
    sv = torch.linalg.svdvals(t)
    return sv.sum() if components is None else sv[:components].sum()


@LOSSES.register("cca_correlation")
class CorrelationLoss(Loss):
    """Minus the total canonical correlation of the batch's image and text representations."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        p = self.params
        u = out["image"]
        return -total_correlation(u, out["text"], p.ridge, p.components).to(u.dtype)
