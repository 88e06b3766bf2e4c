"""Registered loss terms (`xmr list losses`); each spec term is `{name, weight, params}`."""

from . import (contrastive, dmsfh, double_triplet, idcmr, label_ce, multi_margin,  # noqa: F401
               multiscale, pair_ce, quantization, triplet)  # (registration)
from .base import LOSSES, Batch, Loss

__all__ = ["LOSSES", "Batch", "Loss", "build_losses"]


def build_losses(terms) -> list[tuple[float, str, Loss]]:
    return [(t.weight, t.name, LOSSES.get(t.name)(t.params)) for t in terms]
