"""Top-K search with FAISS, for databases beyond what exact full rankings can afford.

`protocol.search` picks the index: `faiss_flat` (exact scores: IndexFlatIP / IndexFlatL2, and
IndexBinaryFlat for Hamming codes) or `faiss_ivf` (approximate: an inverted file of
`ivf_lists` k-means cells trained on the database, `ivf_probe` of them visited per query;
IndexBinaryIVF for codes). Each query gets its `search_k` best database positions; metrics are
computed within them, so only top-K metrics (MAP@R, P@N, R@K, hit@K with cut-offs <= K) are
allowed, and `xmr validate` says so. FAISS orders equal scores its own way, not by database
position. The protocol (search kind and its parameters) is stamped into metrics.json beside
every number, so exact and approximate results are never confused.
"""

from __future__ import annotations

import numpy as np


def _faiss():
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a dependency
        raise ImportError("protocol.search 'faiss_*' needs faiss-cpu "
                          "(pip install faiss-cpu)") from exc
    return faiss


class FaissSearch:
    """An index over one task's database; `search(queries)` -> (q, k) positions, -1 padded."""

    def __init__(self, protocol, database: np.ndarray, k: int, threads: int):
        faiss = _faiss()
        faiss.omp_set_num_threads(threads)
        self.distance, self.k = protocol.distance, k
        ivf = protocol.search == "faiss_ivf"
        lists = max(1, min(protocol.ivf_lists, len(database)))
        if self.distance == "hamming":
            codes = np.ascontiguousarray(database, np.uint8)
            bits = 8 * codes.shape[1]
            if ivf:
                self.index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, lists)
                self.index.train(codes)
                self.index.nprobe = protocol.ivf_probe
            else:
                self.index = faiss.IndexBinaryFlat(bits)
            self.index.add(codes)
            return
        if self.distance not in ("cosine", "inner_product", "euclidean"):
            raise ValueError(f"protocol.search {protocol.search!r}: distance "
                             f"{self.distance!r} has no FAISS index")
        x = self._vectors(database)
        metric = faiss.METRIC_L2 if self.distance == "euclidean" else faiss.METRIC_INNER_PRODUCT
        flat_type = faiss.IndexFlatL2 if self.distance == "euclidean" else faiss.IndexFlatIP
        flat = flat_type(x.shape[1])
        if ivf:
            self.index = faiss.IndexIVFFlat(flat, x.shape[1], lists, metric)
            self.index.train(x)
            self.index.nprobe = protocol.ivf_probe
            self._quantizer = flat  # the IVF index does not own it
        else:
            self.index = flat
        self.index.add(x)

    def _vectors(self, x) -> np.ndarray:
        x = np.ascontiguousarray(np.asarray(x, np.float32))
        if self.distance == "cosine":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(x, np.float32)

    def search(self, queries, k: int | None = None) -> np.ndarray:
        k = min(k or self.k, self.index.ntotal)
        if self.distance == "hamming":
            _, idx = self.index.search(np.ascontiguousarray(queries, np.uint8), k)
        else:
            _, idx = self.index.search(self._vectors(queries), k)
        return idx
