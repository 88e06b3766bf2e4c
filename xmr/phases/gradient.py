"""`gradient`: minibatch descent on the weighted loss terms."""

from __future__ import annotations

from ..spec.models import GradientPhase
from .base import PHASES, PhaseContext, default_trainable, run_epochs


@PHASES.register("gradient")
def gradient(ctx: PhaseContext, spec: GradientPhase) -> dict:
    """Minibatch gradient descent on weighted loss terms; best epoch chosen on val MAP."""
    terms = spec.losses if spec.losses is not None else ctx.spec.losses
    return run_epochs(ctx, spec.name, terms, spec.trainable or default_trainable(ctx.model),
                      spec.epochs, spec.optimizer, spec.select_on_val)
