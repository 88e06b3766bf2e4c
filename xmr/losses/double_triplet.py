"""uncsm's double triplet similarity loss (Qi, Huang, Peng, Eqs. 2-3).

S_i takes (I+, T+, T-) triplets: an image anchor, a text of its class, a text of another class;
S_t takes (T+, I+, I-). Each loss has its own fully connected branch (sigmoid) on top of both
pathways, `model.triplet_branches["image"]` for S_i and `["text"]` for S_t, and reads squared
Euclidean distances of the branch outputs; the gradients of the two branches add up in the
pathways. The paper's one layer per branch is read as shared by both modalities' features in
that branch (it names one layer per branch).
"""

from __future__ import annotations

import torch

from .base import LOSSES, Batch, Loss
from .contrastive import squared_distances
from .triplet import all_triplet_hinges


def sample_triplets(similar: torch.Tensor, per_anchor: int | None = None,
                    generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Online triplets from a batch: ``similar[a, c]`` says whether candidate c (other modality)
    is of anchor a's class. Returns index tensors (anchor, positive, negative).

    ``per_anchor=None``: every valid triplet. Otherwise ``per_anchor`` triplets per anchor that
    has both a positive and a negative, each positive and negative drawn uniformly (with
    replacement) among that anchor's own.
    """
    has = similar.any(1) & (~similar).any(1)
    if per_anchor is None:
        valid = similar[:, :, None] & ~similar[:, None, :] & has[:, None, None]
        a, p, n = valid.nonzero(as_tuple=True)
        return a, p, n
    anchors = has.nonzero(as_tuple=True)[0].repeat_interleave(per_anchor)
    if len(anchors) == 0:
        empty = anchors.new_empty(0)
        return empty, empty, empty
    sim = similar[anchors].float()
    p = torch.multinomial(sim, 1, generator=generator).squeeze(1)
    n = torch.multinomial(1.0 - sim, 1, generator=generator).squeeze(1)
    return anchors, p, n


def triplet_hinge(anchor: torch.Tensor, cand: torch.Tensor, similar: torch.Tensor,
                  margin: float, per_anchor: int | None) -> torch.Tensor | None:
    """The mean of max(0, |x_a - y_p|^2 - |x_a - y_n|^2 + margin) over the sampled triplets
    (every valid one: `all_triplet_hinges`, without listing them); None when there are none."""
    sq = squared_distances(anchor, cand)
    if per_anchor is None:
        total, count = all_triplet_hinges(sq + margin, sq, similar)
        return (total / count).to(sq.dtype) if count else None
    a, p, n = sample_triplets(similar, per_anchor)
    return (sq[a, p] - sq[a, n] + margin).clamp(min=0).mean() if len(a) else None


@LOSSES.register("double_triplet")
class DoubleTripletLoss(Loss):
    """S_i + S_t, each the mean over its batch's triplets (0 when the batch has none)."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        branches = getattr(model, "triplet_branches", None)
        if branches is None:
            raise ValueError("loss 'double_triplet' needs architecture.triplet_branches")
        p = self.params
        per_anchor = None if p.sampling == "all" else p.per_anchor
        similar = batch.relevant()
        total = out["image"].sum() * 0.0
        for anchor, margin, sim in (("image", p.alpha, similar), ("text", p.beta, similar.T)):
            g = branches[anchor]  # S_i's branch for image anchors, S_t's for text anchors
            other = "text" if anchor == "image" else "image"
            mean = triplet_hinge(g(out[anchor]), g(out[other]), sim, margin, per_anchor)
            if mean is not None:
                total = total + mean
        return total
