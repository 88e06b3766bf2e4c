"""Registered loss terms (`xmr list losses`); each spec term is `{name, weight, params}`."""

from . import (contrastive, correlation, cosine_embedding, dmsfh, double_triplet,  # noqa: F401
               hashing, idcmr, label_ce, multi_margin, multiscale, pair_ce, quantization,
               reconstruction, triplet)  # (registration)
from .base import LOSSES, Batch, Loss

__all__ = ["LOSSES", "Batch", "Loss", "build_losses"]


def build_losses(terms) -> list[tuple[float, str, Loss]]:
    return [(t.weight, t.name, LOSSES.get(t.name)(t.params)) for t in terms]
