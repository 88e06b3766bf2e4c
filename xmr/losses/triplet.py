"""Bidirectional cross-modal triplet loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


def pair_distance(a: torch.Tensor, b: torch.Tensor, kind: str) -> torch.Tensor:
    """(n, m) distances between rows of a and b: cosine distance or squared Euclidean."""
    if kind == "cosine":
        return 1.0 - F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T
    return torch.cdist(a, b).pow(2)


def triplet_terms(d: torch.Tensor, rel: torch.Tensor, margin: float, mining: str) -> torch.Tensor:
    """Hinge terms for anchors (rows) against candidates (columns).

    ``d[a, c]`` is the distance, ``rel[a, c]`` whether c is relevant to a. ``all``: one term per
    (a, p, n) with p relevant and n not, ``max(0, margin + d[a, p] - d[a, n])``; ``hardest``: one
    term per (a, p), against the closest irrelevant n.
    """
    pos = d.unsqueeze(2)  # (A, P, 1)
    neg = d.unsqueeze(1)  # (A, 1, N)
    valid = rel.unsqueeze(2) & ~rel.unsqueeze(1)
    hinge = (margin + pos - neg).clamp(min=0)
    if mining == "all":
        return hinge[valid]
    hinge = hinge.masked_fill(~valid, float("-inf")).amax(dim=2)
    has = rel & (~rel).any(dim=1, keepdim=True)
    return hinge[has]


@LOSSES.register("triplet")
class TripletLoss(Loss):
    """Image anchors vs texts and text anchors vs images; mean over every valid triplet."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        p = self.params
        d = pair_distance(out["image"], out["text"], p.distance)
        rel = batch.relevant()
        terms = []
        if "i2t" in p.directions:
            terms.append(triplet_terms(d, rel, p.margin, p.mining))
        if "t2i" in p.directions:
            terms.append(triplet_terms(d.T, rel.T, p.margin, p.mining))
        terms = torch.cat(terms)
        return terms.mean() if terms.numel() else d.sum() * 0.0
