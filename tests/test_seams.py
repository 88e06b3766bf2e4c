"""The seams the five papers need, each shown by a tiny stand-in run on a small `scenes`."""

import json

import numpy as np
import torch
import zarr

from xmr.phases.hashing import code_update
from xmr.branches.rbm import RBM
from xmr.pipeline import run_spec
from xmr.spec import load_spec
from xmr.store import Store, query

SMALL = ["dataset.params.n_items=60", "dataset.params.image_size=48"]


def _run(name, store_root, *sets):
    spec = load_spec(f"specs/seams/{name}.yaml", sets=[*SMALL, *sets])
    store = Store(store_root)
    metrics = run_spec(spec, store)
    log = json.loads((store.experiment_dir(spec.name) / "train_log.json").read_text())
    return spec, store, metrics, log


def test_a_cd_lowers_reconstruction_error():
    torch.manual_seed(0)
    proto = (torch.rand(4, 20) < 0.5).float()
    data = proto[torch.randint(0, 4, (256,))]
    data = torch.where(torch.rand_like(data) < 0.05, 1 - data, data)
    rbm = RBM(20, 8, visible="bernoulli")
    before = rbm.reconstruction_error(data)
    for _ in range(30):
        for s in range(0, 256, 32):
            rbm.cd_step(data[s:s + 32], k=1, lr=0.1)
    assert rbm.reconstruction_error(data) < 0.6 * before
    assert not rbm.W.requires_grad  # CD updates, not backprop


def test_a_rbm_pretrain_phase(tiny_store):
    _, _, metrics, log = _run("rbm_pretrain", tiny_store)
    rec = log["phases"][0]["reconstruction"]
    for m in ("image", "text"):
        assert rec[m][0]["after"] < rec[m][0]["before"]
    assert [p["type"] for p in log["phases"]] == ["rbm_pretrain", "gradient"]
    assert 0 < metrics["tasks"]["i2t"]["map"] <= 1


def test_b_phases_with_their_own_losses_and_modules(tiny_store):
    _, _, _, log = _run("multi_phase", tiny_store)
    hist = [h for h in log["history"] if "epoch" in h]
    pre = [h for h in hist if h["phase"] == "pretrain_image"]
    fine = [h for h in hist if h["phase"] == "finetune"]
    assert pre and fine
    assert set(pre[0]) >= {"label_ce"} and "triplet" not in pre[0]
    assert "triplet" in fine[0] and "label_ce" not in fine[0]


def test_b_trainable_subset_leaves_the_rest_untouched():
    from xmr.model import CrossModalModel
    from xmr.phases.base import trainable_parameters

    spec = load_spec("specs/seams/multi_phase.yaml")
    model = CrossModalModel(spec.architecture, {"image": 8, "text": 6}, 3)
    ids = {id(p) for p in trainable_parameters(model, ["image", "label_head"])}
    assert not any(id(p) in ids for p in model.branches["text"].parameters())
    assert all(id(p) in ids for p in model.branches["image"].parameters())


def test_c_ranking_by_a_learned_metric_network(tiny_store):
    _, _, metrics, log = _run("metric_network", tiny_store)
    assert metrics["protocol"]["distance"] == "learned"
    assert [p["type"] for p in log["phases"]] == ["gradient", "metric_network"]
    for t in ("i2t", "t2i"):
        assert 0 < metrics["tasks"][t]["map"] <= 1


def test_d_closed_form_code_update_is_the_argmin():
    torch.manual_seed(0)
    hi, ht = torch.tanh(torch.randn(5, 6)), torch.tanh(torch.randn(5, 6))
    b = code_update(hi, ht, gamma=1.0)
    for r in range(5):
        for k in range(6):
            costs = {s: (s - hi[r, k]) ** 2 + (s - ht[r, k]) ** 2 for s in (-1.0, 1.0)}
            assert float(b[r, k]) == min(costs, key=costs.get)


def test_d_hashing_alternation_and_hamming_evaluation(tiny_store):
    spec, store, metrics, log = _run("hashing", tiny_store)
    assert metrics["protocol"]["distance"] == "hamming"
    rounds = log["phases"][0]["rounds"]
    assert len(rounds) == 3 and all(0 <= r["bits_flipped"] <= 1 for r in rounds)
    g = zarr.open_group(store.experiment_dir(spec.name) / "embeddings.zarr", mode="r")
    assert g["codes_image"].dtype == np.uint8 and g["codes_image"].shape == (60, 4)  # 32 bits


def test_e_cnn_trained_from_pixels(tiny_store):
    spec, store, metrics, log = _run("pixels", tiny_store)
    fs = query(store, "SELECT extractor, dim, dtype FROM featuresets WHERE extractor = 'pixels'")[1]
    assert fs == [("pixels", 3 * 32 * 32, "uint8")]
    state = torch.load(store.experiment_dir(spec.name) / "model.pt", weights_only=True)["state_dict"]
    assert any(k.startswith("branches.image.features.0.weight") for k in state)
    assert 0 < metrics["tasks"]["i2t"]["map"] <= 1


def test_f_variable_units_per_item(tiny_store):
    _, store, metrics, _ = _run("fine_units", tiny_store)
    rows = query(store, "SELECT f.extractor, count(DISTINCT n) FROM (SELECT featureset, item_id, "
                        "count(*) AS n FROM units WHERE featureset IS NOT NULL GROUP BY ALL) u "
                        "JOIN featuresets f ON f.name = u.featureset GROUP BY ALL ORDER BY 1")[1]
    per = dict(rows)
    assert per["efficientnet_lite0"] == 1  # 3x3 patches: always 9
    assert per["glove_mean"] > 1  # sentences: a varying number per document
    assert 0 < metrics["tasks"]["t2i"]["map"] <= 1


def test_unit_pool_handles_items_without_units():
    from xmr.branches import Ragged, UnitPool
    from xmr.spec.models import UnitPoolBranch

    branch = UnitPool(UnitPoolBranch(type="unit_pool", hidden=[4], out=3, normalize=False), 2)
    x = Ragged(torch.randn(3, 2), torch.tensor([0, 0, 2]), 3)
    out = branch(x)
    assert out.shape == (3, 3) and torch.all(out[1] == 0)
    h = branch.net(x.values)
    torch.testing.assert_close(out[0], h[:2].mean(0))
