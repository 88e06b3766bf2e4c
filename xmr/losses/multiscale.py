"""msdmml's multi-scale metric loss (Hua, Yang, Du 2020, Eqs. 3-11).

Similarity of two items is the cosine of their label vectors (Eqs. 3-5): 1 for identical label
sets, between 0 and 1 for overlapping ones, 0 for disjoint ones. Every pair (a, b) of the batch
contributes

    alpha * S_ab * ||f_a - g_b||^2  +  beta * [S_ab = 0] * max(0, c - ||f_a - g_b||^2)

(Eqs. 8-10: similar pairs are pulled together in proportion to their similarity; dissimilar
pairs are pushed beyond the squared distance c, with a slack). The inter-modal term takes all
B x B image-text pairs, each intra-modal term the B x (B - 1) ordered pairs of distinct items;
the total is lambda_inter * L_IT + lambda_image * L_I + lambda_text * L_T (Eq. 11).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


def label_similarity(a: torch.Tensor, b: torch.Tensor, kind: str, same: bool) -> torch.Tensor:
    """(n, m) similarity of label vectors ``a`` (n, C) and ``b`` (m, C).

    ``multiscale``: the cosine (Eqs. 3-5); ``binary``: 1 when a label is shared;
    ``instance``: 1 only for an item and its own pair (``same`` = rows and columns are the same
    items), the paper's MS-DMML-bin on single-label data.
    """
    if kind == "instance":
        if not same:
            raise ValueError("instance similarity needs the batch's own pairs")
        return torch.eye(a.shape[0], dtype=a.dtype, device=a.device)
    a, b = a.float(), b.float()
    if kind == "binary":
        return ((a @ b.T) > 0).to(a.dtype)
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).T


def metric_terms(x: torch.Tensor, y: torch.Tensor, s: torch.Tensor, alpha: float, beta: float,
                 c: float) -> torch.Tensor:
    """(n, m) per-pair terms of Eqs. 8-10 for embeddings x (n, d), y (m, d), similarity s."""
    d = (x.pow(2).sum(1, keepdim=True) + y.pow(2).sum(1) - 2 * x @ y.T).clamp(min=0)
    slack = (c - d).clamp(min=0) * (s == 0).to(d.dtype)
    return alpha * s * d + beta * slack


@LOSSES.register("multiscale_metric")
class MultiScaleMetricLoss(Loss):
    """lambda_inter * L_IT + lambda_image * L_I + lambda_text * L_T over all pairs of a batch."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        p = self.params
        f, g, y = out["image"], out["text"], batch.labels
        beta = 1.0 - p.alpha
        total = f.new_zeros(())
        parts = (("inter", f, g), ("image", f, f), ("text", g, g))
        for name, x, z in parts:
            weight = getattr(p, f"lambda_{name}")
            if weight == 0:
                continue
            s = label_similarity(y, y, p.similarity, same=True).to(x.dtype)
            terms = metric_terms(x, z, s, p.alpha, beta, p.c)
            if name != "inter":  # the B x (B - 1) pairs of distinct items
                terms = terms[~torch.eye(len(x), dtype=torch.bool, device=x.device)]
            total = total + weight * (terms.sum() if p.reduction == "sum" else terms.mean())
        return total
