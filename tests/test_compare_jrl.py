"""JRL (issue 15): the objective against a direct sum over graph edges, its closed-form updates,
and the properties its regularisers are there for."""

from __future__ import annotations

import numpy as np
import pytest


from xmr.phases.jfssl import knn_graph
from xmr.phases.jrl import jrl_objective, jrl_solve, normalised_laplacian
from xmr.spec.models import JRLPhase

from test_compare_shallow import _data, _run, _spec


def _phase(**kw) -> JRLPhase:
    base = {"type": "jrl", "labels": 1.0, "pairs": 0.5, "graph": 2.0, "sparsity": 1.0,
            "neighbours": 5, "iterations": 25, "tol": 0.0}
    return JRLPhase.model_validate({**base, **kw})


def _views(data):
    tr = data.split("train")
    x, y = data.x[tr], data.y[tr]
    xs = [(v - v.mean(0)) / v.std(0) for v in (x, y)]
    return xs, np.eye(4)[data.cat[tr]]


def _objective_by_loops(xs, xbars, us, y, spec, k) -> float:
    """The same objective written term by term: the graph term as the sum over edges of the
    degree-normalised differences, 1/2 sum_ij a_ij ||f_i / sqrt(d_i) - f_j / sqrt(d_j)||^2."""
    total = 0.0
    for x, xb, u in zip(xs, xbars, us):
        total += spec.labels * sum(float(np.sum((x[i] @ u - y[i]) ** 2)) for i in range(len(x)))
        a = knn_graph(xb, k)
        d = a.sum(1)
        f = xb @ u
        edges = 0.0
        for i, j in zip(*np.nonzero(a)):
            edges += a[i, j] * np.sum((f[i] / np.sqrt(d[i]) - f[j] / np.sqrt(d[j])) ** 2)
        total += spec.graph * 0.5 * edges
        total += spec.sparsity * sum(float(np.sqrt(np.sum(u[r] ** 2))) for r in range(len(u)))
    total += spec.pairs * sum(float(np.sum((xs[0][i] @ us[0] - xs[1][i] @ us[1]) ** 2))
                              for i in range(len(xs[0])))
    return total


def test_jrl_objective_equals_the_sum_over_edges_and_updates_descend():
    data = _data()
    xs, y = _views(data)
    spec = _phase()
    us, history = jrl_solve(xs, y, spec)
    assert all(b <= a * (1 + 1e-9) for a, b in zip(history, history[1:]))  # IRLS descends
    laps = [normalised_laplacian(x, 5) for x in xs]
    assert history[-1] == pytest.approx(jrl_objective(xs, xs, laps, us, y, spec), rel=1e-12)
    assert history[-1] == pytest.approx(_objective_by_loops(xs, xs, us, y, spec, 5), rel=1e-9)


def test_jrl_last_update_is_the_stationary_point_of_its_reweighted_system():
    data = _data()
    xs, y = _views(data)
    spec = _phase(iterations=60)
    us, _ = jrl_solve(xs, y, spec)
    lap = normalised_laplacian(xs[1], 5)
    r = np.diag(1 / (2 * np.linalg.norm(us[1], axis=1) + 1e-8))
    grad = (spec.labels * xs[1].T @ (xs[1] @ us[1] - y)
            + spec.pairs * xs[1].T @ (xs[1] @ us[1] - xs[0] @ us[0])
            + spec.graph * xs[1].T @ lap @ xs[1] @ us[1] + spec.sparsity * r @ us[1])
    assert np.abs(grad).max() < 1e-3 * np.abs(xs[1].T @ y).max()


def test_jrl_pair_term_pulls_the_two_projections_of_a_pair_together():
    data = _data()
    xs, y = _views(data)
    gap = {}
    for pairs in (0.0, 50.0):
        us, _ = jrl_solve(xs, y, _phase(pairs=pairs))
        gap[pairs] = float(np.sum((xs[0] @ us[0] - xs[1] @ us[1]) ** 2))
    assert gap[50.0] < 0.5 * gap[0.0]


def test_jrl_graph_smooths_outputs_over_neighbours_unlabelled_items_included():
    """The graph term makes kNN neighbours' outputs agree, on items that have no label too;
    the unlabelled rows change the projections only through the graph."""
    data = _data()
    xs, y = _views(data)
    te = data.split("test")
    extra = [(v[te] - v[data.split("train")].mean(0)) / v[data.split("train")].std(0)
             for v in (data.x, data.y)]
    xbar = np.vstack([xs[0], extra[0]])
    lap = normalised_laplacian(xbar, 5)
    rough = {}
    for graph in (0.0, 200.0):
        us, _ = jrl_solve(xs, y, _phase(graph=graph), unlabeled=extra)
        f = xbar @ us[0]
        rough[graph] = float(np.trace(f.T @ lap @ f) / np.trace(f.T @ f))
    assert rough[200.0] < 0.6 * rough[0.0]
    plain, _ = jrl_solve(xs, y, _phase(graph=0.0))
    semi, _ = jrl_solve(xs, y, _phase(graph=0.0), unlabeled=extra)
    np.testing.assert_allclose(plain[0], semi[0], atol=1e-12)  # no graph: unlabelled rows inert
    with_graph, _ = jrl_solve(xs, y, _phase(), unlabeled=extra)
    assert np.abs(with_graph[0] - jrl_solve(xs, y, _phase())[0][0]).max() > 1e-3


def test_jrl_l21_norm_zeroes_whole_rows():
    data = _data()
    xs, y = _views(data)
    norms = {}
    for lam in (0.0, 60.0):
        us, _ = jrl_solve(xs, y, _phase(sparsity=lam, iterations=60))
        rows = np.linalg.norm(us[0], axis=1)
        norms[lam] = np.sort(rows / rows.max())
    assert norms[60.0][:3].max() < 0.05 < norms[0.0][:3].min()


def test_jrl_phase_folds_the_standardisation_into_the_linear_branches():
    data = _data()
    phase = {"type": "jrl", "labels": 1.0, "pairs": 0.5, "graph": 2.0, "sparsity": 1.0,
             "neighbours": 5, "iterations": 10}
    _, _, (zx, zy), report = _run(phase, {"type": "linear", "out": 4})
    xs, y = _views(data)
    us, history = jrl_solve(xs, y, JRLPhase.model_validate(phase))
    tr = data.split("train")
    np.testing.assert_allclose(zx[tr], xs[0] @ us[0], atol=1e-4)
    np.testing.assert_allclose(zy[tr], xs[1] @ us[1], atol=1e-4)
    assert report["objective"] == pytest.approx(history)


def test_jrl_needs_the_label_space_and_a_validation_split_for_unlabeled_val():
    with pytest.raises(ValueError, match="must be the number of labels, 4, not 3"):
        _run({"type": "jrl"}, {"type": "linear", "out": 3})
    with pytest.raises(ValueError, match="validation split is empty"):
        _run({"type": "jrl", "unlabeled": "val"}, {"type": "linear", "out": 4})


def test_validate_refuses_jrl_on_other_branches():
    from xmr.spec.checks import check_registered_names
    from xmr.spec.load import SpecError
    from xmr.spec.models import ExperimentSpec

    spec = ExperimentSpec.model_validate(_spec({"image": {"type": "mlp"},
                                                "text": {"type": "linear"}}, {"type": "jrl"}))
    with pytest.raises(SpecError, match="fills linear branches; architecture.image is mlp"):
        check_registered_names(spec, "spec.yaml")


def test_validate_refuses_unlabeled_val_without_a_validation_split():
    from xmr.spec.load import SpecError, load_spec

    sets = ["training.phases.0.unlabeled=val", "dataset.split.val=0"]
    with pytest.raises(SpecError, match="unlabeled: val, but dataset.split draws no validation"):
        load_spec("specs/compare/scenes/jrl.yaml", sets=sets)
    load_spec("specs/compare/scenes/jrl.yaml", sets=sets[:1])  # the spec's own split has one
    load_spec("specs/compare/scenes/jrl.yaml", sets=sets[1:] + ["training.phases.0.unlabeled=none"])


def test_jrl_runs_end_to_end(tiny_store, tmp_path):
    import json

    from xmr.cli import main

    out = tmp_path / "jrl.json"
    assert main(["run", "specs/compare/scenes/jrl.yaml", "--store", str(tiny_store),
                 "--metrics-out", str(out), "--set", "dataset.params.n_items=80",
                 "--set", "dataset.params.image_size=48"]) == 0
    log = json.loads((tiny_store / "experiments" / "compare_scenes_jrl" /
                      "train_log.json").read_text())
    objective = log["phases"][0]["objective"]
    assert len(objective) >= 1 and all(b <= a for a, b in zip(objective, objective[1:]))
    assert 0 <= json.loads(out.read_text())["tasks"]["i2t"]["map"] <= 1
