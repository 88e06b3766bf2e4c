"""Recipe's cosine embedding loss (Salvador et al. 2017) over the batch's (image, text) pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


@LOSSES.register("cosine_embedding")
class CosineEmbeddingLoss(Loss):
    """(1 - share) * mean over own pairs of (1 - cos) + share * mean over negative pairs of
    max(0, cos - margin); negatives are every other item (`instance`) or the pairs the protocol
    calls not relevant (`irrelevant`)."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        p = self.params
        cos = F.normalize(out["image"], dim=-1) @ F.normalize(out["text"], dim=-1).T
        n = len(cos)
        own = torch.eye(n, dtype=torch.bool, device=cos.device)
        negative = ~batch.relevant() if p.negatives == "irrelevant" else ~own
        positive_term = (1 - cos.diagonal()).mean()
        if not bool(negative.any()):
            return positive_term
        negative_term = (cos[negative] - p.margin).clamp_min(0).mean()
        return (1 - p.negative_share) * positive_term + p.negative_share * negative_term
