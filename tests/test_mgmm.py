"""mgmm's parts: RBMs by CD-k (Gaussian, Replicated Softmax), merging (Eq. 8), the joint
optimisation loss (Eqs. 7, 9), the spec's wiring, and a tiny end-to-end run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from xmr.branches import Ragged
from xmr.branches.mgmm import DBN, merge_units
from xmr.branches.rbm import RBM
from xmr.phases.mgmm import joint_loss
from xmr.pipeline import run_spec
from xmr.spec import load_spec
from xmr.spec.load import SpecError
from xmr.store import Store


def _topic_counts(n, vocab=30, topics=3, length=(5, 40), seed=0):
    """Documents drawn from a few word distributions, with varied lengths (word counts)."""
    g = torch.Generator().manual_seed(seed)
    dists = torch.softmax(torch.randn(topics, vocab, generator=g) * 3, dim=1)
    z = torch.randint(0, topics, (n,), generator=g)
    lengths = torch.randint(*length, (n,), generator=g)
    docs = torch.zeros(n, vocab)
    for i in range(n):
        words = torch.multinomial(dists[z[i]], int(lengths[i]), replacement=True, generator=g)
        docs[i] = torch.bincount(words, minlength=vocab).float()
    return docs, z


def test_replicated_softmax_cd_lowers_reconstruction_error():
    torch.manual_seed(0)
    docs, _ = _topic_counts(400)
    rbm = RBM(30, 16, visible="replicated_softmax")
    errors = rbm.fit(docs, epochs=30, k=1, lr=0.01, batch_size=40, rng=np.random.default_rng(0))
    assert errors["after"] < 0.8 * errors["before"]
    assert not rbm.W.requires_grad  # CD updates, not backprop
    # its reconstructions keep each document's length (D words drawn from the softmax)
    sample = rbm.sample_visible(rbm.hidden_probs(docs[:5]), docs[:5].sum(1, keepdim=True))
    assert torch.equal(sample.sum(1), docs[:5].sum(1))
    # hidden biases are scaled by the document length: a doubled document is more extreme
    p1, p2 = rbm.hidden_probs(docs[:1]), rbm.hidden_probs(2 * docs[:1])
    assert ((p2 - 0.5).abs() >= (p1 - 0.5).abs() - 1e-6).all()


def test_gaussian_dbn_learns_and_standardises_its_output():
    torch.manual_seed(0)
    x = torch.randn(300, 12) @ torch.randn(12, 12) + 5.0
    dbn = DBN(12, [24, 8], "gaussian")
    errors = dbn.pretrain(x, epochs=15, k=1, lr=0.005, batch_size=30, rng=np.random.default_rng(0))
    assert errors[0]["after"] < errors[0]["before"]
    out = dbn(x)
    assert out.shape == (300, 8)
    assert torch.allclose(out.mean(0), torch.zeros(8), atol=1e-3)
    assert torch.allclose(out.std(0), torch.ones(8), atol=1e-3)


def test_merging_is_the_mean_of_each_items_units():
    o = torch.randn(7, 4)
    units = Ragged(o, torch.tensor([0, 0, 0, 2, 2, 3, 3]), size=5)  # item 1 and 4: no units
    merged = merge_units(units.values, units.segments, units.size)
    for q in range(5):
        rows = [o[k] for k in range(7) if int(units.segments[k]) == q]
        want = torch.stack(rows).mean(0) if rows else torch.zeros(4)
        assert torch.allclose(merged[q], want, atol=1e-6)


def test_joint_loss_is_equation_7():
    g = torch.Generator().manual_seed(1)
    o = {m: torch.randn(5, 3, generator=g) for m in ("image", "text")}
    r = {m: torch.randn(5, 3, generator=g) for m in ("image", "text")}
    want = sum(float(((o["image"][q] - r["image"][q]) ** 2).sum() + ((o["text"][q] - r["text"][q]) ** 2).sum()
                     + ((r["image"][q] - r["text"][q]) ** 2).sum()) for q in range(5)) / 5
    assert float(joint_loss(o, r)) == pytest.approx(want, rel=1e-6)
    # one-sided fine units: no reconstruction term for the modality without them
    one = joint_loss({"text": o["text"]}, r)
    assert float(one) == pytest.approx(float(((o["text"] - r["text"]) ** 2).sum(1).mean()
                                             + ((r["image"] - r["text"]) ** 2).sum(1).mean()), rel=1e-6)


def test_mgmm_spec_wiring_errors():
    with pytest.raises(SpecError, match="needs `coarse`, `fine` or both"):
        load_spec("specs/mgmm/scenes.yaml", sets=["architecture.image.coarse=null",
                                                  "architecture.image.fine=null"])
    with pytest.raises(SpecError, match="fine-grained; coarse needs whole items"):
        load_spec("specs/mgmm/scenes.yaml", sets=["architecture.image.coarse=image_patches"])
    with pytest.raises(SpecError, match="whole-item granularity"):
        load_spec("specs/mgmm/scenes.yaml", sets=["architecture.text.fine=text"])


TINY = ["dataset.params.n_items=80", "dataset.params.image_size=48",
        "features.image.params.image_size=48", "features.image_patches.params.image_size=32",
        *[f"architecture.{m}.{k}={v}" for m in ("image", "text") for k, v in
          (("dbn", "[32,16]"), ("joint", "[16]"), ("joint_rbm", "[16,32]"), ("fusion", "[16]"),
           ("head", "[16]"), ("out", "8"))],
        "training.phases.0.dbn.epochs=2", "training.phases.0.joint.epochs=2",
        "training.phases.0.joint_rbm.epochs=2", "training.phases.0.fusion.epochs=2",
        "training.phases.1.epochs=3", "training.batch_size=16"]


def test_tiny_mgmm_run_freezes_framework1(tiny_store):
    spec = load_spec("specs/mgmm/scenes.yaml", sets=[*TINY, "name=mgmm_tiny"])
    store = Store(tiny_store)
    metrics = run_spec(spec, store)
    assert 0 <= metrics["tasks"]["i2t"]["map"] <= 1 and "hit@5" in metrics["tasks"]["t2i"]
    exp = store.experiment_dir("mgmm_tiny")
    log = json.loads((exp / "train_log.json").read_text())
    assert [p["type"] for p in log["phases"]] == ["mgmm_framework1", "gradient"]
    f1 = log["phases"][0]
    assert set(f1["dbn"]) == {"image.coarse", "image.fine", "text.coarse", "text.fine"}
    assert f1["joint"]["fine"]["modalities"] == ["image", "text"]
    assert log["featuresets"]["image.fine"].startswith("image.efficientnet_lite0.grid")
    # Framework II trains the heads only: re-running Framework I alone gives the same DBN
    state = torch.load(exp / "model.pt", weights_only=True)["state_dict"]
    assert any(k.startswith("branches.image.head.") for k in state)
    spec1 = load_spec("specs/mgmm/scenes.yaml", sets=[*TINY, "name=mgmm_tiny_f1",
                                                       "training.phases.1.epochs=1",
                                                       "training.phases.1.optimizer.lr=1e-12"])
    run_spec(spec1, store)
    state1 = torch.load(store.experiment_dir("mgmm_tiny_f1") / "model.pt", weights_only=True)["state_dict"]
    for k, v in state.items():
        if ".dbn." in k or ".joint_rbm." in k or ".fusion." in k or ".joint." in k:
            assert torch.equal(v, state1[k]), k


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """torchvision AlexNet / VGG-19 state dicts with random weights (no hub is reachable)."""
    from xmr.compat.torchvision import import_torchvision

    tv = import_torchvision()
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    for arch in ("alexnet", "vgg19"):
        torch.save(getattr(tv.models, arch)(weights=None).state_dict(), folder / f"{arch}.pth")
    return folder


SMALL_NET = [f"architecture.{m}.{k}={v}" for m in ("image", "text") for k, v in
             (("dbn", "[16,8]"), ("joint", "[8]"), ("joint_rbm", "[8,16]"), ("fusion", "[8]"),
              ("head", "[8]"), ("out", "4"))] + [
    "training.phases.0.dbn.epochs=1", "training.phases.0.joint.epochs=1",
    "training.phases.0.joint_rbm.epochs=1", "training.phases.0.fusion.epochs=1",
    "training.phases.1.epochs=1", "training.batch_size=4"]


@pytest.mark.parametrize("name,make,arch,sets", [
    ("corel5k", "corel5k", "alexnet", ["dataset.split.n_train=4", "dataset.split.n_val=1",
                                       "dataset.split.n_test=1"]),
    ("nus_wide_5k", "nus_wide", "alexnet", ["dataset.params.n_items=10", "dataset.split.n_train=6",
                                            "dataset.split.n_val=2", "dataset.split.n_test=2"]),
    ("pascal_sentence", "pascal_official", "vgg19", ["dataset.split.n_train=4", "dataset.split.n_val=1",
                                                     "dataset.split.n_test=1",
                                                     "features.image_fine.granularity.max_units=3",
                                                     "features.image_fine.granularity.resize=96"]),
])
def test_paper_specs_run_on_their_official_layouts(tmp_path, random_weights, name, make, arch, sets):
    """The specs of the paper's datasets, unchanged but for the data size and the network size,
    run end to end on fixture trees in the official layouts."""
    import layouts

    root = getattr(layouts, make)(tmp_path / make)
    weights = str(random_weights / f"{arch}.pth")
    feats = [f"features.{k}.params.{p}" for k in ("image", "image_fine") for p in
             (f"weights={weights}", "resize=72", "crop=64")]
    spec = load_spec(f"specs/mgmm/{name}.yaml",
                     sets=[f"dataset.root={root}", *feats, *SMALL_NET, *sets])
    metrics = run_spec(spec, Store(tmp_path / "store"))
    assert set(metrics["tasks"]) == {"i2t", "t2i"} and metrics["protocol"]["name"] == "category_euclidean"


def test_one_sided_granularities_run(tiny_store):
    """Wikipedia's ablation row 'fine': image coarse only, text fine only; neither granularity
    is shared, so each leans on the other modality's outputs."""
    spec = load_spec("specs/mgmm/scenes.yaml", sets=[*TINY, "name=mgmm_tiny_onesided",
                                                      "architecture.image.fine=null",
                                                      "architecture.text.coarse=null"])
    run_spec(spec, Store(tiny_store))
    log = json.loads((Store(tiny_store).experiment_dir("mgmm_tiny_onesided") / "train_log.json").read_text())
    joint = log["phases"][0]["joint"]
    assert joint["coarse"]["modalities"] == ["image"] and joint["fine"]["modalities"] == ["text"]


def test_stages_spec_errors():
    # a model-level error names the branch as written, without pydantic's union tag (`.mgmm`)
    with pytest.raises(SpecError, match=r"\n  architecture\.image: `stages` must .* in that order"):
        load_spec("specs/mgmm/scenes.yaml", sets=["architecture.image.stages=[fusion,joint]"])
    with pytest.raises(SpecError, match="at most once"):
        load_spec("specs/mgmm/scenes.yaml", sets=["architecture.text.stages=[joint,joint]"])
    with pytest.raises(SpecError, match="in both mgmm branches"):
        load_spec("specs/mgmm/scenes.yaml", sets=["architecture.image.stages=[joint_rbm,fusion]"])


@pytest.mark.parametrize("stages,trained", [
    ("[joint_rbm,fusion]", {"dbn", "joint_rbm", "fusion"}),
    ("[joint,fusion]", {"dbn", "joint", "fusion"}),
    ("[joint,joint_rbm]", {"dbn", "joint", "joint_rbm"}),
    ("[]", {"dbn"}),
])
def test_framework1_stage_ablations_skip_their_stage(tiny_store, stages, trained):
    """A stage left out is neither built nor trained, and the next stage (or Framework II)
    reads the one below it."""
    name = "mgmm_tiny_stages_" + "".join(s[0] for s in sorted(trained))
    spec = load_spec("specs/mgmm/scenes.yaml", sets=[*TINY, f"name={name}",
                                                      f"architecture.image.stages={stages}",
                                                      f"architecture.text.stages={stages}"])
    store = Store(tiny_store)
    run_spec(spec, store)
    exp = store.experiment_dir(name)
    f1 = json.loads((exp / "train_log.json").read_text())["phases"][0]
    assert {k for k in ("dbn", "joint", "joint_rbm", "fusion") if f1[k]} == trained
    state = torch.load(exp / "model.pt", weights_only=True)["state_dict"]
    built = {k.split(".")[2] for k in state if k.startswith("branches.image.")}
    assert built == trained | {"head"}
    # the head's input width: fusion 16, joint RBM h2 32, or O / R concatenated (16 x 2 roles)
    width = 16 if "fusion" in trained else 32
    assert state["branches.image.head.0.weight"].shape[1] == width


def test_framework2_fine_tunes_framework1_when_the_branch_is_trainable(tiny_store):
    store = Store(tiny_store)
    runs = {}
    for name, trainable in (("mgmm_tiny_frozen", "[image.head,text.head,label_head]"),
                            ("mgmm_tiny_finetune", "[image,text,label_head]")):
        spec = load_spec("specs/mgmm/scenes.yaml", sets=[*TINY, f"name={name}",
                                                          "training.phases.1.select_on_val=false",
                                                          f"training.phases.1.trainable={trainable}"])
        run_spec(spec, store)
        runs[name] = torch.load(store.experiment_dir(name) / "model.pt",
                                weights_only=True)["state_dict"]
    frozen, tuned = runs["mgmm_tiny_frozen"], runs["mgmm_tiny_finetune"]
    framework1 = [k for k in frozen if ".head." not in k and k.startswith("branches.")
                  and not k.endswith(("mean", "std"))]
    changed = [k for k in framework1 if not torch.equal(frozen[k], tuned[k])]
    assert any(".fusion." in k for k in changed) and any(".dbn." in k for k in changed)


def test_diverging_cd_is_a_clear_error():
    """A learning rate at which CD-k blows the weights up stops with the layer and the remedy,
    not with a NaN deep in torch.bernoulli."""
    from xmr.branches.rbm import CDDiverged

    x = torch.randn(200, 20) * 5
    with pytest.raises(CDDiverged, match=r"CD-1 diverged \(gaussian visible units, \(20, 8\) "
                                         r"weights\).*lower the learning rate"):
        RBM(20, 8, visible="gaussian").fit(x, epochs=50, k=1, lr=10.0, batch_size=20,
                                           rng=np.random.default_rng(0))


def test_diverging_framework1_names_the_network_and_field(tiny_store):
    from xmr.branches.rbm import CDDiverged

    spec = load_spec("specs/mgmm/scenes.yaml", sets=[*TINY, "name=mgmm_tiny_diverge",
                                                      "training.phases.0.dbn.lr=1000"])
    with pytest.raises(CDDiverged, match=r"^image\.coarse DBN: CD-1 diverged.*"
                                         r"\(phase framework1: dbn\.lr\)$"):
        run_spec(spec, Store(tiny_store))
