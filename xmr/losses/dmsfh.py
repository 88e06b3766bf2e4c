"""dmsfh's loss terms (Section 3.3, Eqs. 3-12), for the alternating `dmsfh` phase.

Each network is trained in its own step (Algorithm 1) with the other modality's outputs, the
stored continuous codes of every training item (F for images, G for texts), and the codes B
held fixed. The terms return the paper's sums; the phase divides the total by N_batch x n (a
rescaling of the learning rate that keeps the terms' ratios, hence Eq. 14's gradient).

- `inter_pair_nll`, L1 (Eq. 3), and `intra_pair_nll`, L2 (Eqs. 5-7): the negative
  log-likelihood of the label similarity S under sigmoid(phi), phi = 1/2 F G^T (inter) or
  1/2 F F^T, 1/2 G G^T (intra), computed with softplus (finite for any phi).
- `label_bce_sum`, L3 (Eqs. 8-10): sigmoid cross-entropy of the label layer, summed.
- `graph_regularization`, L4 (Eq. 11): tr(B^T L B); B only, so it acts in the B update.
- `code_quantization`, L5 (Eq. 12): ||B - F||^2 (image step) or ||B - G||^2 (text step).

The same phase runs the pairwise deep hashing methods dmsfh compares with, through two more terms:

- `bit_balance` (DCMH, Jiang and Li 2017, Eq. 3's eta term; PRDH's balance term):
  ||F^T 1||^2 over all n training items, the batch's rows live and the others stored, so its
  gradient in a batch row is the full objective's, 2 F^T 1.
- `bit_decorrelation` (PRDH, Yang et al. 2017): 1/2 sum_{a != b} C_ab^2, C the covariance of
  the bits over the batch's continuous codes, times the batch size (a sum over items, as the
  other terms are).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss
from .idcmr import pair_nll

OTHER = {"image": "text", "text": "image"}


@dataclass
class AlternatingState:
    """What a network step of the `dmsfh` phase sees besides its batch."""

    modality: str  # the network this step trains
    outputs: dict[str, torch.Tensor]  # modality -> (n, k) stored continuous codes, detached
    similar: torch.Tensor  # (B, n) float: S between the batch and the n training items
    rows: torch.Tensor | None = None  # (B,) the batch's rows among the n training items


def graph_objective(codes: torch.Tensor, similar: torch.Tensor) -> torch.Tensor:
    """tr(B^T L B) with L = D - S, D = diag(row sums of S): (1/2) sum_ij S_ij ||b_i - b_j||^2."""
    b = codes.double()
    s = similar.double()
    return (s.sum(1) * (b * b).sum(1)).sum() - (b * (s @ b)).sum()


class _AlternatingLoss(Loss):
    requires = ()

    def state(self, batch: Batch) -> AlternatingState:
        st = batch.extra.get("alternating")
        if st is None:
            raise ValueError(f"loss {self.name!r} belongs to the alternating `dmsfh` phase (it "
                             "needs the other network's stored outputs)")
        return st

    def trained(self, out, batch: Batch) -> tuple[AlternatingState, torch.Tensor]:
        st = self.state(batch)
        key = f"hash_{st.modality}"
        if key not in out:
            raise ValueError(f"loss {self.name!r} needs {key}: add architecture.hash_head")
        return st, out[key]


@LOSSES.register("inter_pair_nll")
class InterPairNLL(_AlternatingLoss):
    """L1 (Eq. 3) of the batch of the trained modality against the other one's stored codes."""

    name = "inter_pair_nll"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        st, h = self.trained(out, batch)
        return pair_nll(0.5 * h @ st.outputs[OTHER[st.modality]].T, st.similar)


@LOSSES.register("intra_pair_nll")
class IntraPairNLL(_AlternatingLoss):
    """L2^v (Eq. 6) in the image step, L2^t (Eq. 7) in the text step."""

    name = "intra_pair_nll"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        st, h = self.trained(out, batch)
        return pair_nll(0.5 * h @ st.outputs[st.modality].T, st.similar)


@LOSSES.register("label_bce_sum")
class LabelBCESum(_AlternatingLoss):
    """L3 (Eqs. 9-10): sum_ij -L_ij Lhat_ij + log(1 + e^Lhat_ij) of the trained modality."""

    name = "label_bce_sum"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        st = self.state(batch)
        key = f"logits_{st.modality}"
        if key not in out:
            raise ValueError(f"loss {self.name!r} needs a label layer: hash_head.layout 'split' "
                             "or label_head")
        return F.binary_cross_entropy_with_logits(out[key], batch.labels.to(out[key].dtype),
                                                  reduction="sum")


@LOSSES.register("code_quantization")
class CodeQuantization(_AlternatingLoss):
    """L5 (Eq. 12): the trained modality's part, ||B_batch - F_batch||_F^2."""

    name = "code_quantization"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        st, h = self.trained(out, batch)
        if batch.codes is None:
            raise ValueError("loss 'code_quantization' needs the codes B of the `dmsfh` phase")
        return ((batch.codes.to(h.dtype) - h) ** 2).sum()


@LOSSES.register("graph_regularization")
class GraphRegularization(_AlternatingLoss):
    """L4 (Eq. 11). It has no gradient in the networks: the `dmsfh` phase uses its weight in the
    B update (`graph_code_update`) and logs tr(B^T L B); it is never called in a network step."""

    name = "graph_regularization"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        raise ValueError("loss 'graph_regularization' depends on the codes B only: use it in "
                         "the `dmsfh` phase, whose B update applies it")


@LOSSES.register("bit_balance")
class BitBalance(_AlternatingLoss):
    """DCMH's eta ||F 1||^2: the squared sum of the codes over all n training items, with the
    batch's rows from the network (gradient) and the other rows the stored outputs."""

    name = "bit_balance"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        st, h = self.trained(out, batch)
        if st.rows is None:
            raise ValueError("loss 'bit_balance' needs the batch's rows among the training items")
        stored = st.outputs[st.modality]
        total = stored.sum(0) - stored[st.rows].sum(0) + h.sum(0)
        return (total.double() ** 2).sum()


def decorrelation(h: torch.Tensor) -> torch.Tensor:
    """1/2 sum_{a != b} C_ab^2 with C the (k, k) covariance of the rows of ``h`` over items."""
    c = torch.cov(h.double().T, correction=0)
    return 0.5 * ((c ** 2).sum() - (torch.diagonal(c) ** 2).sum())


@LOSSES.register("bit_decorrelation")
class BitDecorrelation(_AlternatingLoss):
    """PRDH's decorrelation of the bits: the batch size times `decorrelation` of its codes."""

    name = "bit_decorrelation"

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        _, h = self.trained(out, batch)
        return len(h) * decorrelation(h)
