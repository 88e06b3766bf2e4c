"""The Multimodal DBN (issue 15): mean-field inference of the missing modality against a direct
loop, the property it exists for (the joint RBM fills in a correlated modality), the phase end
to end, and what validate refuses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xmr.branches.dbn import JointTop
from xmr.model import CrossModalModel
from xmr.phases import PHASES, PhaseContext
from xmr.spec.models import ArchitectureSpec, ExperimentSpec, JointRBMSpec, TrainingSpec

from test_compare_shallow import _data, _spec


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + np.exp(-a))


def _infer_by_loops(top: JointTop, modality: str, h: np.ndarray) -> np.ndarray:
    """Mean-field written unit by unit: j_k = s(c_k + sum_i v_i W_ik), then each unit i of the
    missing top layer h_i = s(b_i + sum_k W_ik j_k), starting from the training mean."""
    w, b_v, c = (t.double().numpy() for t in (top.rbm.W, top.rbm.b_v, top.rbm.b_h))
    d_img = top.dims["image"]
    other = "text" if modality == "image" else "image"
    prior = getattr(top, f"prior_{other}").double().numpy()
    out = []
    for row in h:
        miss = prior.copy()
        for step in range(top.steps + 1):
            v = np.concatenate([row, miss] if modality == "image" else [miss, row])
            j = np.array([_sigmoid(c[k] + sum(v[i] * w[i, k] for i in range(len(v))))
                          for k in range(len(c))])
            if step == top.steps:
                break
            offset = d_img if other == "text" else 0
            miss = np.array([_sigmoid(b_v[offset + i] + sum(w[offset + i, k] * j[k]
                                                            for k in range(len(c))))
                             for i in range(len(miss))])
        out.append(j)
    return np.array(out)


@pytest.mark.parametrize("steps", [0, 3])
@pytest.mark.parametrize("modality", ["image", "text"])
def test_mean_field_inference_equals_the_unit_by_unit_loop(steps, modality):
    torch.manual_seed(0)
    top = JointTop(JointRBMSpec(hidden=5, mean_field=steps), {"image": 4, "text": 3})
    with torch.no_grad():
        top.rbm.W.normal_(0, 1.0)
        top.rbm.b_v.normal_(0, 0.5)
        top.rbm.b_h.normal_(0, 0.5)
        top.prior_image.uniform_(0.2, 0.8)
        top.prior_text.uniform_(0.2, 0.8)
    h = torch.rand(6, top.dims[modality])
    got = top.infer(modality, h).double().numpy()
    np.testing.assert_allclose(got, _infer_by_loops(top, modality, h.double().numpy()),
                               atol=1e-6)


def test_the_joint_rbm_fills_in_a_correlated_missing_modality():
    """Srivastava & Salakhutdinov's point: once the joint RBM has seen both modalities, one
    modality alone lets it infer the other. Top layers here are two noisy copies of one of four
    binary patterns; mean-field from the image side must land nearer the text side's true
    pattern than the training mean does."""
    rng = np.random.default_rng(0)
    patterns = rng.integers(0, 2, (4, 12)).astype(np.float32)
    which = rng.integers(0, 4, 800)

    def noisy():
        flip = rng.random((800, 12)) < 0.05
        return torch.as_tensor(np.abs(patterns[which] - flip), dtype=torch.float32)

    h = {"image": noisy(), "text": noisy()}
    torch.manual_seed(0)
    top = JointTop(JointRBMSpec(hidden=16, mean_field=10), {"image": 12, "text": 12})
    top.pretrain(h, epochs=60, k=1, lr=0.05, batch_size=32, rng=np.random.default_rng(0))
    sl = slice(12, 24)
    with torch.no_grad():
        j = top.infer("image", h["image"])
        filled = torch.sigmoid(j @ top.rbm.W[sl].T + top.rbm.b_v[sl])
    truth = torch.as_tensor(patterns[which])
    err_filled = float(((filled - truth) ** 2).mean())
    err_prior = float(((top.prior_text - truth) ** 2).mean())
    assert err_filled < 0.25 * err_prior
    # and the standardisation was fitted on both modalities' single-modality representations
    both = torch.cat([top("image", h["image"]), top("text", h["text"])])
    assert float(both.mean(0).abs().max()) < 1e-4


def _arch(**joint) -> dict:
    return {"image": {"type": "dbn", "input": "image", "hidden": [16], "out": 8},
            "text": {"type": "dbn", "input": "text", "hidden": [12], "out": 8},
            "joint_rbm": {"hidden": 10, **joint}, "label_head": False}


def test_phase_trains_both_dbns_and_the_joint_rbm_and_pairs_meet_in_the_joint_layer():
    data = _data(n=300, train=240)
    arch = ArchitectureSpec.model_validate(_arch())
    torch.manual_seed(0)
    model = CrossModalModel(arch, {"image": data.x.shape[1], "text": data.y.shape[1]},
                            data.n_classes)
    phase = TrainingSpec.model_validate({"phases": [{
        "type": "multimodal_dbn", "dbn": {"epochs": 50, "lr": 0.05},
        "joint": {"epochs": 50, "lr": 0.05}}]}).phases[0]
    ctx = PhaseContext(spec=type("S", (), {"training": type("T", (), {"batch_size": 32})})(),
                       model=model, data=data, device=torch.device("cpu"),
                       generator=np.random.default_rng(0), validate=lambda: 0.0)
    report = PHASES.get("multimodal_dbn")(ctx, phase)
    for m in ("image", "text"):
        layers = report["dbn"][m]
        assert len(layers) == 2 and layers[0]["after"] < layers[0]["before"]
    assert np.isfinite(report["joint"]["after"])
    with torch.no_grad():
        zi = model.encode("image", torch.as_tensor(data.x)).numpy()
        zt = model.encode("text", torch.as_tensor(data.y)).numpy()
    zi /= np.linalg.norm(zi, axis=1, keepdims=True)
    zt /= np.linalg.norm(zt, axis=1, keepdims=True)
    sims = zi @ zt.T
    same = data.cat[:, None] == data.cat[None, :]
    assert sims[same].mean() > sims[~same].mean() + 0.1  # no labels used, yet classes meet


@pytest.mark.parametrize("arch, phases, message", [
    ({**_arch(), "image": {"type": "mlp", "out": 8}}, [{"type": "multimodal_dbn"}],
     "joint_rbm reads the top layers of dbn branches; architecture.image is mlp"),
    ({**_arch(), "label_head": True}, [{"type": "multimodal_dbn"}],
     "cannot be combined with label_head"),
    ({k: v for k, v in _arch().items() if k != "joint_rbm"}, [{"type": "multimodal_dbn"}],
     "add both"),
    (_arch(), [{"type": "gradient"}], "dbn branches are trained by a multimodal_dbn phase"),
])
def test_validate_refuses_what_the_multimodal_dbn_cannot_run(arch, phases, message):
    data = _spec({}, {"type": "cca"})
    data["architecture"] = arch
    data["training"] = {"phases": phases}
    with pytest.raises(ValueError, match=message):
        ExperimentSpec.model_validate(data)


def test_multimodal_dbn_runs_end_to_end_and_reloads(tiny_store, tmp_path):
    """Through `xmr run`: the joint RBM's buffers (priors, standardisation) survive the stored
    model, so evaluation reproduces the representation the phase validated."""
    from xmr.cli import main

    out = tmp_path / "m.json"
    tiny = ["--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48",
            "--set", "training.phases.0.dbn.epochs=2", "--set", "training.phases.0.joint.epochs=2"]
    assert main(["run", "specs/compare/scenes/mdbn.yaml", "--store", str(tiny_store),
                 "--metrics-out", str(out), *tiny]) == 0
    m = json.loads(out.read_text())
    assert 0 <= m["tasks"]["i2t"]["map"] <= 1 and 0 <= m["tasks"]["t2i"]["map"] <= 1
    state = torch.load(tiny_store / "experiments" / "compare_scenes_mdbn" / "model.pt",
                       map_location="cpu", weights_only=False)["state_dict"]
    for m in ("image", "text"):  # fitted, not the initial 0.5 / 0 / 1
        assert not torch.all(state[f"joint_rbm.prior_{m}"] == 0.5)
        assert not torch.all(state[f"joint_rbm.mean_{m}"] == 0)
