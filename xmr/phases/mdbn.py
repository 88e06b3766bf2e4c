"""The Multimodal DBN (Srivastava & Salakhutdinov 2012) over both modalities' `dbn` branches.

1. Each modality's DBN is trained greedily, layer by layer, by CD-k on the training split
   (Gaussian visible units on standardised features, or Replicated Softmax on word counts).
2. The joint RBM (`architecture.joint_rbm`) is trained by CD-k on the concatenated top layers
   of the training pairs.

No labels are used. Retrieval then represents each item by the joint hidden layer, with the
missing modality's top layer inferred by mean-field (xmr/branches/dbn.py).
"""

from __future__ import annotations

import torch

from ..branches.dbn import MODALITIES, DBNStack
from ..spec.models import MultimodalDBNPhase
from .base import PHASES, PhaseContext
from .mgmm import _naming


@PHASES.register("multimodal_dbn")
def multimodal_dbn(ctx: PhaseContext, spec: MultimodalDBNPhase) -> dict:
    """The two DBNs, then the joint RBM, by CD-k."""
    model, data, rng = ctx.model, ctx.data, ctx.generator
    if model.joint_rbm is None:
        raise ValueError("phase multimodal_dbn trains architecture.joint_rbm, which this "
                         "architecture does not have")
    train = torch.as_tensor(data.split("train"), device=ctx.device)
    bs = ctx.spec.training.batch_size
    log: dict = {"dbn": {}}
    top = {}
    for m in MODALITIES:
        branch = model.branches[m]
        if not isinstance(branch, DBNStack):
            raise ValueError(f"phase multimodal_dbn needs dbn branches; architecture.{m} is "
                             f"{type(branch).__name__}")
        x = data.views[m].take(train).float()
        d = spec.dbn
        with _naming(f"{m} DBN", f"{spec.name}: dbn.lr"):
            log["dbn"][m] = branch.dbn.pretrain(x, d.epochs, d.k, d.lr, bs, rng)
        with torch.no_grad():
            top[m] = branch(x)
    j = spec.joint
    with _naming("joint RBM", f"{spec.name}: joint.lr"):
        log["joint"] = model.joint_rbm.pretrain(top, j.epochs, j.k, j.lr, bs, rng)
    ctx.log.append({"phase": spec.name, **log})
    return {**log, "val_map": ctx.validate()}
