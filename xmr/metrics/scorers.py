"""Scorers: how a chunk of queries is scored against the whole database (larger = closer)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import Registry

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCORERS: Registry[Callable[..., Scorer]] = Registry("distance")


@SCORERS.register("cosine")
def cosine() -> Scorer:
    """Cosine similarity of embeddings."""
    return lambda q, db: F.normalize(q.float(), dim=1) @ F.normalize(db.float(), dim=1).T


@SCORERS.register("euclidean")
def euclidean() -> Scorer:
    """Negative Euclidean distance of embeddings."""
    return lambda q, db: -torch.cdist(q.float(), db.float())


@SCORERS.register("inner_product")
def inner_product() -> Scorer:
    """Inner product of embeddings."""
    return lambda q, db: q.float() @ db.float().T


def pack_codes(codes: np.ndarray | torch.Tensor) -> np.ndarray:
    """Continuous or {-1, +1} codes (n, bits) -> bit-packed uint8 (n, ceil(bits / 8)): bit 1 where
    the value is >= 0 (dmsfh Eq. 1: sign(0) = +1), zero padding bits at the end."""
    arr = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    return np.packbits(arr >= 0, axis=1)


def hamming_distance(q_packed: np.ndarray, db_packed: np.ndarray, block: int = 4096) -> np.ndarray:
    """(q, n) Hamming distances between bit-packed codes, in database blocks of ``block``."""
    out = np.empty((len(q_packed), len(db_packed)), np.int32)
    for s in range(0, len(db_packed), block):
        x = np.bitwise_xor(q_packed[:, None, :], db_packed[None, s:s + block, :])
        out[:, s:s + block] = np.bitwise_count(x).sum(-1, dtype=np.int32)
    return out


@SCORERS.register("hamming")
def hamming() -> Scorer:
    """Negative Hamming distance of bit-packed binary codes (uint8 rows)."""
    return lambda q, db: -torch.from_numpy(hamming_distance(q.numpy(), db.numpy())).float()


@SCORERS.register("learned")
def learned(network=None, pair_batch: int = 65536) -> Scorer:
    """A trained metric network's score of every (query, item) pair (`MetricNetwork.score_matrix`:
    the first layer once per item, the rest over at most ``pair_batch`` pairs at a time)."""
    if network is None:
        raise ValueError("distance 'learned' needs a trained metric network "
                         "(architecture.metric_network and a metric_network phase)")

    def score(q: torch.Tensor, db: torch.Tensor, image_first: bool = True) -> torch.Tensor:
        if image_first:
            return network.score_matrix(q, db, pair_batch).cpu()
        return network.score_matrix(db, q, pair_batch).T.contiguous().cpu()

    return score
