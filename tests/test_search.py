"""FAISS search (`protocol.search`): top-K metrics equal to the exact ranking's where ties
cannot differ, IVF probing every cell equal to the flat index, and the validation rules."""

import numpy as np
import pytest
import torch

from xmr.metrics import Side, evaluate_task, pack_codes
from xmr.metrics.search import FaissSearch
from xmr.spec.load import SpecError, validate_spec
from xmr.spec.models import ProtocolSpec

pytest.importorskip("faiss")

TOPK = ["map@5", "map@20", "p@10", "r@15", "hit@1"]


def _side(reps, category, items):
    reps = torch.as_tensor(reps)
    return Side({"image": reps, "text": reps}, torch.as_tensor(category),
                torch.zeros(len(category), 1), items)


@pytest.mark.parametrize("distance", ["cosine", "inner_product", "euclidean"])
@pytest.mark.parametrize("task", ["i2t", "i2i"])
def test_faiss_flat_equals_exact_on_distinct_scores(distance, task):
    rng = np.random.default_rng(0)
    q, db = rng.standard_normal((30, 12)).astype(np.float32), rng.standard_normal((300, 12)).astype(np.float32)
    cq, cdb = rng.integers(0, 5, 30), rng.integers(0, 5, 300)
    queries = _side(db[:30] if task == "i2i" else q, cdb[:30] if task == "i2i" else cq, np.arange(30))
    database = _side(db, cdb, np.arange(300))
    exact = ProtocolSpec(distance=distance)
    flat = exact.model_copy(update={"search": "faiss_flat", "search_k": 40})
    ivf_all = exact.model_copy(update={"search": "faiss_ivf", "search_k": 40, "ivf_lists": 4,
                                       "ivf_probe": 4})
    want = evaluate_task(task, queries, database, exact, TOPK)
    for proto in (flat, ivf_all):
        got = evaluate_task(task, queries, database, proto, TOPK)
        for m in TOPK:
            np.testing.assert_allclose(got.per_query[m], want.per_query[m], atol=1e-12, err_msg=m)
        assert got.pr["rank"][-1] == 40 and got.n_empty == want.n_empty


def test_faiss_ivf_is_approximate_with_few_probes():
    rng = np.random.default_rng(1)
    db = rng.standard_normal((2000, 16)).astype(np.float32)
    proto = ProtocolSpec(distance="inner_product", search="faiss_ivf", search_k=50,
                         ivf_lists=64, ivf_probe=1)
    exact = FaissSearch(proto.model_copy(update={"search": "faiss_flat"}), db, 50, 1)
    approx = FaissSearch(proto, db, 50, 1)
    a, e = approx.search(db[:20]), exact.search(db[:20])
    overlap = np.mean([len(set(x) & set(y)) / 50 for x, y in zip(a, e)])
    assert 0.05 < overlap < 1.0  # one cell of 64 finds part of the true top 50, not all


def test_faiss_binary_flat_returns_the_nearest_codes():
    """Codes at 0, 1, 2, ... flipped bits from the query: distinct distances, so the top-K is
    determined, and equal to the exact Hamming evaluation's."""
    rng = np.random.default_rng(2)
    base = np.where(rng.random(64) < 0.5, -1, 1)
    db = np.stack([base * np.where(np.arange(64) < i, -1, 1) for i in range(64)])[::-1].copy()
    codes = pack_codes(db)
    idx = FaissSearch(ProtocolSpec(distance="hamming", search="faiss_flat"), codes, 10, 1)
    np.testing.assert_array_equal(idx.search(pack_codes(base[None]))[0], np.arange(63, 53, -1))
    cat = np.arange(64) % 3
    queries, database = _side(pack_codes(base[None]), [0], np.array([100])), _side(codes, cat,
                                                                               np.arange(64))
    proto = ProtocolSpec(distance="hamming", search="faiss_flat", search_k=30)
    got = evaluate_task("i2t", queries, database, proto, ["map@10", "p@5", "r@30"])
    want = evaluate_task("i2t", queries, database, ProtocolSpec(distance="hamming"),
                         ["map@10", "p@5", "r@30"])
    for m in got.per_query:
        np.testing.assert_allclose(got.per_query[m], want.per_query[m], atol=1e-12)


def _spec(protocol: dict, metrics: list[str], **evaluation):
    return {"name": "s", "dataset": {"name": "scenes"},
            "features": {"image": {"extractor": "color_histogram"},
                         "text": {"extractor": "bow"}},
            "architecture": {"image": {"type": "mlp", "out": 8}, "text": {"type": "mlp", "out": 8}},
            "losses": [{"name": "triplet"}],
            "training": {"phases": [{"type": "gradient", "epochs": 1}]},
            "evaluation": {"protocol": protocol, "metrics": metrics, **evaluation}}


@pytest.mark.parametrize("metrics,extra,message", [
    (["map"], {}, "needs the whole ranking"),
    (["map@100", "p@2000"], {}, "reaches beyond"),
    (["map@100"], {"map_curve": [50, 5000]}, "map_curve"),
    (["map@100"], {"also_distances": ["euclidean"]}, "also_distances"),
])
def test_validate_rejects_what_a_faiss_search_cannot_compute(metrics, extra, message):
    proto = {"search": "faiss_flat", "search_k": 1000}
    with pytest.raises(SpecError, match=message):
        validate_spec(_spec(proto, metrics, **extra), "s.yaml")
    validate_spec(_spec({"search": "exact"}, metrics, **extra), "s.yaml")  # exact: fine
