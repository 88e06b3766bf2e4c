"""What every phase gets (`PhaseContext`) and the shared minibatch loop."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import ExperimentData
from ..losses import build_losses
from ..metrics import NonFiniteScores
from ..model import CrossModalModel
from ..registry import Registry
from ..spec.models import ExperimentSpec, GradientSettings, OptimizerSpec


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
    metric_ready: bool = False  # the metric network is trained: validation may rank by it


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
    names += [n for n in ("shared", "label_head", "hash_head", "triplet_branches", "decoders")
              if getattr(model, n) is not None]
    return names


def frozen_stem_forward(ctx: PhaseContext, rows: np.ndarray) -> Callable | None:
    """A training forward that reuses frozen stems: a branch with a `stem` (a deterministic
    part below what the phase trains, e.g. uncsm's DBN and refinement network) none of whose
    parameters this phase trains has its stem computed once for ``rows``; each batch then runs
    only the branch's `top`. The values are those of the full forward. None when no branch has
    such a stem."""
    model, data = ctx.model, ctx.data
    frozen = [m for m, b in model.branches.items() if hasattr(b, "stem")
              and not any(p.requires_grad for p in b.stem_parameters())]
    if not frozen:
        return None
    idx = torch.as_tensor(rows, device=ctx.device)
    cache = {}
    with torch.no_grad():
        for m in frozen:
            branch = model.branches[m]
            parts = [branch.stem(data.take(m, idx[s:s + 1024])) for s in range(0, len(idx), 1024)]
            cache[m] = torch.zeros(data.n_items, parts[0].shape[1], device=ctx.device)
            cache[m][idx] = torch.cat(parts)

    def forward(batch_idx: torch.Tensor) -> dict:
        return model.heads({m: (model.project(m, model.common(
                                    model.branches[m].top(cache[m][batch_idx])))
                                if m in cache else model.encode(m, data.take(m, batch_idx)))
                            for m in ("image", "text")})

    return forward


def finite_loss(loss, name: str, out: dict, batch, model, where: str) -> torch.Tensor:
    """A loss term's value on a batch; a non-finite one stops the run, saying where."""
    value = loss(out, batch, model)
    if not torch.isfinite(value):
        raise FloatingPointError(f"{where}: loss {name!r} is {float(value.detach())}; lower the "
                                 "learning rate or this term's weight")
    return value


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
    if forward is None:
        forward = frozen_stem_forward(ctx, train_idx)
    bs = ctx.spec.training.batch_size
    best = BestEpoch(ctx, model)
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
                value = finite_loss(loss, lname, out, batch, model,
                                    f"phase {name!r}, epoch {epoch + 1}, step {steps + 1}")
                total = total + weight * value
                sums[lname] += float(value.detach())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            steps += 1
        entry = {"phase": name, "epoch": epoch + 1, **{k: v / max(steps, 1) for k, v in sums.items()}}
        best.end_epoch(entry, bar)
    bar.close()
    if select_on_val:
        best.restore()
    for p in model.parameters():
        p.requires_grad_(True)
    return best.result()


class BestEpoch:
    """The end of each epoch of a phase: its validation MAP (when there is a val split), its log
    entry (and the tuning callback), and the weights of ``module`` at the best epoch so far."""

    def __init__(self, ctx: PhaseContext, module: torch.nn.Module):
        self.ctx, self.module = ctx, module
        self.has_val = len(ctx.data.split("val")) > 0
        self.val_map, self.state, self.epoch = -np.inf, None, -1

    def end_epoch(self, entry: dict, bar) -> None:
        if self.has_val:
            try:
                entry["val_map"] = self.ctx.validate()
            except NonFiniteScores as exc:
                raise FloatingPointError(
                    f"phase {entry.get('phase')!r}, epoch {entry.get('epoch')}: a validation "
                    f"score is nan ({exc}); lower the learning rate or a loss term's weight"
                ) from None
            if entry["val_map"] > self.val_map:
                self.val_map, self.epoch = entry["val_map"], entry["epoch"]
                self.state = copy.deepcopy(self.module.state_dict())
        self.ctx.log.append(entry)
        if self.ctx.on_epoch is not None:
            self.ctx.on_epoch(entry)
        bar.set_postfix({k: f"{v:.4f}" for k, v in entry.items() if k not in ("phase", "epoch")})

    def restore(self) -> None:
        """Load the best epoch's weights (nothing happens without a val split)."""
        if self.state is not None:
            self.module.load_state_dict(self.state)

    def result(self) -> dict:
        return {"best_val_map": self.val_map if self.has_val else None, "best_epoch": self.epoch}


def _batches(n: int, size: int, rng):
    order = rng.permutation(n)
    for s in range(0, n, size):
        yield torch.as_tensor(order[s:s + size])


def fit_minibatches(params, batch_loss, settings: GradientSettings, n: int, batch_size: int,
                    rng, device) -> list[float]:
    """Adam on ``params`` over shuffled minibatches of the ``n`` training rows; ``batch_loss(b)``
    gives a batch's loss. The parameters are trainable during the call only. Returns the mean
    loss of each epoch."""
    params = list(params)
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=settings.lr)
    history = []
    for _ in range(settings.epochs):
        total, steps = 0.0, 0
        for b in _batches(n, batch_size, rng):
            loss = batch_loss(b.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + float(loss.detach()), steps + 1
        history.append(total / max(steps, 1))
    for p in params:
        p.requires_grad_(False)
    return history


def fit_softmax_network(net: torch.nn.Module, out_dim: int, h: torch.Tensor, data: ExperimentData,
                        train: torch.Tensor, settings: GradientSettings, batch_size: int, rng,
                        device) -> dict:
    """Train ``net`` (rows of ``h``, the training items' inputs, to ``out_dim`` features) through
    a linear classifier with a softmax on the categories, or a sigmoid cross-entropy on the
    labels of a multi-label dataset; the classifier is discarded. mgmm's fusion network and
    uncsm's refinement network. Returns the first and last epoch's loss and train accuracy."""
    multilabel = data.relevance == "shared_label"
    target = data.labels[train] if multilabel else data.category[train]
    n_out = data.labels.shape[1] if multilabel else data.n_classes
    classifier = torch.nn.Linear(out_dim, n_out).to(device)

    def batch_loss(b):
        logits = classifier(net(h[b]))
        return (F.binary_cross_entropy_with_logits(logits, target[b]) if multilabel
                else F.cross_entropy(logits, target[b]))

    params = [*net.parameters(), *classifier.parameters()]
    history = fit_minibatches(params, batch_loss, settings, len(h), batch_size, rng, device)
    with torch.no_grad():
        logits = classifier(net(h))
        acc = (float(((logits > 0) == (target > 0.5)).float().mean()) if multilabel
               else float((logits.argmax(1) == target).float().mean()))
    return {"first_epoch": history[0], "last_epoch": history[-1], "train_accuracy": acc}
