"""uncsm's contrastive loss (Qi, Huang, Peng, Eq. 1) on cross-modal pairs."""

from __future__ import annotations

import torch

from .base import LOSSES, Batch, Loss


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, m) squared Euclidean distances between the rows of a and b, by differences (exact
    zeros for equal rows, unlike the expanded |a|^2 + |b|^2 - 2ab)."""
    return (a[:, None, :] - b[None, :, :]).pow(2).sum(-1)


def contrastive_terms(sq: torch.Tensor, similar: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 1 per pair: ``sq`` for similar pairs, max(0, margin - sqrt(sq))^2 for the others.
    The square root is taken of ``sq`` clamped away from 0, so its gradient stays finite."""
    d = sq.clamp(min=1e-12).sqrt()
    return torch.where(similar, sq, (margin - d).clamp(min=0).pow(2))


@LOSSES.register("contrastive")
class ContrastiveLoss(Loss):
    """Eq. 1 over every (image p, text q) pair of the batch, averaged; similar = the protocol's
    relevance (same class)."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        sq = squared_distances(out["image"], out["text"])
        return contrastive_terms(sq, batch.relevant(), self.params.margin).mean()
