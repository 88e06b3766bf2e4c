"""`kernel`: a kernel method's projection of one modality (filled by the `kcca` or `seph` phase).

An item x is mapped to ``k_c(x) @ alpha``: its kernel values against the (centred) training
items, centred in feature space as scikit-learn's `KernelCenterer` centres them, times the dual
coefficients alpha. With `centre: false` (seph) it is ``k(x) @ alpha + bias``: the raw kernel
values against anchors, as a linear model on kernel features reads them. The anchors and
coefficients are buffers whose size is only known once the phase has run, so a stored model's
sizes are taken from its state dict when it is loaded.
"""

from __future__ import annotations

import torch

from ..spec.models import KernelBranch
from . import BRANCHES, Branch

_FITTED = ("mean", "anchors", "anchor_means", "anchor_total", "alpha")


@BRANCHES.register("kernel")
class Kernel(Branch):
    """Kernel values against the training items, centred in feature space, times dual weights."""

    def __init__(self, spec: KernelBranch, in_dim: int):
        super().__init__()
        self.kind, self.degree, self.coef0 = spec.kernel, spec.degree, spec.coef0
        self.out_dim, self.normalize, self.centre = spec.out, spec.normalize, spec.centre
        f64 = torch.float64
        self.register_buffer("mean", torch.zeros(in_dim, dtype=f64))
        self.register_buffer("anchors", torch.zeros(0, in_dim, dtype=f64))
        self.register_buffer("anchor_means", torch.zeros(0, dtype=f64))
        self.register_buffer("anchor_total", torch.zeros((), dtype=f64))
        self.register_buffer("alpha", torch.zeros(0, spec.out, dtype=f64))
        self.register_buffer("bias", torch.zeros(spec.out, dtype=f64))
        gamma = spec.gamma if spec.gamma is not None else 1.0 / in_dim
        self.register_buffer("width", torch.tensor(gamma, dtype=f64))  # the rbf / poly gamma

    def fill(self, mean, anchors, anchor_means, anchor_total, alpha, bias=None) -> None:
        """Set the fitted state (any array-likes; stored in float64)."""
        bias = torch.zeros(self.out_dim) if bias is None else bias
        for name, value in zip(_FITTED + ("bias",),
                               (mean, anchors, anchor_means, anchor_total, alpha, bias)):
            setattr(self, name, torch.as_tensor(value, dtype=torch.float64,
                                                device=self.mean.device).clone())
        if self.alpha.shape[1] != self.out_dim:
            raise ValueError(f"kernel branch: {self.alpha.shape[1]} components for out = "
                             f"{self.out_dim}")

    @property
    def gamma(self) -> float:
        return float(self.width)

    def kernel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """scikit-learn's `pairwise_kernels` with this branch's metric and parameters."""
        if self.kind == "linear":
            return x @ y.T
        if self.kind == "poly":
            return (self.gamma * (x @ y.T) + self.coef0) ** self.degree
        d2 = (x * x).sum(1, keepdim=True) - 2 * (x @ y.T) + (y * y).sum(1)
        return torch.exp(-self.gamma * d2.clamp_min(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not len(self.anchors):
            raise RuntimeError("kernel branch: not fitted (run a `kcca` or `seph` phase first)")
        k = self.kernel(x.double() - self.mean, self.anchors)
        if self.centre:
            k = k - self.anchor_means - k.mean(1, keepdim=True) + self.anchor_total
        return self.finish((k @ self.alpha + self.bias).float())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("bias", "width"):  # models stored before these buffers existed
            state_dict.setdefault(prefix + name, getattr(self, name).clone())
        for name in _FITTED:  # the fitted sizes come from the stored model
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name],
                                                     device=self.mean.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
