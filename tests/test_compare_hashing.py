"""The hashing comparison methods (issue 15): DCMH's and PRDH's terms of the `dmsfh` phase, CHN's
and CMHH's losses, SCM and SePH. Each loss against a direct formula on small inputs and a
property from its paper; SCM against the generalized eigen-solution with S~ formed explicitly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import eigh

from xmr.losses import LOSSES, Batch
from xmr.model import CrossModalModel
from xmr.phases import PHASES, PhaseContext
from xmr.losses.dmsfh import AlternatingState, decorrelation
from xmr.losses.hashing import focal_terms, relaxed_hamming
from xmr.phases.shallow_hashing import scm_solve, seph_affinity, seph_codes, seph_objective
from xmr.spec.hashing import CosineQuantizationParams, FocalHammingParams
from xmr.spec.load import SpecError
from xmr.spec.losses import TripletParams
from xmr.spec.models import ArchitectureSpec, ExperimentSpec, TrainingSpec

from test_compare_shallow import _data

CODES = {"layout": "identity", "activation": "none"}


def _fit(phase: dict, branch: dict, bits: int, data):
    """Run one closed-form hashing phase on ``data``; the model and the phase's report."""
    arch = ArchitectureSpec.model_validate(
        {"image": {"input": "image", **branch, "out": bits},
         "text": {"input": "text", **branch, "out": bits},
         "label_head": False, "hash_head": {"bits": bits, **CODES}})
    model = CrossModalModel(arch, {"image": data.x.shape[1], "text": data.y.shape[1]},
                            data.n_classes)
    spec = TrainingSpec.model_validate({"phases": [phase]}).phases[0]
    ctx = PhaseContext(spec=None, model=model, data=data, device=torch.device("cpu"),
                       generator=np.random.default_rng(0), validate=lambda: 0.0)
    return model, PHASES.get(spec.type)(ctx, spec)


def _batch(cat) -> Batch:
    cat = torch.as_tensor(cat)
    return Batch(index=torch.arange(len(cat)), category=cat,
                 labels=torch.eye(int(cat.max()) + 1)[cat], relevance="category")


# ------------------------------------------------------------------ DCMH / PRDH (dmsfh phase)


def test_bit_balance_is_the_squared_code_sum_over_every_training_item():
    torch.manual_seed(0)
    stored = torch.randn(10, 4, dtype=torch.float64)
    rows = torch.tensor([2, 5, 7])
    h = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    batch = _batch([0, 1, 0])
    batch.extra["alternating"] = AlternatingState("image", {"image": stored}, torch.zeros(3, 10),
                                                  rows)
    value = LOSSES.get("bit_balance")(None)({"hash_image": h}, batch, None)
    full = stored.clone()
    full[rows] = h.detach()
    assert float(value.detach()) == pytest.approx(float((full.sum(0) ** 2).sum()), rel=1e-12)
    value.backward()  # the full objective's gradient in a batch row: 2 F^T 1
    assert torch.allclose(h.grad, (2 * full.sum(0)).expand(3, 4))


def test_bit_balance_is_lowest_for_balanced_bits():
    stored = torch.zeros(4, 2, dtype=torch.float64)
    batch = _batch([0, 1, 0, 1])
    batch.extra["alternating"] = AlternatingState("text", {"text": stored}, torch.zeros(4, 4),
                                                  torch.arange(4))
    loss = LOSSES.get("bit_balance")(None)
    balanced = torch.tensor([[1., 1], [-1, -1], [1, -1], [-1, 1]], dtype=torch.float64)
    skewed = torch.tensor([[1., 1], [1, 1], [1, -1], [-1, 1]], dtype=torch.float64)
    assert float(loss({"hash_text": balanced}, batch, None)) == 0.0
    assert float(loss({"hash_text": skewed}, batch, None)) == 8.0


def test_decorrelation_equals_the_sum_over_pairs_of_bits():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(9, 5))
    c = np.cov(h.T, bias=True)
    want = 0.5 * sum(c[a, b] ** 2 for a in range(5) for b in range(5) if a != b)
    assert float(decorrelation(torch.as_tensor(h))) == pytest.approx(want, rel=1e-12)
    independent = np.array([[1., 1], [1, -1], [-1, 1], [-1, -1]])  # uncorrelated bits
    assert float(decorrelation(torch.as_tensor(independent))) == 0.0
    assert float(decorrelation(torch.as_tensor(independent[:, [0, 0]]))) > 0  # copies


# ------------------------------------------------------------------------ CHN / CMHH (gradient)


def test_relaxed_hamming_is_the_hamming_distance_of_binary_codes():
    rng = np.random.default_rng(2)
    a, b = (torch.as_tensor(rng.choice([-1.0, 1.0], size=(5, 12))) for _ in range(2))
    want = (a[:, None, :] != b[None, :, :]).sum(-1).double()
    assert torch.allclose(relaxed_hamming(a, b), want, atol=1e-12)


def test_focal_hamming_equals_the_direct_sum_over_pairs():
    rng = np.random.default_rng(3)
    hi, ht = (torch.as_tensor(rng.normal(size=(6, 8))) for _ in range(2))
    cat = [0, 1, 0, 2, 1, 0]
    params = FocalHammingParams(beta=0.3, focal=2.0, balance=True)
    got = LOSSES.get("focal_hamming")(params)({"hash_image": hi, "hash_text": ht}, _batch(cat),
                                              None)
    s = np.array([[cat[i] == cat[j] for j in range(6)] for i in range(6)])
    w1, w0 = 36 / s.sum(), 36 / (~s).sum()
    want = 0.0
    for i in range(6):
        for j in range(6):
            cos = float(hi[i] @ ht[j] / (hi[i].norm() * ht[j].norm()))
            d = 8 / 2 * (1 - cos)
            p = np.exp(-0.3 * d)
            want += (w1 * (1 - p) ** 2 * -np.log(p) if s[i, j]
                     else w0 * p ** 2 * -np.log(1 - p))
    assert float(got) == pytest.approx(want / 36, rel=1e-10)


def test_focal_hamming_penalises_similar_pairs_beyond_the_radius_steeply():
    """CMHH's point: a similar pair costs little within about 1 / beta bits and much beyond;
    a dissimilar pair costs much only when it comes close."""
    d = torch.tensor([[1.0, 8.0]])
    near, far = focal_terms(d, torch.tensor([[True, True]]), beta=0.5, focal=2.0,
                            balance=False)[0]
    assert float(far) > 20 * float(near)
    close, apart = focal_terms(d, torch.tensor([[False, False]]), beta=0.5, focal=2.0,
                               balance=False)[0]
    assert float(close) > 20 * float(apart)


def test_quantization_losses_vanish_at_binary_codes_and_equal_their_formulas():
    rng = np.random.default_rng(4)
    h = torch.as_tensor(rng.uniform(-1, 1, size=(5, 6)))
    binary = torch.sign(h)
    out = {"hash_image": h, "hash_text": binary}
    chn = LOSSES.get("cosine_quantization")(CosineQuantizationParams(margin=0.9))
    cos = (h.abs().sum(1) / (h.norm(dim=1) * np.sqrt(6))).numpy()
    assert float(chn(out, _batch([0] * 5), None)) == pytest.approx(
        np.maximum(0, 0.9 - cos).mean(), rel=1e-10)  # the binary text codes add nothing
    cmhh = LOSSES.get("hamming_quantization")(None)
    d = 6 / 2 * (1 - cos)
    assert float(cmhh(out, _batch([0] * 5), None)) == pytest.approx(np.log1p(d).mean(), rel=1e-10)


def test_chn_triplet_reads_the_codes_with_source_hash():
    rng = np.random.default_rng(5)
    hi, ht, ei, et = (torch.as_tensor(rng.normal(size=(6, 4))) for _ in range(4))
    batch = _batch([0, 1, 0, 2, 1, 0])
    loss = LOSSES.get("triplet")
    on_hash = loss(TripletParams(source="hash", margin=0.5))(
        {"image": ei, "text": et, "hash_image": hi, "hash_text": ht}, batch, None)
    direct = loss(TripletParams(margin=0.5))({"image": hi, "text": ht}, batch, None)
    assert float(on_hash) == float(direct)


# ---------------------------------------------------------------------------------- SCM, SePH


def _explicit_s(labels: np.ndarray) -> np.ndarray:
    ell = labels / np.linalg.norm(labels, axis=1, keepdims=True)
    return 2 * ell @ ell.T - 1


def test_scm_orth_equals_the_generalized_eigen_solution_with_explicit_similarity():
    d = _data(n=60, train=60)
    x, y = d.x - d.x.mean(0), d.y - d.y.mean(0)
    labels = np.eye(4)[d.cat]
    wx, wy = scm_solve(x, y, labels, 3, "orth", ridge=0.0)
    c = x.T @ _explicit_s(labels) @ y  # the n x n S~ the solver never forms
    # max w_x' C w_y, w_x' Cxx w_x = 1: C Cyy^-1 C' w_x = rho^2 Cxx w_x
    rho2, vecs = eigh(c @ np.linalg.solve(y.T @ y, c.T), x.T @ x)
    for b in range(3):
        v = vecs[:, -1 - b]
        v = v / np.sqrt(v @ x.T @ x @ v)
        assert abs(float(v @ x.T @ x @ wx[:, b])) == pytest.approx(1.0, abs=1e-6)
        assert float(wx[:, b] @ c @ wy[:, b]) == pytest.approx(np.sqrt(rho2[-1 - b]), rel=1e-6)


def test_scm_seq_fits_each_bit_to_the_residual_of_the_codes_before_it():
    d = _data(n=60, train=60)
    x, y = d.x - d.x.mean(0), d.y - d.y.mean(0)
    labels = np.eye(4)[d.cat]
    wx, wy = scm_solve(x, y, labels, 3, "seq", ridge=0.0)
    residual = 3 * _explicit_s(labels)
    for b in range(3):
        c = x.T @ residual @ y
        u, _, vt = np.linalg.svd(np.linalg.inv(np.linalg.cholesky(x.T @ x)) @ c
                                 @ np.linalg.inv(np.linalg.cholesky(y.T @ y)).T)
        best = u[:, 0] @ np.linalg.inv(np.linalg.cholesky(x.T @ x)) @ c \
            @ np.linalg.inv(np.linalg.cholesky(y.T @ y)).T @ vt[0]
        assert float(wx[:, b] @ c @ wy[:, b]) == pytest.approx(best, rel=1e-6)
        residual = residual - np.outer(np.sign(x @ wx[:, b]), np.sign(y @ wy[:, b]))


def test_scm_codes_separate_the_classes_and_fill_the_linear_branches():
    data = _data()
    model, report = _fit({"type": "scm_hash", "ridge": 0.01}, {"type": "linear"}, 6, data)
    xt = torch.as_tensor(data.x, dtype=torch.float32)
    yt = torch.as_tensor(data.y, dtype=torch.float32)
    with torch.no_grad():
        bx = torch.sign(model.hash("image", model.encode("image", xt))).numpy()
        by = torch.sign(model.hash("text", model.encode("text", yt))).numpy()
    ham = (6 - bx @ by.T) / 2
    same = data.cat[:, None] == data.cat[None, :]
    assert ham[same].mean() + 1 < ham[~same].mean()
    assert report["bits"] == 6


def test_seph_objective_equals_the_direct_kl_divergence():
    rng = np.random.default_rng(6)
    labels = np.eye(3)[rng.integers(0, 3, 7)]
    h = torch.as_tensor(rng.normal(size=(7, 4)))
    p = seph_affinity(labels)
    hn = h.numpy()
    t = np.array([[1 / (1 + ((hn[i] - hn[j]) ** 2).sum() / 4) if i != j else 0
                   for j in range(7)] for i in range(7)])
    q = t / t.sum()
    kl = sum(p[i, j] * np.log(p[i, j] / q[i, j]) for i in range(7) for j in range(7)
             if p[i, j] > 0)
    quant = ((hn - np.where(hn >= 0, 1, -1)) ** 2).sum() / hn.size
    got = seph_objective(h, torch.as_tensor(p), alpha=0.5)
    assert float(got) == pytest.approx(kl + 0.5 * quant, rel=1e-10)


def test_seph_codes_preserve_the_label_semantics():
    labels = np.eye(3)[np.repeat([0, 1, 2], 8)]
    codes, _ = seph_codes(seph_affinity(labels), 8, 0.01, 200, np.random.default_rng(0))
    ham = (8 - codes @ codes.T) / 2
    same = (labels @ labels.T) > 0
    assert ham[same].max() < ham[~same].min()


def test_seph_fills_kernel_branches_whose_codes_match_the_learned_ones():
    data = _data()
    branch = {"type": "kernel", "kernel": "rbf", "centre": False}
    model, report = _fit({"type": "seph", "anchors": 30, "anchor_choice": "random", "c": 10.0},
                         branch, 6, data)
    assert min(report["train_bit_agreement"].values()) > 0.8
    state = model.state_dict()  # width and bias travel with the stored model
    assert {"branches.image.width", "branches.image.bias"} <= set(state)


# ------------------------------------------------------------------------- what validate says


def _spec(arch: dict, phases: list, losses: list) -> dict:
    return {"name": "x", "dataset": {"name": "scenes", "split": {"recipe": "random"}},
            "features": {"image": {"extractor": "bow"}, "text": {"extractor": "bow"}},
            "architecture": {"image": {"type": "mlp", "out": 16, "normalize": False},
                             "text": {"type": "mlp", "out": 16, "normalize": False},
                             "label_head": False, **arch},
            "losses": losses, "training": {"phases": phases},
            "evaluation": {"protocol": "category_hamming"}}


IDENT = {"hash_head": {"bits": 16, "layout": "identity", "activation": "none"}}
LIN = {"image": {"type": "linear", "out": 16}, "text": {"type": "linear", "out": 16}}
KERN = {"image": {"type": "kernel", "out": 16, "centre": False},
        "text": {"type": "kernel", "out": 16, "centre": False}}


@pytest.mark.parametrize("arch, phases, losses, message", [
    (LIN, [{"type": "scm_hash"}], [], r"set architecture.hash_head \{layout: identity"),
    ({**LIN, "hash_head": {"bits": 16, "layout": "identity"}}, [{"type": "scm_hash"}], [],
     "activation: none"),
    ({**KERN, **IDENT, "image": {"type": "kernel", "out": 16}}, [{"type": "seph"}], [],
     "centre must be false"),
    ({**KERN, **IDENT}, [{"type": "kcca"}], [], "centre must be true"),
    (IDENT, [{"type": "gradient"}], [{"name": "bit_balance"}], "belongs to the dmsfh phase"),
])
def test_validate_rejects_what_a_run_would(arch, phases, losses, message):
    from xmr.spec.checks import check_registered_names

    spec = ExperimentSpec.model_validate(_spec(arch, phases, losses))
    with pytest.raises(SpecError, match=message):
        check_registered_names(spec, "spec.yaml")


@pytest.mark.parametrize("arch, losses, message", [
    ({"hash_head": {"bits": 8, "layout": "identity"}}, [{"name": "triplet"}],
     r"identity': image.out \(16\) must equal bits \(8\)"),
    ({}, [{"name": "focal_hamming"}], "needs architecture.hash_head"),
    ({}, [{"name": "triplet", "params": {"source": "hash"}}], "needs architecture.hash_head"),
])
def test_spec_refuses_hash_parts_that_do_not_fit(arch, losses, message):
    with pytest.raises(ValueError, match=message):
        ExperimentSpec.model_validate(_spec(arch, [{"type": "gradient"}], losses))


METHODS = ("dcmh", "prdh", "chn", "cmhh", "scm_hash", "seph")


def test_every_hashing_spec_validates():
    from pathlib import Path

    from xmr.cli import main

    for folder in ("wikipedia", "scenes"):
        for m in METHODS:
            p = Path(f"specs/compare/{folder}/{m}.yaml")
            assert main(["validate", str(p)]) == 0, p


def test_hashing_methods_run_end_to_end(tiny_store, tmp_path):
    """Through `xmr run` (train, store, reload, evaluate under the Hamming protocol)."""
    import json

    from xmr.cli import main

    tiny = ["--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48"]
    extra = {"dcmh": ["training.phases.0.epochs=2", "training.batch_size=32"],
             "prdh": ["training.phases.0.epochs=2", "training.batch_size=32"],
             "chn": ["training.phases.0.epochs=2", "training.batch_size=32"],
             "cmhh": ["training.phases.0.epochs=2", "training.batch_size=32"],
             "scm_hash": [], "seph": ["training.phases.0.anchors=20",
                                      "training.phases.0.anchor_choice=random"]}
    for name, sets in extra.items():
        out = tmp_path / f"{name}.json"
        args = [a for s in sets for a in ("--set", s)]
        assert main(["run", f"specs/compare/scenes/{name}.yaml", "--store", str(tiny_store),
                     "--metrics-out", str(out), *tiny, *args]) == 0
        m = json.loads(out.read_text())
        assert m["protocol"]["distance"] == "hamming"
        assert 0 < m["tasks"]["i2t"]["map"] <= 1 and 0 < m["tasks"]["t2i"]["map"] <= 1
