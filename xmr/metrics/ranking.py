"""Exact rankings without a comparison sort, and every metric from the relevant items' ranks.

The tie rule (equal scores keep database order) is what a stable sort gives. Two orders carry
it at linear cost:

- scores (float32): an order-preserving 32-bit key of each score, sorted by an LSD radix sort
  on its two 16-bit halves (NumPy's stable sort of 16-bit integers is a counting
  sort, and each pass keeps the previous order among equal digits);
- Hamming distances (small integers): one counting-sort pass over 0 ... bits.

Every retrieval metric of a query is a function of the 1-based ranks of its relevant items
(ascending): AP is the mean of (k + 1) / rank_k, P@N and R@K count the ranks <= N, the PR curve
counts them at each cut-off. So a query costs its scores, one linear ordering and a gather.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..spec.models import parse_metric_name


def descending_keys(scores: np.ndarray) -> np.ndarray:
    """int32 keys of one row of float32 scores whose values, read as uint32, ascend as the
    scores descend (-0.0 equals 0.0; -inf sorts last). NaN is refused by the caller."""
    key = np.add(scores, np.float32(0.0), dtype=np.float32).view(np.int32)  # -0.0 -> 0.0
    # non-negative floats: the larger the bits, the larger the value -> flip the 31 value bits;
    # negative floats: the larger the bits, the smaller the value -> keep them. The sign bit
    # (0 for the flipped positives) then puts positives first.
    flip = np.invert(key)
    np.right_shift(flip, 31, out=flip)
    np.bitwise_and(flip, 0x7FFFFFFF, out=flip)
    np.bitwise_xor(key, flip, out=key)
    return key


def stable_order(scores: np.ndarray, relevant: np.ndarray | None = None) -> np.ndarray:
    """Database positions best first (descending score, ties in database order) of one row of
    float32 scores: an LSD radix sort of the keys, stable counting sorts by the low, then the
    high 16-bit half. With ``relevant``, the relevance of the ranked items instead (the same
    gathers on a bool array, cheaper than composing the two orders)."""
    halves = descending_keys(scores).view(np.uint16)  # little-endian: low half first
    first = np.argsort(halves[0::2], kind="stable")
    second = np.argsort(halves[1::2][first], kind="stable")
    if relevant is None:
        return first[second]
    return relevant[first][second]


def distance_order(distance: np.ndarray) -> np.ndarray:
    """Database positions nearest first of one row of small non-negative integer distances
    (Hamming), ties in database order: one stable counting-sort pass."""
    if distance.dtype not in (np.uint8, np.uint16):
        distance = distance.astype(np.uint8 if distance.max(initial=0) < 256 else np.uint16)
    return np.argsort(distance, kind="stable")  # NumPy: a radix sort for 8- and 16-bit keys


def label_masks(labels: torch.Tensor) -> np.ndarray | None:
    """Multi-hot labels (n, C) as one unsigned integer bit mask per row (C <= 64), or None."""
    c = labels.shape[1]
    if c > 64:
        return None
    dtype = next(d for d in (np.uint8, np.uint16, np.uint32, np.uint64)
                 if np.dtype(d).itemsize * 8 >= c)
    bits = (labels.cpu().numpy() > 0).astype(dtype)
    weights = np.left_shift(np.ones(c, dtype), np.arange(c, dtype=dtype))
    return np.bitwise_or.reduce(bits * weights, axis=1) if c else np.zeros(len(bits), dtype)


def relevance_rows(q_category: torch.Tensor, db_category: torch.Tensor, q_labels: torch.Tensor,
                   db_labels: torch.Tensor, rule: str, q_item: np.ndarray, db_item: np.ndarray
                   ) -> Callable[[int], np.ndarray]:
    """``row(i)`` -> the (n,) bool relevance of query i to the database, computed per query (no
    (q, n) matrix): same category, a shared label (bit masks ANDed, or a product when there are
    more than 64 labels), or the same item. Equal to `functional.relevance` row by row."""
    if rule == "category":
        qc, dc = q_category.cpu().numpy(), db_category.cpu().numpy()
        return lambda i: dc == qc[i]
    if rule == "instance":
        return lambda i: db_item == q_item[i]
    q_mask, db_mask = label_masks(q_labels), label_masks(db_labels)
    if db_mask is not None:
        return lambda i: (db_mask & q_mask[i]) != 0
    ql, dl = q_labels.float().cpu().numpy(), db_labels.float().cpu().numpy()
    return lambda i: (dl @ ql[i]) > 0


def relevant_ranks(ranked: np.ndarray) -> np.ndarray:
    """1-based ranks of the relevant items, ascending, from the ranked relevance."""
    return np.flatnonzero(ranked) + 1


class RankMetrics:
    """Per-query metric values and PR-curve points from the ranks of the relevant items."""

    def __init__(self, metrics: list[str], n_items: int, map_at_r_denominator: str,
                 cutoffs: np.ndarray):
        self.parsed = [(m, *parse_metric_name(m)) for m in metrics]
        self.n = n_items
        self.denominator = map_at_r_denominator
        self.cutoffs = cutoffs

    def __call__(self, ranks: np.ndarray, n_rel: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(metric values in the order given, PR precision, PR recall) of one query. ``n_rel``:
        all its relevant items (default: ``len(ranks)``, a full ranking; a top-K list gives
        fewer ranks). Queries without a relevant item get NaN for map, r@K and hit@K (as
        `chunk_metrics`)."""
        n_rel = len(ranks) if n_rel is None else n_rel
        values = np.empty(len(self.parsed))
        terms = np.arange(1, len(ranks) + 1) / ranks  # precision at each relevant rank
        for i, (_, base, cut) in enumerate(self.parsed):
            if base == "map" and cut is None:
                values[i] = terms.mean() if n_rel else np.nan
                continue
            within = int(np.searchsorted(ranks, min(cut, self.n), side="right"))
            if base == "map":
                denom = within if self.denominator == "retrieved_relevant" else min(n_rel, cut)
                values[i] = terms[:within].sum() / denom if denom > 0 else 0.0
            elif base == "p":
                values[i] = within / cut
            elif base == "hit":
                values[i] = float(within > 0) if n_rel else np.nan
            elif base == "r":
                values[i] = within / n_rel if n_rel else np.nan
            else:  # hash lookup metrics are filled in from the distances
                values[i] = np.nan
        found = np.searchsorted(ranks, self.cutoffs, side="right")
        return values, found / self.cutoffs, found / max(n_rel, 1)
