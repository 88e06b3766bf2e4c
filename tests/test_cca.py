"""The `cca` phase's fit: equal to scikit-learn's CCA on full-rank views, and independent of the
storage dtype on rank-deficient ones (rows that sum to 1, as LDA topics and histograms do)."""

from __future__ import annotations

import numpy as np
from sklearn.cross_decomposition import CCA

from xmr.phases.cca import fit_cca, numerical_rank


def _views(n=300, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3))
    x = z @ rng.normal(size=(3, 12)) + 0.5 * rng.normal(size=(n, 12))
    topics = np.exp(z @ rng.normal(size=(3, 6)) + 0.3 * rng.normal(size=(n, 6)))
    return x, topics / topics.sum(1, keepdims=True)  # rows sum to 1: rank 5 once centred


def test_full_rank_equals_sklearn():
    x, _ = _views()
    y = x[:, :6] @ np.random.default_rng(1).normal(size=(6, 6)) + np.random.default_rng(2).normal(size=(300, 6))
    (wx, bx), (wy, by), rep = fit_cca(x, y, 4)
    assert rep["ranks"] == {"image": 12, "text": 6} and rep["components"] == 4
    ref = CCA(n_components=4, max_iter=500).fit(x, y)
    rx, ry = ref.transform(x, y)
    np.testing.assert_allclose(x @ wx.T + bx, rx, atol=1e-8)
    np.testing.assert_allclose(y @ wy.T + by, ry, atol=1e-8)


def test_rank_deficient_view_does_not_depend_on_dtype():
    x, y = _views()
    assert numerical_rank(y) == 5 and numerical_rank(y.astype(np.float32).astype(np.float64)) == 5
    outs = {}
    for dtype in (np.float64, np.float32):
        xs, ys = (v.astype(dtype).astype(np.float64) for v in (x, y))
        (wx, bx), (wy, by), rep = fit_cca(xs, ys, 6)
        assert rep["ranks"]["text"] == 5 and rep["components"] == 5
        outs[dtype] = (xs @ wx.T + bx, ys @ wy.T + by)
        assert np.all(outs[dtype][0][:, 5] == 0)  # the component beyond the rank is zero
    for a, b in zip(outs[np.float64], outs[np.float32]):
        np.testing.assert_allclose(np.abs(a), np.abs(b), atol=1e-3)


def test_without_rank_detection_float32_rounding_makes_a_spurious_direction():
    x, y = _views()
    y32 = y.astype(np.float32).astype(np.float64)
    *_, rep = fit_cca(x, y32, 6, rank_rtol=0.0)
    assert rep["ranks"]["text"] == 6 and rep["components"] == 6  # the rounding noise is kept
