"""`output_cca`: linear CCA over the trained branches' outputs (DCCA, DCCAE).

The correlation objective makes the two outputs correlated but leaves them in unrelated bases;
Andrew et al. (2013) map them with a linear CCA fitted on the training outputs, and retrieval
ranks in that space. This phase fits it (as the `cca` phase does, `fit_cca`) into
`architecture.output_cca`, which the model applies from then on.
"""

from __future__ import annotations

import torch

from ..spec.models import OutputCCAPhase
from .base import PHASES, PhaseContext
from .cca import fit_cca


@PHASES.register("output_cca")
def output_cca(ctx: PhaseContext, spec: OutputCCAPhase) -> dict:
    model, data = ctx.model, ctx.data
    if model.output_cca is None:
        raise ValueError("phase output_cca needs architecture.output_cca")
    model.output_cca_fitted.fill_(False)
    model.eval()
    idx = torch.as_tensor(data.split("train"), device=ctx.device)
    with torch.no_grad():
        x, y = (torch.cat([model.encode(m, data.take(m, idx[s:s + 1024]))
                           for s in range(0, len(idx), 1024)]).double().cpu().numpy()
                for m in ("image", "text"))
    k = model.output_cca["image"].out_features
    (wx, bx), (wy, by), report = fit_cca(x, y, k, None, spec.max_iter, spec.rank_rtol)
    with torch.no_grad():
        for m, (w, b) in (("image", (wx, bx)), ("text", (wy, by))):
            layer = model.output_cca[m]
            layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype))
            layer.bias.copy_(torch.as_tensor(b, dtype=layer.bias.dtype))
        model.output_cca_fitted.fill_(True)
    return {**report, "val_map": ctx.validate()}
