"""`alternating_hash`: network updates alternating with a closed-form binary-code update.

With codes B shared by both modalities and the quantisation terms ||B - H_image||^2 +
||B - H_text||^2, the B-step has the closed form B = sign(gamma * (H_image + H_text)), computed
for every training item between rounds of network updates (the scheme DCMH-style methods use).
"""

from __future__ import annotations

import torch

from ..spec.models import AlternatingHashPhase
from .base import PHASES, PhaseContext, default_trainable, run_epochs


@torch.no_grad()
def hash_outputs(ctx: PhaseContext, idx: torch.Tensor) -> dict[str, torch.Tensor]:
    ctx.model.eval()
    out = {}
    for m in ("image", "text"):
        parts = [ctx.model.hash(m, ctx.model.encode(m, ctx.data.take(m, idx[s:s + 1024])))
                 for s in range(0, len(idx), 1024)]
        out[m] = torch.cat(parts)
    return out


def code_update(h_image: torch.Tensor, h_text: torch.Tensor, gamma: float) -> torch.Tensor:
    """argmin_B ||B - H_i||^2 + ||B - H_t||^2 over B in {-1, +1}: sign(gamma (H_i + H_t))."""
    b = torch.sign(gamma * (h_image + h_text))
    return torch.where(b == 0, torch.ones_like(b), b)


@PHASES.register("alternating_hash")
def alternating_hash(ctx: PhaseContext, spec: AlternatingHashPhase) -> dict:
    """Alternate network epochs with the closed-form update of the training items' codes B."""
    model, data = ctx.model, ctx.data
    if not model.has_codes:
        raise ValueError("phase alternating_hash needs architecture.hash_head")
    bits = model.hash_spec.bits
    train = torch.as_tensor(data.split("train"), device=ctx.device)
    ctx.codes = torch.zeros(data.n_items, bits, device=ctx.device)
    h = hash_outputs(ctx, train)
    ctx.codes[train] = code_update(h["image"], h["text"], spec.gamma)
    terms = spec.losses if spec.losses is not None else ctx.spec.losses
    rounds = []
    for r in range(spec.rounds):
        result = run_epochs(ctx, f"{spec.name}.{r + 1}", terms, default_trainable(model),
                            spec.epochs_per_round, spec.optimizer, select_on_val=False)
        h = hash_outputs(ctx, train)
        new = code_update(h["image"], h["text"], spec.gamma)
        flipped = float((new != ctx.codes[train]).float().mean())
        ctx.codes[train] = new
        rounds.append({"round": r + 1, "bits_flipped": flipped, "val_map": result["best_val_map"]})
    ctx.log.append({"phase": spec.name, "rounds": rounds})
    return {"rounds": rounds}
