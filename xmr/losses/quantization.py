"""Quantisation loss between binary codes and continuous hash outputs."""

from __future__ import annotations

import torch

from .base import LOSSES, Batch, Loss


@LOSSES.register("quantization")
class QuantizationLoss(Loss):
    """mean ||B - H_m||^2 over modalities, B the phase's current binary codes of the batch."""

    requires = ("hash_image", "hash_text")

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        if batch.codes is None:
            raise ValueError("loss 'quantization' needs binary codes: use it in an "
                             "alternating_hash phase")
        return sum(((batch.codes - out[f"hash_{m}"]) ** 2).sum(1).mean() for m in ("image", "text"))
