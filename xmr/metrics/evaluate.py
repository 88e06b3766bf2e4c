"""Evaluate representations under a protocol: every task, in bounded memory (chunks of queries)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..spec.models import ProtocolSpec
from ..spec.models import parse_metric_name
from .functional import chunk_metrics, radius_counts, radius_metrics, ranked_relevance, relevance
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
    lookup = protocol.distance == "hamming"
    max_d = 8 * q_rep.shape[1] if lookup else 0  # packed bytes -> bits (padding bits agree)
    by_radius: dict[str, list[torch.Tensor]] = {"hp": [], "hr": []}
    ranking = [m for m in metrics if parse_metric_name(m)[0] not in ("hp", "hr", "hf1")]
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
        values, curves = chunk_metrics(ranked, ranking, protocol.map_at_r_denominator, cutoffs)
        if lookup:
            found, hits = radius_counts(-scores, rel, max_d, exclude)
            per_radius = radius_metrics(found, hits, curves["n_relevant"])
            for key in by_radius:
                by_radius[key].append(per_radius[key])
            for m in metrics:
                base, r = parse_metric_name(m)
                if base in per_radius:
                    values[m] = per_radius[base][:, min(r, max_d)]
        for m in metrics:
            per_query[m].append(values[m])
        ok = curves["n_relevant"] > 0
        prec_sum += curves["precision"][ok].sum(0)
        rec_sum += curves["recall"][ok].sum(0)
        n_valid += int(ok.sum())
    pq = {m: torch.cat(v).numpy() for m, v in per_query.items()}
    n_empty = n_q - n_valid
    summary = {m: _mean(v, protocol.empty_queries) for m, v in pq.items()}
    denom = max(n_valid, 1)
    pr = {"rank": cutoffs.numpy(), "precision": (prec_sum / denom).numpy(),
          "recall": (rec_sum / denom).numpy()}
    radius = None
    if lookup:
        p_r, r_r = (torch.cat(by_radius[k]).numpy() for k in ("hp", "hr"))
        ok = ~np.isnan(r_r[:, 0])  # queries with a relevant item, as for the PR curve
        mean_p = p_r[ok].mean(0) if ok.any() else np.full(max_d + 1, np.nan)
        mean_r = r_r[ok].mean(0) if ok.any() else np.full(max_d + 1, np.nan)
        radius = {"radius": np.arange(max_d + 1), "precision": mean_p, "recall": mean_r}
        for m in metrics:  # Table 5: the F1 of the mean precision and the mean recall
            base, r = parse_metric_name(m)
            if base == "hf1":
                p, rc = (_mean(a[:, min(r, max_d)], protocol.empty_queries) for a in (p_r, r_r))
                summary[m] = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
    return TaskResult(summary, pq, pr, n_q, n_empty, radius)
