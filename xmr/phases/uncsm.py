"""uncsm's preprocessing (Qi, Huang, Peng, Section 4.4) over both modalities' `uncsm` branches.

1. Each modality's two-layer DBN is trained by CD-k on the training split (Gaussian RBM first
   for image features, Replicated Softmax for word counts).
2. The feed-forward network over the DBN output is trained through a softmax classifier on the
   classes (sigmoid cross-entropy on multi-labels), preserving the intra-media information.

Both stay frozen: the later phases train the pathways (`trainable: [image.pathway,
text.pathway]`), the triplet branches and the metric network, each stage separately (3.2).
"""

from __future__ import annotations

import torch

from ..branches.uncsm import UNCSM
from ..spec.models import UNCSMPreprocessPhase
from .base import PHASES, PhaseContext, fit_softmax_network
from .mgmm import _naming


@PHASES.register("uncsm_preprocess")
def uncsm_preprocess(ctx: PhaseContext, spec: UNCSMPreprocessPhase) -> dict:
    """DBNs by CD-k, then the softmax-trained refinement networks."""
    model, data, rng = ctx.model, ctx.data, ctx.generator
    train = torch.as_tensor(data.split("train"), device=ctx.device)
    bs = ctx.spec.training.batch_size
    log: dict = {"dbn": {}, "refine": {}}
    for m in ("image", "text"):
        branch = model.branches[m]
        if not isinstance(branch, UNCSM):
            raise ValueError(f"phase uncsm_preprocess needs uncsm branches; architecture.{m} is "
                             f"{type(branch).__name__}")
        x = data.take(m, train).float()
        d = spec.dbn
        with _naming(f"{m} DBN", f"{spec.name}: dbn.lr"):
            log["dbn"][m] = branch.dbn.pretrain(x, d.epochs, d.k, d.lr, bs, rng)
        with torch.no_grad():
            h = branch.dbn(x)
        log["refine"][m] = fit_softmax_network(branch.refine, branch.refined_dim, h, data, train,
                                               spec.refine, bs, rng, ctx.device)
    for p in [*model.branches["image"].dbn.parameters(), *model.branches["text"].dbn.parameters()]:
        p.requires_grad_(False)
    ctx.log.append({"phase": spec.name, **log})
    return log
