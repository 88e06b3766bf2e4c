"""Label prediction loss from each modality's embedding, through the shared label head."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


@LOSSES.register("label_ce")
class LabelCELoss(Loss):
    """Softmax cross-entropy on the category, or BCE on multi-labels (relevance shared_label)."""

    requires = ("logits_image", "logits_text")

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        losses = []
        for m in self.params.modalities:
            logits = out[f"logits_{m}"]
            if batch.relevance == "category":
                losses.append(F.cross_entropy(logits, batch.category))
            else:
                losses.append(F.binary_cross_entropy_with_logits(logits, batch.labels))
        return torch.stack(losses).sum()
