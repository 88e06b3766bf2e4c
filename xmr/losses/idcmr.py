"""idcmr's loss terms (Bhatt & Ganatra 2021, Eqs. 18-24), on the batch's common representations
U (images) and V (texts), rows = items (the paper writes them as columns).

- `label_regression`, J1 (Eq. 18): (1/n) (||U C - Z||_F + ||V C - Z||_F) for a linear classifier
  C against the label matrix Z, C either the model's label head (learned by the gradient) or
  refitted in closed form on every batch (Algorithm 1, step 7; `closed_form_classifier`).
- `pairwise_likelihood`, J2 (Eqs. 19-22): the negative log-likelihood of the pairwise
  similarities S under P(S_ij = 1) = sigmoid(theta_ij), for the inter-modal theta = U V^T and
  the intra-modal phi = U U^T and psi = V V^T.
- `modality_invariance`, J3 (Eq. 23): (1/n) ||U - V||_F.

DSCMR (Zhen et al. 2019) uses the same three terms with the pair score Gamma = cos(u, v) / 2
(`similarity: half_cosine`) and the mean over pairs (`reduction: pairs`).

J = J1 + lambda J2 + eta J3 (Eq. 24) is the spec's weighted sum of the three terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


def closed_form_classifier(u: torch.Tensor, v: torch.Tensor, z: torch.Tensor,
                           ridge: float) -> torch.Tensor:
    """The C (d x c) minimising ||U C - Z||_F^2 + ||V C - Z||_F^2 + ridge ||C||_F^2.

    Algorithm 1, step 7 prints C = (U U^T)^-1 U^T S + (V V^T)^-1 V^T S, whose shapes do not
    compose (and a sum of two separate fits minimises nothing). Eq. 18 with squared norms plus a
    ridge term is well posed for any batch: its gradient in C,
    2 U^T (U C - Z) + 2 V^T (V C - Z) + 2 ridge C, vanishes at
    (U^T U + V^T V + ridge I) C = U^T Z + V^T Z, a symmetric positive definite system for
    ridge > 0. Solved in float64 on detached inputs: C is a fitted constant for the step."""
    u, v, z = u.detach().double(), v.detach().double(), z.detach().double()
    gram = u.T @ u + v.T @ v + ridge * torch.eye(u.shape[1], dtype=u.dtype, device=u.device)
    return torch.linalg.solve(gram, u.T @ z + v.T @ z)


def _norm(x: torch.Tensor, squared: bool) -> torch.Tensor:
    return x.pow(2).sum() if squared else torch.linalg.matrix_norm(x)


@LOSSES.register("label_regression")
class LabelRegressionLoss(Loss):
    """J1 (Eq. 18): the labels Z predicted linearly from each modality's representation."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        if batch.relevance == "instance":
            raise ValueError("loss 'label_regression' (idcmr J1) needs labels; this protocol's "
                             "relevance is 'instance' (a dataset without classes)")
        u, v, z = out["image"], out["text"], batch.labels.to(out["image"].dtype)
        p = self.params
        if p.classifier == "closed_form":
            c = closed_form_classifier(u, v, z, p.ridge).to(u.dtype)
            pred_u, pred_v = u @ c, v @ c
        else:
            if "logits_image" not in out:
                raise ValueError("loss 'label_regression' with classifier 'learned' needs "
                                 "architecture.label_head (the classifier C)")
            pred_u, pred_v = out["logits_image"], out["logits_text"]
        return (_norm(pred_u - z, p.squared) + _norm(pred_v - z, p.squared)) / len(u)


def pair_nll(score: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    """-sum_ij [S_ij s_ij - log(1 + e^{s_ij})], the negative log-likelihood of S under
    P(S_ij = 1) = sigmoid(s_ij) (Eqs. 20-22). The paper prints log(1 + s); the likelihood of
    Eq. 20 gives log(1 + e^s), computed as softplus (exact and finite for any s)."""
    return (F.softplus(score) - similar * score).sum()


@LOSSES.register("pairwise_likelihood")
class PairwiseLikelihoodLoss(Loss):
    """J2 (Eq. 19): inter-modal theta = U V^T, and with `intra` the image phi = U U^T and text
    psi = V V^T terms, each (1/n) times its negative log-likelihood (or 1/n^2: `reduction`)."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        u, v = out["image"], out["text"]
        if self.params.similarity == "half_cosine":  # DSCMR's Gamma = cos / 2
            u, v = F.normalize(u, dim=-1) / 2 ** 0.5, F.normalize(v, dim=-1) / 2 ** 0.5
        s = batch.relevant().to(u.dtype)
        total = pair_nll(u @ v.T, s)
        if self.params.intra:
            total = total + pair_nll(u @ u.T, s) + pair_nll(v @ v.T, s)
        return total / (len(u) if self.params.reduction == "n" else len(u) ** 2)


@LOSSES.register("modality_invariance")
class ModalityInvarianceLoss(Loss):
    """J3 (Eq. 23): (1/n) ||U - V||_F between the two modalities' representations of the same
    items."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        return _norm(out["image"] - out["text"], self.params.squared) / len(out["image"])
