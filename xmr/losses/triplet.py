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


def all_triplet_hinges(x: torch.Tensor, e: torch.Tensor, rel: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and number of the hinge terms ``max(0, x[a, p] - e[a, n])`` over every (a, p, n) with
    ``rel[a, p]`` and not ``rel[a, n]``, in O(B^2 log B) instead of the (A, P, N) tensor.

    Per anchor the negatives' e are sorted once; for each positive, c = the number of them
    below x, and the sum of its terms is ``c * x - (sum of the c smallest e)`` (prefix sums).
    Computed in float64 (the prefix sums cancel), so values and gradients (autograd through the
    sort and the gather) equal the direct form's to rounding.
    """
    x, e = x.double(), e.double()
    n_neg = (~rel).sum(1, keepdim=True)
    ordered = e.masked_fill(rel, float("inf")).sort(dim=1).values  # negatives first
    finite = torch.where(torch.arange(e.shape[1], device=e.device) < n_neg, ordered,
                         torch.zeros_like(ordered))
    prefix = torch.cat([finite.new_zeros(len(e), 1), finite.cumsum(1)], 1)
    below = torch.searchsorted(ordered.detach().contiguous(), x.detach().contiguous())
    below = torch.minimum(below, n_neg)
    terms = below * x - prefix.gather(1, below)
    return terms[rel].sum(), (rel.sum(1) * n_neg.squeeze(1)).sum()


def direct_triplet_hinges(x: torch.Tensor, e: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
    """The direct form `all_triplet_hinges` is held to: every term of the (A, P, N) tensor
    ``max(0, x[a, p] - e[a, n])`` with ``rel[a, p]`` and not ``rel[a, n]`` (cubic memory)."""
    valid = rel.unsqueeze(2) & ~rel.unsqueeze(1)
    return (x.unsqueeze(2) - e.unsqueeze(1)).clamp(min=0)[valid]


def triplet_terms(d: torch.Tensor, rel: torch.Tensor, margin: float, mining: str
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and number of the hinge terms for anchors (rows) against candidates (columns).

    ``d[a, c]`` is the distance, ``rel[a, c]`` whether c is relevant to a. ``all``: one term per
    (a, p, n) with p relevant and n not, ``max(0, margin + d[a, p] - d[a, n])``; ``hardest``: one
    term per (a, p), against the closest irrelevant n (``max_n`` of the same terms, which is
    the term of the smallest d[a, n]).
    """
    if mining == "all":
        return all_triplet_hinges(margin + d, d, rel)
    closest = d.masked_fill(rel, float("inf")).amin(dim=1, keepdim=True)
    has = rel & (~rel).any(dim=1, keepdim=True)
    terms = (margin + d - closest).clamp(min=0)[has]
    return terms.sum(), terms.new_tensor(terms.numel())


@LOSSES.register("triplet")
class TripletLoss(Loss):
    """Image anchors vs texts and text anchors vs images; mean over every valid triplet. With
    `source: hash`, on the continuous codes (CHN's cosine max-margin loss)."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        p = self.params
        keys = ("image", "text") if p.source == "embedding" else ("hash_image", "hash_text")
        if keys[0] not in out:
            raise ValueError("loss 'triplet' with source: hash needs architecture.hash_head")
        d = pair_distance(out[keys[0]], out[keys[1]], p.distance)
        rel = batch.relevant()
        total, count = d.sum() * 0.0, 0
        for direction, dist, r in (("i2t", d, rel), ("t2i", d.T, rel.T)):
            if direction in p.directions:
                s, n = triplet_terms(dist, r, p.margin, p.mining)
                total, count = total + s, count + int(n)
        return (total / count).to(d.dtype) if count else d.sum() * 0.0
