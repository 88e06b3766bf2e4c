"""`metric_network`: train the pair-scoring network on frozen branch embeddings."""

from __future__ import annotations

import torch

from ..spec.models import MetricNetworkPhase
from .base import PHASES, PhaseContext, run_epochs


@PHASES.register("metric_network")
def metric_network(ctx: PhaseContext, spec: MetricNetworkPhase) -> dict:
    """Freeze the branches; fit the metric network on related / unrelated pairs."""
    model, data = ctx.model, ctx.data
    if model.metric_network is None:
        raise ValueError("phase metric_network needs architecture.metric_network")
    terms = spec.losses if spec.losses is not None else ctx.spec.losses

    def forward(idx: torch.Tensor) -> dict:
        model.branches.eval()
        with torch.no_grad():
            return {m: model.encode(m, data.take(m, idx)) for m in ("image", "text")}

    return run_epochs(ctx, spec.name, terms, ["metric_network"], spec.epochs, spec.optimizer,
                      select_on_val=True, forward=forward)
