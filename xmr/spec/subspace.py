"""Phases of the shallow comparison methods (issue 15): closed-form or iterative solvers that fill
two `linear` (or `kernel`) branches from the training split. `cca` itself is in `training`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict

Shrinkage = Field(0.0, ge=0, le=1, description="each view's covariance blended towards the "
                  "identity, (1 - c) C + c I: 0 is the plain method, 1 turns CCA into PLS")


class KCCAPhase(Strict):
    """Kernel CCA (cca-zoo `KCCA`) into two `kernel` branches, whose kernels it uses."""

    type: Literal["kcca"]
    name: str = "kcca"
    shrinkage: float = Field(0.1, ge=0, le=1, description="each view's feature-space covariance "
                             "blended towards the identity; an RBF kernel needs some (unshrunk, "
                             "any two views correlate perfectly)")
    max_items: int | None = Field(None, ge=2, le=100_000, description="fit on this many training "
                                  "items drawn at random (the training seed), as kernel methods "
                                  "on large sets do; default all")


class PLSPhase(Strict):
    """Partial least squares, Wold's iterative mode A with deflation (scikit-learn
    `PLSCanonical`), into two linear branches."""

    type: Literal["pls"]
    name: str = "pls"
    scale: bool = Field(False, description="scale each feature to unit variance first")
    max_iter: int = Field(500, ge=1, le=1_000_000)


class CFAPhase(Strict):
    """Cross-modal factor analysis (Li et al. 2003): orthonormal A, B minimising
    ||X A - Y B||_F, i.e. the SVD of the cross-covariance (cca-zoo `PLS`), into two linear
    branches."""

    type: Literal["cfa"]
    name: str = "cfa"


class ThreeViewCCAPhase(Strict):
    """3V-CCA (Gong et al. 2014): multiset CCA (cca-zoo `MCCA`) of the image, text and label
    views, each projection's column scaled by its eigenvalue to the power `power`."""

    type: Literal["three_view_cca"]
    name: str = "3v-cca"
    shrinkage: float = Shrinkage
    power: float = Field(4.0, ge=0, le=16, description="the eigenvalue exponent p of the "
                         "scaled similarity (Gong et al.: 4)")


class MLCCAPhase(Strict):
    """ml-CCA (Ranjan et al. 2015): CCA whose cross-covariance sums over every image-text pair
    weighted by the cosine similarity of their label vectors, not over the given pairs only."""

    type: Literal["ml_cca"]
    name: str = "ml-cca"
    shrinkage: float = Field(1e-3, ge=0, le=1, description="each view's covariance blended "
                             "towards the identity (scaled to the covariance's mean eigenvalue)")


class SemanticMatchingPhase(Strict):
    """SM / SCM (Rasiwasia et al. 2010): a logistic-regression classifier per modality
    (scikit-learn), whose class posteriors are the common space; `subspace: cca` classifies
    the CCA projections (SCM). Fills linear branches with `output: softmax`."""

    type: Literal["semantic_matching"]
    name: str = "sm"
    subspace: Literal["none", "cca"] = "none"
    components: int = Field(10, ge=1, le=65536, description="CCA components (subspace: cca)")
    pca: int | None = Field(None, ge=1, le=65536, description="subspace: cca: each view reduced "
                            "to this many principal components first, as the `cca` phase's "
                            "`pca`")
    c: float = Field(1.0, gt=0, le=1e6, description="inverse L2 strength of the classifiers "
                     "(scikit-learn's C)")
    standardize: bool = Field(True, description="scale the classified inputs to zero mean and "
                              "unit variance (training statistics) first, so that one C suits "
                              "both modalities")
    max_iter: int = Field(1000, ge=1, le=1_000_000)


class JFSSLPhase(Strict):
    """JFSSL (Wang et al. 2016): each modality projected onto the label space, with l2,1
    feature selection and a multimodal graph over both modalities' items; iteratively
    reweighted closed-form updates."""

    type: Literal["jfssl"]
    name: str = "jfssl"
    lambda1: float = Field(0.1, ge=0, le=1e6, description="weight of the l2,1 norms")
    lambda2: float = Field(0.001, ge=0, le=1e6, description="weight of the graph term")
    neighbours: int = Field(10, ge=1, le=10_000, description="k of the intra-modal kNN graphs")
    iterations: int = Field(20, ge=1, le=10_000)


class JRLPhase(Strict):
    """JRL (Zhai, Peng & Xiao 2014): each modality projected onto the label space, with label
    regression, a pairwise correlation term, per-modality graph regularisation over labelled and
    unlabelled items, and l2,1 sparsity; iteratively reweighted closed-form updates."""

    type: Literal["jrl"]
    name: str = "jrl"
    labels: float = Field(1.0, gt=0, le=1e6, description="mu: weight of the label regression")
    pairs: float = Field(1.0, ge=0, le=1e6, description="lambda: weight of ||X_I P_I - X_T P_T||^2"
                         " over the training pairs")
    graph: float = Field(1000.0, ge=0, le=1e8, description="sigma: weight of the graph terms")
    sparsity: float = Field(1000.0, ge=0, le=1e8, description="gamma: weight of the l2,1 norms")
    neighbours: int = Field(100, ge=1, le=10_000, description="k of each modality's kNN graph")
    unlabeled: Literal["none", "val"] = Field(
        "none", description="items that join the graphs without labels: none, or the validation "
        "split's features (never its labels; the test split is never read)")
    standardize: bool = Field(True, description="z-score each view with training statistics "
                              "(folded into the linear maps)")
    iterations: int = Field(20, ge=1, le=10_000)
    tol: float = Field(1e-4, ge=0, lt=1, description="stop when the objective falls by less than "
                       "this fraction in an iteration")


SUBSPACE_PHASES = (KCCAPhase, PLSPhase, CFAPhase, ThreeViewCCAPhase, MLCCAPhase,
                   SemanticMatchingPhase, JFSSLPhase, JRLPhase)

__all__ = ["CFAPhase", "JFSSLPhase", "JRLPhase", "KCCAPhase", "MLCCAPhase", "PLSPhase",
           "SemanticMatchingPhase", "SUBSPACE_PHASES", "ThreeViewCCAPhase"]
