"""How long the uncsm metric network takes to score every query x database pair, against the
per-pair reference (each pair's [image; text] concatenated and run through the whole network,
as the stand-in scorer did), in one process on the same weights; the values must agree.

    python benchmarks/uncsm_scoring.py [--threads N] [--nus-queries 64]

Sizes: the Wikipedia test set of the uncsm split (462 x 462) and of the official one
(693 x 693), and NUS-WIDE's (33,955 queries x 33,955 items, uncsm 4.1): its full score matrix
is 1.15e9 pairs, so a slice of ``--nus-queries`` queries against the whole database is timed
and the full run extrapolated; the memory of one chunk is what bounds it. Prints seconds
(minimum of 3 runs), the speed-up, the largest score difference, and the peak of the process's
resident memory while scoring the NUS slice (measured first, so that the
high-water mark is its own).
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from xmr.model import MetricNetwork


def reference(net: MetricNetwork, img: torch.Tensor, txt: torch.Tensor,
              pair_batch: int = 65536) -> torch.Tensor:
    """Every pair concatenated and scored by the full network, ``pair_batch`` pairs at a time."""
    out = torch.empty(len(img), len(txt))
    rows = max(1, pair_batch // len(txt))
    with torch.no_grad():
        for s in range(0, len(img), rows):
            q = img[s:s + rows]
            a = q[:, None, :].expand(-1, len(txt), -1).reshape(-1, img.shape[1])
            b = txt[None].expand(len(q), -1, -1).reshape(-1, txt.shape[1])
            out[s:s + len(q)] = net.score(a, b).view(len(q), len(txt))
    return out


def best_of(fn, repeats: int = 3) -> tuple[float, torch.Tensor]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--nus-queries", type=int, default=64)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = MetricNetwork(256, [512, 512, 512]).eval()
    print(f"metric network 512 -> 512 -> 512 -> 512 -> 2, torch threads {torch.get_num_threads()}")
    n_db, n_q = 33_955, args.nus_queries
    img, txt = torch.randn(n_q, 256), torch.randn(n_db, 256)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_new, new = best_of(lambda: net.score_matrix(img, txt), repeats=1)
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_ref, ref = best_of(lambda: reference(net, img, txt), repeats=1)
    full = 33_955 / n_q
    nus_line = (f"{f'nus-wide {n_q} x {n_db:,} (slice)':<34}{n_q * n_db:>14,}{t_new:>9.2f}"
                f"{t_ref:>13.2f}{t_ref / t_new:>9.1f}x{float((new - ref).abs().max()):>12.1e}")
    nus_note = (f"nus-wide 33,955 x 33,955, extrapolated: xmr {t_new * full / 60:.0f} min, "
                f"reference {t_ref * full / 60:.0f} min; peak resident memory grew "
                f"{(rss1 - rss0) / 1024:.0f} MB while xmr scored the slice (one chunk: 65,536 "
                "pairs x 512 float32 = 134 MB per layer output)")
    del img, txt, new, ref

    print(f"{'case':<34}{'pairs':>14}{'xmr s':>9}{'reference s':>13}{'speed-up':>10}{'max |diff|':>12}")
    for name, n_q, n_db in (("wikipedia uncsm test 462 x 462", 462, 462),
                            ("wikipedia official test 693 x 693", 693, 693)):
        img, txt = torch.randn(n_q, 256), torch.randn(n_db, 256)
        t_ref, ref = best_of(lambda: reference(net, img, txt))
        t_new, new = best_of(lambda: net.score_matrix(img, txt))
        print(f"{name:<34}{n_q * n_db:>14,}{t_new:>9.2f}{t_ref:>13.2f}{t_ref / t_new:>9.1f}x"
              f"{float((new - ref).abs().max()):>12.1e}")
    print(nus_line)
    print(nus_note)


if __name__ == "__main__":
    main()
