"""The fast evaluation path (radix orders, metrics from relevant ranks, popcount Hamming, chunks
sized from a memory budget) against the direct forms: stable comparison sort + cumulative sums
(`chunk_metrics`), a per-query loop, and the plain Python reference of test_metrics."""

import math

import numpy as np
import pytest
import torch

from test_metrics import reference
from xmr.metrics import Side, chunk_metrics, evaluate_task, hamming_distance, pack_codes, ranked_relevance
from xmr.metrics import evaluate as evaluate_module
from xmr.metrics.evaluate import BYTES_PER_ITEM, BYTES_PER_PAIR, chunk_rows
from xmr.metrics.functional import radius_counts, radius_metrics, relevance
from xmr.metrics.ranking import descending_keys, distance_order, relevance_rows, stable_order
from xmr.spec.models import ProtocolSpec

@pytest.fixture(autouse=True, params=["direct", "per_query"])
def path(request, monkeypatch):
    """Every test runs through both paths: the direct form that small databases take, and the
    per-query radix ranking of large ones (forced here for small inputs)."""
    if request.param == "per_query":
        monkeypatch.setattr(evaluate_module, "DIRECT_BELOW", 0)
    return request.param


METRICS = ["map", "map@1", "map@4", "map@50", "p@1", "p@6", "r@3", "r@100", "hit@1", "hit@5"]


def _scores(rng, shape, kind):
    if kind == "ties":
        return rng.integers(-3, 4, shape).astype(np.float32) / 2
    s = rng.standard_normal(shape).astype(np.float32)
    if kind == "mixed":  # ties, signed zeros, infinities, extremes
        s.flat[::5] = 0.25
        s.flat[1::7] = -0.0
        s.flat[2::7] = 0.0
        s.flat[3::11] = -np.inf
        s.flat[4::13] = np.finfo(np.float32).max
        s.flat[6::17] = np.finfo(np.float32).tiny
        s.flat[8::19] = -np.finfo(np.float32).tiny
    return s


@pytest.mark.parametrize("kind", ["normal", "ties", "mixed"])
@pytest.mark.parametrize("n", [1, 2, 17, 70000])
def test_stable_order_is_the_stable_descending_sort(kind, n):
    s = _scores(np.random.default_rng(n), n, kind)
    expected = torch.sort(torch.from_numpy(s), descending=True, stable=True).indices.numpy()
    np.testing.assert_array_equal(stable_order(s), expected)


def test_descending_keys_order_signed_zeros_equal():
    s = np.array([-0.0, 0.0, -1.0, 1.0, -np.inf, np.inf], np.float32)
    k = descending_keys(s).view(np.uint32)
    assert k[0] == k[1] and k[3] < k[1] < k[2] < k[4] and k[5] < k[3]


@pytest.mark.parametrize("top", [0, 3, 64, 255, 256, 1000])
def test_distance_order_is_a_stable_counting_sort(top):
    d = np.random.default_rng(top).integers(0, top + 1, 5000).astype(np.int32)
    np.testing.assert_array_equal(distance_order(d), np.argsort(d, kind="stable"))


@pytest.mark.parametrize("bits", [1, 7, 13, 64, 65, 130])
def test_popcount_hamming_matches_naive(bits):
    rng = np.random.default_rng(bits)
    a = np.where(rng.random((9, bits)) < 0.5, -1, 1)
    b = np.where(rng.random((23, bits)) < 0.5, -1, 1)
    naive = (a[:, None, :] != b[None, :, :]).sum(-1)
    np.testing.assert_array_equal(hamming_distance(pack_codes(a), pack_codes(b)), naive)


def _side(reps, category, labels, items):
    return Side({"image": torch.as_tensor(reps), "text": torch.as_tensor(reps)},
                torch.as_tensor(category), torch.as_tensor(labels, dtype=torch.float32), items)


def _direct(scores, rel, exclude, metrics, denominator, cutoffs):
    """The direct form on the whole (q, n) matrix: stable comparison sort, float64 cumsums."""
    ranked = ranked_relevance(torch.from_numpy(scores), torch.from_numpy(rel),
                              torch.from_numpy(exclude))
    return chunk_metrics(ranked, metrics, denominator, torch.from_numpy(cutoffs))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["ties", "mixed"])
@pytest.mark.parametrize("chunk", [1, 3, 1000])
@pytest.mark.parametrize("denominator", ["retrieved_relevant", "min_r_relevant"])
def test_evaluate_matches_direct_form(seed, kind, chunk, denominator):
    """A scorer that returns chosen scores (each query's representation is its row number), so
    ties and extremes reach the ranking; queries with nothing relevant and excluded self
    matches (i2i) are included; chunk sizes cross the query count."""
    rng = np.random.default_rng(seed)
    q, n, c = 11, 40, 4
    target = _scores(rng, (q, n), kind)
    target[np.isinf(target)] = -np.finfo(np.float32).max  # excluded items alone score -inf
    rows = np.arange(q, dtype=np.float32)[:, None]
    scorer = lambda qr, _db: torch.from_numpy(target[qr[:, 0].long().numpy()])  # noqa: E731
    cat_db = rng.integers(0, c, n)
    cat_q = rng.integers(0, c + 1, q)
    cat_q[[1, 5]] = c  # category c: nothing relevant
    items_db = np.arange(n)
    items_q = rng.choice(n + 5, q, replace=False)  # some queries are in the database
    proto = ProtocolSpec(distance="inner_product", map_at_r_denominator=denominator,
                         exclude_self=True)
    res = evaluate_task("i2i", _side(rows, cat_q, np.zeros((q, 1)), items_q),
                        _side(np.zeros((n, 1)), cat_db, np.zeros((n, 1)), items_db), proto,
                        METRICS, pr_points=7, query_chunk=chunk, scorer=scorer)
    rel = cat_q[:, None] == cat_db[None, :]
    exclude = items_q[:, None] == items_db[None, :]
    cutoffs = res.pr["rank"]
    want, curves = _direct(target, rel, exclude, METRICS, denominator, cutoffs)
    for m in METRICS:
        np.testing.assert_allclose(res.per_query[m], want[m].numpy(), rtol=0, atol=1e-12,
                                   err_msg=m)
        for i in range(q):  # and the plain Python reference
            ref = reference(target[i], rel[i] & ~exclude[i], exclude[i], m, denominator)
            got = res.per_query[m][i]
            assert (math.isnan(ref) and math.isnan(got)) or abs(ref - got) < 1e-12, (m, i)
    ok = curves["n_relevant"] > 0
    assert res.n_empty == int((~ok).sum()) > 0
    np.testing.assert_allclose(res.pr["precision"], curves["precision"][ok].mean(0).numpy(),
                               atol=1e-12)
    np.testing.assert_allclose(res.pr["recall"], curves["recall"][ok].mean(0).numpy(), atol=1e-12)


@pytest.mark.parametrize("bits", [13, 64, 70])
@pytest.mark.parametrize("chunk", [2, 1000])
def test_hamming_evaluation_matches_direct_form(bits, chunk):
    """Counting-sort ranking of popcount distances = the direct form on -distance scores, with
    multi-label relevance, an excluded self match and radius counts."""
    rng = np.random.default_rng(bits)
    q, n = 9, 300
    codes_db = np.where(rng.random((n, bits)) < 0.5, -1, 1)
    codes_q = codes_db[:q].copy()
    codes_q[:, : bits // 2] *= np.where(rng.random((q, bits // 2)) < 0.2, -1, 1)
    labels_db = (rng.random((n, 5)) < 0.4).astype(np.float32)
    labels_q = labels_db[:q].copy()
    labels_q[0] = 0  # nothing relevant
    metrics = ["map", "map@20", "p@10", "hp@0", "hr@2", "hf1@2"]
    proto = ProtocolSpec(distance="hamming", relevance="shared_label", exclude_self=True,
                         map_at_r_denominator="retrieved_relevant")
    res = evaluate_task("i2i", _side(pack_codes(codes_q), np.zeros(q), labels_q, np.arange(q)),
                        _side(pack_codes(codes_db), np.zeros(n), labels_db, np.arange(n)),
                        proto, metrics, query_chunk=chunk)
    dist = (codes_q[:, None, :] != codes_db[None, :, :]).sum(-1)
    rel = (labels_q @ labels_db.T) > 0
    exclude = np.arange(q)[:, None] == np.arange(n)[None, :]
    want, _ = _direct(-dist.astype(np.float32), rel, exclude, metrics[:3], proto.map_at_r_denominator,
                      res.pr["rank"])
    for m in metrics[:3]:
        np.testing.assert_allclose(res.per_query[m], want[m].numpy(), atol=1e-12, err_msg=m)
    found, hits = radius_counts(torch.from_numpy(dist), torch.from_numpy(rel), 8 * (-(-bits // 8)),
                                torch.from_numpy(exclude))
    per_radius = radius_metrics(found, hits, torch.from_numpy((rel & ~exclude).sum(1)))
    np.testing.assert_allclose(res.per_query["hp@0"], per_radius["hp"][:, 0], atol=1e-12)
    np.testing.assert_allclose(res.per_query["hr@2"], per_radius["hr"][:, 2], atol=1e-12)
    assert math.isnan(res.per_query["hp@0"][0]) and not np.isnan(res.per_query["hp@0"]).all()


def test_memory_budget_sets_the_chunk_and_not_the_values():
    n = 188_321
    budget = 2 ** 30 - 2 * BYTES_PER_ITEM * n
    assert chunk_rows(n, 4096, 1024, 2) == budget // (BYTES_PER_PAIR * n) > 256
    assert chunk_rows(n, 256, 1024, 2) == 256
    assert chunk_rows(10 ** 9, 256, 64, 2) == 1  # never below one query
    rng = np.random.default_rng(0)
    emb = rng.integers(-3, 4, (500, 8)).astype(np.float32)  # exact scores under any blocking
    cat = rng.integers(0, 5, 500)
    side = _side(emb, cat, np.zeros((500, 1)), np.arange(500))
    proto = ProtocolSpec(distance="inner_product")
    big = evaluate_task("i2t", side, side, proto, ["map", "p@5"])
    small = evaluate_task("i2t", side, side, proto, ["map", "p@5"], memory_mb=64,
                          query_chunk=7, threads=3)
    for m in ("map", "p@5"):
        np.testing.assert_array_equal(big.per_query[m], small.per_query[m])


def test_nan_scores_name_the_query():
    emb = np.ones((4, 3), np.float32)
    emb[2, 0] = np.nan
    queries = _side(emb, np.zeros(4), np.zeros((4, 1)), np.arange(4))
    database = _side(np.ones((4, 3), np.float32), np.zeros(4), np.zeros((4, 1)), np.arange(4))
    with pytest.raises(ValueError, match="query 2 has NaN scores"):
        evaluate_task("i2t", queries, database, ProtocolSpec(distance="inner_product"), ["map"])


@pytest.mark.parametrize("rule,n_labels", [("category", 3), ("instance", 3), ("shared_label", 1),
                                           ("shared_label", 8), ("shared_label", 21),
                                           ("shared_label", 64), ("shared_label", 70)])
def test_relevance_rows_equal_the_matrix_form(rule, n_labels):
    rng = np.random.default_rng(n_labels)
    qc, dc = torch.as_tensor(rng.integers(0, 4, 6)), torch.as_tensor(rng.integers(0, 4, 50))
    density = min(0.3, 2.0 / n_labels)
    ql = torch.as_tensor((rng.random((6, n_labels)) < density).astype(np.float32))
    dl = torch.as_tensor((rng.random((50, n_labels)) < density).astype(np.float32))
    qi, di = rng.integers(0, 60, 6), np.arange(50)
    want = relevance(qc, dc, ql, dl, rule, torch.as_tensor(qi), torch.as_tensor(di)).numpy()
    row = relevance_rows(qc, dc, ql, dl, rule, qi, di)
    np.testing.assert_array_equal(np.stack([row(i) for i in range(6)]), want)
    assert want.any() and not want.all()
