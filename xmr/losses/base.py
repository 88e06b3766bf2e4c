"""Loss base class: one signature for every loss term.

A loss receives the model outputs of a batch and the batch itself (labels, relevance, codes) and
returns a scalar. The base class checks what the term needs is present, then calls
`compute_loss`; similarity and relevance come from the batch, not from the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from ..registry import Registry


@dataclass
class Batch:
    """One minibatch: its item indices, targets and per-phase state."""

    index: torch.Tensor  # (B,) item indices into the dataset
    category: torch.Tensor  # (B,) long, -1 when unknown
    labels: torch.Tensor  # (B, C) float multi-hot
    relevance: str  # category | shared_label | instance
    codes: torch.Tensor | None = None  # (B, bits) in {-1, +1}, set by hashing phases
    extra: dict = field(default_factory=dict)

    def relevant(self, other: "Batch | None" = None) -> torch.Tensor:
        """(B, B') bool: which pairs are relevant under the protocol's relevance rule."""
        other = other or self
        if self.relevance == "instance":  # only an item's own pair
            return self.index[:, None] == other.index[None, :]
        if self.relevance == "category":
            return self.category[:, None] == other.category[None, :]
        return (self.labels @ other.labels.T) > 0


class Loss(nn.Module):
    requires: ClassVar[tuple[str, ...]] = ("image", "text")

    def __init__(self, params=None):
        super().__init__()
        self.params = params

    def forward(self, out: dict[str, torch.Tensor], batch: Batch, model: nn.Module) -> torch.Tensor:
        missing = [k for k in self.requires if k not in out]
        if missing:
            raise ValueError(f"loss {type(self).__name__} needs model outputs {missing}; "
                             "check the architecture's heads")
        n = len(batch.index)
        for k in self.requires:
            if out[k].shape[0] != n:
                raise ValueError(f"loss {type(self).__name__}: output {k} has {out[k].shape[0]} "
                                 f"rows for a batch of {n}")
        return self.compute_loss(out, batch, model)

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        raise NotImplementedError


LOSSES: Registry[type[Loss]] = Registry("loss")
