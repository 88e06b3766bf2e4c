"""Hamming ranking speed: xmr's distances and MAP against plain NumPy on unpacked {-1, +1}
codes, in one process, with agreement checks.

1. Distances of `--bits`-bit codes, `--dist-queries` x `--items`: xmr's popcount on 64-bit
   words; the byte-wise form it replaced (uint8 XOR, popcount, sum over bytes); the +-1 GEMM
   (bits - q . d) / 2 on unpacked codes. All three must be equal.
2. MAP@all + MAP@100 (multi-label relevance), `--queries` x `--items`: xmr's `evaluate_task`
   (popcount distances, a counting-sort ranking) against the field's per-query loop on unpacked
   codes (the +-1 product, a stable argsort, AP), run on `--ref-queries` queries and scaled.
   Values must agree to 1e-9 per query (ties are everywhere: distances are 0 ... bits).

    python benchmarks/hamming.py          # issue 14's sizes (about a minute)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from evaluation import average_precision, data  # benchmarks/ is the script's directory
from xmr.metrics import Side, evaluate_task, hamming_distance, pack_codes
from xmr.spec.models import ProtocolSpec


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def bytewise(q_packed, db_packed, block=4096):
    """The previous form: a uint8 XOR block, popcount, summed over the bytes."""
    out = np.empty((len(q_packed), len(db_packed)), np.int32)
    for s in range(0, len(db_packed), block):
        x = np.bitwise_xor(q_packed[:, None, :], db_packed[None, s:s + block, :])
        out[:, s:s + block] = np.bitwise_count(x).sum(-1, dtype=np.int32)
    return out


def loop_reference(bq, bdb, lq, ldb, cut=100):
    """Per query: Hamming distances from the +-1 product, a stable argsort, AP and AP@cut."""
    bits = bq.shape[1]
    out = [average_precision(((ldb @ lq[i]) > 0)[np.argsort(0.5 * (bits - bdb @ bq[i]),
                                                            kind="stable")], cut)
           for i in range(len(bq))]
    return np.array([a for a, _ in out]), np.array([b for _, b in out])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2100)
    ap.add_argument("--dist-queries", type=int, default=420)
    ap.add_argument("--items", type=int, default=188_321)
    ap.add_argument("--ref-queries", type=int, default=210)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    q, db, lq, ldb = data(args.queries, args.items, 256, 21)
    proj = np.random.default_rng(1).standard_normal((256, args.bits)).astype(np.float32)
    bq = np.where(q @ proj >= 0, 1, -1).astype(np.float32)  # codes: signs of a projection
    bdb = np.where(db @ proj >= 0, 1, -1).astype(np.float32)
    pq, pdb = pack_codes(bq), pack_codes(bdb)
    nd = args.dist_queries
    print(f"{args.bits}-bit codes; distances {nd} x {args.items}; MAP {args.queries} x "
          f"{args.items} (reference loop on {args.ref_queries} queries, scaled); "
          f"torch threads {torch.get_num_threads()}")
    fast, t_fast = best_of(lambda: hamming_distance(pq[:nd], pdb), args.repeat)
    old, t_old = best_of(lambda: bytewise(pq[:nd], pdb), args.repeat)
    gemm, t_gemm = best_of(lambda: (args.bits - bq[:nd] @ bdb.T) / 2, args.repeat)
    if not (np.array_equal(fast, old) and np.array_equal(fast, gemm.astype(np.int32))):
        raise SystemExit("Hamming distances disagree")
    print(f"{'distances':<40}{'seconds':>9}{'vs xmr':>9}")
    for name, t in [("xmr popcount on 64-bit words", t_fast), ("byte-wise XOR + popcount (before)",
                    t_old), ("+-1 GEMM on unpacked codes (NumPy)", t_gemm)]:
        print(f"{name:<40}{t:>9.3f}{t / t_fast:>8.1f}x")

    proto = ProtocolSpec(relevance="shared_label", distance="hamming",
                         map_at_r_denominator="retrieved_relevant", empty_queries="zero")
    qs = Side({"image": torch.from_numpy(pq)}, torch.zeros(len(pq)), torch.from_numpy(lq),
              np.arange(len(pq)))
    dbs = Side({"text": torch.from_numpy(pdb)}, torch.zeros(len(pdb)), torch.from_numpy(ldb),
               np.arange(len(pdb)))
    res, t_xmr = best_of(lambda: evaluate_task("i2t", qs, dbs, proto, ["map", "map@100"]),
                         args.repeat)
    n_ref = min(args.ref_queries, args.queries)
    (ap_all, ap_cut), t_loop = best_of(
        lambda: loop_reference(bq[:n_ref], bdb, lq[:n_ref], ldb), args.repeat)
    t_loop *= args.queries / n_ref
    d = max(np.abs(res.per_query["map"][:n_ref] - ap_all).max(),
            np.abs(res.per_query["map@100"][:n_ref] - ap_cut).max())
    print(f"{'MAP@all + MAP@100':<40}{'seconds':>9}{'vs loop':>9}")
    print(f"{'xmr evaluate_task (hamming)':<40}{t_xmr:>9.2f}{t_loop / t_xmr:>8.1f}x")
    print(f"{'unpacked NumPy + stable argsort (scaled)':<40}{t_loop:>9.2f}{1.0:>8.1f}x")
    print(f"MAP {res.metrics['map']:.6f}  MAP@100 {res.metrics['map@100']:.6f}; max |dMAP| per "
          f"query vs loop {d:.1e}")
    if d > 1e-9:
        raise SystemExit("values disagree with the reference loop")


if __name__ == "__main__":
    main()
