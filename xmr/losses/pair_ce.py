"""Metric-network loss: 2-way softmax on related / unrelated (image, text) pairs."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


@LOSSES.register("pair_ce")
class PairCELoss(Loss):
    """Every related pair of the batch, and `negatives` unrelated pairs per related one."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        if model.metric_network is None:
            raise ValueError("loss 'pair_ce' needs architecture.metric_network")
        rel = batch.relevant()
        pos = rel.nonzero()
        neg_all = (~rel).nonzero()
        k = min(len(neg_all), self.params.negatives * len(pos))
        neg = neg_all[torch.randperm(len(neg_all), device=neg_all.device)[:k]]
        pairs = torch.cat([pos, neg])
        target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).long().to(pairs.device)
        logits = model.metric_network.logits(out["image"][pairs[:, 0]], out["text"][pairs[:, 1]])
        return F.cross_entropy(logits, target)
