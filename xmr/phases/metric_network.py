"""`metric_network`: uncsm's metric network (Section 3.2) on the frozen branches' outputs.

A training set of (image, text) pairs is drawn once from the train split, similar : dissimilar
as the phase sets (1 : 1 in the paper, about 300K pairs on Wikipedia); the network is fitted
with the cross-entropy of Eq. 4 on its softmax (Eq. 5). Validation ranks by the network.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..spec.models import MetricNetworkPhase
from .base import PHASES, BestEpoch, PhaseContext, make_optimizer


def sample_pairs(items: np.ndarray, similar: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 n_pairs: int, similar_fraction: float, rng: np.random.Generator,
                 max_rounds: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n_pairs`` (image item, text item, target) among ``items`` (the train split): exactly
    round(n_pairs * similar_fraction) similar pairs (target 1, ``similar(i, t)`` true) and the
    rest dissimilar (target 0), each uniform among the pairs of its kind (with replacement).

    Candidates are drawn uniformly in blocks and sorted by kind (rejection), so memory stays
    proportional to ``n_pairs`` however many items there are (no items x items matrix)."""
    n_sim = int(round(n_pairs * similar_fraction))
    want = {1: n_sim, 0: n_pairs - n_sim}
    got: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {1: [], 0: []}
    have = {1: 0, 0: 0}
    block = max(4 * n_pairs, 65536)
    for _ in range(max_rounds):
        i = items[rng.integers(0, len(items), block)]
        t = items[rng.integers(0, len(items), block)]
        sim = np.asarray(similar(i, t), bool)
        for kind, mask in ((1, sim), (0, ~sim)):
            take = np.flatnonzero(mask)[:want[kind] - have[kind]]
            got[kind].append((i[take], t[take]))
            have[kind] += len(take)
        if have == want:
            break
    else:
        short = [("similar", "dissimilar")[1 - k] for k in (1, 0) if have[k] < want[k]]
        raise ValueError(f"metric_network: after {max_rounds * block:,} random (image, text) pairs "
                         f"of the train split, too few {' and '.join(short)} ones "
                         f"({have[1]:,} of {want[1]:,} similar, {have[0]:,} of {want[0]:,} "
                         "dissimilar); change `similar_fraction`")
    img = np.concatenate([a for k in (1, 0) for a, _ in got[k]])
    txt = np.concatenate([b for k in (1, 0) for _, b in got[k]])
    target = np.repeat([1, 0], [want[1], want[0]])
    order = rng.permutation(n_pairs)
    return img[order], txt[order], target[order]


@PHASES.register("metric_network")
def metric_network(ctx: PhaseContext, spec: MetricNetworkPhase) -> dict:
    """Freeze the branches; fit the metric network on sampled similar / dissimilar pairs."""
    model, data = ctx.model, ctx.data
    net = model.metric_network
    if net is None:
        raise ValueError("phase metric_network needs architecture.metric_network")
    train = data.split("train")
    idx = torch.as_tensor(train, device=ctx.device)
    model.eval()
    with torch.no_grad():  # the branches are frozen: their outputs are computed once
        emb = {m: torch.zeros(data.n_items, model.emb_dim, device=ctx.device)
               for m in ("image", "text")}
        for s in range(0, len(idx), 1024):
            for m in emb:
                emb[m][idx[s:s + 1024]] = model.encode(m, data.take(m, idx[s:s + 1024]))

    def similar(i: np.ndarray, t: np.ndarray) -> np.ndarray:
        bi = data.batch(torch.as_tensor(i, device=ctx.device))
        bt = data.batch(torch.as_tensor(t, device=ctx.device))
        if bi.relevance == "category":
            return (bi.category == bt.category).cpu().numpy()
        if bi.relevance == "instance":
            return i == t
        return ((bi.labels * bt.labels).sum(1) > 0).cpu().numpy()

    img, txt, target = sample_pairs(train, similar, spec.pairs, spec.similar_fraction,
                                    ctx.generator)
    img, txt, target = (torch.as_tensor(a, device=ctx.device) for a in (img, txt, target))
    for p in model.parameters():
        p.requires_grad_(False)
    for p in net.parameters():
        p.requires_grad_(True)
    opt = make_optimizer(net.parameters(), spec.optimizer)
    ctx.metric_ready = True  # validation now ranks by the network
    best = BestEpoch(ctx, net)
    bar = tqdm(range(spec.epochs), desc=f"phase {spec.name}", unit="epoch", leave=False,
               disable=None)
    for epoch in bar:
        net.train()
        order = torch.as_tensor(ctx.generator.permutation(spec.pairs), device=ctx.device)
        total, steps = 0.0, 0
        for s in range(0, spec.pairs, spec.batch_size):
            b = order[s:s + spec.batch_size]
            logits = net.logits(emb["image"][img[b]], emb["text"][txt[b]])
            loss = F.cross_entropy(logits, target[b])  # Eq. 4 on the softmax of Eq. 5
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, steps = total + float(loss.detach()), steps + 1
        best.end_epoch({"phase": spec.name, "epoch": epoch + 1, "pair_ce": total / max(steps, 1)},
                       bar)
    bar.close()
    best.restore()
    for p in model.parameters():
        p.requires_grad_(True)
    with torch.no_grad():
        acc = float((net.logits(emb["image"][img], emb["text"][txt]).argmax(1) == target)
                    .float().mean())
    return {"pairs": spec.pairs, "similar_pairs": int(target.sum()), "train_pair_accuracy": acc,
            **best.result()}
