"""Spec parts of the hashing comparison methods (issue 15): the loss terms DCMH and PRDH add to
the alternating `dmsfh` phase, CHN's and CMHH's terms for a `gradient` phase, and the closed-form
shallow hashing phases (SCM, SePH)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import NoParams, Seed, Strict


class BitBalanceLoss(Strict):
    """DCMH's eta ||F 1||^2 + ||G 1||^2 (also PRDH's balance term), each network's part in its
    own step of the `dmsfh` phase: every bit +1 on about half of the training items."""

    name: Literal["bit_balance"]
    weight: float = Field(1.0, ge=0)
    params: NoParams = NoParams()


class BitDecorrelationLoss(Strict):
    """PRDH's decorrelation: 1/2 the sum of the squared off-diagonal covariances between bits,
    over the batch's continuous codes (`dmsfh` phase)."""

    name: Literal["bit_decorrelation"]
    weight: float = Field(1.0, ge=0)
    params: NoParams = NoParams()


class CosineQuantizationParams(Strict):
    margin: float = Field(0.9, ge=0, le=1, description="cos(|h|, 1) below it is penalised")


class CosineQuantizationLoss(Strict):
    """CHN's quantisation max-margin loss: max(0, margin - cos(|h|, 1)) per item and modality."""

    name: Literal["cosine_quantization"]
    weight: float = Field(1.0, ge=0)
    params: CosineQuantizationParams = CosineQuantizationParams()


class FocalHammingParams(Strict):
    beta: float = Field(0.5, gt=0, le=100, description="the exponential distribution's rate: a "
                        "similar pair d bits apart has likelihood exp(-beta d)")
    focal: float = Field(2.0, ge=0, le=10, description="the focal exponent (0: cross-entropy)")
    balance: bool = Field(True, description="weight similar and dissimilar pairs by their "
                          "inverse frequency in the batch")


class FocalHammingLoss(Strict):
    """CMHH's exponential focal loss on the batch's image-text pairs, over the relaxed Hamming
    distance k/2 (1 - cos)."""

    name: Literal["focal_hamming"]
    weight: float = Field(1.0, ge=0)
    params: FocalHammingParams = FocalHammingParams()


class HammingQuantizationLoss(Strict):
    """CMHH's quantisation loss: log(1 + d(|h|, 1)) per item and modality."""

    name: Literal["hamming_quantization"]
    weight: float = Field(1.0, ge=0)
    params: NoParams = NoParams()


class SCMHashPhase(Strict):
    """SCM (Zhang and Li 2014), semantic correlation maximisation: linear hash functions
    sign((x - mean) w) whose code inner products approach the scaled label similarity
    S~ = 2 cos(l_i, l_j) - 1, without forming the n x n S~. Fills two `linear` branches (out =
    bits) under hash_head.layout `identity`, activation `none`."""

    type: Literal["scm_hash"]
    name: str = "scm"
    variant: Literal["seq", "orth"] = Field(
        "seq", description="seq: one bit at a time against the residual of the codes so far "
        "(SCM-Seq); orth: all bits from one eigenproblem (SCM-Orth: at most rank(S~) <= classes "
        "+ 1 bits carry label information)")
    ridge: float = Field(1e-4, ge=0, le=1e6, description="added to each view's covariance, "
                         "relative to its mean eigenvalue (SCM's regulariser)")


class SePHPhase(Strict):
    """SePH (Lin et al. 2015), semantics-preserving hashing: training codes H minimising
    KL(P || Q) + alpha ||H - sign(H)||^2 / (n k), P the label-cosine affinities normalised to
    a distribution, Q the Student-t of the relaxed Hamming distances; then, per modality and
    bit, a logistic regression on RBF kernel features to anchors. Fills two `kernel` branches
    with `centre: false`."""

    type: Literal["seph"]
    name: str = "seph"
    alpha: float = Field(0.01, ge=0, le=1e6, description="weight of the quantisation term")
    anchors: int = Field(500, ge=2, le=100_000, description="kernel anchors per modality")
    anchor_choice: Literal["kmeans", "random"] = Field(
        "kmeans", description="SePH_km (k-means centres, scikit-learn) or SePH_rnd (training "
        "items drawn at random)")
    max_items: int | None = Field(None, ge=2, le=100_000, description="learn the codes of this "
                                  "many training items drawn at random (P and Q are n x n); "
                                  "default all")
    iterations: int = Field(300, ge=1, le=100_000, description="L-BFGS iterations on H")
    c: float = Field(1.0, gt=0, le=1e6, description="inverse L2 strength of the logistic "
                     "regressions (scikit-learn's C)")
    width: Literal["mean_distance", "branch"] = Field(
        "mean_distance", description="the RBF width: mean_distance sets each branch's gamma to "
        "1 / (2 sigma^2), sigma the mean distance of the training items to the anchors (SePH's "
        "choice); branch keeps the branch's `gamma`")
    seed: Seed | None = Field(None, description="H's random start and the anchors; default the "
                              "training seed")
