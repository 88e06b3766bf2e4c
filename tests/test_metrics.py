"""Every metric against a direct, slow reference on small random inputs, and hand-worked cases."""

import math

import numpy as np
import pytest
import torch

from xmr.metrics import Side, chunk_metrics, evaluate_task, hamming_distance, pack_codes, ranked_relevance
from xmr.metrics.scorers import SCORERS
from xmr.model import MetricNetwork
from xmr.spec.models import ProtocolSpec

METRICS = ["map", "map@3", "map@10", "p@1", "p@5", "r@2", "r@7", "hit@1", "hit@4"]


def reference(scores, rel, exclude, metric, denominator="retrieved_relevant"):
    """One query, plain Python: rank by (-score, database position), skipping excluded items."""
    order = sorted((j for j in range(len(scores)) if not exclude[j]), key=lambda j: (-scores[j], j))
    hits = [bool(rel[j]) for j in order]
    total = sum(hits)
    base, _, cut = metric.partition("@")
    if base == "map" and not cut:
        if total == 0:
            return math.nan
        found, acc = 0, 0.0
        for k, h in enumerate(hits, 1):
            if h:
                found += 1
                acc += found / k
        return acc / total
    c = int(cut)
    top = hits[:c]
    if base == "map":
        found, acc = 0, 0.0
        for k, h in enumerate(top, 1):
            if h:
                found += 1
                acc += found / k
        denom = found if denominator == "retrieved_relevant" else min(c, total)
        return acc / denom if denom else 0.0
    if base == "p":
        return sum(top) / c
    if base == "hit":
        return float(any(top)) if total else math.nan
    return sum(top) / total if total else math.nan


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("denominator", ["retrieved_relevant", "min_r_relevant"])
def test_chunk_metrics_match_reference(seed, denominator):
    rng = np.random.default_rng(seed)
    q, n = 7, 12
    scores = rng.integers(0, 4, (q, n)).astype(np.float32)  # many ties
    rel = rng.random((q, n)) < 0.3
    rel[0] = False  # a query with nothing relevant
    exclude = np.zeros((q, n), bool)
    exclude[np.arange(q), rng.integers(0, n, q)] = True
    ranked = ranked_relevance(torch.tensor(scores), torch.tensor(rel), torch.tensor(exclude))
    got, _ = chunk_metrics(ranked, METRICS, denominator)
    for m in METRICS:
        want = [reference(scores[i], rel[i], exclude[i], m, denominator) for i in range(q)]
        np.testing.assert_allclose(got[m].numpy(), want, rtol=1e-12, equal_nan=True, err_msg=m)


def test_hand_worked_example_with_ties():
    # scores 0.9, 0.8, 0.8, 0.1; relevant: 2nd and 4th. The tie keeps database order:
    # ranking = [0, 1, 2, 3] -> hits F T F T -> AP = (1/2 + 2/4) / 2 = 0.5
    scores = torch.tensor([[0.9, 0.8, 0.8, 0.1]])
    rel = torch.tensor([[False, True, False, True]])
    got, _ = chunk_metrics(ranked_relevance(scores, rel), ["map", "p@2", "r@2", "map@2"],
                           "retrieved_relevant")
    assert got["map"].item() == pytest.approx(0.5)
    assert got["p@2"].item() == pytest.approx(0.5)
    assert got["r@2"].item() == pytest.approx(0.5)
    assert got["map@2"].item() == pytest.approx(0.5)
    # swapping the tied items' database order changes the ranking: hits F F T T
    rel2 = torch.tensor([[False, False, True, True]])
    got2, _ = chunk_metrics(ranked_relevance(scores, rel2), ["map"], "retrieved_relevant")
    assert got2["map"].item() == pytest.approx((1 / 3 + 2 / 4) / 2)


def _sides(rng, n_q, n_db, dim=5, classes=3):
    def side(n, offset):
        return Side({"image": torch.randn(n, dim), "text": torch.randn(n, dim)},
                    torch.tensor(rng.integers(0, classes, n)), torch.zeros(n, classes),
                    np.arange(offset, offset + n))
    return side(n_q, 0), side(n_db, 0)


def test_chunked_equals_full_and_exclude_self():
    rng = np.random.default_rng(0)
    q, db = _sides(rng, 9, 9)  # same items: I->I must drop each query's own entry
    proto = ProtocolSpec(relevance="category", distance="cosine")
    full = evaluate_task("i2i", q, db, proto, METRICS, query_chunk=1000)
    one = evaluate_task("i2i", q, db, proto, METRICS, query_chunk=1)
    for m in METRICS:
        np.testing.assert_allclose(full.per_query[m], one.per_query[m], equal_nan=True)
        assert full.metrics[m] == pytest.approx(one.metrics[m], nan_ok=True)
    scores = SCORERS.get("cosine")()(q.reps["image"], db.reps["image"]).numpy()
    rel = (q.category[:, None] == db.category[None, :]).numpy()
    for i in range(9):
        excl = np.arange(9) == i
        assert full.per_query["map"][i] == pytest.approx(
            reference(scores[i], rel[i], excl, "map"), nan_ok=True)


def test_empty_query_policy():
    q = Side({"image": torch.eye(3)}, torch.tensor([0, 1, 2]), torch.zeros(3, 3), np.arange(3))
    db = Side({"text": torch.eye(3)}, torch.tensor([0, 1, 1]), torch.zeros(3, 3), np.arange(3))
    skip = evaluate_task("i2t", q, db, ProtocolSpec(empty_queries="skip"), ["map"])
    zero = evaluate_task("i2t", q, db, ProtocolSpec(empty_queries="zero"), ["map"])
    assert skip.n_empty == 1
    # query 0: its match ranks first (AP 1); query 1: hits T F T (ties keep database order),
    # AP = (1 + 2/3) / 2; query 2 has no relevant item.
    ap1 = (1 + 2 / 3) / 2
    assert skip.metrics["map"] == pytest.approx((1 + ap1) / 2)
    assert zero.metrics["map"] == pytest.approx((1 + ap1 + 0) / 3)


def test_shared_label_relevance():
    labels_q = torch.tensor([[1, 0, 1.0]])
    labels_db = torch.tensor([[0, 0, 1.0], [0, 1, 0.0], [1, 1, 0.0]])
    q = Side({"image": torch.tensor([[1.0, 0.0]])}, torch.tensor([-1]), labels_q, np.arange(1))
    db = Side({"text": torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]])}, torch.tensor([-1] * 3),
              labels_db, np.arange(1, 4))
    res = evaluate_task("i2t", q, db, ProtocolSpec(relevance="shared_label"), ["map"])
    # ranking by cosine: item 1 (irrelevant), item 2 (relevant), item 0 (relevant)
    assert res.metrics["map"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_instance_relevance_is_the_own_pair():
    """Caption datasets: only the query's own item is relevant, so AP = 1 / rank of the pair."""
    torch.manual_seed(3)
    n = 7
    q = Side({"image": torch.randn(n, 4)}, torch.full((n,), -1), torch.zeros(n, 1), np.arange(n))
    db = Side({"text": torch.randn(n, 4)}, torch.full((n,), -1), torch.zeros(n, 1), np.arange(n))
    res = evaluate_task("i2t", q, db, ProtocolSpec(relevance="instance"), ["map", "r@1"])
    scores = SCORERS.get("cosine")()(q.reps["image"], db.reps["text"]).numpy()
    for i in range(n):
        rel = np.arange(n) == i
        assert res.per_query["map"][i] == pytest.approx(reference(scores[i], rel, np.zeros(n, bool), "map"))
        rank = 1 + sum(scores[i][j] > scores[i][i] or (scores[i][j] == scores[i][i] and j < i)
                       for j in range(n))
        assert res.per_query["map"][i] == pytest.approx(1 / rank)
    assert res.n_empty == 0


def test_retrieval_database_is_every_non_query_item():
    from xmr.train import Representations, score_splits

    rng = np.random.default_rng(4)
    n = 12
    reps = Representations({"image": rng.normal(size=(n, 3)).astype(np.float32),
                            "text": rng.normal(size=(n, 3)).astype(np.float32)})
    category = torch.tensor(rng.integers(0, 2, n))
    splits = {"test": np.arange(3), "train": np.arange(3, 8), "val": np.arange(8, 9),
              "retrieval": np.arange(3, 12)}
    proto = ProtocolSpec(relevance="category", database="retrieval")
    got = score_splits(reps, category, torch.zeros(n, 2), splits, "test", proto, ["i2t"], ["map"])
    scores = SCORERS.get("cosine")()(torch.from_numpy(reps.embeddings["image"][:3]),
                                     torch.from_numpy(reps.embeddings["text"][3:])).numpy()
    rel = (category[:3, None] == category[None, 3:]).numpy()
    for i in range(3):
        assert got["i2t"].per_query["map"][i] == pytest.approx(
            reference(scores[i], rel[i], np.zeros(9, bool), "map"), nan_ok=True)


def test_pr_curve_matches_reference():
    rng = np.random.default_rng(3)
    q, db = _sides(rng, 6, 20)
    res = evaluate_task("i2t", q, db, ProtocolSpec(), ["map"], pr_points=5)
    scores = SCORERS.get("cosine")()(q.reps["image"], db.reps["text"]).numpy()
    rel = (q.category[:, None] == db.category[None, :]).numpy()
    for j, k in enumerate(res.pr["rank"]):
        precisions, recalls = [], []
        for i in range(6):
            order = sorted(range(20), key=lambda t: (-scores[i, t], t))
            if rel[i].sum() == 0:
                continue
            hits = rel[i][order][:k].sum()
            precisions.append(hits / k)
            recalls.append(hits / rel[i].sum())
        assert res.pr["precision"][j] == pytest.approx(np.mean(precisions))
        assert res.pr["recall"][j] == pytest.approx(np.mean(recalls))


def test_hamming_on_packed_codes_matches_naive():
    rng = np.random.default_rng(1)
    a = np.where(rng.random((7, 37)) < 0.5, -1, 1)
    b = np.where(rng.random((11, 37)) < 0.5, -1, 1)
    naive = (a[:, None, :] != b[None, :, :]).sum(-1)
    np.testing.assert_array_equal(hamming_distance(pack_codes(a), pack_codes(b)), naive)
    assert pack_codes(a).shape == (7, 5) and pack_codes(a).dtype == np.uint8


def test_learned_scorer_batches_pairs_like_a_loop():
    torch.manual_seed(0)
    net = MetricNetwork(4, [8])
    img, txt = torch.randn(5, 4), torch.randn(6, 4)
    got = SCORERS.get("learned")(net, pair_batch=7)(img, txt)
    want = torch.tensor([[float(net.score(img[i:i + 1], txt[j:j + 1]).detach()) for j in range(6)] for i in range(5)])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    got_t2i = SCORERS.get("learned")(net, pair_batch=7)(txt, img, image_first=False)
    torch.testing.assert_close(got_t2i, want.T, rtol=1e-5, atol=1e-5)
