"""The correlation-subspace comparison methods: `kcca`, `pls`, `cfa`, `three_view_cca`, `ml_cca`.

Each fits on the training split's whole-item features (float64) and writes an affine map into each
modality's `linear` branch (`kcca`: the dual coefficients into `kernel` branches). Library
implementations where they exist (cca-zoo, scikit-learn); ml-CCA's label-weighted
cross-covariance is written here, from Ranjan et al. (2015). docs/compare.md has the equations.
"""

from __future__ import annotations

import numpy as np
import torch

from ..branches import Linear
from ..branches.kernel import Kernel
from ..spec.models import CFAPhase, KCCAPhase, MLCCAPhase, PLSPhase, ThreeViewCCAPhase
from .base import PHASES, PhaseContext
from .cca import affine_from_transform, numerical_rank

MODALITIES = ("image", "text")


def training_views(ctx: PhaseContext, phase: str, branch=Linear, rows: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """The training split's image and text features (float64, rows = items) and the component
    count (both branches' `out`), after checking the branches are of type ``branch``."""
    model, data = ctx.model, ctx.data
    for m in MODALITIES:
        if not isinstance(model.branches[m], branch):
            raise ValueError(f"phase {phase} fills {branch.__name__.lower()} branches; "
                             f"architecture.{m} is {type(model.branches[m]).__name__}")
        if data.views[m].offsets is not None:
            raise ValueError(f"phase {phase} needs whole-item (coarse) features; "
                             f"features of {m} have units")
    k = model.branches["image"].out_dim
    if model.branches["text"].out_dim != k:
        raise ValueError(f"phase {phase}: image.out and text.out must be equal (the component "
                         "count)")
    rows = data.split("train") if rows is None else rows
    idx = torch.as_tensor(rows, device=ctx.device)
    x, y = (data.views[m].take(idx).double().cpu().numpy() for m in MODALITIES)
    return x, y, k


def label_view(ctx: PhaseContext, rows: np.ndarray, every_item: str | None = None) -> np.ndarray:
    """(n, C) float64 labels of ``rows``: one-hot categories (single-label) or multi-hot. With
    ``every_item`` (the method's name), an item without any label is an error that names it."""
    data = ctx.data
    if data.relevance == "category":
        cat = data.category.cpu().numpy()[rows]
        return np.eye(data.n_classes)[cat]
    labels = data.labels.cpu().numpy()[rows].astype(np.float64)
    empty = np.flatnonzero(labels.sum(1) == 0)
    if every_item and len(empty):
        ids = data.prepared.items.column("item_id").to_pylist()
        named = ", ".join(str(ids[rows[i]]) for i in empty[:5])
        raise ValueError(f"{every_item}: {len(empty)} training item(s) have no label ({named}"
                         f"{', ...' if len(empty) > 5 else ''}); their label similarities are "
                         "undefined: drop them from the dataset or the training split")
    return labels


def label_space_views(ctx: PhaseContext, phase: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training split's image and text features and labels for a phase whose common space
    is the label space (JFSSL, JRL): both branches' `out` must be the number of labels."""
    rows = ctx.data.split("train")
    x, y, k = training_views(ctx, phase, rows=rows)
    labels = label_view(ctx, rows)
    if k != labels.shape[1]:
        raise ValueError(f"phase {phase}: image.out and text.out must be the number of labels, "
                         f"{labels.shape[1]}, not {k} (the common space is the label space)")
    return x, y, labels


def fill_affine(ctx: PhaseContext, modality: str, weights: np.ndarray, bias: np.ndarray) -> None:
    """Set ``modality``'s linear branch to z = x @ weights + bias (weights: d x k)."""
    proj = ctx.model.branches[modality].proj
    if weights.shape != (proj.in_features, proj.out_features):
        raise ValueError(f"{modality}: a {weights.shape} map for a {proj.in_features} -> "
                         f"{proj.out_features} branch")
    with torch.no_grad():
        proj.weight.copy_(torch.as_tensor(weights.T, dtype=proj.weight.dtype))
        proj.bias.copy_(torch.as_tensor(bias, dtype=proj.bias.dtype))


def fill_linear(ctx: PhaseContext, modality: str, weights: np.ndarray, mean: np.ndarray) -> None:
    """Set ``modality``'s linear branch to z = (x - mean) @ weights (weights: d x k)."""
    fill_affine(ctx, modality, weights, -mean @ weights)


def pad_columns(w: np.ndarray, k: int) -> np.ndarray:
    """``w`` with zero columns up to ``k`` (components a solver could not give are zero)."""
    return np.pad(w, ((0, 0), (0, k - w.shape[1])))


def correlations(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Per-component Pearson correlation of two score matrices (0 for a constant column)."""
    a, b = a - a.mean(0), b - b.mean(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    return [float(v) for v in np.divide((a * b).sum(0), den, out=np.zeros(a.shape[1]),
                                        where=den > 0)]


def _linear_report(ctx: PhaseContext, x, y, wx, wy) -> dict:
    zx, zy = (x - x.mean(0)) @ wx, (y - y.mean(0)) @ wy
    return {"train_correlations": correlations(zx, zy), "val_map": ctx.validate()}


@PHASES.register("pls")
def pls(ctx: PhaseContext, spec: PLSPhase) -> dict:
    """PLS with deflation (scikit-learn `PLSCanonical`, Wold's mode A) into linear branches."""
    from sklearn.cross_decomposition import PLSCanonical

    x, y, k = training_views(ctx, "pls")
    kk = min(k, numerical_rank(x), numerical_rank(y))  # deflation exhausts a view at its rank
    model = PLSCanonical(n_components=kk, scale=spec.scale, max_iter=spec.max_iter).fit(x, y)
    # the library's transforms are affine: read their maps off (as the cca phase does)
    wx, bx = affine_from_transform(model.transform, x.shape[1])
    wy, by = affine_from_transform(
        lambda a: model.transform(np.zeros((len(a), x.shape[1])), a)[1], y.shape[1])
    wx, wy = pad_columns(wx.T, k), pad_columns(wy.T, k)
    fill_affine(ctx, "image", wx, pad_columns(bx[None], k)[0])
    fill_affine(ctx, "text", wy, pad_columns(by[None], k)[0])
    return {"components": kk, **_linear_report(ctx, x, y, wx, wy)}


@PHASES.register("cfa")
def cfa(ctx: PhaseContext, spec: CFAPhase) -> dict:
    """CFA: the SVD of the centred cross-covariance (cca-zoo `PLS`) into linear branches."""
    from cca_zoo.linear import PLS

    x, y, k = training_views(ctx, "cfa")
    kk = min(k, numerical_rank(x), numerical_rank(y))  # beyond the rank: noise directions
    model = PLS(n_components=kk).fit([x, y])
    wx, wy = (pad_columns(np.asarray(w), k) for w in model.weights_)
    fill_linear(ctx, "image", wx, np.asarray(model.means_[0]))
    fill_linear(ctx, "text", wy, np.asarray(model.means_[1]))
    return {"components": kk, **_linear_report(ctx, x, y, wx, wy)}


def mcca_eigenvalues(views: list[np.ndarray], weights: list[np.ndarray],
                     shrinkage: float) -> np.ndarray:
    """Each component's eigenvalue of multiset CCA's A w = lambda B w (A: the between-view
    covariance blocks, B: the within-view blocks blended towards I), as w'Aw / w'Bw."""
    zs = [(v - v.mean(0)) @ w for v, w in zip(views, weights)]
    n = len(zs[0]) - 1
    between = sum((za * zb).sum(0) for i, za in enumerate(zs) for j, zb in enumerate(zs)
                  if i != j) / n
    within = sum((1 - shrinkage) * (z * z).sum(0) / n + shrinkage * (w * w).sum(0)
                 for z, w in zip(zs, weights))
    return between / within


@PHASES.register("three_view_cca")
def three_view_cca(ctx: PhaseContext, spec: ThreeViewCCAPhase) -> dict:
    """3V-CCA: multiset CCA (cca-zoo `MCCA`) of image, text and labels; column j of each
    projection scaled by eigenvalue_j ** power (Gong et al.'s scaled similarity)."""
    from cca_zoo.linear import MCCA

    rows = ctx.data.split("train")
    x, y, k = training_views(ctx, "three_view_cca", rows=rows)
    z = label_view(ctx, rows)
    kk = min(k, x.shape[1], y.shape[1], z.shape[1])
    model = MCCA(n_components=kk, shrinkage=spec.shrinkage).fit([x, y, z])
    weights = [np.asarray(w) for w in model.weights_]
    lam = mcca_eigenvalues([x, y, z], weights, spec.shrinkage)
    scale = np.clip(lam, 0, None) ** spec.power
    wx, wy = (pad_columns(w * scale, k) for w in weights[:2])
    fill_linear(ctx, "image", wx, np.asarray(model.means_[0]))
    fill_linear(ctx, "text", wy, np.asarray(model.means_[1]))
    return {"components": kk, "eigenvalues": [float(v) for v in lam],
            **_linear_report(ctx, x, y, wx, wy)}


def ml_cca_solve(x: np.ndarray, y: np.ndarray, labels: np.ndarray, k: int,
                 shrinkage: float = 1e-3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ml-CCA (Ranjan et al. 2015) of centred ``x``, ``y`` with label vectors ``labels``.

    The cross-covariance sums over all image-text pairs (i, j) weighted by s_ij, the cosine
    similarity of their label vectors: C_xy = X' S Y / sum(S), computed as (X' L)(L' Y) with L
    the row-normalised labels (never n x n). The within-view covariances are CCA's, blended
    towards their mean eigenvalue times I by ``shrinkage``. Solved as CCA is: the SVD of
    Cxx^(-1/2) C_xy Cyy^(-1/2). Returns (W_x, W_y, the k correlations)."""
    norms = np.linalg.norm(labels, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("ml-CCA: some training items have no label (their similarities to "
                         "every other item are undefined)")
    ell = labels / norms
    total = float((ell.sum(0) ** 2).sum())  # sum_ij s_ij
    cxy = (x.T @ ell) @ (ell.T @ y) / total
    n = len(x)

    def inv_sqrt(c: np.ndarray) -> np.ndarray:
        c = (1 - shrinkage) * c + shrinkage * np.trace(c) / len(c) * np.eye(len(c))
        val, vec = np.linalg.eigh(c)
        keep = val > val.max() * len(val) * np.finfo(float).eps
        return (vec[:, keep] / np.sqrt(val[keep])) @ vec[:, keep].T

    kx, ky = inv_sqrt(x.T @ x / n), inv_sqrt(y.T @ y / n)
    u, s, vt = np.linalg.svd(kx @ cxy @ ky, full_matrices=False)
    return kx @ u[:, :k], ky @ vt[:k].T, s[:k]


@PHASES.register("ml_cca")
def ml_cca(ctx: PhaseContext, spec: MLCCAPhase) -> dict:
    """ml-CCA into linear branches: CCA with a label-similarity-weighted cross-covariance."""
    rows = ctx.data.split("train")
    x, y, k = training_views(ctx, "ml_cca", rows=rows)
    mx, my = x.mean(0), y.mean(0)
    wx, wy, s = ml_cca_solve(x - mx, y - my, label_view(ctx, rows, "ml-CCA"), k,
                             spec.shrinkage)
    wx, wy = pad_columns(wx, k), pad_columns(wy, k)
    fill_linear(ctx, "image", wx, mx)
    fill_linear(ctx, "text", wy, my)
    return {"components": int(wx.shape[1]), "label_correlations": [float(v) for v in s],
            **_linear_report(ctx, x, y, wx, wy)}


def weights_only_kcca():
    """cca-zoo's `KCCA`, stopping once the dual weights are set. Its `fit` then computes maps
    for `predict` / `inverse_transform` and permutation feature importances (one kernel
    evaluation per input feature: 189 of 191 s of a 600-item fit on 3,000-d counts), none of
    which xmr reads; the weights, means and centring statistics are the library's own."""
    from cca_zoo.nonparametric import KCCA

    class WeightsOnlyKCCA(KCCA):
        def _fit_maps_and_importances(self, views):
            self.n_components_ = self.weights_[0].shape[1]

    return WeightsOnlyKCCA


@PHASES.register("kcca")
def kcca(ctx: PhaseContext, spec: KCCAPhase) -> dict:
    """Kernel CCA (cca-zoo `KCCA`, see `weights_only_kcca`) with each `kernel` branch's kernel;
    the branches keep the (centred) training items and the dual coefficients."""
    KCCA = weights_only_kcca()
    rows = ctx.data.split("train")
    if spec.max_items is not None and len(rows) > spec.max_items:
        rows = np.sort(ctx.generator.choice(rows, spec.max_items, replace=False))
    x, y, k = training_views(ctx, "kcca", branch=Kernel, rows=rows)
    branches = [ctx.model.branches[m] for m in MODALITIES]
    model = KCCA(n_components=k, shrinkage=spec.shrinkage,
                 kernel=[b.kind for b in branches], gamma=[b.gamma for b in branches],
                 degree=[b.degree for b in branches], coef0=[b.coef0 for b in branches]).fit([x, y])
    for i, b in enumerate(branches):
        centerer = model._centerers_[i]
        b.fill(model.means_[i], model.views_fit_[i], centerer.K_fit_rows_,
               centerer.K_fit_all_, model.weights_[i])
    with torch.no_grad():
        zx, zy = (b(torch.as_tensor(v, device=ctx.device)).double().cpu().numpy()
                  for b, v in zip(branches, (x, y)))
    return {"items": len(rows), "train_correlations": correlations(zx, zy),
            "val_map": ctx.validate()}
