"""`cca`: closed-form canonical correlation analysis (scikit-learn) into two linear branches."""

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


def _pca(x: np.ndarray, n: int | None):
    """An affine PCA projection fitted on ``x`` (identity when ``n`` is None or too large)."""
    if n is None or n >= min(x.shape):
        return lambda a: a
    from sklearn.decomposition import PCA

    pca = PCA(n_components=n, svd_solver="full").fit(x)  # exact, so runs are repeatable
    return pca.transform


@PHASES.register("cca")
def cca(ctx: PhaseContext, spec: CCAPhase) -> dict:
    """Fit CCA on the training split and copy its projections into the linear branches."""
    from sklearn.cross_decomposition import CCA

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
    x = data.views["image"].take(idx).double().cpu().numpy()
    y = data.views["text"].take(idx).double().cpu().numpy()
    if k > min(x.shape[1], y.shape[1]):
        raise ValueError(f"phase cca: {k} components but the features have "
                         f"{x.shape[1]} and {y.shape[1]} dimensions")
    px, py = _pca(x, spec.pca), _pca(y, spec.pca)
    xr, yr = px(x), py(y)
    model_cca = CCA(n_components=k, max_iter=spec.max_iter)
    model_cca.fit(xr, yr)
    zeros_x = np.zeros((1, xr.shape[1]))
    wx, bx = affine_from_transform(lambda a: model_cca.transform(px(a)), x.shape[1])
    wy, by = affine_from_transform(
        lambda a: model_cca.transform(np.repeat(zeros_x, len(a), 0), py(a))[1], y.shape[1])
    with torch.no_grad():
        for m, (w, b) in (("image", (wx, bx)), ("text", (wy, by))):
            proj = model.branches[m].proj
            proj.weight.copy_(torch.as_tensor(w, dtype=proj.weight.dtype))
            proj.bias.copy_(torch.as_tensor(b, dtype=proj.bias.dtype))
    corr = [float(np.corrcoef(a, b)[0, 1]) for a, b in zip(*(s.T for s in model_cca.transform(xr, yr)))]
    return {"train_canonical_correlations": corr, "val_map": ctx.validate()}
