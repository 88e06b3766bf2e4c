"""Scorers: how a chunk of queries is scored against the whole database (larger = closer)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import Registry

Scorer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SCORERS: Registry[Callable[..., Scorer]] = Registry("distance")


class _Cosine:
    """Cosine similarity; the database is normalised once and reused while the same tensor is
    scored again (every chunk of queries of a task)."""

    def __init__(self):
        self._db: torch.Tensor | None = None
        self._normed: torch.Tensor | None = None

    def __call__(self, q: torch.Tensor, db: torch.Tensor) -> torch.Tensor:
        if db is not self._db:
            self._db, self._normed = db, F.normalize(db.float(), dim=1)
        return F.normalize(q.float(), dim=1) @ self._normed.T


@SCORERS.register("cosine")
def cosine() -> Scorer:
    """Cosine similarity of embeddings."""
    return _Cosine()


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


def as_words(packed: np.ndarray) -> np.ndarray:
    """Bit-packed uint8 codes (n, bytes) -> uint64 words (n, ceil(bytes / 8)), zero-padded
    (padding bits are 0 on both sides of an XOR, so they never count)."""
    packed = np.ascontiguousarray(packed, np.uint8)
    pad = -packed.shape[1] % 8
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return packed.view(np.uint64)


def hamming_distance(q_packed: np.ndarray, db_packed: np.ndarray) -> np.ndarray:
    """(q, n) int32 Hamming distances between bit-packed codes: XOR and popcount on 64-bit
    words (`benchmarks/hamming.py` measures it against the +-1 GEMM and the byte-wise form)."""
    qw, dw = as_words(q_packed), as_words(db_packed)
    out = np.zeros((len(qw), len(dw)), np.int32)
    for w in range(qw.shape[1]):
        out += np.bitwise_count(qw[:, w, None] ^ dw[None, :, w])
    return out


def hamming_row(q_words: np.ndarray, db_words: np.ndarray) -> np.ndarray:
    """(n,) Hamming distances of one query's uint64 words to the database's (`as_words`): uint8
    for codes of one word, uint16 beyond (the small integers a counting sort takes)."""
    out = np.bitwise_count(db_words[:, 0] ^ q_words[0])
    if len(q_words) > 1:
        out = out.astype(np.uint16)
        for w in range(1, len(q_words)):
            out += np.bitwise_count(db_words[:, w] ^ q_words[w])
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
