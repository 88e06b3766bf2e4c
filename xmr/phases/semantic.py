"""`semantic_matching`: SM and SCM (Rasiwasia et al. 2010), class posteriors as the common space.

Each modality gets its own multinomial logistic regression (scikit-learn) on the training split.
SM classifies the features; SCM (`subspace: cca`) classifies their CCA projections. Both maps are
affine up to the softmax (CCA's projection composed with the classifier's logits), so they are
written into a `linear` branch with `output: softmax`, whose out is the number of classes.
Retrieval compares posterior vectors with the protocol's distance (cosine: Rasiwasia et al.'s
normalised correlation, their best).
"""

from __future__ import annotations

import numpy as np

from ..spec.models import SemanticMatchingPhase
from .base import PHASES, PhaseContext
from .cca import fit_cca
from .subspace import fill_affine, training_views


def fit_posteriors(z: np.ndarray, category: np.ndarray, n_classes: int, c: float,
                   max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """(W, b) of a multinomial logistic regression of ``category`` on ``z``, over all
    ``n_classes`` (a class absent from training gets weight 0 and bias -inf's stand-in)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=max_iter).fit(z, category)
    w = np.zeros((z.shape[1], n_classes))
    b = np.full(n_classes, -1e9)
    if len(clf.classes_) == 2:  # scikit-learn keeps one logit for two classes
        w[:, clf.classes_[1]], b[clf.classes_[1]] = clf.coef_[0], clf.intercept_[0]
        b[clf.classes_[0]] = 0.0
    else:
        w[:, clf.classes_], b[clf.classes_] = clf.coef_.T, clf.intercept_
    return w, b


@PHASES.register("semantic_matching")
def semantic_matching(ctx: PhaseContext, spec: SemanticMatchingPhase) -> dict:
    """A classifier per modality; its posteriors (softmax of the logits) are the common space."""
    data = ctx.data
    if data.relevance != "category":
        raise NotImplementedError("semantic_matching is implemented for single-label datasets "
                                  "(relevance 'category'); multi-label posteriors are not")
    for m in ("image", "text"):
        if not getattr(ctx.model.branches[m], "softmax", False):
            raise ValueError(f"phase semantic_matching: architecture.{m} needs `output: "
                             "softmax` (the posteriors are the common space)")
    rows = data.split("train")
    x, y, k = training_views(ctx, "semantic_matching", rows=rows)
    if k != data.n_classes:
        raise ValueError(f"phase semantic_matching: image.out and text.out must be the number "
                         f"of classes, {data.n_classes}, not {k}")
    category = data.category.cpu().numpy()[rows]
    maps = {"image": (np.eye(x.shape[1]), np.zeros(x.shape[1])),
            "text": (np.eye(y.shape[1]), np.zeros(y.shape[1]))}
    report: dict = {}
    if spec.subspace == "cca":
        (wx, bx), (wy, by), report = fit_cca(x, y, spec.components, spec.pca)
        maps = {"image": (wx.T, bx), "text": (wy.T, by)}
    accuracy = {}
    for m, v in (("image", x), ("text", y)):
        a, a0 = maps[m]  # the features' map into the classified space: v @ a + a0
        if spec.standardize:  # composed into the map: (v @ a + a0 - mu) / sd
            z = v @ a + a0
            mu, sd = z.mean(0), z.std(0)
            sd[sd == 0] = 1.0
            a, a0 = a / sd, (a0 - mu) / sd
        w, b = fit_posteriors(v @ a + a0, category, data.n_classes, spec.c, spec.max_iter)
        fill_affine(ctx, m, a @ w, a0 @ w + b)
        accuracy[m] = float(np.mean(np.argmax(v @ a @ w + a0 @ w + b, 1) == category))
    return {**report, "train_accuracy": accuracy, "val_map": ctx.validate()}
