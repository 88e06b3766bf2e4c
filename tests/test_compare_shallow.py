"""The shallow comparison methods (issue 15): each against the library called directly or a
direct eigen-solution on a small case, and a property from its paper."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.linalg import eigh

from xmr.model import CrossModalModel
from xmr.phases import PHASES, PhaseContext
from xmr.phases.jfssl import jfssl_objective, jfssl_solve, knn_graph
from xmr.phases.subspace import mcca_eigenvalues, ml_cca_solve
from xmr.spec.load import SpecError
from xmr.spec.models import ArchitectureSpec, ExperimentSpec, TrainingSpec


class _View:
    def __init__(self, x: np.ndarray):
        self.x, self.offsets, self.dim = torch.as_tensor(x), None, x.shape[1]

    def take(self, idx):
        return self.x[idx]


def _data(n=120, classes=4, seed=0, train=90):
    """Two views driven by a class and a shared latent; the first ``train`` rows are training."""
    rng = np.random.default_rng(seed)
    cat = rng.integers(0, classes, n)
    centre = rng.normal(size=(classes, 3))
    z = centre[cat] + 0.7 * rng.normal(size=(n, 3))
    x = z @ rng.normal(size=(3, 8)) + 0.4 * rng.normal(size=(n, 8))
    y = np.tanh(z @ rng.normal(size=(3, 6))) + 0.4 * rng.normal(size=(n, 6))
    split = np.array(["train"] * train + ["test"] * (n - train))
    return SimpleNamespace(
        views={"image": _View(x), "text": _View(y)}, category=torch.as_tensor(cat),
        labels=torch.eye(classes)[cat], relevance="category", n_classes=classes,
        split=lambda name: np.flatnonzero(split == name), x=x, y=y, cat=cat, train=train)


def _run(phase: dict, image: dict, text: dict | None = None, data=None):
    data = data or _data()
    arch = ArchitectureSpec.model_validate(
        {"image": {"input": "image", **image}, "text": {"input": "text", **(text or image)},
         "label_head": False})
    model = CrossModalModel(arch, {"image": data.x.shape[1], "text": data.y.shape[1]},
                            data.n_classes)
    spec = TrainingSpec.model_validate({"phases": [phase]}).phases[0]
    ctx = PhaseContext(spec=None, model=model, data=data, device=torch.device("cpu"),
                       generator=np.random.default_rng(0), validate=lambda: 0.0)
    report = PHASES.get(spec.type)(ctx, spec)
    with torch.no_grad():
        out = [model.encode(m, torch.as_tensor(v)).double().numpy()
               for m, v in (("image", data.x), ("text", data.y))]
    return model, data, out, report


def _same_up_to_sign(a, b, **tol):
    signs = np.sign((a * b).sum(0))
    np.testing.assert_allclose(a * signs, b, **tol)


# ----------------------------------------------------------------------------- kernel CCA


@pytest.mark.parametrize("kernel", [{"kernel": "rbf", "gamma": 0.2},
                                    {"kernel": "poly", "degree": 2, "gamma": 0.5, "coef0": 1.0},
                                    {"kernel": "linear"}])
def test_kcca_branches_equal_cca_zoo_on_new_items(kernel):
    from cca_zoo.nonparametric import KCCA

    model, data, (zx, zy), _ = _run({"type": "kcca", "shrinkage": 0.2},
                                    {"type": "kernel", "out": 3, **kernel})
    tr = data.split("train")
    ref = KCCA(n_components=3, shrinkage=0.2, kernel=kernel["kernel"],
               gamma=kernel.get("gamma"), degree=kernel.get("degree", 3),
               coef0=kernel.get("coef0", 1.0)).fit([data.x[tr], data.y[tr]])
    rx, ry = ref.transform([data.x, data.y])  # the test rows are new to both
    np.testing.assert_allclose(zx, rx, atol=1e-6)
    np.testing.assert_allclose(zy, ry, atol=1e-6)


def test_kernel_branch_is_restored_from_its_state_dict():
    model, data, (zx, _), _ = _run({"type": "kcca"}, {"type": "kernel", "out": 2})
    fresh = CrossModalModel(ArchitectureSpec.model_validate(
        {"image": {"type": "kernel", "out": 2, "input": "image"},
         "text": {"type": "kernel", "out": 2, "input": "text"}, "label_head": False}),
        {"image": 8, "text": 6}, 4)
    with pytest.raises(RuntimeError, match="not fitted"):
        fresh.encode("image", torch.as_tensor(data.x))
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        np.testing.assert_array_equal(fresh.encode("image", torch.as_tensor(data.x)).numpy(),
                                      zx.astype(np.float32))


def test_kcca_rbf_correlates_a_nonlinear_relation_linear_cca_misses():
    """Hardoon et al.'s motivation: y = x^2 is uncorrelated with x, but not in an RBF space."""
    rng = np.random.default_rng(3)
    t = rng.uniform(-1, 1, size=(200, 1))
    data = _data(n=200, train=150)
    data.x, data.y = t, t ** 2 + 0.01 * rng.normal(size=t.shape)
    data.views = {"image": _View(data.x), "text": _View(data.y)}
    _, _, (zx, zy), rep = _run({"type": "kcca", "shrinkage": 0.01},
                               {"type": "kernel", "out": 1, "kernel": "rbf", "gamma": 2.0},
                               data=data)
    linear = abs(np.corrcoef(t[:150, 0], data.y[:150, 0])[0, 1])
    assert linear < 0.2 and rep["train_correlations"][0] > 0.9


# ---------------------------------------------------------------------------- PLS and CFA


def test_pls_equals_scikit_learn():
    from sklearn.cross_decomposition import PLSCanonical

    _, data, (zx, zy), _ = _run({"type": "pls"}, {"type": "linear", "out": 3})
    tr = data.split("train")
    rx, ry = PLSCanonical(n_components=3, scale=False).fit(data.x[tr], data.y[tr]).transform(
        data.x, data.y)
    np.testing.assert_allclose(zx, rx, atol=1e-8)
    np.testing.assert_allclose(zy, ry, atol=1e-8)


def test_cfa_is_the_svd_of_the_cross_covariance_and_maximises_the_coupling():
    """Li et al.: with orthogonal A, B, ||XA - YB||^2 = ||X||^2 + ||Y||^2 - 2 tr(A'X'YB), so CFA
    maximises the coupling tr(A'X'YB) over orthonormal pairs."""
    model, data, (zx, zy), _ = _run({"type": "cfa"}, {"type": "linear", "out": 3})
    tr = data.split("train")
    x, y = data.x[tr] - data.x[tr].mean(0), data.y[tr] - data.y[tr].mean(0)
    u, _, vt = np.linalg.svd(x.T @ y)
    a = model.branches["image"].proj.weight.detach().numpy().T
    b = model.branches["text"].proj.weight.detach().numpy().T
    _same_up_to_sign(a, u[:, :3], atol=1e-8)
    _same_up_to_sign(b, vt[:3].T, atol=1e-8)
    np.testing.assert_allclose(a.T @ a, np.eye(3), atol=1e-10)  # CFA's orthonormal transforms
    best = np.trace(a.T @ x.T @ y @ b)
    rng = np.random.default_rng(0)
    for _ in range(20):  # any other orthonormal pair is coupled less
        qa = np.linalg.qr(rng.normal(size=(8, 3)))[0]
        qb = np.linalg.qr(rng.normal(size=(6, 3)))[0]
        assert np.trace(qa.T @ x.T @ y @ qb) < best
    # full-size orthogonal transforms: the SVD's pair is the closest, as the identity above says
    u6, v6 = u[:, :6], vt.T
    pad = np.zeros((len(y), 2))
    nearest = np.linalg.norm(x @ u - np.hstack([y @ v6, pad]))
    for _ in range(20):
        qa = np.linalg.qr(rng.normal(size=(8, 8)))[0]
        qb = np.linalg.qr(rng.normal(size=(6, 6)))[0]
        assert np.linalg.norm(x @ qa - np.hstack([y @ qb, pad])) > nearest


# ------------------------------------------------------------------------ 3V-CCA and ml-CCA


def _blocks(views, shrinkage):
    cs = [v - v.mean(0) for v in views]
    full = np.hstack(cs).T @ np.hstack(cs) / (len(cs[0]) - 1)
    edges = np.cumsum([0] + [v.shape[1] for v in views])
    a, b = full.copy(), np.zeros_like(full)
    for s, e in zip(edges[:-1], edges[1:]):  # A: between-view blocks; B: within, shrunk
        a[s:e, s:e] = 0
        b[s:e, s:e] = (1 - shrinkage) * full[s:e, s:e] + shrinkage * np.eye(e - s)
    return a, b


def test_three_view_cca_eigenvalues_against_the_direct_generalized_eigenproblem():
    from cca_zoo.linear import MCCA

    data = _data()
    tr = data.split("train")
    views = [data.x[tr], data.y[tr], np.eye(4)[data.cat[tr]]]
    model = MCCA(n_components=2, shrinkage=0.3).fit(views)
    lam = mcca_eigenvalues(views, [np.asarray(w) for w in model.weights_], 0.3)
    a, b = _blocks(views, 0.3)
    direct = eigh(a, b, eigvals_only=True)[::-1][:2]
    np.testing.assert_allclose(lam, direct, rtol=1e-6)


def test_three_view_cca_scales_components_by_eigenvalue_power():
    _, _, (z0, _), rep0 = _run({"type": "three_view_cca", "power": 0}, {"type": "linear", "out": 2})
    _, _, (z4, _), rep4 = _run({"type": "three_view_cca", "power": 4}, {"type": "linear", "out": 2})
    lam = np.asarray(rep4["eigenvalues"])
    np.testing.assert_allclose(z4, z0 * lam ** 4, rtol=1e-6)  # the branch outputs float32
    assert lam[0] >= lam[1] > 0


def test_ml_cca_against_the_direct_eigen_solution():
    data = _data()
    tr = data.split("train")
    x, y = data.x[tr] - data.x[tr].mean(0), data.y[tr] - data.y[tr].mean(0)
    labels = np.eye(4)[data.cat[tr]]
    wx, wy, s = ml_cca_solve(x, y, labels, 3, shrinkage=0.0)
    sim = labels @ labels.T  # cosine of one-hot labels: same class
    cxy = x.T @ sim @ y / sim.sum()
    cxx, cyy = x.T @ x / len(x), y.T @ y / len(y)
    a = np.block([[np.zeros_like(cxx), cxy], [cxy.T, np.zeros_like(cyy)]])
    b = np.block([[cxx, np.zeros((8, 6))], [np.zeros((6, 8)), cyy]])
    np.testing.assert_allclose(s, eigh(a, b, eigvals_only=True)[::-1][:3], rtol=1e-8)
    np.testing.assert_allclose(np.diag(wx.T @ cxy @ wy), s, rtol=1e-8)  # the constraint holds
    np.testing.assert_allclose(wx.T @ cxx @ wx, np.eye(3), atol=1e-8)


def test_ml_cca_with_one_label_per_item_is_cca():
    from cca_zoo.linear import CCA

    data = _data()
    tr = data.split("train")
    x, y = data.x[tr] - data.x[tr].mean(0), data.y[tr] - data.y[tr].mean(0)
    _, _, s = ml_cca_solve(x, y, np.eye(len(tr)), 3, shrinkage=0.0)
    zx, zy = CCA(n_components=3).fit([x, y]).transform([x, y])
    np.testing.assert_allclose(s, [np.corrcoef(a, b)[0, 1] for a, b in zip(zx.T, zy.T)],
                               rtol=1e-6)


def test_ml_cca_needs_a_label_for_every_item():
    with pytest.raises(ValueError, match="no label"):
        ml_cca_solve(np.ones((3, 2)), np.ones((3, 2)), np.array([[1.0], [0.0], [1.0]]), 1)


# ------------------------------------------------------------------------------ SM and SCM


def _sk_posteriors(z, cat, train):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        z[:train], cat[:train]).predict_proba(z)


def test_semantic_matching_posteriors_equal_scikit_learn():
    _, data, (px, py), rep = _run({"type": "semantic_matching"},
                                  {"type": "linear", "out": 4, "output": "softmax"})
    np.testing.assert_allclose(px, _sk_posteriors(data.x, data.cat, data.train), atol=1e-6)
    np.testing.assert_allclose(py, _sk_posteriors(data.y, data.cat, data.train), atol=1e-6)
    np.testing.assert_allclose(px.sum(1), 1, atol=1e-6)
    assert rep["train_accuracy"]["image"] > 0.5  # four classes: chance is 0.25


def test_scm_classifies_the_cca_projections():
    from xmr.phases.cca import fit_cca

    _, data, (px, py), _ = _run({"type": "semantic_matching", "subspace": "cca", "components": 2},
                                {"type": "linear", "out": 4, "output": "softmax"})
    tr = data.split("train")
    (wx, bx), (wy, by), _ = fit_cca(data.x[tr], data.y[tr], 2)
    np.testing.assert_allclose(px, _sk_posteriors(data.x @ wx.T + bx, data.cat, data.train),
                               atol=1e-6)
    np.testing.assert_allclose(py, _sk_posteriors(data.y @ wy.T + by, data.cat, data.train),
                               atol=1e-6)


# ---------------------------------------------------------------------------------- JFSSL


def test_jfssl_updates_never_increase_the_objective_and_solve_their_system():
    data = _data()
    tr = data.split("train")
    xs, y = [data.x[tr], data.y[tr]], np.eye(4)[data.cat[tr]]
    us, history = jfssl_solve(xs, y, lambda1=0.5, lambda2=0.01, neighbours=5, iterations=15)
    assert all(b <= a * (1 + 1e-9) for a, b in zip(history, history[1:]))  # IRLS descends
    # the last update of U_2 is the stationary point of the reweighted objective
    n = len(y)
    same = (y @ y.T > 0).astype(float)
    w = np.block([[knn_graph(xs[0], 5), same], [same.T, knn_graph(xs[1], 5)]])
    lap = np.diag(w.sum(1)) - w
    r = np.diag(1 / (2 * np.linalg.norm(us[1], axis=1) + 1e-8))
    f = np.vstack([xs[0] @ us[0], xs[1] @ us[1]])
    grad = (xs[1].T @ (xs[1] @ us[1] - y) + 0.5 * r @ us[1]
            + 0.01 * xs[1].T @ (lap @ f)[n:])
    # R was computed from the U_2 before the update; one more reweighting moves little
    assert np.abs(grad).max() < 0.05 * np.abs(xs[1].T @ y).max()
    assert history[-1] == pytest.approx(jfssl_objective(xs, us, y, lap, 0.5, 0.01))


def test_jfssl_l21_norm_selects_features():
    data = _data()
    tr = data.split("train")
    xs, y = [data.x[tr], data.y[tr]], np.eye(4)[data.cat[tr]]
    norms = {}
    for lam in (0.0, 200.0):
        us, _ = jfssl_solve(xs, y, lambda1=lam, lambda2=0.0, neighbours=5, iterations=30)
        rows = np.linalg.norm(us[0], axis=1)
        norms[lam] = np.sort(rows / rows.max())
    assert norms[200.0][:3].max() < 0.05 < norms[0.0][:3].min()  # whole rows go to zero


# ------------------------------------------------------------------------- what validate says


def _spec(arch: dict, phase: dict, protocol="category_cosine") -> dict:
    return {"name": "x", "dataset": {"name": "scenes", "split": {"recipe": "random"}},
            "features": {"image": {"extractor": "bow"}, "text": {"extractor": "bow"}},
            "architecture": {**arch, "label_head": False},
            "training": {"phases": [phase]}, "evaluation": {"protocol": protocol}}


@pytest.mark.parametrize("arch, phase, message", [
    ({"image": {"type": "linear"}, "text": {"type": "linear"}}, {"type": "kcca"},
     "fills kernel branches; architecture.image is linear"),
    ({"image": {"type": "mlp"}, "text": {"type": "linear"}}, {"type": "pls"},
     "fills linear branches; architecture.image is mlp"),
    ({"image": {"type": "linear", "out": 4}, "text": {"type": "linear", "out": 5}},
     {"type": "ml_cca"}, "image.out \\(4\\) and text.out \\(5\\) must be equal"),
    ({"image": {"type": "linear"}, "text": {"type": "linear"}}, {"type": "semantic_matching"},
     "output must be softmax"),
])
def test_validate_rejects_what_the_phase_would(arch, phase, message):
    from xmr.spec.checks import check_registered_names

    spec = ExperimentSpec.model_validate(_spec(arch, phase))
    with pytest.raises(SpecError, match=message):
        check_registered_names(spec, "spec.yaml")


def test_validate_rejects_semantic_matching_on_multilabel_protocols():
    from xmr.spec.checks import check_registered_names

    spec = ExperimentSpec.model_validate(_spec(
        {"image": {"type": "linear", "output": "softmax"},
         "text": {"type": "linear", "output": "softmax"}},
        {"type": "semantic_matching"}, protocol="multilabel_cosine"))
    with pytest.raises(SpecError, match="single-label"):
        check_registered_names(spec, "spec.yaml")


def test_an_error_in_a_kernel_branch_names_the_field_not_the_tag(tmp_path, capsys):
    """The branch type `kernel` is also one of its fields: pydantic's location
    (architecture.image.kernel.out) must still read as architecture.image.out."""
    import yaml

    from xmr.cli import main

    data = yaml.safe_load(open("specs/compare/wikipedia/kcca_rbf.yaml"))
    for field, value in (("out", -3), ("kernel", "sigmoid")):
        bad = yaml.safe_load(yaml.safe_dump(data))
        bad["architecture"]["image"][field] = value
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(bad))
        assert main(["validate", str(path)]) == 1
        assert f"  architecture.image.{field}:" in capsys.readouterr().err


def test_kcca_and_sm_run_end_to_end_with_extra_distances(tiny_store, tmp_path):
    """Through `xmr run` (train, store, reload, evaluate): the kernel branch survives the stored
    model, and the extra distances carry the spec's metrics."""
    import json

    from xmr.cli import main

    tiny = ["--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48"]
    # the features of test_e2e's tiny scenes run: cached in the shared store
    for name in ("kcca_rbf", "sm"):
        out = tmp_path / f"{name}.json"
        assert main(["run", f"specs/compare/scenes/{name}.yaml", "--store", str(tiny_store),
                     "--metrics-out", str(out), *tiny]) == 0
        m = json.loads(out.read_text())
        assert set(m["distances"]) == {"euclidean", "inner_product"}
        for dist in m["distances"].values():
            assert set(dist["i2t"]) == {"map", "map@100"} and 0 <= dist["i2t"]["map"] <= 1
        assert 0 <= m["tasks"]["t2i"]["map"] <= 1


@pytest.mark.parametrize("method", ["SCM", "SePH", "ml-CCA"])
def test_label_similarity_methods_name_the_training_items_without_labels(method):
    import pyarrow as pa

    from xmr.phases.subspace import label_view

    labels = torch.tensor([[1, 0], [0, 0], [0, 1], [0, 0]], dtype=torch.float32)
    data = SimpleNamespace(relevance="shared_label", labels=labels,
                           prepared=SimpleNamespace(items=pa.table({"item_id": list("abcd")})))
    ctx = SimpleNamespace(data=data)
    assert label_view(ctx, np.array([0, 2])).shape == (2, 2)  # every item labelled: fine
    with pytest.raises(ValueError, match=f"{method}: 2 training item\\(s\\) have no label \\(b, d\\)"):
        label_view(ctx, np.array([0, 1, 2, 3]), method)
    assert label_view(ctx, np.array([0, 1]))[1].sum() == 0  # unchecked without a method
