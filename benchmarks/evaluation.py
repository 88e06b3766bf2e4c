"""Evaluation speed: xmr's `evaluate_task` against the per-query NumPy loop of the field's
reference code and torchmetrics' `RetrievalMAP`, in one process, with agreement checks.

The default size is issue 14's: 2,100 queries x 188,321 items (NUS-WIDE under the DCMH
protocol), 256-d, 21 labels, multi-label relevance (a shared label), MAP@all and MAP@100.
Embeddings are synthetic (label prototypes + noise, rounded to integers) so that the ranking
is not random and every method gets the same float32 scores whatever its GEMM blocking (integer
dot products below 2^24 are exact), ties included.
Each method is timed `--repeat` times (minimum reported); peak RSS above the level before the
call is sampled every 2 ms. The loop and torchmetrics are slow, so they run on a subset of
queries (`--ref-queries`) and their time is scaled to all queries (per-query cost x queries);
values are compared on that subset and must agree to 1e-9 per query. Last, MAP@100 alone:
exact, FAISS flat (exact scores, FAISS's tie order) and FAISS IVF (approximate), with their
differences from the exact values.

    python benchmarks/evaluation.py                  # issue 14's size (about 2 minutes)
    python benchmarks/evaluation.py --queries 693 --items 693
    python benchmarks/evaluation.py --small          # where the direct form stops paying
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from unittest import mock

import numpy as np
import torch

from xmr.metrics import Side, evaluate_task
from xmr.spec.models import ProtocolSpec


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_rss(fn):
    """(result, seconds, peak RSS above the starting level in MB)."""
    start, peak, done = rss_mb(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    done.set()
    t.join()
    return out, seconds, max(peak[0], rss_mb()) - start


def data(n_q: int, n_db: int, dim: int, n_labels: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, n_labels + 1) ** 0.8  # a few frequent concepts, a long tail

    def labels(n):
        lab = rng.random((n, n_labels)) < (freq / freq.sum() * 1.8)
        lab[~lab.any(1), rng.integers(0, n_labels, (~lab.any(1)).sum())] = True
        return lab.astype(np.float32)

    proto = rng.standard_normal((n_labels, dim)).astype(np.float32)
    lq, ldb = labels(n_q), labels(n_db)
    q = np.rint(2 * (lq @ proto + 5.0 * rng.standard_normal((n_q, dim)))).astype(np.float32)
    db = np.rint(2 * (ldb @ proto + 5.0 * rng.standard_normal((n_db, dim)))).astype(np.float32)
    assert np.abs(q).max() * np.abs(db).max() * dim < 2 ** 24  # exact float32 dot products
    return q, db, lq, ldb


def average_precision(rel: np.ndarray, cut: int) -> tuple[float, float]:
    """AP and AP@cut (retrieved-relevant denominator) of one ranked relevance list, as the
    field's reference code computes them (float64 cumulative sums)."""
    prec = np.cumsum(rel) / np.arange(1, len(rel) + 1)
    top = rel[:cut]
    return ((prec * rel).sum() / rel.sum() if rel.sum() else 0.0,
            (prec[:cut] * top).sum() / top.sum() if top.sum() else 0.0)


def loop_reference(q, db, lq, ldb, cut=100):
    """The field's reference code: per query, the scores, a stable argsort, AP and AP@cut."""
    out = [average_precision(((ldb @ lq[i]) > 0)[np.argsort(-(db @ q[i]), kind="stable")], cut)
           for i in range(len(q))]
    return np.array([a for a, _ in out]), np.array([b for _, b in out])


def torchmetrics_reference(q, db, lq, ldb):
    from xmr.compat.torchvision import import_torchvision

    import_torchvision()  # torchmetrics imports torchvision
    from torchmetrics.retrieval import RetrievalMAP

    metric = RetrievalMAP(empty_target_action="neg")
    scores = torch.from_numpy(q) @ torch.from_numpy(db).T
    target = (torch.from_numpy(lq) @ torch.from_numpy(ldb).T) > 0
    index = torch.arange(len(q))[:, None].expand_as(scores)
    metric.update(scores.reshape(-1), target.reshape(-1), index.reshape(-1))
    return float(metric.compute())


def crossover(queries: int = 300, sizes=(500, 1000, 2000, 3000, 4000, 6000), repeat: int = 5):
    """Small databases: the direct form (one stable sort of the chunk) against the per-query
    radix ranking, to place `xmr.metrics.evaluate.DIRECT_BELOW`."""
    from xmr.metrics import evaluate as ev

    print(f"{queries} queries, category relevance, 64-d, cosine; fastest of {repeat} (ms)")
    print(f"{'items':>7}{'direct':>9}{'per query':>11}")
    rng = np.random.default_rng(0)
    for n in sizes:
        e = torch.from_numpy(rng.standard_normal((max(n, queries), 64)).astype(np.float32))
        c = torch.from_numpy(rng.integers(0, 8, max(n, queries)))

        def side(k):
            return Side({"image": e[:k], "text": e[:k]}, c[:k], torch.zeros(k, 1), np.arange(k))

        times, values = [], []
        for below in (10 ** 9, 0):  # everything direct, then everything per query
            best = float("inf")
            with mock.patch.object(ev, "DIRECT_BELOW", below):
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    res = evaluate_task("i2t", side(queries), side(n), ProtocolSpec(),
                                        ["map", "p@50"])
                    best = min(best, time.perf_counter() - t0)
            times.append(best * 1e3)
            values.append(res.per_query["map"])
        assert np.abs(values[0] - values[1]).max() < 1e-12
        print(f"{n:>7}{times[0]:>9.1f}{times[1]:>11.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=2100)
    ap.add_argument("--items", type=int, default=188_321)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--labels", type=int, default=21)
    ap.add_argument("--ref-queries", type=int, default=210)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-mb", type=int, default=1024)
    ap.add_argument("--small", action="store_true",
                    help="only the small-database crossover of the two ranking paths")
    args = ap.parse_args()
    if args.small:
        return crossover()
    q, db, lq, ldb = data(args.queries, args.items, args.dim, args.labels)
    n_ref = min(args.ref_queries, args.queries)
    proto = ProtocolSpec(relevance="shared_label", distance="inner_product",
                         map_at_r_denominator="retrieved_relevant", empty_queries="zero")
    qs = Side({"image": torch.from_numpy(q)}, torch.zeros(len(q)), torch.from_numpy(lq),
              np.arange(len(q)))
    dbs = Side({"text": torch.from_numpy(db)}, torch.zeros(len(db)), torch.from_numpy(ldb),
               np.arange(len(db)))
    print(f"{args.queries} queries x {args.items} items, {args.dim}-d, {args.labels} labels, "
          f"torch threads {torch.get_num_threads()}; reference methods on {n_ref} queries")
    runs = [peak_rss(lambda: evaluate_task("i2t", qs, dbs, proto, ["map", "map@100"],
                                           memory_mb=args.memory_mb))
            for _ in range(args.repeat)]
    res = runs[0][0]
    t_xmr, mem_xmr = min(r[1] for r in runs), max(r[2] for r in runs)
    loops = [peak_rss(lambda: loop_reference(q[:n_ref], db, lq[:n_ref], ldb))
             for _ in range(args.repeat)]
    (ap_all, ap_cut), t_loop, mem_loop = loops[0][0], min(r[1] for r in loops), loops[0][2]
    t_loop *= args.queries / n_ref
    tm = [peak_rss(lambda: torchmetrics_reference(q[:n_ref], db, lq[:n_ref], ldb))
          for _ in range(args.repeat)]
    tm_map, t_tm, mem_tm = tm[0][0], min(r[1] for r in tm) * args.queries / n_ref, tm[0][2]
    d_all = np.abs(res.per_query["map"][:n_ref] - ap_all).max()
    d_cut = np.abs(res.per_query["map@100"][:n_ref] - ap_cut).max()
    d_tm = abs(float(res.per_query["map"][:n_ref].mean()) - tm_map)
    print(f"{'method':<32}{'seconds':>10}{'vs loop':>10}{'peak RSS MB':>13}")
    print(f"{'xmr evaluate_task':<32}{t_xmr:>10.2f}{t_loop / t_xmr:>9.1f}x{mem_xmr:>13.0f}")
    print(f"{'per-query NumPy loop (scaled)':<32}{t_loop:>10.2f}{1.0:>9.1f}x{mem_loop:>13.0f}")
    print(f"{'torchmetrics RetrievalMAP (sc.)':<32}{t_tm:>10.2f}{t_loop / t_tm:>9.1f}x"
          f"{mem_tm:>13.0f}")
    print(f"MAP {res.metrics['map']:.6f}  MAP@100 {res.metrics['map@100']:.6f}; max |dMAP| per "
          f"query vs loop {d_all:.1e} (MAP@100 {d_cut:.1e}); |mean dMAP| vs torchmetrics "
          f"{d_tm:.1e}")
    if max(d_all, d_cut) > 1e-9:
        raise SystemExit("values disagree with the reference loop")
    print("MAP@100 alone, top 100 per query:")
    exact100 = evaluate_task("i2t", qs, dbs, proto, ["map@100"]).per_query["map@100"]
    for search, extra in [("exact", {}), ("faiss_flat", {}),
                          ("faiss_ivf", {"ivf_lists": 1024, "ivf_probe": 16})]:
        p = proto.model_copy(update={"search": search, "search_k": 100, **extra})
        res, t, mem = peak_rss(lambda: evaluate_task("i2t", qs, dbs, p, ["map@100"]))
        d = np.abs(res.per_query["map@100"] - exact100)
        print(f"  {search:<11}{' '.join(f'{k}={v}' for k, v in extra.items()):<30}{t:>8.2f} s"
              f"{mem:>8.0f} MB  MAP@100 {res.metrics['map@100']:.6f} (mean |d| vs exact "
              f"{d.mean():.1e}, max {d.max():.1e})")


if __name__ == "__main__":
    main()
