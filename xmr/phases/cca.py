"""`cca`: closed-form canonical correlation analysis (scikit-learn) into two linear branches.

Rank-deficient views are reduced to their numerical rank before CCA (exact PCA), so that the
answer does not depend on the dtype the features were stored in. CCA whitens each view, which
turns a direction of rounding noise into a full-weight "canonical" direction. Wikipedia's views
are both rank-deficient: the 10 LDA topic proportions and the 128-bin SIFT histograms sum to 1 per
row, so the centred views have rank 9 and 127; stored as float32, the rounding of those sums
makes a 10th text direction with correlation 0.22 that costs 0.02 MAP, and even the float64 file
(whose histograms sum to 1 only to 2e-8: they were computed in single precision) carries a 128th
image direction of pure rounding noise.

The tolerance is numpy's ``matrix_rank`` rule at single precision, ``largest singular value *
max(n, d) * eps(float32)`` (`rank_rtol` overrides the factor), whatever the storage dtype: the
features of this field carry no more than single precision. `benchmarks/cca_dtype.py` shows the
effect on the real Wikipedia features. When a view's rank is below the component count, the
missing components are zero (a cosine or Euclidean ranking is the same as over the components
that exist).
"""

from __future__ import annotations

import numpy as np
import torch

from ..branches import Linear
from ..spec.models import CCAPhase
from .base import PHASES, PhaseContext


def affine_from_transform(transform, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The (W, b) of an affine map f(x) = W x + b, read off f(0) and f(e_i)."""
    b = transform(np.zeros((1, dim)))[0]
    w = transform(np.eye(dim)) - b
    return w.T, b


def numerical_rank(x: np.ndarray, rtol: float | None = None) -> int:
    """The rank of centred ``x``: singular values above ``rtol`` times the largest count;
    ``rtol`` defaults to ``max(n, d) * eps(float32)`` (numpy's matrix_rank rule, single precision)."""
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    if not len(s) or s[0] == 0:
        return 0
    rtol = max(x.shape) * float(np.finfo(np.float32).eps) if rtol is None else rtol
    return int(np.sum(s > s[0] * rtol))


def _reduce(x: np.ndarray, n: int | None, rank: int):
    """An affine PCA projection fitted on ``x`` to ``min(n, rank)`` components (identity when
    that keeps every dimension)."""
    keep = min(n or x.shape[1], rank)
    if keep >= x.shape[1]:
        return lambda a: a
    from sklearn.decomposition import PCA

    pca = PCA(n_components=keep, svd_solver="full").fit(x)  # exact, so runs are repeatable
    return pca.transform


def fit_cca(x: np.ndarray, y: np.ndarray, k: int, pca: int | None = None, max_iter: int = 500,
            rank_rtol: float | None = None) -> tuple[tuple, tuple, dict]:
    """CCA of float64 views ``x``, ``y`` (rows = training items): each view reduced to its
    numerical rank (and to ``pca`` components when given), ``k`` components, the ones beyond the
    rank zero. ``rank_rtol=0`` keeps every direction (no rank detection). Returns the affine maps
    (W_x, b_x), (W_y, b_y) and a report."""
    from sklearn.cross_decomposition import CCA

    ranks = {"image": numerical_rank(x, rank_rtol), "text": numerical_rank(y, rank_rtol)}
    px, py = _reduce(x, pca, ranks["image"]), _reduce(y, pca, ranks["text"])
    xr, yr = px(x), py(y)
    kk = min(k, xr.shape[1], yr.shape[1])
    model = CCA(n_components=kk, max_iter=max_iter).fit(xr, yr)
    zeros_x = np.zeros((1, xr.shape[1]))

    def pad(z: np.ndarray) -> np.ndarray:  # components beyond the views' rank are zero
        return np.pad(z, ((0, 0), (0, k - kk)))

    wx = affine_from_transform(lambda a: pad(model.transform(px(a))), x.shape[1])
    wy = affine_from_transform(
        lambda a: pad(model.transform(np.repeat(zeros_x, len(a), 0), py(a))[1]), y.shape[1])
    corr = [float(np.corrcoef(a, b)[0, 1]) for a, b in zip(*(s.T for s in model.transform(xr, yr)))]
    return wx, wy, {"train_canonical_correlations": corr, "ranks": ranks, "components": kk}


@PHASES.register("cca")
def cca(ctx: PhaseContext, spec: CCAPhase) -> dict:
    """Fit CCA on the training split and copy its projections into the linear branches."""
    model, data = ctx.model, ctx.data
    for m in ("image", "text"):
        if not isinstance(model.branches[m], Linear):
            raise ValueError(f"phase cca fills linear branches; architecture.{m} is "
                             f"{type(model.branches[m]).__name__}")
        if data.views[m].offsets is not None:
            raise ValueError("phase cca needs whole-item (coarse) features")
    k = model.branches["image"].out_dim
    if model.branches["text"].out_dim != k:
        raise ValueError("phase cca: image.out and text.out must be equal (the component count)")
    idx = torch.as_tensor(data.split("train"), device=ctx.device)
    x, y = (data.views[m].take(idx).double().cpu().numpy() for m in ("image", "text"))
    if k > min(x.shape[1], y.shape[1]):
        raise ValueError(f"phase cca: {k} components but the features have "
                         f"{x.shape[1]} and {y.shape[1]} dimensions")
    (wx, bx), (wy, by), report = fit_cca(x, y, k, spec.pca, spec.max_iter, spec.rank_rtol)
    with torch.no_grad():
        for m, (w, b) in (("image", (wx, bx)), ("text", (wy, by))):
            proj = model.branches[m].proj
            proj.weight.copy_(torch.as_tensor(w, dtype=proj.weight.dtype))
            proj.bias.copy_(torch.as_tensor(b, dtype=proj.bias.dtype))
    return {**report, "val_map": ctx.validate()}
