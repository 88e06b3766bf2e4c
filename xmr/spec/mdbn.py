"""Spec parts of the Multimodal DBN (Srivastava & Salakhutdinov 2012), a comparison method of
uncsm Table 1: a DBN per modality (`dbn` branches) and a joint RBM over both DBNs' top layers
(`architecture.joint_rbm`); the `multimodal_dbn` phase (spec/training.py) trains them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict, Width


class DBNBranch(Strict):
    """A deep belief net over one modality's features: RBMs stacked `hidden` then `out` wide,
    Gaussian (standardised on train), Replicated Softmax (word counts) or Bernoulli visible
    units first, Bernoulli above. Its output is the mean-field up-pass, the top layer's
    probabilities, which the joint RBM reads."""

    type: Literal["dbn"]
    input: str | None = None
    visible: Literal["gaussian", "replicated_softmax", "bernoulli"] = "gaussian"
    hidden: list[Width] = Field(default_factory=lambda: [1024],
                                description="the hidden layers below the top one")
    out: Width = Field(1024, description="the top layer, the joint RBM's visible units")
    normalize: Literal[False] = False


class JointRBMSpec(Strict):
    """An RBM whose visible units are both DBNs' top layers. An item of one modality is
    represented by the joint hidden layer's probabilities with the other modality's top layer
    inferred by mean-field updates, starting from its training mean; the representation is
    standardised with training statistics (`standardize`)."""

    hidden: Width = Field(2048, description="joint hidden units (the common space)")
    mean_field: int = Field(10, ge=0, le=1000, description="mean-field updates of the missing "
                            "modality's top layer; 0 leaves it at its training mean")
    standardize: Literal["joint", "modality", "none"] = Field(
        "joint", description="the representation's training statistics: over both modalities' "
        "single-modality representations (joint), each modality's own (modality), or none")


__all__ = ["DBNBranch", "JointRBMSpec"]
