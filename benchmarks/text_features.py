"""Text features on the real Wikipedia articles: build time and T->T MAP of each vectorisation.

    python benchmarks/text_features.py [--root ../shared/data/wikipedia] [--store store/scratch/bench]

For each text extractor (fitted on the official training split), prints the build time, the
dimension, the out-of-vocabulary rate where there is one, and the MAP of text-to-text retrieval
on the 693 test articles (cosine, same category = relevant, the query left out of its own
database), next to the released 10-topic LDA features of the same articles. No training happens:
the figures compare how well each raw vectorisation groups articles of one category, the
comparison idcmr makes between BoW, CBOW, skip-gram and GloVe.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from xmr.featurize import Prepared, featurize
from xmr.metrics import Side, evaluate_task
from xmr.pipeline import prepare_step
from xmr.spec.models import DatasetSpec, FeatureSpec, ProtocolSpec
from xmr.store.layout import Store

CASES = [
    ("precomputed", {"name": "lda"}, "released LDA (10 topics)"),
    ("bow", {"vocab_size": 2000, "norm": "l2"}, "BoW 2000 (msdmml)"),
    ("bow", {"vocab_size": 3000, "norm": "l2"}, "BoW 3000 (uncsm)"),
    ("tfidf", {"vocab_size": 3000}, "TF-IDF 3000"),
    ("lda", {"topics": 10, "vocab_size": 5000}, "LDA 10 topics (refitted)"),
    ("word2vec_cbow", {"vector_size": 100, "min_count": 2}, "word2vec CBOW 100"),
    ("word2vec_skipgram", {"vector_size": 100, "min_count": 2}, "word2vec skip-gram 100"),
    ("glove_mean", {}, "GloVe 6B 50-d mean"),
    ("minilm", {}, "MiniLM (first 256 tokens)"),
]


def t2t_map(prepared: Prepared, x: np.ndarray) -> float:
    test = prepared.split_indices("test")
    category = torch.tensor(prepared.items.column("category").to_pylist())[test]
    side = Side({"text": torch.from_numpy(x[test].astype(np.float32))}, category,
                torch.zeros(len(test), 1), test)
    return evaluate_task("t2t", side, side, ProtocolSpec(), ["map"]).metrics["map"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="../shared/data/wikipedia")
    ap.add_argument("--store", default="store/scratch/bench")
    args = ap.parse_args()
    store = Store(Path(args.store))
    spec = DatasetSpec(name="wikipedia", root=args.root, split={"recipe": "official", "val": 0.0})
    if not (store.dataset_dir("wikipedia") / "dataset.json").is_file():
        prepare_step(store, "wikipedia", spec)
    prepared = Prepared.open(store, "wikipedia")
    print(f"{'features':<28} {'dim':>5} {'build s':>8} {'OOV':>6} {'T->T MAP':>9}")
    for extractor, params, label in CASES:
        fspec = FeatureSpec(modality="text", extractor=extractor, params=params)
        t0 = time.perf_counter()
        fs = featurize(store, "wikipedia", fspec)
        seconds = time.perf_counter() - t0
        oov = fs.provenance.get("oov_rate")
        print(f"{label:<28} {fs.data.shape[1]:>5} {seconds:>8.1f} "
              f"{'' if oov is None else f'{oov:.3f}':>6} {t2t_map(prepared, fs.data):>9.3f}")


if __name__ == "__main__":
    main()
