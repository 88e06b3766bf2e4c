"""Loss terms of the deep hashing comparison methods trained by a `gradient` phase on the
continuous codes H (`hash_image`, `hash_text`; tanh outputs of an `identity` hash layout).

- `cosine_quantization` (CHN, Cao et al. 2016): the quantisation max-margin loss,
  mean_i max(0, margin - cos(|h_i|, 1)), which pulls every |h_ib| towards one common value.
  CHN's cosine max-margin similarity loss is the `triplet` term with `source: hash`.
- `focal_hamming` (CMHH, Cao et al. 2018): the exponential focal loss over the batch's
  image-text pairs. d_ij = k/2 (1 - cos(h_i, h_j)) relaxes the Hamming distance; a similar pair
  has likelihood p_ij = exp(-beta d_ij), a dissimilar one 1 - p_ij, so a similar pair farther
  than about 1 / beta bits is penalised steeply. Each pair costs
  w_ij [s_ij (1 - p_ij)^g (-log p_ij) + (1 - s_ij) p_ij^g (-log(1 - p_ij))], with g the focal
  exponent and w the class-balance weights (|S| / |S_1| for similar pairs, |S| / |S_0| for the
  others); the mean over pairs.
- `hamming_quantization` (CMHH): mean_i log(1 + d(|h_i|, 1)), d the same relaxed distance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import LOSSES, Batch, Loss


def relaxed_hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, m) k/2 (1 - cos(a_i, b_j)): the Hamming distance when rows are in {-1, +1}^k."""
    return 0.5 * a.shape[1] * (1.0 - F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T)


def _codes(out, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    missing = [k for k in ("hash_image", "hash_text") if k not in out]
    if missing:
        raise ValueError(f"loss {name!r} needs the continuous codes {missing}: add "
                         "architecture.hash_head")
    return out["hash_image"], out["hash_text"]


def _per_item_mean(out, name: str, cost) -> torch.Tensor:
    """The sum over both modalities of the mean over items of ``cost(h)`` ((B, k) -> (B,))."""
    return sum(cost(h).mean() for h in _codes(out, name))


@LOSSES.register("cosine_quantization")
class CosineQuantization(Loss):
    """CHN's quantisation loss over both modalities' codes (module docstring)."""

    requires = ()

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        margin = self.params.margin
        return _per_item_mean(out, "cosine_quantization", lambda h: (
            margin - F.cosine_similarity(h.abs(), torch.ones_like(h), dim=1)).clamp(min=0))


def focal_terms(d: torch.Tensor, similar: torch.Tensor, beta: float, focal: float,
                balance: bool) -> torch.Tensor:
    """The (n, m) per-pair costs of `focal_hamming` for relaxed distances ``d`` (module
    docstring); float64."""
    d = d.double().clamp(min=1e-12)
    log_p = -beta * d
    p = torch.exp(log_p)
    log_q = torch.log(-torch.expm1(log_p))  # log(1 - p), finite for d > 0
    s = similar.double()
    cost = s * (1 - p) ** focal * -log_p + (1 - s) * p ** focal * -log_q
    if balance:
        n1, n = s.sum(), s.numel()
        w = torch.where(similar, n / n1.clamp(min=1), n / (n - n1).clamp(min=1))
        cost = cost * w
    return cost


@LOSSES.register("focal_hamming")
class FocalHamming(Loss):
    """CMHH's exponential focal loss over the batch's image-text pairs (module docstring)."""

    requires = ()

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        hi, ht = _codes(out, "focal_hamming")
        p = self.params
        cost = focal_terms(relaxed_hamming(hi, ht), batch.relevant(), p.beta, p.focal, p.balance)
        return cost.mean().to(hi.dtype)


@LOSSES.register("hamming_quantization")
class HammingQuantization(Loss):
    """CMHH's quantisation loss, mean_i log(1 + d(|h_i|, 1)), over both modalities."""

    requires = ()

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        return _per_item_mean(out, "hamming_quantization", lambda h: torch.log1p(
            relaxed_hamming(h.abs(), torch.ones_like(h[:1])).squeeze(1)))
