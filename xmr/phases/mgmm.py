"""mgmm Framework I (Liu et al. 2023, Section 3) over the two modalities' `mgmm` branches.

1. Each (modality x granularity) DBN is trained by CD-k on the training split: coarse items, and
   fine units of training items (Eqs. 1-6).
2. Fine unit outputs are merged per item (Eq. 8).
3. Cross-modal joint optimisation, per granularity (Eq. 7 coarse, Eq. 9 fine): three-layer
   networks R map the DBN outputs O (or merged M) to reconstructions, minimising
   ||O^I - R^I||^2 + ||O^T - R^T||^2 + ||R^I - R^T||^2 over paired training items. The paper
   prints the last term as ||O^I - O^T||^2, which is constant once the DBNs are trained (it has
   no gradient with respect to R); xmr applies it to the networks' outputs, the reading under
   which it can be minimised. A granularity only one modality has (Wikipedia: sentences, no
   image regions) pulls its outputs towards the other modality's trained R of the granularity
   that modality has (or, when none is trained yet, its DBN output); granularities both
   modalities have are optimised first.
4. The joint RBM of each modality is trained by CD-k on its R's (Eqs. 10-11).
5. The fusion network on top of the joint RBM is trained with a softmax loss on the categories
   (BCE on multi-labels); its last layer is the fused feature.

A stage left out of the branches' `stages` is skipped, and the next one reads the stage below
(see `MGMM`). Everything trained here is frozen afterwards when Framework II trains only `head`.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from ..branches.mgmm import MGMM
from ..branches.rbm import CDDiverged
from ..spec.models import MGMMFramework1Phase
from .base import PHASES, PhaseContext, fit_minibatches, fit_softmax_network


@contextmanager
def _naming(what: str, field: str):
    """Re-raise a diverged CD-k run naming the network and the spec field to change."""
    try:
        yield
    except CDDiverged as exc:
        raise CDDiverged(f"{what}: {exc} (phase {field})") from None


def joint_loss(o: dict, r: dict) -> torch.Tensor:
    """Eq. 7 / Eq. 9 for one granularity: per-item squared distances, averaged over the batch.
    ``o`` / ``r``: modality -> (B, d) DBN outputs and joint-network outputs; a missing modality
    (one-sided fine units) contributes no reconstruction term."""
    loss = sum(((o[m] - r[m]) ** 2).sum(1).mean() for m in r if m in o)
    return loss + ((r["image"] - r["text"]) ** 2).sum(1).mean()


@PHASES.register("mgmm_framework1")
def mgmm_framework1(ctx: PhaseContext, spec: MGMMFramework1Phase) -> dict:
    """mgmm Framework I: DBNs, merging, joint optimisation, joint RBM, softmax fusion."""
    model, data, rng = ctx.model, ctx.data, ctx.generator
    branches: dict[str, MGMM] = {}
    for m in ("image", "text"):
        if not isinstance(model.branches[m], MGMM):
            raise ValueError(f"phase mgmm_framework1 needs mgmm branches; architecture.{m} is "
                             f"{type(model.branches[m]).__name__}")
        branches[m] = model.branches[m]
    train = torch.as_tensor(data.split("train"), device=ctx.device)
    bs = ctx.spec.training.batch_size
    log: dict = {"dbn": {}, "joint": {}, "joint_rbm": {}, "fusion": {}}

    # 1. DBNs by CD-k
    inputs = {m: data.take(m, train) for m in branches}
    for m, br in branches.items():
        for role in br.roles:
            x = inputs[m][role].values if role == "fine" else inputs[m][role]
            d = spec.dbn
            with _naming(f"{m}.{role} DBN", f"{spec.name}: dbn.lr"):
                log["dbn"][f"{m}.{role}"] = br.dbn[role].pretrain(x.float(), d.epochs, d.k, d.lr,
                                                                  bs, rng)

    # 2. O and merged M of the training items (fixed from now on)
    with torch.no_grad():
        o = {m: br.dbn_outputs(inputs[m]) for m, br in branches.items()}

    # 3. cross-modal joint optimisation, coarse (Eq. 7) and fine (Eq. 9); granularities both
    #    modalities have first, so that a one-sided one can lean on the other's trained R
    n = len(train)
    joint = all(br.joint is not None for br in branches.values())  # both or neither (spec check)
    trained: dict[str, str] = {}  # modality -> a granularity whose joint network is trained
    order = sorted(("coarse", "fine"), key=lambda g: -sum(g in br.roles for br in branches.values()))
    for role in order if joint else ():
        own = [m for m, br in branches.items() if role in br.roles]
        if not own:
            continue

        def batch_loss(b, role=role, own=own):
            ob = {m: o[m][role][b] for m in own}
            rb = {m: branches[m].joint[role](ob[m]) for m in own}
            for m in set(branches) - set(own):  # one-sided: the partner's R (or O)
                with torch.no_grad():
                    other = trained.get(m)
                    rb[m] = (branches[m].joint[other](o[m][other][b]) if other
                             else o[m][branches[m].roles[0]][b])
            return joint_loss(ob, rb)

        params = [p for m in own for p in branches[m].joint[role].parameters()]
        history = fit_minibatches(params, batch_loss, spec.joint, n, bs, rng, ctx.device)
        log["joint"][role] = {"modalities": own, "first_epoch": history[0], "last_epoch": history[-1]}
        for m in own:
            trained.setdefault(m, role)

    # 4. joint RBMs by CD-k on R
    with torch.no_grad():
        r = {m: br.joint_outputs(o[m]) for m, br in branches.items()}
    for m, br in branches.items():
        if br.joint_rbm is not None:
            c = spec.joint_rbm
            with _naming(f"{m} joint RBM", f"{spec.name}: joint_rbm.lr"):
                log["joint_rbm"][m] = br.joint_rbm.pretrain(r[m], c.epochs, c.k, c.lr, bs, rng)

    # 5. fusion networks with a softmax (or multi-label BCE) classifier
    for m, br in branches.items():
        if br.fusion is not None:
            with torch.no_grad():
                h = br.joint_top(r[m])
            log["fusion"][m] = fit_softmax_network(br.fusion, br.fused_dim, h, data, train,
                                                   spec.fusion, bs, rng, ctx.device)
    ctx.log.append({"phase": spec.name, **log})
    return log
