"""The deep real-valued comparison methods (issue 15): DCCA's objective against the direct
eigen-solution, the output CCA against scikit-learn called directly, each loss against a direct
formula and a property from its paper, the decoders of the autoencoder variants, and what
`xmr validate` refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.linalg import eigh

from xmr.losses import LOSSES, Batch
from xmr.losses.correlation import total_correlation
from xmr.model import CrossModalModel
from xmr.phases import PHASES, PhaseContext
from xmr.spec.load import SpecError
from xmr.spec.models import ArchitectureSpec, ExperimentSpec, TrainingSpec
from xmr.spec.losses import LabelCEParams, PairwiseLikelihoodParams
from xmr.spec.deep import CosineEmbeddingParams, CorrelationParams, ReconstructionParams

from test_compare_shallow import _data


def _batch(cat) -> Batch:
    cat = torch.as_tensor(cat)
    return Batch(torch.arange(len(cat)), cat, torch.eye(int(cat.max()) + 1)[cat], "category")


def _direct_correlations(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Canonical correlations as the generalized eigenproblem
    [0 S12; S21 0] w = rho [S11 0; 0 S22] w, whose positive eigenvalues are the correlations."""
    x, y = x - x.mean(0), y - y.mean(0)
    n, p, q = len(x), x.shape[1], y.shape[1]
    s11 = x.T @ x / (n - 1) + ridge * np.eye(p)
    s22 = y.T @ y / (n - 1) + ridge * np.eye(q)
    s12 = x.T @ y / (n - 1)
    a = np.block([[np.zeros((p, p)), s12], [s12.T, np.zeros((q, q))]])
    b = np.block([[s11, np.zeros((p, q))], [np.zeros((q, p)), s22]])
    rho = eigh(a, b, eigvals_only=True)[::-1]
    return rho[:min(p, q)]


@pytest.mark.parametrize("ridge, components", [(0.0, None), (1e-2, None), (1e-3, 2)])
def test_total_correlation_equals_the_direct_eigen_solution(ridge, components):
    d = _data()
    rho = _direct_correlations(d.x, d.y, ridge)
    want = rho.sum() if components is None else rho[:components].sum()
    got = total_correlation(torch.as_tensor(d.x, dtype=torch.float32),
                            torch.as_tensor(d.y, dtype=torch.float32), ridge, components)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_total_correlation_ignores_invertible_linear_maps_of_either_view():
    """The trace norm of T is invariant to any invertible linear map (and shift) of either
    output: DCCA's objective does not care in which basis the network answers (with r = 0)."""
    d = _data()
    x, y = torch.as_tensor(d.x), torch.as_tensor(d.y)
    a = torch.as_tensor(np.random.default_rng(1).normal(size=(8, 8)))
    base = total_correlation(x, y, 0.0)
    assert float(total_correlation(x @ a + 3.0, y, 0.0)) == pytest.approx(float(base), rel=1e-8)


def test_dcca_training_reaches_the_linear_cca_optimum():
    """With linear 'networks' the DCCA objective's optimum is linear CCA's: gradient ascent on
    the loss from random maps reaches the closed-form total correlation of the top 3 pairs."""
    d = _data()
    x, y = torch.as_tensor(d.x, dtype=torch.float32), torch.as_tensor(d.y, dtype=torch.float32)
    want = _direct_correlations(d.x, d.y, 1e-4)[:3].sum()
    torch.manual_seed(0)
    fx, fy = torch.nn.Linear(8, 3), torch.nn.Linear(6, 3)
    loss = LOSSES.get("cca_correlation")(CorrelationParams(ridge=1e-4))
    opt = torch.optim.Adam([*fx.parameters(), *fy.parameters()], lr=0.05)
    with torch.no_grad():
        start = float(total_correlation(fx(x), fy(y), 1e-4))
    for _ in range(400):
        value = loss({"image": fx(x), "text": fy(y)}, _batch(d.cat), None)
        opt.zero_grad()
        value.backward()
        opt.step()
    with torch.no_grad():
        end = float(total_correlation(fx(x), fy(y), 1e-4))
    assert start < 0.8 * want and end == pytest.approx(want, rel=2e-3)
    assert float(value.detach()) == pytest.approx(-end, rel=1e-3)


def _model(arch: dict, d) -> CrossModalModel:
    spec = ArchitectureSpec.model_validate({"label_head": False, **arch})
    return CrossModalModel(spec, {"image": d.x.shape[1], "text": d.y.shape[1]}, d.n_classes)


def test_output_cca_equals_scikit_learn_on_the_trained_outputs():
    """The `output_cca` phase is scikit-learn's CCA of the branches' training outputs: new items
    map to sklearn's transform of their outputs; the model state (with the fitted flag) survives
    a reload."""
    from sklearn.cross_decomposition import CCA

    d = _data()
    d.take = lambda m, idx: d.views[m].take(idx)
    torch.manual_seed(0)
    model = _model({"image": {"type": "mlp", "input": "image", "hidden": [16], "out": 5,
                              "normalize": False},
                    "text": {"type": "mlp", "input": "text", "hidden": [16], "out": 5,
                             "normalize": False},
                    "output_cca": {"out": 3}}, d)
    x, y = torch.as_tensor(d.x), torch.as_tensor(d.y)
    with torch.no_grad():
        hx, hy = model.encode("image", x).double().numpy(), model.encode("text", y).double().numpy()
    spec = TrainingSpec.model_validate({"phases": [{"type": "output_cca"}]}).phases[0]
    ctx = PhaseContext(spec=None, model=model, data=d, device=torch.device("cpu"),
                       generator=np.random.default_rng(0), validate=lambda: 0.0)
    report = PHASES.get("output_cca")(ctx, spec)
    ref = CCA(n_components=3, max_iter=500).fit(hx[:d.train], hy[:d.train])
    want_x, want_y = ref.transform(hx, hy)
    with torch.no_grad():
        got_x, got_y = model.encode("image", x).numpy(), model.encode("text", y).numpy()
    np.testing.assert_allclose(got_x, want_x, atol=1e-4)
    np.testing.assert_allclose(got_y, want_y, atol=1e-4)
    corr = report["train_canonical_correlations"]
    assert corr == sorted(corr, reverse=True) and corr[0] > 0.5
    again = _model({"image": {"type": "mlp", "input": "image", "hidden": [16], "out": 5,
                              "normalize": False},
                    "text": {"type": "mlp", "input": "text", "hidden": [16], "out": 5,
                             "normalize": False},
                    "output_cca": {"out": 3}}, d)
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        np.testing.assert_array_equal(again.encode("image", x).numpy(), got_x)


# ------------------------------------------------------------------------- autoencoders


@pytest.mark.parametrize("targets, names", [
    (["self"], {"image_to_image", "text_to_text"}),
    (["cross"], {"image_to_text", "text_to_image"}),
    (["self", "cross"], {"image_to_image", "image_to_text", "text_to_image", "text_to_text"}),
])
def test_corr_ae_variants_decode_what_their_paper_says(targets, names):
    """Corr-AE reconstructs each modality's own input, Corr-Cross the other's, Corr-Full both."""
    d = _data()
    model = _model({"image": {"type": "mlp", "input": "image", "out": 4, "normalize": False},
                    "text": {"type": "mlp", "input": "text", "out": 4, "normalize": False},
                    "decoders": {"targets": targets}}, d)
    assert set(model.decoders) == names
    for name, dec in model.decoders.items():
        assert dec[-1].out_features == {"image": 8, "text": 6}[name.split("_to_")[1]]


def test_reconstruction_loss_equals_the_direct_sum():
    d = _data()
    torch.manual_seed(0)
    model = _model({"image": {"type": "mlp", "input": "image", "out": 4, "normalize": False},
                    "text": {"type": "mlp", "input": "text", "out": 4, "normalize": False},
                    "decoders": {"targets": ["self", "cross"], "hidden": [5]}}, d)
    inputs = {"image": torch.as_tensor(d.x[:20]), "text": torch.as_tensor(d.y[:20])}
    out = model(inputs)
    batch = _batch(d.cat[:20])
    for scale in ("none", "variance"):
        got = LOSSES.get("reconstruction")(ReconstructionParams(scale=scale))(out, batch, model)
        want = 0.0
        for src in ("image", "text"):
            for tgt in ("image", "text"):
                xt = inputs[tgt].float()
                rec = model.decoders[f"{src}_to_{tgt}"](out[src])
                per_item = sum(float(((rec[i] - xt[i]) ** 2).sum().detach())
                               for i in range(20)) / 20
                denom = float(xt.var(0, unbiased=False).sum()) if scale == "variance" else 1.0
                want += per_item / denom
        assert float(got.detach()) == pytest.approx(want, rel=1e-5)


def test_bimodal_autoencoder_encodes_a_modality_alone_with_the_other_input_zero():
    """Ngiam et al.: one hidden layer over both inputs; an image alone is the joint code with
    the text input zero, and the decoders reconstruct both modalities from each code."""
    d = _data()
    torch.manual_seed(0)
    model = _model({"image": {"type": "mlp", "input": "image", "hidden": [], "out": 7,
                              "normalize": False},
                    "text": {"type": "mlp", "input": "text", "hidden": [], "out": 7,
                             "normalize": False},
                    "shared": {"out": 3}, "fusion": "sum",
                    "decoders": {"targets": ["self", "cross"]}}, d)
    x, y = torch.as_tensor(d.x[:10]), torch.as_tensor(d.y[:10])
    with torch.no_grad():
        alone = model.encode("image", x)
        joint_zero_text = model.joint({"image": x, "text": torch.zeros_like(y)})
        out = model({"image": x, "text": y})
    torch.testing.assert_close(alone, joint_zero_text)
    assert set(model.decoders) == {"any_to_image", "any_to_text"}
    assert {"image", "text", "joint"} <= set(out)
    loss = LOSSES.get("reconstruction")(ReconstructionParams())(out, _batch(d.cat[:10]), model)
    with torch.no_grad():
        want = sum(float(((model.decoders[f"any_to_{t}"](out[c]) - v.float()) ** 2).sum()) / 10
                   for t, v in (("image", x), ("text", y)) for c in ("image", "text", "joint"))
    assert float(loss.detach()) == pytest.approx(want, rel=1e-5)


# ------------------------------------------------------------------------- supervised losses


def test_cosine_embedding_loss_equals_torch_on_the_listed_pairs():
    """Recipe's loss against torch's cosine_embedding_loss on explicit pairs: own pairs (target
    1) and negatives (target -1), their means mixed 20 / 80."""
    rng = np.random.default_rng(0)
    u, v = torch.as_tensor(rng.normal(size=(6, 5))), torch.as_tensor(rng.normal(size=(6, 5)))
    cat = torch.tensor([0, 0, 1, 1, 2, 2])
    for negatives in ("instance", "irrelevant"):
        p = CosineEmbeddingParams(margin=0.1, negatives=negatives, negative_share=0.8)
        got = LOSSES.get("cosine_embedding")(p)({"image": u, "text": v}, _batch(cat), None)
        i, j = np.meshgrid(range(6), range(6), indexing="ij")
        neg = (i != j) if negatives == "instance" else (cat[i] != cat[j]).numpy()
        ni, nj = torch.as_tensor(i[neg]), torch.as_tensor(j[neg])
        pos = F.cosine_embedding_loss(u, v, torch.ones(6), margin=0.1)
        negs = F.cosine_embedding_loss(u[ni], v[nj], -torch.ones(len(ni)), margin=0.1)
        assert float(got) == pytest.approx(float(0.2 * pos + 0.8 * negs), rel=1e-10)


def test_cosine_embedding_moves_a_close_negative_away_and_ignores_a_far_one():
    u = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    close = torch.tensor([[1.0, 0.0], [1.0, 0.2]])  # item 1's text is near item 0's image
    loss = LOSSES.get("cosine_embedding")(CosineEmbeddingParams(margin=0.1))
    value = loss({"image": u, "text": close}, _batch([0, 1]), None)
    value.backward()
    before = F.cosine_similarity(u[0], close[1], dim=0)
    with torch.no_grad():
        after = F.cosine_similarity(u[0] - 0.1 * u.grad[0], close[1], dim=0)
    assert after < before  # the negative pair (image 0, text 1) is pushed apart
    far = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # both negatives' cos (-1, 0) < margin
    value = loss({"image": u.detach(), "text": far}, _batch([0, 1]), None)
    assert float(value) == pytest.approx(0.2 * (0.0 + 1.0) / 2, abs=1e-7)  # own pairs only


def test_label_ce_on_posteriors_equals_cross_entropy_of_the_logits():
    """DeepSM: the branch outputs softmax(z); the loss on those posteriors is the softmax
    cross-entropy of z, and its gradient too."""
    z = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, -3.0], [1.0, 1.0, 1.0]], requires_grad=True)
    cat = torch.tensor([0, 2, 1])
    loss = LOSSES.get("label_ce")(LabelCEParams(source="embedding", modalities=["image"]))
    got = loss({"image": z.softmax(-1), "text": z.softmax(-1)}, _batch(cat), None)
    (g,) = torch.autograd.grad(got, z)
    want = F.cross_entropy(z, cat)
    (gw,) = torch.autograd.grad(want, z)
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-6)
    torch.testing.assert_close(g, gw)


def test_label_ce_on_posteriors_names_the_width_that_is_missing():
    loss = LOSSES.get("label_ce")(LabelCEParams(source="embedding"))
    p = torch.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="architecture.image.out to the number of classes"):
        loss({"image": p, "text": p}, _batch([0, 1, 2]), None)


def test_dscmr_pair_likelihood_uses_half_cosines():
    """DSCMR's J2: mean over pairs of log(1 + e^G) - S G with G = cos(u_i, v_j) / 2, inter-modal
    and both intra-modal terms, against a loop."""
    rng = np.random.default_rng(0)
    u, v = torch.as_tensor(rng.normal(size=(5, 4))), torch.as_tensor(rng.normal(size=(5, 4)))
    cat = torch.tensor([0, 1, 0, 2, 1])
    p = PairwiseLikelihoodParams(similarity="half_cosine", reduction="pairs")
    got = LOSSES.get("pairwise_likelihood")(p)({"image": u, "text": v}, _batch(cat), None)
    want = 0.0
    for a, b in ((u, v), (u, u), (v, v)):
        for i in range(5):
            for j in range(5):
                g = float(F.cosine_similarity(a[i], b[j], dim=0)) / 2
                want += np.log1p(np.exp(g)) - float(cat[i] == cat[j]) * g
    assert float(got) == pytest.approx(want / 25, rel=1e-10)


# ------------------------------------------------------------------------- what validate says


def _spec(arch: dict, phases: list, losses: list) -> dict:
    return {"name": "x", "dataset": {"name": "scenes", "split": {"recipe": "random"}},
            "features": {"image": {"extractor": "bow"}, "text": {"extractor": "bow"}},
            "architecture": {"image": {"type": "mlp", "normalize": False},
                             "text": {"type": "mlp", "normalize": False},
                             "label_head": False, **arch},
            "losses": losses, "training": {"phases": phases},
            "evaluation": {"protocol": "category_cosine"}}


GRAD = {"type": "gradient"}
CORR = [{"name": "cca_correlation"}]


@pytest.mark.parametrize("arch, phases, losses, message", [
    ({"output_cca": {"out": 4}}, [GRAD], CORR, "nothing fits it; add an output_cca phase last"),
    ({}, [GRAD, {"type": "output_cca"}], CORR, "output_cca needs architecture.output_cca"),
    ({"output_cca": {"out": 4}}, [{"type": "output_cca"}, GRAD], CORR, "must be the last phase"),
    ({}, [GRAD], [{"name": "reconstruction"}], "needs architecture.decoders"),
    ({}, [GRAD], [{"name": "label_ce", "params": {"source": "embedding"}}],
     "needs type mlp or linear with output: softmax"),
])
def test_validate_rejects_what_a_run_would(arch, phases, losses, message):
    from xmr.spec.checks import check_registered_names

    spec = ExperimentSpec.model_validate(_spec(arch, phases, losses))
    with pytest.raises(SpecError, match=message):
        check_registered_names(spec, "spec.yaml")


@pytest.mark.parametrize("arch, message", [
    ({"output_cca": {"out": 4}, "label_head": True}, "cannot be combined with label_head"),
    ({"output_cca": {"out": 200}}, "exceeds a branch's out"),
    ({"fusion": "sum"}, "fusion 'sum' needs `shared` layers"),
    ({"fusion": "sum", "shared": {"out": 8},
      "image": {"type": "mlp", "normalize": False, "dropout": 0.2}}, "must have no dropout"),
])
def test_architecture_refuses_parts_that_do_not_fit(arch, message):
    with pytest.raises(ValueError, match=message):
        ExperimentSpec.model_validate(_spec(arch, [GRAD], CORR))


def test_decoders_over_fine_grained_features_are_refused():
    from xmr.spec.checks import check_registered_names

    raw = _spec({"decoders": {}}, [GRAD], [{"name": "reconstruction"}])
    raw["features"]["image"]["granularity"] = {"type": "grid", "n": 2}
    raw["features"]["image"]["extractor"] = "efficientnet_lite0"
    raw["architecture"]["image"] = {"type": "unit_pool", "normalize": False}
    spec = ExperimentSpec.model_validate(raw)
    with pytest.raises(SpecError, match="decoders reconstruct whole-item features"):
        check_registered_names(spec, "spec.yaml")


def test_every_deep_spec_validates():
    from pathlib import Path

    from xmr.cli import main

    methods = {"dcca", "dccae", "corr_ae", "corr_cross", "corr_full", "bimodal_ae", "deepsm",
               "recipe", "dscmr"}
    for folder in ("wikipedia", "scenes"):  # every method on both
        assert methods <= {p.stem for p in Path(f"specs/compare/{folder}").glob("*.yaml")}
    deep = [p for p in sorted(Path("specs/compare").glob("*/*.yaml")) if p.stem in methods]
    for p in deep:
        assert main(["validate", str(p)]) == 0, p


def test_dcca_and_bimodal_ae_run_end_to_end(tiny_store, tmp_path):
    """Through `xmr run` (train, store, reload, evaluate): the fitted output CCA and the bimodal
    code survive the stored model."""
    import json

    from xmr.cli import main

    tiny = ["--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48",
            "--set", "training.phases.0.epochs=2"]
    for name in ("dcca", "bimodal_ae", "deepsm"):
        out = tmp_path / f"{name}.json"
        extra = ["--set", "training.batch_size=32"] if name == "dcca" else []
        assert main(["run", f"specs/compare/scenes/{name}.yaml", "--store", str(tiny_store),
                     "--metrics-out", str(out), *tiny, *extra]) == 0
        m = json.loads(out.read_text())
        assert 0 <= m["tasks"]["i2t"]["map"] <= 1 and 0 <= m["tasks"]["t2i"]["map"] <= 1
