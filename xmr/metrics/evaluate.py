"""Evaluate representations under a protocol: every task, in bounded memory (chunks of queries).

A chunk's scores come from one GEMM (or the Hamming popcount); each query is then ranked by a
linear-time stable order (`ranking`) and its metrics read off the ranks of its relevant items.
Queries are ranked on `threads` worker threads (NumPy's sorts release the GIL). The direct
forms in `functional` (stable comparison sort, cumulative sums) are the reference the tests
hold this path to.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..spec.models import ProtocolSpec, parse_metric_name
from .functional import chunk_metrics, radius_counts, radius_metrics, ranked_relevance, relevance
from .ranking import RankMetrics, distance_order, relevance_rows, relevant_ranks, stable_order
from .scorers import SCORERS, as_words, hamming_distance, hamming_row

TASKS = {"i2t": ("image", "text"), "t2i": ("text", "image"), "i2i": ("image", "image"),
         "t2t": ("text", "text")}

# Bytes a chunk holds per (query, database item): float32 scores (or int32 Hamming distances).
BYTES_PER_PAIR = 4
# Below this many database items a chunk is ranked by the direct form (`functional`: one stable
# sort of the whole chunk, cumulative sums): faster there than per-query ranking, whose Python
# cost per query dominates small lists (`benchmarks/evaluation.py --small`: 300 queries, equal
# at about 1,000 items, 2x faster per query at 6,000). The direct form holds about this many
# bytes per (query, item): scores, sort indices, relevance, float64 cumulative sums.
DIRECT_BELOW = 1024
DIRECT_BYTES_PER_PAIR = 48
# Bytes each ranking thread holds per database item: keys, two int64 orders, gathers, relevance.
BYTES_PER_ITEM = 48
MEMORY_MB = 1024


class NonFiniteScores(ValueError):
    """A query's scores contain NaN: its representation or the database's is not finite."""

    @classmethod
    def at(cls, task: str, query: int) -> "NonFiniteScores":
        return cls(f"task {task}: query {query} has NaN scores; its representation or the "
                   "database's is not finite")


@dataclass
class Side:
    """One split's representations and targets (rows aligned)."""

    reps: dict[str, torch.Tensor]  # modality -> embeddings, or bit-packed uint8 codes
    category: torch.Tensor
    labels: torch.Tensor
    item_idx: np.ndarray


@dataclass
class TaskResult:
    metrics: dict[str, float]
    per_query: dict[str, np.ndarray]
    pr: dict[str, np.ndarray]
    n_queries: int
    n_empty: int
    radius: dict[str, np.ndarray] | None = None  # hash lookup curve: radius, precision, recall


def _mean(values: np.ndarray, empty_queries: str) -> float:
    """The summary of per-query values: NaN (a query without a relevant item) counts as 0 under
    ``empty_queries: zero`` and is left out under ``skip``."""
    if empty_queries == "zero":
        values = np.nan_to_num(values, nan=0.0)
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if len(finite) else math.nan


def make_scorer(protocol: ProtocolSpec, task: str, metric_network=None) -> Callable:
    q_mod, db_mod = TASKS[task]
    if protocol.distance == "learned":
        if q_mod == db_mod:  # the metric network scores image-text pairs only
            return SCORERS.get("cosine")()
        fn = SCORERS.get("learned")(metric_network)
        return lambda q, db: fn(q, db, image_first=(q_mod == "image"))
    return SCORERS.get(protocol.distance)()


def chunk_rows(n_db: int, query_chunk: int, memory_mb: int, threads: int,
               per_pair: int = BYTES_PER_PAIR) -> int:
    """Queries per chunk: at most ``query_chunk``, and few enough that the chunk's matrices and
    the ranking threads' buffers fit in ``memory_mb``."""
    budget = memory_mb * 2 ** 20 - threads * BYTES_PER_ITEM * n_db
    return max(1, min(query_chunk, budget // (per_pair * n_db)))


def _direct_rows(scores: torch.Tensor, rel: torch.Tensor, exclude: torch.Tensor | None,
                 metrics: list[str], denominator: str, cutoffs: np.ndarray,
                 max_d: int | None) -> list[tuple]:
    """A chunk by the direct form, as `rank_query`'s tuples (Hamming: ``scores`` = -distance
    and ``max_d`` the code length)."""
    ranking = [m for m in metrics if parse_metric_name(m)[0] not in ("hp", "hr", "hf1")]
    values, curves = chunk_metrics(ranked_relevance(scores, rel, exclude), ranking, denominator,
                                   torch.from_numpy(cutoffs))
    nan = torch.full((len(scores),), float("nan"), dtype=torch.float64)
    table = torch.stack([values.get(m, nan) for m in metrics], 1).numpy()
    n_rel = curves["n_relevant"].long().numpy()
    found = hits = [None] * len(scores)
    if max_d is not None:
        f, h = radius_counts(-scores, rel, max_d, exclude)
        found, hits = f.numpy(), h.numpy()
    return list(zip(table, curves["precision"].numpy(), curves["recall"].numpy(), n_rel, found,
                    hits))


def evaluate_task(task: str, queries: Side, database: Side, protocol: ProtocolSpec,
                  metrics: list[str], pr_points: int = 20, query_chunk: int = 256,
                  scorer: Callable | None = None, memory_mb: int = MEMORY_MB,
                  threads: int | None = None) -> TaskResult:
    q_mod, db_mod = TASKS[task]
    scorer = scorer or make_scorer(protocol, task)
    q_rep, db_rep = queries.reps[q_mod], database.reps[db_mod]
    n_q, n_db = len(q_rep), len(db_rep)
    if n_db == 0 or n_q == 0:
        raise ValueError(f"task {task}: {n_q} queries against {n_db} database items")
    threads = max(1, threads or torch.get_num_threads())
    same_pool = q_mod == db_mod and protocol.exclude_self
    db_pos = {int(i): p for p, i in enumerate(database.item_idx)} if same_pool else {}
    faiss = protocol.search != "exact"
    depth = min(protocol.search_k, n_db) if faiss else n_db  # a FAISS list's length
    cutoffs = torch.unique(torch.linspace(1, depth, pr_points).round().long()).numpy()
    direct = n_db < DIRECT_BELOW and not faiss
    chunk = chunk_rows(n_db, query_chunk, memory_mb, threads,
                       DIRECT_BYTES_PER_PAIR if direct else BYTES_PER_PAIR)
    lookup = protocol.distance == "hamming" and not faiss
    max_d = 8 * q_rep.shape[1] if lookup else 0  # packed bytes -> bits (padding bits agree)
    index = None
    if faiss:
        from .search import FaissSearch

        index = FaissSearch(protocol, db_rep.numpy(), depth, threads)
    if lookup and not direct:  # distances are computed row by row in the ranking threads
        q_words, db_words = as_words(q_rep.numpy()), np.ascontiguousarray(as_words(db_rep.numpy()))
    ranker = RankMetrics(metrics, n_db, protocol.map_at_r_denominator, cutoffs)
    radius_at = {m: parse_metric_name(m) for m in metrics
                 if parse_metric_name(m)[0] in ("hp", "hr", "hf1")}

    relevant = relevance_rows(queries.category, database.category, queries.labels,
                              database.labels, protocol.relevance, np.asarray(queries.item_idx),
                              np.asarray(database.item_idx))

    def rank_query(i: int, start: int, scores: np.ndarray | None, exclude: int) -> tuple:
        """Query ``start + i`` (row i of the chunk's scores; Hamming distances are computed
        here): metric values, PR points, number relevant, and (hash lookup) the items and
        relevant items found within each radius. Its own row of ``scores`` is modified."""
        r = relevant(start + i)
        found = hits = None
        if faiss:  # a top-K list: the query's own entry dropped, K kept
            top = scores[i][(scores[i] >= 0) & (scores[i] != exclude)][:depth]
            if exclude >= 0:
                r[exclude] = False
            ranks = relevant_ranks(r[top])
            n_rel = int(r.sum())
            return (*ranker(ranks, n_rel), n_rel, None, None)
        row = hamming_row(q_words[start + i], db_words) if lookup else scores[i]
        if exclude >= 0:  # the query's own entry ranks last and is never relevant
            r[exclude] = False
            row[exclude] = max_d + 1 if lookup else -np.inf
        if lookup:
            ranked = r[distance_order(row)]
            found = np.bincount(row, minlength=max_d + 2)[: max_d + 1].cumsum()
        else:
            if np.isnan(row.max()):
                raise NonFiniteScores.at(task, start + i)
            ranked = stable_order(row, r)
        ranks = relevant_ranks(ranked)
        if lookup:  # the items within radius d are the first found[d] of the ranking
            hits = np.searchsorted(ranks, found, side="right")
        return (*ranker(ranks), len(ranks), found, hits)

    def _direct_chunk(start: int, end: int, exclude: list[int]) -> list[tuple]:
        if lookup:
            q_codes = q_rep[start:end].numpy()
            scores = -torch.from_numpy(hamming_distance(q_codes, db_rep.numpy())).float()
        else:
            scores = scorer(q_rep[start:end], db_rep).float()
            if scores.isnan().any():
                raise NonFiniteScores.at(task, start + int(scores.isnan().any(1).int().argmax()))
        rel = relevance(queries.category[start:end], database.category,
                        queries.labels[start:end], database.labels, protocol.relevance,
                        torch.as_tensor(queries.item_idx[start:end]),
                        torch.as_tensor(database.item_idx))
        mask = None
        if any(e >= 0 for e in exclude):
            mask = torch.zeros_like(rel)
            for row, e in enumerate(exclude):
                if e >= 0:
                    mask[row, e] = True
        return _direct_rows(scores, rel, mask, metrics, protocol.map_at_r_denominator, cutoffs,
                            max_d if lookup else None)

    def rank_block(rows: range, start: int, scores: np.ndarray | None, exclude: list[int]):
        return [rank_query(i, start, scores, exclude[i]) for i in rows]

    rows: list[tuple] = []
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, n_q, chunk):
            end = min(start + chunk, n_q)
            exclude = ([db_pos.get(int(i), -1) for i in queries.item_idx[start:end]]
                       if same_pool else [-1] * (end - start))
            if direct:
                rows += _direct_chunk(start, end, exclude)
                continue
            if faiss:  # one more than K, for the query's own entry
                scores = index.search(q_rep[start:end].numpy(), depth + same_pool)
            elif lookup:
                scores = None
            else:
                scores = np.ascontiguousarray(scorer(q_rep[start:end], db_rep).float().numpy())
            blocks = [range(b, end - start, threads) for b in range(threads)]  # interleaved
            done = pool.map(rank_block, blocks, [start] * threads, [scores] * threads,
                            [exclude] * threads)
            ordered: list = [None] * (end - start)
            for block, out in zip(blocks, done):
                for i, row in zip(block, out):
                    ordered[i] = row
            rows += ordered
    values, precision, recall, n_rel, found, hits = (
        [row[i] for row in rows] for i in range(6))
    values = np.stack(values)
    pq = {m: values[:, i] for i, m in enumerate(metrics)}
    n_rel = np.array(n_rel)
    radius = None
    if lookup:
        per_radius = radius_metrics(torch.from_numpy(np.stack(found)),
                                    torch.from_numpy(np.stack(hits)), torch.from_numpy(n_rel))
        p_r, r_r = per_radius["hp"].numpy(), per_radius["hr"].numpy()
        for m, (base, r) in radius_at.items():
            pq[m] = per_radius[base][:, min(r, max_d)].numpy()
    ok = n_rel > 0
    n_valid = int(ok.sum())
    summary = {m: _mean(v, protocol.empty_queries) for m, v in pq.items()}
    denom = max(n_valid, 1)
    pr = {"rank": cutoffs, "precision": np.stack(precision)[ok].sum(0) / denom,
          "recall": np.stack(recall)[ok].sum(0) / denom}
    if lookup:
        mean_p = p_r[ok].mean(0) if ok.any() else np.full(max_d + 1, np.nan)
        mean_r = r_r[ok].mean(0) if ok.any() else np.full(max_d + 1, np.nan)
        radius = {"radius": np.arange(max_d + 1), "precision": mean_p, "recall": mean_r}
        for m, (base, r) in radius_at.items():  # Table 5: the F1 of the mean P and the mean R
            if base == "hf1":
                p, rc = (_mean(a[:, min(r, max_d)], protocol.empty_queries) for a in (p_r, r_r))
                summary[m] = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
    return TaskResult(summary, pq, pr, n_q, n_q - n_valid, radius)
