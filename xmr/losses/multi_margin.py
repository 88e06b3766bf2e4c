"""mgmm's multi-margin triplet loss (Liu et al. 2023, Eqs. 14-18).

In a batch, the squared Euclidean distances ``d[p, q] = ||f(i_p) - g(t_q)||^2`` between every
image and every text output are min-max normalised over the batch (Eq. 14). Each
(anchor, irrelevant) pair gets the margin ``alpha_k`` of the interval ``(e_{k-1}, e_k]`` its
normalised distance falls in (Eq. 15; the first interval is closed at 0). The hinge terms of image
anchors (Eq. 17) and text anchors (Eq. 18) are averaged over all N = N_1 + ... + N_w triplets
(anchor, relevant, irrelevant) of the batch (Eq. 16). The margin assignment is a selection, not a
function to differentiate: it is computed on detached distances, and the gradient is that of
Eqs. 19-20. One margin gives the ordinary triplet loss with squared Euclidean distances.
"""

from __future__ import annotations

import torch

from .triplet import all_triplet_hinges
from .base import LOSSES, Batch, Loss


def normalised_distances(d: torch.Tensor) -> torch.Tensor:
    """Eq. 14: (d - min) / (max - min) over the whole batch matrix; zeros when all are equal."""
    lo, hi = d.min(), d.max()
    if hi <= lo:
        return torch.zeros_like(d)
    return (d - lo) / (hi - lo)


def interval_edges(n_margins: int, edges: list[float] | None, device=None) -> torch.Tensor:
    """e_1 .. e_{w-1}: the given edges, or equal widths k / w."""
    values = edges if edges is not None else [k / n_margins for k in range(1, n_margins)]
    return torch.tensor(values, dtype=torch.float32, device=device)


def pair_margins(d: torch.Tensor, margins: list[float], edges: list[float] | None) -> torch.Tensor:
    """Eq. 15: the margin of every (image p, text q) pair from its normalised distance."""
    dn = normalised_distances(d.detach()).float()
    k = torch.bucketize(dn, interval_edges(len(margins), edges, d.device), right=False)
    return torch.tensor(margins, dtype=d.dtype, device=d.device)[k]


def multi_margin_terms(d: torch.Tensor, alpha: torch.Tensor, rel: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum and number of the hinge terms for anchors (rows) against candidates (columns): one
    per (a, p, n) with p relevant and n irrelevant to a, ``max(0, alpha[a, n] + d[a, p] -
    d[a, n])`` (Eqs. 17-18), i.e. `all_triplet_hinges` with the negatives at d - alpha."""
    return all_triplet_hinges(d, d - alpha, rel)


@LOSSES.register("multi_margin_triplet")
class MultiMarginTripletLoss(Loss):
    """Image and text anchors, margins by batch-normalised distance; mean over all triplets."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        p = self.params
        d = torch.cdist(out["image"], out["text"]).pow(2)
        alpha = pair_margins(d, p.margins, p.edges)
        rel = batch.relevant()
        total, count = d.sum() * 0.0, 0
        # anchor i_a: alpha from dis_norm(i_a, t-); anchor t_a: alpha from dis_norm(i-, t_a)
        for direction, dist, a, r in (("i2t", d, alpha, rel), ("t2i", d.T, alpha.T, rel.T)):
            if direction in p.directions:
                s, n = multi_margin_terms(dist, a, r)
                total, count = total + s, count + int(n)
        return (total / count).to(d.dtype) if count else d.sum() * 0.0
