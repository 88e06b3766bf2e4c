"""`jrl`: joint representation learning with sparse and semi-supervised regularisation (Zhai,
Peng & Xiao, IEEE TCSVT 2014), in the form of the authors' released code.

Each modality m gets a projection P_m (d_m x C) onto the label space Y (n x C, one-hot or
multi-hot), minimising

    mu sum_m ||X_m P_m - Y||_F^2                      label regression (labelled items)
  + lambda ||X_I P_I - X_T P_T||_F^2                  the training pairs agree
  + sigma sum_m tr(P_m' Xbar_m' L_m Xbar_m P_m)       semi-supervised graph regularisation
  + gamma sum_m ||P_m||_2,1                           sparse (feature-selecting) projections

where Xbar_m stacks the labelled items and the unlabelled ones (`unlabeled: val`: the validation
split's features, never its labels) and L_m = I - D^-1/2 A D^-1/2 is the normalised Laplacian of
the symmetrised kNN graph A of modality m's items. Unlike JFSSL's single graph over both
modalities joined by shared labels, JRL keeps one graph per modality and couples the modalities
through the pairs and the shared label targets. The l2,1 norm is minimised by iterative
reweighting, R_m = diag(1 / (2 ||p_m^i||)), so each update of P_m (the other fixed) is

    (mu X_m'X_m + lambda X_m'X_m + sigma Xbar_m' L_m Xbar_m + gamma R_m) P_m
        = mu X_m'Y + lambda X_m'X_o P_o.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import laplacian

from ..spec.models import JRLPhase
from .base import PHASES, PhaseContext
from .jfssl import knn_graph
from .subspace import fill_affine, label_space_views, training_views


def jrl_objective(xs, xbars, laps, us, y, spec: JRLPhase) -> float:
    """The JRL objective above (for the tests and the log)."""
    fit = sum(float(((x @ u - y) ** 2).sum()) for x, u in zip(xs, us))
    pair = float(((xs[0] @ us[0] - xs[1] @ us[1]) ** 2).sum())
    graph = sum(float(np.trace((xb @ u).T @ lap @ (xb @ u))) for xb, lap, u in zip(xbars, laps, us))
    l21 = sum(float(np.linalg.norm(u, axis=1).sum()) for u in us)
    return spec.labels * fit + spec.pairs * pair + spec.graph * graph + spec.sparsity * l21


def normalised_laplacian(x: np.ndarray, k: int) -> np.ndarray:
    """I - D^-1/2 A D^-1/2 of the symmetrised kNN graph A over the rows of ``x``."""
    return laplacian(knn_graph(x, k), normed=True)


def jrl_solve(xs: list[np.ndarray], y: np.ndarray, spec: JRLPhase,
              unlabeled: list[np.ndarray] | None = None, eps: float = 1e-8
              ) -> tuple[list[np.ndarray], list[float]]:
    """P_I, P_T and the objective after each iteration. ``xs`` are the labelled pairs (row i of
    each is item i); ``unlabeled`` adds rows of each modality that only the graphs see."""
    xbars = [x if unlabeled is None else np.vstack([x, u]) for x, u in zip(xs, unlabeled or xs)]
    laps = [normalised_laplacian(xb, spec.neighbours) for xb in xbars]
    gram = [(spec.labels + spec.pairs) * x.T @ x + spec.graph * xb.T @ lap @ xb
            for x, xb, lap in zip(xs, xbars, laps)]
    ridge = [1e-6 * np.trace(x.T @ x) / x.shape[1] * np.eye(x.shape[1]) for x in xs]
    us = [np.linalg.solve(x.T @ x + r, x.T @ y) for x, r in zip(xs, ridge)]  # least squares
    history: list[float] = []
    for _ in range(spec.iterations):
        for p, q in ((0, 1), (1, 0)):
            r = np.diag(1.0 / (2 * np.linalg.norm(us[p], axis=1) + eps))
            rhs = spec.labels * xs[p].T @ y + spec.pairs * xs[p].T @ (xs[q] @ us[q])
            us[p] = np.linalg.solve(gram[p] + spec.sparsity * r, rhs)
        history.append(jrl_objective(xs, xbars, laps, us, y, spec))
        if len(history) > 1 and history[-2] - history[-1] < spec.tol * abs(history[-2]):
            break
    return us, history


@PHASES.register("jrl")
def jrl(ctx: PhaseContext, spec: JRLPhase) -> dict:
    """JRL's two projections onto the label space, into linear branches (out = classes)."""
    x, y, labels = label_space_views(ctx, "jrl")
    extra = None
    if spec.unlabeled == "val":
        val = ctx.data.split("val")
        if len(val) == 0:
            raise ValueError("phase jrl: unlabeled: val, but the validation split is empty")
        extra = list(training_views(ctx, "jrl", rows=val)[:2])
    mean = [v.mean(0) if spec.standardize else np.zeros(v.shape[1]) for v in (x, y)]
    std = [np.where(v.std(0) > 1e-12, v.std(0), 1.0) if spec.standardize else np.ones(v.shape[1])
           for v in (x, y)]
    xs = [(v - m) / s for v, m, s in zip((x, y), mean, std)]
    if extra is not None:
        extra = [(v - m) / s for v, m, s in zip(extra, mean, std)]
    us, history = jrl_solve(xs, labels, spec, extra)
    for mod, u, m, s in zip(("image", "text"), us, mean, std):
        w = u / s[:, None]  # z = ((x - m) / s) @ u = x @ (u / s) - (m / s) @ u
        fill_affine(ctx, mod, w, -m @ w)
    return {"objective": history, "iterations": len(history), "val_map": ctx.validate()}
