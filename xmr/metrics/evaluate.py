"""Evaluate representations under a protocol: every task, in bounded memory (chunks of queries)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..spec.models import ProtocolSpec
from .functional import chunk_metrics, ranked_relevance, relevance
from .scorers import SCORERS

TASKS = {"i2t": ("image", "text"), "t2i": ("text", "image"), "i2i": ("image", "image"),
         "t2t": ("text", "text")}

# How many (query x database) scores a chunk may hold: ~32 MB of float32 scores; the sort and
# the cumulative sums of a chunk take a small multiple of that.
SCORE_BUDGET = 8_000_000


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


def make_scorer(protocol: ProtocolSpec, task: str, metric_network=None) -> Callable:
    q_mod, db_mod = TASKS[task]
    if protocol.distance == "learned":
        if q_mod == db_mod:  # the metric network scores image-text pairs only
            return SCORERS.get("cosine")()
        fn = SCORERS.get("learned")(metric_network)
        return lambda q, db: fn(q, db, image_first=(q_mod == "image"))
    return SCORERS.get(protocol.distance)()


def evaluate_task(task: str, queries: Side, database: Side, protocol: ProtocolSpec,
                  metrics: list[str], pr_points: int = 20, query_chunk: int = 256,
                  scorer: Callable | None = None) -> TaskResult:
    q_mod, db_mod = TASKS[task]
    scorer = scorer or make_scorer(protocol, task)
    q_rep, db_rep = queries.reps[q_mod], database.reps[db_mod]
    n_q, n_db = len(q_rep), len(db_rep)
    if n_db == 0 or n_q == 0:
        raise ValueError(f"task {task}: {n_q} queries against {n_db} database items")
    same_pool = q_mod == db_mod and protocol.exclude_self
    db_pos = {int(i): p for p, i in enumerate(database.item_idx)} if same_pool else {}
    cutoffs = torch.unique(torch.linspace(1, n_db, pr_points).round().long())
    chunk = max(1, min(query_chunk, SCORE_BUDGET // n_db))
    per_query: dict[str, list[torch.Tensor]] = {m: [] for m in metrics}
    prec_sum = torch.zeros(len(cutoffs), dtype=torch.float64)
    rec_sum = torch.zeros(len(cutoffs), dtype=torch.float64)
    n_valid = 0
    for s in range(0, n_q, chunk):
        e = min(s + chunk, n_q)
        scores = scorer(q_rep[s:e], db_rep)
        rel = relevance(queries.category[s:e], database.category, queries.labels[s:e],
                        database.labels, protocol.relevance,
                        torch.as_tensor(queries.item_idx[s:e]), torch.as_tensor(database.item_idx))
        exclude = None
        if same_pool:
            exclude = torch.zeros_like(rel)
            for row, item in enumerate(queries.item_idx[s:e]):
                if int(item) in db_pos:
                    exclude[row, db_pos[int(item)]] = True
        ranked = ranked_relevance(scores, rel, exclude)
        values, curves = chunk_metrics(ranked, metrics, protocol.map_at_r_denominator, cutoffs)
        for m in metrics:
            per_query[m].append(values[m])
        ok = curves["n_relevant"] > 0
        prec_sum += curves["precision"][ok].sum(0)
        rec_sum += curves["recall"][ok].sum(0)
        n_valid += int(ok.sum())
    pq = {m: torch.cat(v).numpy() for m, v in per_query.items()}
    n_empty = n_q - n_valid
    summary = {}
    for m, v in pq.items():
        if protocol.empty_queries == "zero":
            v = np.nan_to_num(v, nan=0.0)
        finite = v[~np.isnan(v)]
        summary[m] = float(finite.mean()) if len(finite) else math.nan
    denom = max(n_valid, 1)
    pr = {"rank": cutoffs.numpy(), "precision": (prec_sum / denom).numpy(),
          "recall": (rec_sum / denom).numpy()}
    return TaskResult(summary, pq, pr, n_q, n_empty)
