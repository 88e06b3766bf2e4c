"""The shallow supervised hashing methods dmsfh compares with: `scm_hash` (SCM, Zhang and Li
2014) and `seph` (SePH, Lin et al. 2015). Both fit on the training split's whole-item features
(float64) and fill the branches whose outputs an `identity` hash layout signs into codes.

SCM. With X, Y the centred views, L~ the l2-normalised label rows and the semantic similarity
S~ = 2 L~ L~' - 1 (in [-1, 1]), SCM asks for code inner products sign(X w_x)' sign(Y w_y) near
k S~ and relaxes it, per bit, to max w_x' X' R Y w_y s.t. w_x' (X'X) w_x = w_y' (Y'Y) w_y = 1.
X' S~ Y = 2 (X' L~)(L~' Y), as X' 1 = 0: nothing n x n is formed. SCM-Orth takes all bits from
the top singular pairs of Cx^-1/2 X' S~ Y Cy^-1/2 with R = S~; SCM-Seq solves one bit at a time
with R the residual k S~ - sum_{t < b} sign(X w_x^t) sign(Y w_y^t)', whose cross term is
(X' b_x)(Y' b_y)' per earlier bit.

SePH. P: p_ij = cos(l_i, l_j) / sum_{i != j} cos(l_i, l_j) (i != j). Q: q_ij proportional to
1 / (1 + d_ij) with d_ij = ||h_i - h_j||^2 / 4, the Hamming distance of codes in {-1, +1}^k.
H minimises KL(P || Q) + alpha ||H - sign(H)||^2 / (n k) (L-BFGS, float64, from a small random
start); B = sign(H). Then each bit of each modality is a logistic regression (scikit-learn) on
the RBF kernel values to anchors (k-means centres or random training items), whose decision
function's sign is the bit. The RBF width: sigma the mean distance of the training items to the
anchors, gamma = 1 / (2 sigma^2).
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..branches.kernel import Kernel
from ..spec.models import SCMHashPhase, SePHPhase
from .base import PHASES, PhaseContext
from .subspace import fill_linear, label_view, training_views

MODALITIES = ("image", "text")


def _whitener(x: np.ndarray, ridge: float) -> np.ndarray:
    """(X'X + r mean-eigenvalue I)^(-1/2) of centred ``x``."""
    c = x.T @ x
    c = c + ridge * np.trace(c) / len(c) * np.eye(len(c))
    val, vec = np.linalg.eigh(c)
    val = np.maximum(val, val.max() * len(val) * np.finfo(float).eps)
    return (vec / np.sqrt(val)) @ vec.T


def scm_solve(x: np.ndarray, y: np.ndarray, labels: np.ndarray, bits: int, variant: str = "seq",
              ridge: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """SCM's projections (W_x: dx x bits, W_y: dy x bits) of centred ``x``, ``y`` (module
    docstring)."""
    norms = np.linalg.norm(labels, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("SCM: some training items have no label (their semantic similarity is "
                         "undefined)")
    ell = labels / norms
    kx, ky = _whitener(x, ridge), _whitener(y, ridge)
    cross = 2.0 * (x.T @ ell) @ (ell.T @ y)  # X' S~ Y
    if variant == "orth":
        u, _, vt = np.linalg.svd(kx @ cross @ ky, full_matrices=False)
        r = min(bits, u.shape[1])
        wx, wy = kx @ u[:, :r], ky @ vt[:r].T
        return np.pad(wx, ((0, 0), (0, bits - r))), np.pad(wy, ((0, 0), (0, bits - r)))
    wx, wy = np.zeros((x.shape[1], bits)), np.zeros((y.shape[1], bits))
    residual = bits * cross
    for b in range(bits):
        u, _, vt = np.linalg.svd(kx @ residual @ ky)
        wx[:, b], wy[:, b] = kx @ u[:, 0], ky @ vt[0]
        bx, by = np.where(x @ wx[:, b] >= 0, 1.0, -1.0), np.where(y @ wy[:, b] >= 0, 1.0, -1.0)
        residual = residual - np.outer(x.T @ bx, y.T @ by)
    return wx, wy


@PHASES.register("scm_hash")
def scm_hash(ctx: PhaseContext, spec: SCMHashPhase) -> dict:
    """SCM-Seq or SCM-Orth into the two linear branches (out = bits)."""
    rows = ctx.data.split("train")
    x, y, bits = training_views(ctx, "scm_hash", rows=rows)
    mx, my = x.mean(0), y.mean(0)
    wx, wy = scm_solve(x - mx, y - my, label_view(ctx, rows, "SCM"), bits, spec.variant,
                       spec.ridge)
    fill_linear(ctx, "image", wx, mx)
    fill_linear(ctx, "text", wy, my)
    bx, by = (np.where(v @ w >= 0, 1, -1) for v, w in ((x - mx, wx), (y - my, wy)))
    return {"bits": bits, "train_bit_agreement": float((bx == by).mean()),
            "val_map": ctx.validate()}


def seph_affinity(labels: np.ndarray) -> np.ndarray:
    """P of SePH: label cosines off the diagonal, normalised to sum to 1."""
    norms = np.linalg.norm(labels, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("SePH: some training items have no label")
    ell = labels / norms
    p = ell @ ell.T
    np.fill_diagonal(p, 0.0)
    return p / p.sum()


def seph_objective(h: torch.Tensor, p: torch.Tensor, alpha: float) -> torch.Tensor:
    """KL(P || Q) + alpha ||H - sign(H)||^2 / (n k) (module docstring); sign(H) held fixed."""
    sq = (h * h).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * h @ h.T).clamp(min=0) / 4
    t = 1.0 / (1.0 + d)
    t = t - torch.diag(torch.diagonal(t))
    log_q = torch.log(t.clamp(min=1e-300)) - torch.log(t.sum())
    mask = p > 0
    kl = (p[mask] * (torch.log(p[mask]) - log_q[mask])).sum()
    b = torch.where(h >= 0, 1.0, -1.0).to(h.dtype)
    return kl + alpha * ((h - b) ** 2).sum() / h.numel()


def seph_codes(p: np.ndarray, bits: int, alpha: float, iterations: int,
               rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """SePH's training codes B = sign(H*) and the final objective."""
    pt = torch.as_tensor(p, dtype=torch.float64)
    h = torch.as_tensor(rng.normal(scale=0.1, size=(len(p), bits)), dtype=torch.float64)
    h.requires_grad_(True)
    opt = torch.optim.LBFGS([h], max_iter=iterations, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure():
        opt.zero_grad()
        value = seph_objective(h, pt, alpha)
        value.backward()
        return value

    opt.step(closure)
    with torch.no_grad():
        value = float(seph_objective(h, pt, alpha))
    return np.where(h.detach().numpy() >= 0, 1.0, -1.0), value


def rbf_anchors(x: np.ndarray, count: int, choice: str, seed: int) -> np.ndarray:
    """SePH's anchors: k-means centres (scikit-learn) or training items drawn at random."""
    count = min(count, len(x))
    if choice == "random":
        return x[np.random.default_rng(seed).choice(len(x), count, replace=False)]
    from sklearn.cluster import KMeans

    return KMeans(count, n_init=1, random_state=seed).fit(x).cluster_centers_


@PHASES.register("seph")
def seph(ctx: PhaseContext, spec: SePHPhase) -> dict:
    """SePH_km / SePH_rnd into two `kernel` branches (centre: false, out = bits)."""
    from sklearn.linear_model import LogisticRegression

    seed = spec.seed if spec.seed is not None else int(ctx.generator.integers(2 ** 31))
    rng = np.random.default_rng(seed)
    rows = ctx.data.split("train")
    if spec.max_items is not None and len(rows) > spec.max_items:
        rows = np.sort(rng.choice(rows, spec.max_items, replace=False))
    x, y, bits = training_views(ctx, "seph", branch=Kernel, rows=rows)
    codes, objective = seph_codes(seph_affinity(label_view(ctx, rows, "SePH")), bits, spec.alpha,
                                  spec.iterations, rng)
    agreement = {}
    for m, v in zip(MODALITIES, (x, y)):
        branch = ctx.model.branches[m]
        anchors = rbf_anchors(v, spec.anchors, spec.anchor_choice, seed)
        if spec.width == "mean_distance":
            sigma = float(torch.cdist(torch.as_tensor(v), torch.as_tensor(anchors)).mean())
            branch.width.fill_(1.0 / (2.0 * sigma ** 2))
        with torch.no_grad():
            feats = branch.kernel(torch.as_tensor(v), torch.as_tensor(anchors)).numpy()
        alpha, bias = np.zeros((len(anchors), bits)), np.zeros(bits)
        for b in tqdm(range(bits), desc=f"seph {m} bits", leave=False, disable=None):
            target = codes[:, b]
            if np.all(target == target[0]):  # a constant bit: nothing to regress
                bias[b] = target[0]
                continue
            clf = LogisticRegression(C=spec.c, max_iter=1000).fit(feats, target)
            alpha[:, b], bias[b] = clf.coef_[0], clf.intercept_[0]
        branch.fill(np.zeros(v.shape[1]), anchors, np.zeros(len(anchors)), 0.0, alpha, bias)
        agreement[m] = float((np.where(feats @ alpha + bias >= 0, 1, -1) == codes).mean())
    return {"items": len(rows), "objective": objective, "train_bit_agreement": agreement,
            "val_map": ctx.validate()}
