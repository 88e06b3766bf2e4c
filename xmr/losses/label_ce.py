"""Label prediction loss from each modality's embedding, through the shared label head, or of
the embedding itself when it is a class posterior (DeepSM)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


@LOSSES.register("label_ce")
class LabelCELoss(Loss):
    """Softmax cross-entropy on the category, or BCE on multi-labels (relevance shared_label)."""

    def __init__(self, params=None):
        super().__init__(params)
        self.requires = (("image", "text") if params.source == "embedding"
                         else ("logits_image", "logits_text"))

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        losses = []
        for m in self.params.modalities:
            if self.params.source == "embedding":
                losses.append(posterior_nll(out[m], batch, m))
                continue
            logits = out[f"logits_{m}"]
            if batch.relevance == "category":
                losses.append(F.cross_entropy(logits, batch.category))
            else:
                losses.append(F.binary_cross_entropy_with_logits(logits, batch.labels))
        return torch.stack(losses).sum()


def posterior_nll(p: torch.Tensor, batch: Batch, modality: str) -> torch.Tensor:
    """The negative log-likelihood of the categories under class posteriors ``p`` (rows sum to
    1: a branch with `output: softmax`). log p is floored at log(1e-30), where float32's softmax
    has already underflowed."""
    if batch.relevance != "category":
        raise ValueError("loss 'label_ce' with source 'embedding' needs single-label data (a "
                         "protocol with relevance 'category')")
    if p.shape[1] <= int(batch.category.max()):
        raise ValueError(f"loss 'label_ce' with source 'embedding': the {modality} "
                         f"representation has {p.shape[1]} units, fewer than the classes; set "
                         f"architecture.{modality}.out to the number of classes")
    return F.nll_loss(p.clamp_min(1e-30).log(), batch.category)
