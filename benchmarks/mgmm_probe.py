"""Where mgmm's Framework I keeps or loses category information: a linear probe per stage.

    python benchmarks/mgmm_probe.py specs/mgmm/scenes.yaml [--store store/scratch/mgmm] \
        [--set architecture.image.stages=[joint_rbm,fusion] ...]

Trains Framework I of the spec (its first phase) on the training split, then fits a logistic
regression on the training items' outputs of each stage (raw coarse features, DBN outputs O / M,
joint-optimisation outputs R, joint-RBM h2, fused features; a stage the spec leaves out is not
probed) and prints its accuracy on the training and test items. Inputs are standardised with
training statistics before the probe.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from xmr.data import ExperimentData
from xmr.featurize import Prepared, featurize
from xmr.model import CrossModalModel
from xmr.phases.base import PhaseContext
from xmr.phases.mgmm import mgmm_framework1
from xmr.pipeline import ensure_dataset
from xmr.spec import load_spec
from xmr.spec.models import branch_inputs
from xmr.store.layout import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec")
    ap.add_argument("--store", default="store/scratch/mgmm")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="a spec override, as for `xmr run`")
    args = ap.parse_args()
    spec = load_spec(args.spec, sets=args.sets)
    torch.manual_seed(spec.training.seed)
    store = Store(Path(args.store))
    key = ensure_dataset(store, spec.dataset)  # re-prepared when its source files changed
    prepared = Prepared.open(store, key)
    featuresets = {m: {r: featurize(store, key, spec.features[k])
                       for r, k in branch_inputs(getattr(spec.architecture, m)).items()}
                   for m in ("image", "text")}
    data = ExperimentData.build(prepared, featuresets, "category", torch.device("cpu"))
    model = CrossModalModel(spec.architecture, data.in_dims(), data.n_classes)
    ctx = PhaseContext(spec, model, data, torch.device("cpu"),
                       np.random.default_rng(spec.training.seed), lambda: float("nan"))
    t0 = time.perf_counter()
    mgmm_framework1(ctx, spec.training.phases[0])
    print(f"Framework I: {time.perf_counter() - t0:.0f} s")
    train, test = data.split("train"), data.split("test")
    y = data.category.numpy()

    def probe(name: str, x: torch.Tensor) -> None:
        x = x.double().numpy()
        x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-9)
        clf = LogisticRegression(max_iter=3000).fit(x[train], y[train])
        print(f"  {name:<16} train {clf.score(x[train], y[train]):.3f}  test {clf.score(x[test], y[test]):.3f}")

    with torch.no_grad():
        every = torch.arange(data.n_items)
        for m in ("image", "text"):
            branch, x = model.branches[m], data.take(m, every)
            print(m)
            if "coarse" in x:
                probe("raw coarse", x["coarse"].float())
            o = branch.dbn_outputs(x)
            r = branch.joint_outputs(o)
            for role in o:
                probe(f"DBN {role}", o[role])
            for role in r if branch.joint is not None else ():
                probe(f"joint {role}", r[role])
            h2 = branch.joint_top(r)
            if branch.joint_rbm is not None:
                probe("joint RBM h2", h2)
            if branch.fusion is not None:
                probe("fused", branch.fusion(h2))


if __name__ == "__main__":
    main()
