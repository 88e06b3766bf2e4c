"""Retrieval metrics as pure functions over one chunk of queries.

Conventions (stamped into every result through the protocol):
- Ranking: scores sorted descending with a stable sort, so equal scores keep database order.
- Excluded items (a query's own entry in I->I / T->T) are ranked last and never relevant.
- AP (``map``): mean of precision at each relevant position, over all relevant items.
- AP@R (``map@R``): the same within the top R, divided by the relevant items retrieved there
  (``retrieved_relevant``, the DCMH-era convention) or by min(R, all relevant).
- P@N: relevant in the top N / N. R@K: relevant in the top K / all relevant. hit@K: 1 when a
  relevant item is in the top K (the "Recall@K" of caption retrieval and of mgmm's Table 5).
- PR curve: precision and recall at evenly spaced cut-offs, averaged over queries.
- Hash lookup within Hamming radius r (``hp@r``, ``hr@r``, ``hf1@r``; the hamming distance only):
  the items at distance <= r are returned, unordered, so ties do not matter. Precision is 0 for
  a lookup that returns nothing. The summary ``hf1@r`` is the F1 of the mean precision and mean
  recall (dmsfh Table 5's F1 is computed so); per query it is that query's F1.
"""

from __future__ import annotations

import torch

from ..spec.models import parse_metric_name


def rank(scores: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Database positions sorted best first (stable: ties keep database order)."""
    if exclude is not None:
        scores = scores.masked_fill(exclude, float("-inf"))
    return torch.sort(scores, dim=1, descending=True, stable=True).indices


def ranked_relevance(scores: torch.Tensor, relevant: torch.Tensor,
                     exclude: torch.Tensor | None = None) -> torch.Tensor:
    """(q, n) bool: whether the item at each rank is relevant."""
    if exclude is not None:
        relevant = relevant & ~exclude
    return torch.gather(relevant, 1, rank(scores, exclude))


def chunk_metrics(ranked: torch.Tensor, metrics: list[str], map_at_r_denominator: str,
                  pr_cutoffs: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Per-query values of each metric for a chunk, plus PR-curve sums.

    Returns ``({metric: (q,) float64}, {"n_relevant": (q,), "precision": (q, P), "recall": ...})``;
    queries with no relevant item get NaN for ``map`` and ``r@K`` (the caller applies the
    protocol's empty-query policy).
    """
    r = ranked.to(torch.float64)
    q, n = r.shape
    cum = r.cumsum(1)
    ranks = torch.arange(1, n + 1, dtype=torch.float64, device=r.device)
    precision = cum / ranks
    n_rel = r.sum(1)
    nan = torch.full_like(n_rel, float("nan"))
    out: dict[str, torch.Tensor] = {}
    for name in metrics:
        base, cut = parse_metric_name(name)
        if base == "map" and cut is None:
            out[name] = torch.where(n_rel > 0, (precision * r).sum(1) / n_rel.clamp(min=1), nan)
        elif base == "map":
            k = min(cut, n)
            hits = (precision[:, :k] * r[:, :k]).sum(1)
            if map_at_r_denominator == "retrieved_relevant":
                denom = r[:, :k].sum(1)
            else:
                denom = torch.minimum(n_rel, torch.tensor(float(cut), dtype=torch.float64))
            out[name] = torch.where(denom > 0, hits / denom.clamp(min=1), torch.zeros_like(hits))
        elif base == "p":
            out[name] = cum[:, min(cut, n) - 1] / cut
        elif base == "hit":  # a relevant item within the top K (mgmm's "Recall@K")
            out[name] = torch.where(n_rel > 0, (cum[:, min(cut, n) - 1] > 0).to(torch.float64), nan)
        else:  # r@K
            out[name] = torch.where(n_rel > 0, cum[:, min(cut, n) - 1] / n_rel.clamp(min=1), nan)
    curves = {"n_relevant": n_rel}
    if pr_cutoffs is not None:
        idx = (pr_cutoffs.clamp(1, n) - 1).to(r.device)
        curves["precision"] = precision[:, idx]
        curves["recall"] = cum[:, idx] / n_rel.clamp(min=1).unsqueeze(1)
    return out, curves


def radius_counts(distance: torch.Tensor, relevant: torch.Tensor, max_distance: int,
                  exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hash lookup counts of a chunk: (q, max_distance + 1) items retrieved within Hamming
    radius r (distance <= r) and relevant items among them, for every r; excluded items count
    in neither."""
    keep = torch.ones_like(relevant) if exclude is None else ~exclude
    if exclude is not None:
        relevant = relevant & keep
    d = distance.long().clamp(0, max_distance)
    shape = (len(d), max_distance + 1)
    found = torch.zeros(shape, dtype=torch.long).scatter_add_(1, d, keep.long())
    hits = torch.zeros(shape, dtype=torch.long).scatter_add_(1, d, relevant.long())
    return found.cumsum(1), hits.cumsum(1)


def radius_metrics(found: torch.Tensor, hits: torch.Tensor, n_relevant: torch.Tensor
                   ) -> dict[str, torch.Tensor]:
    """Per query and radius (q, R + 1): lookup precision (relevant found / found; 0 when the
    lookup finds nothing), recall (relevant found / all relevant) and F1 (2PR / (P + R); 0 when
    both are 0); all three NaN for a query without a relevant item (the protocol's
    `empty_queries` decides how such queries count, as for MAP)."""
    found, hits = found.double(), hits.double()
    n_rel = n_relevant.double().unsqueeze(1)
    precision = torch.where(found > 0, hits / found.clamp(min=1), torch.zeros_like(hits))
    recall = torch.where(n_rel > 0, hits / n_rel.clamp(min=1), torch.full_like(hits, float("nan")))
    both = precision + recall
    f1 = torch.where(both > 0, 2 * precision * recall / both.clamp(min=1e-300),
                     torch.zeros_like(both))
    empty = recall.isnan()
    return {"hp": torch.where(empty, recall, precision), "hr": recall,
            "hf1": torch.where(empty, recall, f1)}


def relevance(q_category: torch.Tensor, db_category: torch.Tensor, q_labels: torch.Tensor,
              db_labels: torch.Tensor, rule: str, q_item: torch.Tensor | None = None,
              db_item: torch.Tensor | None = None) -> torch.Tensor:
    """(q, n) bool relevance: same category, at least one shared label, or the same item."""
    if rule == "category":
        return q_category[:, None] == db_category[None, :]
    if rule == "instance":
        if q_item is None or db_item is None:
            raise ValueError("relevance 'instance' needs the query and database item indices")
        return q_item[:, None] == db_item[None, :]
    return (q_labels.float() @ db_labels.float().T) > 0
