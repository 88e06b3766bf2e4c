"""The Multimodal DBN (Srivastava & Salakhutdinov 2012): a DBN per modality (`dbn` branches)
and a joint RBM over both DBNs' top layers (`JointTop`, `architecture.joint_rbm`). The
`multimodal_dbn` phase (xmr/phases/mdbn.py) trains them by CD-k.

A modality alone is represented by the joint hidden layer with the missing modality's top layer
filled in by mean-field inference: starting from its training mean, alternate
j = sigmoid(W_m' h_m + W_o' h_o + c) and h_o = sigmoid(W_o j + b_o)."""

from __future__ import annotations

import torch
from torch import nn

from ..spec.models import DBNBranch as DBNSpec
from ..spec.models import JointRBMSpec
from . import BRANCHES, Branch
from .mgmm import DBN
from .rbm import RBM

MODALITIES = ("image", "text")


@BRANCHES.register("dbn")
class DBNStack(Branch):
    """A modality's DBN; the output is its top layer's probabilities (mean-field up-pass)."""

    def __init__(self, spec: DBNSpec, in_dim: int):
        super().__init__()
        self.dbn = DBN(in_dim, [*spec.hidden, spec.out], spec.visible)
        self.out_dim, self.normalize = spec.out, False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dbn.probs(x)


class JointTop(nn.Module):
    """The joint RBM over [h_image; h_text] (Bernoulli units), with the training means of both
    top layers (the mean-field starting point) and the training statistics that standardise the
    representation (after CD the joint probabilities vary little around their mean)."""

    def __init__(self, spec: JointRBMSpec, dims: dict[str, int]):
        super().__init__()
        self.dims, self.steps = dims, spec.mean_field
        self.rbm = RBM(dims["image"] + dims["text"], spec.hidden, "bernoulli")
        for m, d in dims.items():
            self.register_buffer(f"prior_{m}", torch.full((d,), 0.5))
        self.standardize = spec.standardize
        for m in MODALITIES:  # equal for both modalities unless standardize is `modality`
            self.register_buffer(f"mean_{m}", torch.zeros(spec.hidden))
            self.register_buffer(f"std_{m}", torch.ones(spec.hidden))
        self.out_dim = spec.hidden

    def _slice(self, modality: str) -> slice:
        start = 0 if modality == "image" else self.dims["image"]
        return slice(start, start + self.dims[modality])

    def joint_probs(self, h: dict[str, torch.Tensor]) -> torch.Tensor:
        """The joint hidden probabilities given both top layers."""
        return self.rbm.hidden_probs(torch.cat([h["image"], h["text"]], dim=1))

    def infer(self, modality: str, h: torch.Tensor) -> torch.Tensor:
        """The joint hidden probabilities of ``modality``'s top layer ``h`` alone, after
        `steps` mean-field updates of the other modality's top layer."""
        other = "text" if modality == "image" else "image"
        sl = self._slice(other)
        h_other = getattr(self, f"prior_{other}").expand(len(h), -1)
        j = self.joint_probs({modality: h, other: h_other})
        for _ in range(self.steps):
            h_other = torch.sigmoid(j @ self.rbm.W[sl].T + self.rbm.b_v[sl])
            j = self.joint_probs({modality: h, other: h_other})
        return j

    def forward(self, modality: str, h: torch.Tensor) -> torch.Tensor:
        mean, std = getattr(self, f"mean_{modality}"), getattr(self, f"std_{modality}")
        return (self.infer(modality, h) - mean) / std

    @torch.no_grad()
    def pretrain(self, h: dict[str, torch.Tensor], epochs: int, k: int, lr: float,
                 batch_size: int, rng) -> dict:
        """CD-k on the training pairs' top layers; then the priors and the standardisation
        from the training items' single-modality representations."""
        errors = self.rbm.fit(torch.cat([h["image"], h["text"]], dim=1), epochs, k, lr,
                              batch_size, rng)
        for m in MODALITIES:
            getattr(self, f"prior_{m}").copy_(h[m].mean(0))
        j = {m: self.infer(m, h[m]) for m in MODALITIES}
        for m in MODALITIES if self.standardize != "none" else ():
            ref = j[m] if self.standardize == "modality" else torch.cat(list(j.values()))
            getattr(self, f"mean_{m}").copy_(ref.mean(0))
            getattr(self, f"std_{m}").copy_(ref.std(0).clamp(min=1e-6))
        return errors
