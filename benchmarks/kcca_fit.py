"""The `kcca` phase's fit (cca-zoo's `KCCA` stopped once its dual weights are set) against
cca-zoo's `KCCA.fit` as a user would call it, on uncsm's Wikipedia shape: the 2,173 training
pairs' 128-d SIFT BoVW and 3,000-word counts (or random data of that shape without the data).

    python benchmarks/kcca_fit.py [--root ../shared/data/wikipedia] [--items 600]

Both fits run in this process on the same inputs; the script checks that the weights, means and
centring statistics are identical and prints the two times and their ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def views(root: Path, items: int) -> tuple[np.ndarray, np.ndarray, str]:
    """SIFT BoVW and 3,000-word counts of the first ``items`` training pairs, or random data of
    that shape when the Wikipedia release is not at ``root``."""
    if (root / "raw_features.mat").exists():
        from scipy.io import loadmat
        from sklearn.feature_extraction.text import CountVectorizer

        mat = loadmat(root / "raw_features.mat")
        img = np.asarray(mat["I_tr"], dtype=np.float64)[:items]
        ids = [ln.split("\t")[0] for ln in (root / "trainset_txt_img_cat.list").read_text()
               .splitlines() if ln.strip()][:items]
        texts = [(root / "texts" / f"{i}.xml").read_text(errors="replace") for i in ids]
        counts = CountVectorizer(max_features=3000).fit_transform(texts).toarray()
        return img, counts.astype(np.float64), "Wikipedia"
    rng = np.random.default_rng(0)
    return (rng.random((items, 128)), rng.poisson(0.05, (items, 3000)).astype(np.float64),
            "random data of Wikipedia's shape")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="../shared/data/wikipedia")
    ap.add_argument("--items", type=int, default=600)
    args = ap.parse_args()
    from cca_zoo.nonparametric import KCCA

    from xmr.phases.subspace import weights_only_kcca

    x, y, what = views(Path(args.root), args.items)
    kw = dict(n_components=10, shrinkage=0.01, kernel=["rbf", "rbf"], gamma=[16.0, 1e-3])
    t0 = time.perf_counter()
    ours = weights_only_kcca()(**kw).fit([x, y])
    t1 = time.perf_counter()
    ref = KCCA(**kw).fit([x, y])
    t2 = time.perf_counter()
    for i in range(2):
        assert np.array_equal(ours.weights_[i], ref.weights_[i]), "dual weights differ"
        assert np.array_equal(ours.means_[i], ref.means_[i]), "means differ"
        assert np.array_equal(ours._centerers_[i].K_fit_rows_, ref._centerers_[i].K_fit_rows_)
    print(f"{what}: {len(x)} pairs, {x.shape[1]}-d / {y.shape[1]}-d, RBF kernels")
    print(f"  xmr kcca fit        {t1 - t0:8.2f} s")
    print(f"  cca-zoo KCCA.fit    {t2 - t1:8.2f} s")
    print(f"  ratio               {(t2 - t1) / (t1 - t0):8.1f} x   (weights identical)")


if __name__ == "__main__":
    main()
