"""What every phase gets (`PhaseContext`) and the shared minibatch loop."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..data import ExperimentData
from ..losses import build_losses
from ..model import CrossModalModel
from ..registry import Registry
from ..spec.models import ExperimentSpec, OptimizerSpec


@dataclass
class PhaseContext:
    spec: ExperimentSpec
    model: CrossModalModel
    data: ExperimentData
    device: torch.device
    generator: np.random.Generator
    validate: Callable[[], float]  # mean val MAP (i2t, t2i) of the current model
    codes: torch.Tensor | None = None  # binary codes of all items, for hashing phases
    log: list[dict] = field(default_factory=list)
    on_epoch: Callable[[dict], None] | None = None  # called with each epoch's log entry (tuning)


PHASES: Registry[Callable[[PhaseContext, object], dict]] = Registry("phase")


def make_optimizer(params, spec: OptimizerSpec, model: CrossModalModel | None = None
                   ) -> torch.optim.Optimizer:
    """The optimizer over the ``params`` that need a gradient; ``spec.lr_scale`` puts the
    parameters of the modules it names (of ``model``) in groups of their own."""
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("this phase has no trainable parameters")
    groups, taken = [], set()
    for name, scale in spec.lr_scale.items():
        if model is None:
            raise ValueError("optimizer.lr_scale needs the model to find modules by name")
        wanted = {id(p) for p in model.module_by_name(name).parameters()}
        group = [p for p in params if id(p) in wanted and id(p) not in taken]
        if not group:
            raise ValueError(f"optimizer.lr_scale: module {name!r} has no parameter that this "
                             "phase trains (see the phase's `trainable`)")
        taken |= {id(p) for p in group}
        groups.append({"params": group, "lr": spec.lr * scale})
    rest = [p for p in params if id(p) not in taken]
    groups = ([{"params": rest}] if rest else []) + groups
    if spec.type == "sgd":
        return torch.optim.SGD(groups, lr=spec.lr, momentum=spec.momentum,
                               weight_decay=spec.weight_decay)
    cls = torch.optim.AdamW if spec.type == "adamw" else torch.optim.Adam
    return cls(groups, lr=spec.lr, weight_decay=spec.weight_decay)


def trainable_parameters(model: CrossModalModel, names: list[str]) -> list[torch.nn.Parameter]:
    params = []
    for name in names:
        params += list(model.module_by_name(name).parameters())
    return params


def default_trainable(model: CrossModalModel) -> list[str]:
    names = ["image", "text"]
    names += [n for n in ("label_head", "hash_head") if getattr(model, n) is not None]
    return names


def run_epochs(ctx: PhaseContext, name: str, terms, trainable: list[str], epochs: int,
               optimizer: OptimizerSpec, select_on_val: bool,
               forward: Callable | None = None) -> dict:
    """Minibatch training of ``trainable`` modules on weighted ``terms`` over the train split.

    After each epoch the model is scored on the validation split; with ``select_on_val`` the best
    epoch's weights are kept (the test split is never looked at).
    """
    if not terms:
        raise ValueError(f"phase {name!r} has no loss terms (set `losses` in the spec or phase)")
    losses = build_losses(terms)
    model, data = ctx.model, ctx.data
    for p in model.parameters():
        p.requires_grad_(False)
    params = trainable_parameters(model, trainable)
    for p in params:
        p.requires_grad_(True)
    opt = make_optimizer(params, optimizer, model)
    train_idx = data.split("train")
    bs = ctx.spec.training.batch_size
    best = (-np.inf, None, -1)
    has_val = len(data.split("val")) > 0
    bar = tqdm(range(epochs), desc=f"phase {name}", unit="epoch", leave=False, disable=None)
    for epoch in bar:
        model.train()
        order = ctx.generator.permutation(train_idx)
        sums = {n: 0.0 for _, n, _ in losses}
        steps = 0
        for s in range(0, len(order) - 1, bs):
            chunk = order[s:s + bs]
            if len(chunk) < 2:
                continue
            idx = torch.as_tensor(chunk, device=ctx.device)
            batch = data.batch(idx, ctx.codes)
            out = forward(idx) if forward else model(data.inputs(idx))
            total = 0.0
            for weight, lname, loss in losses:
                value = loss(out, batch, model)
                total = total + weight * value
                sums[lname] += float(value.detach())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            steps += 1
        entry = {"phase": name, "epoch": epoch + 1, **{k: v / max(steps, 1) for k, v in sums.items()}}
        if has_val:
            entry["val_map"] = ctx.validate()
            if entry["val_map"] > best[0]:
                best = (entry["val_map"], copy.deepcopy(model.state_dict()), epoch + 1)
        ctx.log.append(entry)
        if ctx.on_epoch is not None:
            ctx.on_epoch(entry)
        bar.set_postfix({k: f"{v:.4f}" for k, v in entry.items() if k not in ("phase", "epoch")})
    bar.close()
    if select_on_val and best[1] is not None:
        model.load_state_dict(best[1])
    for p in model.parameters():
        p.requires_grad_(True)
    return {"best_val_map": best[0] if has_val else None, "best_epoch": best[2]}
