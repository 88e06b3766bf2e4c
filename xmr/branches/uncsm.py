"""The `uncsm` branch (Qi, Huang, Peng): one pathway of the two-pathway network.

Section 4.4's preprocessing, a two-layer DBN (`DBN`, shared with mgmm) and a feed-forward
network refined with a softmax on the classes, feeds the pathway of Section 3.1 (1024 -> 512 ->
256 by default). The `uncsm_preprocess` phase (xmr/phases/uncsm.py) trains the preprocessing;
the contrastive and double triplet phases train `pathway` with it frozen.
"""

from __future__ import annotations

import torch

from ..spec.models import UNCSMBranch as UNCSMSpec
from . import BRANCHES, Branch, mlp
from .mgmm import DBN


@BRANCHES.register("uncsm")
class UNCSM(Branch):
    """DBN -> softmax-refined feed-forward network (preprocessing, 4.4) -> pathway (3.1)."""

    def __init__(self, spec: UNCSMSpec, in_dim: int):
        super().__init__()
        self.dbn = DBN(in_dim, spec.dbn, spec.visible)
        self.refine = mlp([spec.dbn[-1], *spec.refine], spec.activation, last_activation=True)
        self.refined_dim = spec.refine[-1]
        self.pathway = mlp([self.refined_dim, *spec.pathway, spec.out], spec.activation)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The pathway's input: the refined DBN representation (deterministic). Frozen once the
        preprocessing phase has trained it; phases that train only what is above it compute it
        once per item (`frozen_stems` in xmr/phases/base.py)."""
        return self.refine(self.dbn(x))

    def stem_parameters(self):
        return [*self.dbn.parameters(), *self.refine.parameters()]

    def top(self, h: torch.Tensor) -> torch.Tensor:
        """The pathway and output normalisation over `stem`'s output."""
        return self.finish(self.pathway(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top(self.stem(x))
