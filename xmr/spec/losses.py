"""The loss terms of a spec, a discriminated union on `name`."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .common import Modality, NoParams, Strict
from .deep import CorrelationLoss, CosineEmbeddingLoss, ReconstructionLoss
from .hashing import (BitBalanceLoss, BitDecorrelationLoss, CosineQuantizationLoss,
                      FocalHammingLoss, HammingQuantizationLoss)


class TripletParams(Strict):
    margin: float = Field(0.2, ge=0)
    distance: Literal["cosine", "squared_euclidean"] = "cosine"
    mining: Literal["all", "hardest"] = Field(
        "all", description="all: mean over every valid triplet; hardest: hardest negative per pair"
    )
    directions: list[Literal["i2t", "t2i"]] = Field(default_factory=lambda: ["i2t", "t2i"])
    source: Literal["embedding", "hash"] = Field(
        "embedding", description="hash: the continuous codes of architecture.hash_head (CHN)")


class TripletLoss(Strict):
    """Cross-modal triplet hinge loss; relevance = same category / shared label."""

    name: Literal["triplet"]
    weight: float = Field(1.0, ge=0)
    params: TripletParams = TripletParams()


class LabelCEParams(Strict):
    modalities: list[Modality] = Field(default_factory=lambda: ["image", "text"])
    source: Literal["head", "embedding"] = Field(
        "head", description="head: the label head's logits; embedding: the representation itself "
        "is the class posterior (a branch with `output: softmax`, DeepSM)")


class LabelCELoss(Strict):
    """Label prediction from each modality's embedding (softmax CE, or BCE when multi-label)."""

    name: Literal["label_ce"]
    weight: float = Field(1.0, ge=0)
    params: LabelCEParams = LabelCEParams()


class QuantizationLoss(Strict):
    """||B - H||^2 between binary codes B and continuous hash outputs H (hashing methods)."""

    name: Literal["quantization"]
    weight: float = Field(1.0, ge=0)
    params: NoParams = NoParams()


class PairCEParams(Strict):
    negatives: int = Field(3, ge=1, le=1000, description="unrelated pairs drawn per related pair")


class PairCELoss(Strict):
    """Softmax cross-entropy of the metric network on related / unrelated pairs."""

    name: Literal["pair_ce"]
    weight: float = Field(1.0, ge=0)
    params: PairCEParams = PairCEParams()


class MultiMarginTripletParams(Strict):
    margins: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: [0.5, 1.0, 1.5],
        description="the margin-set alpha_1 < ... < alpha_w (mgmm Definition 1); one value = the "
        "ordinary single-margin triplet loss")
    edges: list[float] | None = Field(
        None, description="interval edges e_1 < ... < e_{w-1} in (0, 1) of the min-max normalised "
        "squared distance (Eq. 15); default: equal widths k / w (the paper does not give them)")
    directions: list[Literal["i2t", "t2i"]] = Field(default_factory=lambda: ["i2t", "t2i"])

    @model_validator(mode="after")
    def _ascending(self) -> "MultiMarginTripletParams":
        m = self.margins
        if not m or any(b <= a for a, b in zip(m, m[1:])):
            raise ValueError(f"margins must be a non-empty, strictly ascending margin-set, got {m}")
        if self.edges is not None:
            e = self.edges
            if len(e) != len(m) - 1:
                raise ValueError(f"{len(m)} margins need {len(m) - 1} edges, got {len(e)}")
            if any(not 0 < v < 1 for v in e) or any(b <= a for a, b in zip(e, e[1:])):
                raise ValueError(f"edges must ascend strictly inside (0, 1), got {e}")
        return self


class MultiMarginTripletLoss(Strict):
    """mgmm's multi-margin triplet loss (Eqs. 14-18): squared Euclidean distances, each
    (anchor, negative) pair's margin picked by its batch-normalised distance."""

    name: Literal["multi_margin_triplet"]
    weight: float = Field(1.0, ge=0)
    params: MultiMarginTripletParams = MultiMarginTripletParams()


class MultiScaleMetricParams(Strict):
    alpha: float = Field(0.4, ge=0, le=1, description="weight of the similarity term; the "
                         "dissimilarity (slack) term gets beta = 1 - alpha (Eqs. 7-10)")
    c: float = Field(1.0, gt=0, description="squared distance dissimilar pairs are pushed beyond")
    lambda_inter: float = Field(0.6, ge=0, le=1, description="lambda_1: image-text pairs (L_IT)")
    lambda_image: float = Field(0.2, ge=0, le=1, description="lambda_2: image-image pairs (L_I)")
    lambda_text: float = Field(0.2, ge=0, le=1, description="lambda_3: text-text pairs (L_T)")
    similarity: Literal["multiscale", "binary", "instance"] = Field(
        "multiscale", description="multiscale: cosine of label vectors (Eqs. 3-5); binary: 1 "
        "when a label is shared (MS-DMML-bin on multi-label data); instance: 1 only for an item's "
        "own pair (MS-DMML-bin on single-label data)")
    reduction: Literal["sum", "mean"] = Field(
        "sum", description="sum over the batch's pairs, as Eqs. 8-10 write it, or their mean")

    @model_validator(mode="after")
    def _lambdas_sum_to_one(self) -> "MultiScaleMetricParams":
        total = self.lambda_inter + self.lambda_image + self.lambda_text
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"lambda_inter + lambda_image + lambda_text must be 1 (Eq. 11), got "
                             f"{self.lambda_inter} + {self.lambda_image} + {self.lambda_text} = "
                             f"{total:g}")
        return self


class MultiScaleMetricLoss(Strict):
    """msdmml's multi-scale metric loss (Eqs. 3-11): inter- and intra-modal pairs, pulled
    together by label-vector similarity, dissimilar pairs pushed beyond c with a slack."""

    name: Literal["multiscale_metric"]
    weight: float = Field(1.0, ge=0)
    params: MultiScaleMetricParams = MultiScaleMetricParams()


class ContrastiveParams(Strict):
    margin: float = Field(1.0, gt=0, description="lambda of Eq. 1: the distance pairs of "
                          "different classes are pushed beyond")


class ContrastiveLoss(Strict):
    """uncsm's contrastive loss (Eq. 1) on every (image, text) pair of the batch: squared
    Euclidean distance for pairs of one class, max(0, lambda - distance)^2 for the others."""

    name: Literal["contrastive"]
    weight: float = Field(1.0, ge=0)
    params: ContrastiveParams = ContrastiveParams()


class DoubleTripletParams(Strict):
    alpha: float = Field(1.0, ge=0, description="margin of S_i (Eq. 2), image anchors")
    beta: float = Field(1.0, ge=0, description="margin of S_t (Eq. 3), text anchors")
    sampling: Literal["all", "random"] = Field(
        "all", description="online triplets of the batch: all: every (anchor, positive, "
        "negative) of the other modality; random: `per_anchor` drawn per anchor")
    per_anchor: int = Field(1, ge=1, le=100_000, description="sampling random: triplets per anchor")


class DoubleTripletLoss(Strict):
    """uncsm's double triplet similarity loss (Eqs. 2-3): (I+, T+, T-) and (T+, I+, I-)
    triplets formed online from the batch, each loss through its own fully connected branch
    (`architecture.triplet_branches`); the sum of the two means."""

    name: Literal["double_triplet"]
    weight: float = Field(1.0, ge=0)
    params: DoubleTripletParams = DoubleTripletParams()


class LabelRegressionParams(Strict):
    classifier: Literal["learned", "closed_form"] = Field(
        "closed_form", description="learned: the label head (architecture.label_head, set "
        "label_bias: false for the paper's C) trained by the gradient; closed_form: C refitted "
        "on every batch by ridge least squares (Algorithm 1, step 7; docs/idcmr.md)")
    ridge: float = Field(1.0, gt=0, le=1e6, description="closed_form: the ridge term that makes "
                         "step 7 well posed")
    squared: bool = Field(False, description="squared Frobenius norms (Eq. 18 prints plain ones)")


class LabelRegressionLoss(Strict):
    """idcmr's J1 (Eq. 18): a linear classifier C on the common space against the label matrix,
    (1/n) (||U C - Z||_F + ||V C - Z||_F)."""

    name: Literal["label_regression"]
    weight: float = Field(1.0, ge=0)
    params: LabelRegressionParams = LabelRegressionParams()


class PairwiseLikelihoodParams(Strict):
    intra: bool = Field(True, description="also the intra-modal image-image and text-text terms "
                        "(the second and third parts of Eq. 19)")
    reduction: Literal["n", "pairs"] = Field(
        "n", description="n: each sum over the batch's n x n pairs divided by n, as Eq. 19 "
        "prints it (it grows with the batch); pairs: divided by n^2, the mean per pair")
    similarity: Literal["dot", "half_cosine"] = Field(
        "dot", description="the pair score: dot: u . v (idcmr's theta); half_cosine: cos(u, v) / 2 "
        "(DSCMR's Gamma)")


class PairwiseLikelihoodLoss(Strict):
    """idcmr's J2 (Eqs. 19-22): the negative log-likelihood of the batch's pairwise similarity
    under sigmoid(u_i . v_j), inter-modal and intra-modal, each divided by n; stable softplus."""

    name: Literal["pairwise_likelihood"]
    weight: float = Field(1.0, ge=0)
    params: PairwiseLikelihoodParams = PairwiseLikelihoodParams()


class ModalityInvarianceParams(Strict):
    squared: bool = Field(False, description="the squared Frobenius norm (Eq. 23 prints the plain "
                          "one)")


class ModalityInvarianceLoss(Strict):
    """idcmr's J3 (Eq. 23): (1/n) ||U - V||_F between the paired image and text representations."""

    name: Literal["modality_invariance"]
    weight: float = Field(1.0, ge=0)
    params: ModalityInvarianceParams = ModalityInvarianceParams()


class _AlternatingTerm(Strict):
    weight: float = Field(1.0, ge=0)
    params: NoParams = NoParams()


class InterPairNLLLoss(_AlternatingTerm):
    """dmsfh L1 (Eq. 3): -sum_ij [S_ij phi_ij - log(1 + e^phi_ij)], phi = F G^T / 2, between the
    trained modality's batch and the other modality's stored outputs (`dmsfh` phase)."""

    name: Literal["inter_pair_nll"]


class IntraPairNLLLoss(_AlternatingTerm):
    """dmsfh L2 (Eqs. 5-7): the same likelihood within the trained modality, phi = F F^T / 2
    (images) or G G^T / 2 (texts), against its own stored outputs (`dmsfh` phase)."""

    name: Literal["intra_pair_nll"]


class LabelBCESumLoss(_AlternatingTerm):
    """dmsfh L3 (Eqs. 8-10): sigmoid cross-entropy of the modality's label layer against the
    multi-hot labels, summed over items and labels (`dmsfh` phase)."""

    name: Literal["label_bce_sum"]


class GraphRegularizationLoss(_AlternatingTerm):
    """dmsfh L4 (Eq. 11): tr(B^T L B), L the Laplacian of the training items' label-similarity
    graph. It depends on the codes B only: its weight (gamma) enters the B update."""

    name: Literal["graph_regularization"]


class CodeQuantizationLoss(_AlternatingTerm):
    """dmsfh L5 (Eq. 12): ||B - F||_F^2 + ||B - G||_F^2, each network's part in its own step
    (`dmsfh` phase); its weight (beta) also enters the B update."""

    name: Literal["code_quantization"]


LossTerm = Annotated[
    Union[TripletLoss, LabelCELoss, QuantizationLoss, PairCELoss, MultiMarginTripletLoss,
          MultiScaleMetricLoss, ContrastiveLoss, DoubleTripletLoss, LabelRegressionLoss,
          PairwiseLikelihoodLoss, ModalityInvarianceLoss, InterPairNLLLoss, IntraPairNLLLoss,
          LabelBCESumLoss, GraphRegularizationLoss, CodeQuantizationLoss, CorrelationLoss,
          ReconstructionLoss, CosineEmbeddingLoss, BitBalanceLoss, BitDecorrelationLoss,
          CosineQuantizationLoss, FocalHammingLoss, HammingQuantizationLoss],
    Field(discriminator="name"),
]
