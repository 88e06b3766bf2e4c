"""Spec parts of the deep real-valued comparison methods (issue 15): autoencoder decoders
(DCCAE, Corr-AE and its Corr-Cross / Corr-Full variants), the linear CCA over trained outputs
(DCCA, DCCAE) with its phase, and their loss terms: the correlation objective of DCCA, the
reconstruction error and Recipe's cosine embedding loss."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Activation, Strict, Width


class DecodersSpec(Strict):
    """Decoders from each modality's representation back to input features: `self` decodes a
    modality's own input (an autoencoder per modality: DCCAE, Corr-AE), `cross` the other
    modality's (Corr-Cross); both is Corr-Full. With `architecture.fusion: sum` (the bimodal
    autoencoder) there is one decoder per target modality, applied to the image-only, text-only
    and joint codes. The `reconstruction` loss term trains them."""

    targets: list[Literal["self", "cross"]] = Field(
        default_factory=lambda: ["self"], min_length=1)
    hidden: list[Width] = Field(default_factory=list, description="decoder hidden sizes")
    activation: Activation = "relu"


class OutputCCASpec(Strict):
    """A linear CCA of the trained branches' outputs (DCCA and DCCAE retrieve in the space that
    the correlation objective makes correlated, but not yet aligned): two linear maps to `out`
    canonical components, filled by the `output_cca` phase; until then outputs pass unchanged."""

    out: Width = Field(10, description="canonical components (at most the branches' outputs)")


class OutputCCAPhase(Strict):
    """Fit `architecture.output_cca` (linear CCA, as the `cca` phase fits it) on the trained
    branches' outputs over the training split. It must be the last phase."""

    type: Literal["output_cca"]
    name: str = "output_cca"
    max_iter: int = Field(500, ge=1, le=1_000_000)
    rank_rtol: float | None = Field(None, ge=0, lt=1, description="as the `cca` phase's")


class CorrelationParams(Strict):
    ridge: float = Field(1e-4, ge=0, le=1e6, description="r added to each view's covariance "
                         "diagonal (Andrew et al.'s r1, r2), so it is invertible for any batch")
    components: int | None = Field(None, ge=1, le=65536, description="the top k canonical "
                                   "correlations summed; null: all of them (the trace norm)")


class CorrelationLoss(Strict):
    """DCCA's objective (Andrew et al. 2013, Eq. 10): minus the total canonical correlation of
    the batch's image and text outputs, the sum of the singular values of
    T = S11^-1/2 S12 S22^-1/2."""

    name: Literal["cca_correlation"]
    weight: float = Field(1.0, ge=0)
    params: CorrelationParams = CorrelationParams()


class ReconstructionParams(Strict):
    scale: Literal["none", "variance"] = Field(
        "none", description="none: the plain squared error; variance: divided by the target's "
        "total variance over the batch (the share of variance left unexplained: predicting the "
        "mean costs 1 per decoder, whatever the features' scale)")


class ReconstructionLoss(Strict):
    """The squared reconstruction error of every decoder of `architecture.decoders`, summed over
    features and decoders, averaged over the batch's items (optionally divided by the target's
    total batch variance: `scale`)."""

    name: Literal["reconstruction"]
    weight: float = Field(1.0, ge=0)
    params: ReconstructionParams = ReconstructionParams()


class CosineEmbeddingParams(Strict):
    margin: float = Field(0.1, ge=-1, le=1, description="a negative pair costs max(0, cos - "
                          "margin) (Recipe: 0.1)")
    negatives: Literal["instance", "irrelevant"] = Field(
        "instance", description="instance: every other item of the batch is a negative (Recipe's "
        "matching pairs); irrelevant: only the pairs the protocol calls not relevant")
    negative_share: float = Field(0.8, gt=0, lt=1, description="the weight of the negative pairs' "
                                  "mean against the positive pairs' (Recipe draws 80% negatives)")


class CosineEmbeddingLoss(Strict):
    """Recipe's cosine embedding loss (Salvador et al. 2017) on (image, text) pairs of the batch:
    1 - cos for an item's own pair, max(0, cos - margin) for a negative pair; the two means
    mixed by `negative_share` (the expectation of Recipe's 20 / 80 sampling)."""

    name: Literal["cosine_embedding"]
    weight: float = Field(1.0, ge=0)
    params: CosineEmbeddingParams = CosineEmbeddingParams()
