"""Training-step speed of the all-triplets losses: the direct (A, P, N) form against the sorted
prefix-sum form (`all_triplet_hinges`), in one process, with agreement checks.

1. One forward + backward of the bidirectional batch-all triplet loss (`wikipedia_deep`'s:
   cosine distance, margin 0.2) at B = 64 ... 256 on 64-d outputs, 10 categories; the
   values and gradients of the two forms must agree to 1e-6 (relative).
2. With ../shared/data: `wikipedia_deep` trained for `--epochs` epochs with each form (the
   direct one patched in), seconds per epoch (validation included) from the train log.

    python benchmarks/triplet_step.py
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from unittest import mock

import torch

from xmr.losses import triplet
from xmr.losses.base import Batch
from xmr.losses.triplet import direct_triplet_hinges


def direct_terms(d, rel, margin, mining):
    """`triplet_terms` as it was: the (A, P, N) hinge tensor (mining `all`)."""
    assert mining == "all"
    terms = direct_triplet_hinges(margin + d, d, rel)
    return terms.sum(), terms.new_tensor(terms.numel())


def step(loss, out, batch):
    for t in out.values():
        t.grad = None
    value = loss(out, batch, None)
    value.backward()
    return value.detach(), [t.grad.clone() for t in out.values()]


def timed(fn, repeat):
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - t0) / repeat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--data", default="../shared/data")
    args = ap.parse_args()
    from xmr.spec.losses import TripletParams

    loss = triplet.TripletLoss(TripletParams(margin=0.2, distance="cosine", mining="all"))
    print(f"torch threads {torch.get_num_threads()}")
    print(f"{'B':>5}{'direct ms':>12}{'fast ms':>10}{'speed-up':>10}{'max rel. diff':>15}")
    for b in args.batches:
        g = torch.Generator().manual_seed(b)
        out = {m: torch.randn(b, 64, generator=g).requires_grad_(True) for m in ("image", "text")}
        cat = torch.randint(0, 10, (b,), generator=g)
        batch = Batch(torch.arange(b), cat, torch.zeros(b, 10), "category")
        (v_fast, g_fast), t_fast = timed(lambda: step(loss, out, batch), args.repeat)
        with mock.patch.object(triplet, "triplet_terms", direct_terms):
            (v_dir, g_dir), t_dir = timed(lambda: step(loss, out, batch), max(1, args.repeat // 2))
        diff = max([abs(float(v_fast - v_dir)) / abs(float(v_dir))] +
                   [float(((a - c).abs().max() / c.abs().max())) for a, c in zip(g_fast, g_dir)])
        print(f"{b:>5}{t_dir * 1e3:>12.1f}{t_fast * 1e3:>10.2f}{t_dir / t_fast:>9.0f}x{diff:>15.1e}")
        if diff > 1e-6:
            raise SystemExit("the two forms disagree")
    if not (Path(args.data) / "wikipedia").is_dir():
        print(f"no Wikipedia data at {args.data}: the epoch timing is skipped")
        return
    epoch_times(args.epochs)


def epoch_times(epochs: int) -> None:
    import tempfile

    import yaml

    from seeded import run_seeded
    from xmr.store.layout import Store

    params = yaml.safe_load(Path("params.yaml").read_text())
    sets = [f"training.phases.0.epochs={epochs}"]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp))
        for name, patch in (("direct", mock.patch.object(triplet, "triplet_terms", direct_terms)),
                            ("fast", mock.patch.object(triplet, "triplet_terms",
                                                       triplet.triplet_terms))):
            with patch:
                metrics, log = run_seeded(params, store, "wikipedia_deep",
                                          f"wikipedia_deep_{name}", 0, sets)
            n = len(log["history"])
            print(f"wikipedia_deep, {name} triplet form: {log['train_seconds'] / n:.2f} s per "
                  f"epoch ({n} epochs, validation included); test MAP "
                  f"{metrics['average']['map']:.4f}")


if __name__ == "__main__":
    main()
