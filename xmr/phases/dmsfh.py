"""`dmsfh`: Algorithm 1 of dmsfh (Section 3.4), alternating the image network, the text network
and the closed-form update of the unified codes B.

The B update (Section 3.4.3). With the networks fixed, Eq. 13 leaves, over B in {-1, +1}^(n x k),

    J(B) = beta (||B - F||^2 + ||B - G||^2) + gamma tr(B^T L B),   L = D - S

(Eq. 18 prints the two weights the other way round from Eq. 13; we keep Eq. 13's: gamma on the
graph term L4, beta on the quantisation term L5). Eq. 19, B = sign((F + G)(2I + beta/gamma L)^-1),
does not compose as printed ((n x k) times (n x n)); it reads as the relaxed solution: with B
real, grad J = 2 beta (2B - F - G) + 2 gamma L B = 0 gives B = (2I + gamma/beta L)^-1 (F + G),
whose sign is not the minimiser over binary B and can raise J. We minimise J over binary B
exactly, one row at a time. As ||b_i||^2 = k is constant,

    J = const - 2 b_i^T [beta (F_i + G_i) + gamma sum_{j != i} S_ij b_j]

in row b_i with the other rows fixed (L_ij = -S_ij off the diagonal), minimised by
b_i = sign(beta (F_i + G_i) + gamma sum_{j != i} S_ij b_j). Cyclic sweeps of these row updates
never increase J; they start from the better of the previous B and sign(F + G) (the exact
minimiser when gamma = 0) and stop when a sweep changes no row.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from ..losses import build_losses
from ..losses.dmsfh import OTHER, AlternatingState, graph_objective
from ..spec.checks import ALTERNATING_TERMS
from ..spec.models import DMSFHPhase
from .base import (PHASES, BestEpoch, PhaseContext, finite_loss, make_optimizer,
                   trainable_parameters)

TERMS = ALTERNATING_TERMS


def binary_sign(x: np.ndarray | torch.Tensor):
    """sign with sign(0) = +1 (Eq. 1)."""
    if isinstance(x, torch.Tensor):
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)
    return np.where(x >= 0, 1.0, -1.0)


def code_objective(codes, outputs: list, similar, beta: float, gamma: float) -> float:
    """J(B) of Eq. 18 (Eq. 13's weights): beta sum_m ||B - H_m||^2 + gamma tr(B^T L B)."""
    b = torch.as_tensor(codes, dtype=torch.float64)
    quant = sum(((b - torch.as_tensor(h, dtype=torch.float64)) ** 2).sum() for h in outputs)
    graph = graph_objective(b, torch.as_tensor(similar)) if gamma else 0.0
    return float(beta * quant + gamma * graph)


def graph_code_update(outputs: list[torch.Tensor], similar: torch.Tensor, beta: float,
                      gamma: float, codes: torch.Tensor | None = None,
                      sweeps: int = 10) -> tuple[torch.Tensor, int]:
    """argmin over binary B of J(B) (module docstring) by cyclic row-wise coordinate descent.

    ``outputs``: the networks' continuous codes (F, G: (n, k) each; one of them when a single
    network is trained); ``similar``: the (n, n) label similarity S; ``codes``: the previous B.
    Returns B (float {-1, +1}, on the outputs' device) and the number of sweeps run."""
    device, dtype = outputs[0].device, outputs[0].dtype
    u = beta * sum(h.detach().double().cpu() for h in outputs).numpy()
    b = binary_sign(u)
    if gamma == 0:
        return torch.as_tensor(b, dtype=dtype, device=device), 0
    s = similar.detach().double().cpu().numpy()
    if codes is not None:
        prev = codes.detach().double().cpu().numpy()
        if code_objective(prev, outputs, s, beta, gamma) < code_objective(b, outputs, s, beta, gamma):
            b = prev.copy()
    m = s @ b  # sum_j S_ij b_j, kept current as rows change
    diag = np.diag(s).copy()
    done = 0
    for done in range(1, sweeps + 1):
        changed = 0
        for i in range(len(b)):
            v = u[i] + gamma * (m[i] - diag[i] * b[i])
            new = np.where(v > 0, 1.0, np.where(v < 0, -1.0, b[i]))  # a tie keeps the bit
            diff = new - b[i]
            if diff.any():
                m += np.outer(s[:, i], diff)
                b[i] = new
                changed += 1
        if not changed:
            break
    return torch.as_tensor(b, dtype=dtype, device=device), done


@torch.no_grad()
def _outputs(ctx: PhaseContext, modality: str, rows: torch.Tensor) -> torch.Tensor:
    ctx.model.eval()
    parts = [ctx.model.hash(modality, ctx.model.encode(modality, ctx.data.take(modality,
                                                                               rows[s:s + 1024])))
             for s in range(0, len(rows), 1024)]
    return torch.cat(parts)


@PHASES.register("dmsfh")
def dmsfh(ctx: PhaseContext, spec: DMSFHPhase) -> dict:
    """Algorithm 1: per epoch, each listed modality's network for one pass over the training
    items (minibatches), then the B update."""
    model, data, device = ctx.model, ctx.data, ctx.device
    if not model.has_codes:
        raise ValueError("phase dmsfh needs architecture.hash_head")
    terms = spec.losses if spec.losses is not None else ctx.spec.losses
    wrong = [t.name for t in terms if t.name not in TERMS]
    if wrong:
        raise ValueError(f"phase dmsfh: loss terms {wrong} do not belong to it; its terms are "
                         f"{', '.join(TERMS)}")
    weights = {t.name: t.weight for t in terms}
    beta, gamma = weights.get("code_quantization", 0.0), weights.get("graph_regularization", 0.0)
    if beta <= 0:
        raise ValueError("phase dmsfh needs code_quantization (L5) with a positive weight: it "
                         "ties the codes B to the networks' outputs")
    if "inter_pair_nll" in weights and len(spec.modalities) < 2:
        raise ValueError("phase dmsfh: inter_pair_nll (L1) pairs the two networks; it needs "
                         "modalities [image, text]")
    losses = build_losses([t for t in terms if t.name != "graph_regularization"])
    train = torch.as_tensor(data.split("train"), device=device)
    n = len(train)
    # the elements each term sums over per batch item: the `mean` reduction's denominators
    k = model.hash_spec.bits
    per = {"inter_pair_nll": n, "intra_pair_nll": n, "code_quantization": k,
           "label_bce_sum": data.labels.shape[1], "bit_balance": n * k, "bit_decorrelation": k * k}
    if spec.reduction == "mean":  # J / (n k): beta (1/(n k)) ||B - H||^2 + gamma (1/(n^2 k)) tr
        gamma = gamma / n
    base = data.batch(train)
    similar = base.relevant().to(torch.float32)  # S over the training items (Eqs. 3-11)
    if spec.init_outputs == "network":
        outputs = {m: _outputs(ctx, m, train) for m in spec.modalities}
    else:
        g = torch.Generator().manual_seed(int(ctx.generator.integers(2 ** 31)))
        outputs = {m: torch.randn(n, model.hash_spec.bits, generator=g).to(device)
                   for m in spec.modalities}
    codes, _ = graph_code_update(list(outputs.values()), similar, beta, gamma, None,
                                 spec.code_sweeps)
    for p in model.parameters():
        p.requires_grad_(False)
    optimizers = {}
    stray = [t for t in spec.trainable or [] if t.split(".")[0] not in spec.modalities]
    if stray:
        raise ValueError(f"phase dmsfh: trainable {stray} belong to no network it trains "
                         f"({', '.join(spec.modalities)})")
    for m in spec.modalities:
        names = [t for t in (spec.trainable or [m]) if t.split(".")[0] == m]
        params = trainable_parameters(model, names)
        if model.hash_head is not None:
            params += list(model.hash_head[m].parameters())
        for p in params:
            p.requires_grad_(True)
        optimizers[m] = make_optimizer(params, spec.optimizer, model)
    space = np.geomspace if spec.lr_decay == "geometric" else np.linspace
    lr = space(spec.optimizer.lr, spec.lr_end, spec.epochs) if spec.epochs > 1 \
        else np.array([spec.optimizer.lr])
    bs = ctx.spec.training.batch_size
    best = BestEpoch(ctx, model)
    bar = tqdm(range(spec.epochs), desc=f"phase {spec.name}", unit="epoch", leave=False,
               disable=None)
    for epoch in bar:
        sums = {f"{name}_{m}": 0.0 for _, name, _ in losses for m in spec.modalities}
        for m in spec.modalities:
            model.train()
            for group in optimizers[m].param_groups:
                group["lr"] = float(lr[epoch])
            steps = 0
            order = torch.as_tensor(ctx.generator.permutation(n), device=device)
            for s in range(0, n, bs):
                rows = order[s:s + bs]
                if len(rows) < 2:  # a batch of one (batch norm cannot train on it)
                    continue
                idx = train[rows]
                batch = data.batch(idx)
                batch.codes = codes[rows]
                out = model.heads({m: model.encode(m, data.take(m, idx))})
                outputs[m][rows] = out[f"hash_{m}"].detach()  # Algorithm 1: "Update F" / "G"
                batch.extra["alternating"] = AlternatingState(m, outputs, similar[rows],
                                                                rows)
                total = 0.0
                for weight, name, loss in losses:
                    value = finite_loss(loss, name, out, batch, model, f"phase {spec.name!r}, "
                                        f"epoch {epoch + 1}, {m} step {steps + 1}")
                    scale = len(rows) * (per[name] if spec.reduction == "mean" else n)
                    total = total + weight * value / scale
                    sums[f"{name}_{m}"] += float(value.detach()) / per[name]
                optimizers[m].zero_grad(set_to_none=True)
                total.backward()
                optimizers[m].step()
                steps += 1
        previous = codes
        codes, sweeps = graph_code_update(list(outputs.values()), similar, beta, gamma, codes,
                                          spec.code_sweeps)
        entry = {"phase": spec.name, "epoch": epoch + 1, "lr": float(lr[epoch]),
                 **{k: v / n for k, v in sums.items()},  # per item and element
                 "bits_flipped": float((codes != previous).float().mean()),
                 "code_sweeps": sweeps,
                 "code_objective": code_objective(codes, list(outputs.values()), similar, beta,
                                                  gamma) / n}  # Eq. 18 per item
        best.end_epoch(entry, bar)
    bar.close()
    if spec.select_on_val:
        best.restore()
    for p in model.parameters():
        p.requires_grad_(True)
    ctx.codes = None
    return {**best.result(), "final_code_objective": entry["code_objective"]}
