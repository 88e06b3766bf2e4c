"""The `rbm_pretrain` phase: RBMs trained by CD-k (xmr/branches/rbm.py) layer by layer
initialise MLP branches, with no backpropagation."""

from __future__ import annotations

import torch
from torch import nn

from ..branches import MLP
from ..branches.rbm import RBM
from ..spec.models import RBMPretrainPhase
from .base import PHASES, PhaseContext


@PHASES.register("rbm_pretrain")
def rbm_pretrain(ctx: PhaseContext, spec: RBMPretrainPhase) -> dict:
    """Greedy layer-wise CD-k pre-training of each hidden layer of the named MLP branches."""
    data, out = ctx.data, {}
    idx = torch.as_tensor(data.split("train"), device=ctx.device)
    bs = ctx.spec.training.batch_size
    for m in spec.modalities:
        branch = ctx.model.branches[m]
        if not isinstance(branch, MLP):
            raise ValueError(f"rbm_pretrain pre-trains mlp branches; architecture.{m} is not one")
        x = data.views[m].take(idx).float()
        mean, std = x.mean(0), x.std(0).clamp(min=1e-6)
        if spec.visible == "gaussian":
            x = (x - mean) / std
        linears = [layer for layer in branch.net if isinstance(layer, nn.Linear)][:-1]
        errors = []
        for depth, layer in enumerate(linears):
            rbm = RBM(layer.in_features, layer.out_features,
                      spec.visible if depth == 0 else "bernoulli").to(ctx.device)
            errors.append({"layer": depth, **rbm.fit(x, spec.epochs, spec.k, spec.lr, bs,
                                                     ctx.generator)})
            with torch.no_grad():
                if depth == 0 and spec.visible == "gaussian":
                    # the RBM saw standardised inputs: fold (x - mean) / std into the layer
                    layer.weight.copy_(rbm.W.T / std)
                    layer.bias.copy_(rbm.b_h - (mean / std) @ rbm.W)
                else:
                    layer.weight.copy_(rbm.W.T)
                    layer.bias.copy_(rbm.b_h)
                x = rbm.hidden_probs(x)
        out[m] = errors
    ctx.log.append({"phase": spec.name, "reconstruction": out})
    return {"reconstruction": out}
