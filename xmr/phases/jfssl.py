"""`jfssl`: joint feature selection and subspace learning (Wang et al., TPAMI 2016).

Each modality p gets a projection U_p (d_p x C) onto the label space Y (n x C, one-hot or
multi-hot), minimising

    sum_p ||X_p U_p - Y||_F^2 + lambda1 sum_p ||U_p||_2,1 + lambda2 tr(F' L F),
    F = [X_1 U_1; X_2 U_2]

where L = D - W is the Laplacian of a graph over both modalities' 2n training items: inter-modal
edges join items that share a label, intra-modal edges join each item to its `neighbours`
nearest items of its own modality (feature space, symmetrised). The l2,1 norm is minimised by
iterative reweighting, R_p = diag(1 / (2 ||u_p^i||)), so each update of U_p (the other fixed) is
the linear system

    (X_p'X_p + lambda1 R_p + lambda2 X_p' L_pp X_p) U_p = X_p'Y - lambda2 X_p' L_pq X_q U_q.

The maps are linear (no bias), as in the paper; the branches are `linear` with out = C.
"""

from __future__ import annotations

import numpy as np

from ..spec.models import JFSSLPhase
from .base import PHASES, PhaseContext
from .subspace import fill_affine, label_space_views


def knn_graph(x: np.ndarray, k: int) -> np.ndarray:
    """Symmetric 0/1 adjacency of each row's ``k`` nearest other rows (Euclidean)."""
    from sklearn.neighbors import kneighbors_graph

    a = kneighbors_graph(x, min(k, len(x) - 1), include_self=False).toarray()
    return np.maximum(a, a.T)


def jfssl_objective(xs, us, y, lap, lambda1: float, lambda2: float) -> float:
    """The JFSSL objective above (for the tests and the log)."""
    f = np.vstack([x @ u for x, u in zip(xs, us)])
    fit = sum(float(((x @ u - y) ** 2).sum()) for x, u in zip(xs, us))
    l21 = sum(float(np.linalg.norm(u, axis=1).sum()) for u in us)
    return fit + lambda1 * l21 + lambda2 * float(np.trace(f.T @ lap @ f))


def jfssl_solve(xs: list[np.ndarray], y: np.ndarray, lambda1: float, lambda2: float,
                neighbours: int, iterations: int, eps: float = 1e-8
                ) -> tuple[list[np.ndarray], list[float]]:
    """U_1, U_2 and the objective after each iteration."""
    n = len(y)
    same = (y @ y.T > 0).astype(np.float64)
    w = np.block([[knn_graph(xs[0], neighbours), same], [same.T, knn_graph(xs[1], neighbours)]])
    lap = np.diag(w.sum(1)) - w
    blocks = {(p, q): lap[p * n:(p + 1) * n, q * n:(q + 1) * n] for p in (0, 1) for q in (0, 1)}
    gram = [x.T @ x + lambda2 * x.T @ blocks[p, p] @ x for p, x in enumerate(xs)]
    us = [np.linalg.lstsq(x, y, rcond=None)[0] for x in xs]  # least squares to start
    history = []
    for _ in range(iterations):
        for p, q in ((0, 1), (1, 0)):
            r = np.diag(1.0 / (2 * np.linalg.norm(us[p], axis=1) + eps))
            rhs = xs[p].T @ y - lambda2 * xs[p].T @ blocks[p, q] @ (xs[q] @ us[q])
            us[p] = np.linalg.solve(gram[p] + lambda1 * r, rhs)
        history.append(jfssl_objective(xs, us, y, lap, lambda1, lambda2))
    return us, history


@PHASES.register("jfssl")
def jfssl(ctx: PhaseContext, spec: JFSSLPhase) -> dict:
    """JFSSL's two projections onto the label space, into linear branches (out = classes)."""
    x, y, labels = label_space_views(ctx, "jfssl")
    us, history = jfssl_solve([x, y], labels, spec.lambda1, spec.lambda2, spec.neighbours,
                              spec.iterations)
    for m, u in zip(("image", "text"), us):
        fill_affine(ctx, m, u, np.zeros(u.shape[1]))
    return {"objective": history, "val_map": ctx.validate()}
