"""CCA on the real Wikipedia features stored as float64 and as float32: MAP with and without the
rank detection of `xmr.phases.cca` (the float32 case is what a user gets from a float32 file).

    python benchmarks/cca_dtype.py [--root ../shared/data/wikipedia]

Trains on the official 2,173 training pairs, ranks the 693 test pairs by cosine, category
relevance, MAP over the whole list. "no rank detection" (`rank_rtol: 0`) reproduces the behaviour
before it: every direction kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy.io import loadmat

from xmr.phases.cca import fit_cca


def mean_ap(q: np.ndarray, db: np.ndarray, qc: np.ndarray, dc: np.ndarray) -> float:
    """Direct MAP: cosine scores, stable sort, AP per query over the whole list."""
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    dn = db / np.maximum(np.linalg.norm(db, axis=1, keepdims=True), 1e-12)
    aps = []
    for i in range(len(q)):
        order = np.argsort(-(dn @ qn[i]), kind="stable")
        rel = (dc[order] == qc[i]).astype(float)
        hits = np.cumsum(rel)
        aps.append(float((hits / np.arange(1, len(rel) + 1) * rel).sum() / max(rel.sum(), 1)))
    return float(np.mean(aps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/data/wikipedia")
    root = Path(ap.parse_args().root)
    mat = loadmat(root / "raw_features.mat")
    cats = {s: np.array([int(ln.split("\t")[2]) for ln in (root / f).read_text().splitlines() if ln.strip()])
            for s, f in (("tr", "trainset_txt_img_cat.list"), ("te", "testset_txt_img_cat.list"))}
    print(f"{'stored as':<10} {'rank detection':<15} {'ranks I/T':>9} {'last corr':>9} {'I->T':>7} {'T->I':>7}")
    for stored in (np.float64, np.float32):
        x = {s: mat[f"I_{s}"].astype(stored).astype(np.float64) for s in ("tr", "te")}
        y = {s: mat[f"T_{s}"].astype(stored).astype(np.float64) for s in ("tr", "te")}
        for detect in (True, False):
            (wx, bx), (wy, by), rep = fit_cca(x["tr"], y["tr"], 10, rank_rtol=None if detect else 0.0)
            qi, qt = x["te"] @ wx.T + bx, y["te"] @ wy.T + by
            i2t, t2i = mean_ap(qi, qt, cats["te"], cats["te"]), mean_ap(qt, qi, cats["te"], cats["te"])
            print(f"{np.dtype(stored).name:<10} {'yes' if detect else 'no':<15} "
                  f"{'%d/%d' % (rep['ranks']['image'], rep['ranks']['text']):>9} {rep['train_canonical_correlations'][-1]:>9.4f} "
                  f"{i2t:>7.4f} {t2i:>7.4f}")


if __name__ == "__main__":
    main()
