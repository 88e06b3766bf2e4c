"""idcmr: J1-J3 against direct formulas (and huge inner products), the closed-form classifier,
the shared last layers, the word matrix, the `words` granularity, the vectorisation study's pairs
and the specs end to end on fixture layouts."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from xmr.losses import LOSSES, Batch
from xmr.losses.idcmr import closed_form_classifier
from xmr.spec import SpecError, load_spec
from xmr.spec.models import (LabelRegressionParams, ModalityInvarianceParams,
                             PairwiseLikelihoodParams)

CATS = [0, 1, 0, 2, 1, 0]


def _batch(cats=CATS, relevance="category"):
    c = torch.tensor(cats)
    return Batch(index=torch.arange(len(c)), category=c,
                 labels=nn.functional.one_hot(c).float(), relevance=relevance)


def _uv(n=6, d=4, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(n, d, generator=g, dtype=torch.float64),
            scale * torch.randn(n, d, generator=g, dtype=torch.float64))


def _loss(name, params, u, v, batch, model=None, **extra):
    return LOSSES.get(name)(params)({"image": u, "text": v, **extra}, batch, model)


# ----------------------------------------------------------------------------------- J1 (Eq. 18)


def test_closed_form_classifier_solves_the_ridge_least_squares():
    """C equals the least-squares solution of the stacked system [U; V; sqrt(a) I] C = [Z; Z; 0],
    and moving C in any direction raises the objective it minimises."""
    u, v = _uv()
    z = _batch().labels.double()
    a = 0.5
    c = closed_form_classifier(u, v, z, a)
    stacked = np.vstack([u.numpy(), v.numpy(), math.sqrt(a) * np.eye(4)])
    target = np.vstack([z.numpy(), z.numpy(), np.zeros((4, 3))])
    ref = np.linalg.lstsq(stacked, target, rcond=None)[0]
    np.testing.assert_allclose(c.numpy(), ref, atol=1e-10)

    def objective(cc):
        return float(((u @ cc - z) ** 2).sum() + ((v @ cc - z) ** 2).sum() + a * (cc ** 2).sum())

    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        assert objective(c + 1e-3 * torch.randn(c.shape, generator=g, dtype=c.dtype)) > objective(c)


@pytest.mark.parametrize("squared", [False, True])
def test_label_regression_matches_eq18(squared):
    u, v = _uv()
    b = _batch()
    z = b.labels.double().numpy()
    p = LabelRegressionParams(classifier="closed_form", ridge=1.0, squared=squared)
    c = closed_form_classifier(u, v, b.labels.double(), 1.0).numpy()
    norm = (lambda x: (x ** 2).sum()) if squared else np.linalg.norm
    ref = (norm(u.numpy() @ c - z) + norm(v.numpy() @ c - z)) / 6
    assert float(_loss("label_regression", p, u, v, b)) == pytest.approx(ref, rel=1e-9)
    # the learned classifier: the label head's outputs against Z
    lu, lv = _uv(d=3, seed=3)
    p = LabelRegressionParams(classifier="learned", squared=squared)
    ref = (norm(lu.numpy() - z) + norm(lv.numpy() - z)) / 6
    value = _loss("label_regression", p, u, v, b, logits_image=lu, logits_text=lv)
    assert float(value) == pytest.approx(ref, rel=1e-9)


def test_label_regression_needs_labels_and_a_head():
    u, v = _uv()
    with pytest.raises(ValueError, match="needs labels"):
        _loss("label_regression", LabelRegressionParams(), u, v, _batch(relevance="instance"))
    with pytest.raises(ValueError, match="needs architecture.label_head"):
        _loss("label_regression", LabelRegressionParams(classifier="learned"), u, v, _batch())
    with pytest.raises(SpecError, match="needs architecture.label_head"):
        load_spec("specs/idcmr/scenes.yaml", sets=["losses.0.params.classifier=learned"])


def test_label_regression_step_moves_predictions_towards_the_labels():
    """Property of Eq. 18: a gradient step on U (C held at its closed form) lowers the residual."""
    u, v = _uv()
    b = _batch()
    p = LabelRegressionParams(squared=True)
    u.requires_grad_(True)
    before = _loss("label_regression", p, u, v, b)
    before.backward()
    with torch.no_grad():
        after = _loss("label_regression", p, u - 0.01 * u.grad, v, b)
    assert float(after) < float(before.detach())


# ------------------------------------------------------------------------------ J2 (Eqs. 19-22)


def pairwise_reference(u, v, sim, intra, n_div):
    def nll(x, y):
        return -sum(sim[i][j] * float(x[i] @ y[j]) - math.log1p(math.exp(float(x[i] @ y[j])))
                    for i in range(len(x)) for j in range(len(y)))
    total = nll(u, v) + ((nll(u, u) + nll(v, v)) if intra else 0.0)
    return total / n_div


@pytest.mark.parametrize("intra", [True, False])
@pytest.mark.parametrize("reduction", ["n", "pairs"])
def test_pairwise_likelihood_matches_the_likelihood_loop(intra, reduction):
    u, v = _uv()
    sim = [[int(a == b) for b in CATS] for a in CATS]
    p = PairwiseLikelihoodParams(intra=intra, reduction=reduction)
    ref = pairwise_reference(u.numpy(), v.numpy(), sim, intra, 6 if reduction == "n" else 36)
    assert float(_loss("pairwise_likelihood", p, u, v, _batch())) == pytest.approx(ref, rel=1e-9)


def test_pairwise_likelihood_is_finite_for_huge_inner_products():
    """log(1 + e^theta) as softplus: inner products of 1e4 give the exact linear value, finite
    gradients, in float32 too."""
    for dtype in (torch.float32, torch.float64):
        u, v = (t.to(dtype) for t in _uv(scale=100.0))  # |theta| up to ~1e4
        u.requires_grad_(True)
        loss = _loss("pairwise_likelihood", PairwiseLikelihoodParams(), u, v, _batch())
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(u.grad).all()
        theta = (u @ v.T).detach().double()
        s = _batch().relevant().double()
        exact = (torch.clamp(theta, min=0) + torch.log1p(torch.exp(-theta.abs())) - s * theta)
        value = float(loss.detach())
        assert value == pytest.approx(float(exact.sum() + _intra(u, v, s)) / 6, rel=1e-4)


def _intra(u, v, s):
    out = 0.0
    for x in (u.detach().double(), v.detach().double()):
        t = x @ x.T
        out += float((torch.clamp(t, min=0) + torch.log1p(torch.exp(-t.abs())) - s * t).sum())
    return out


def test_pairwise_likelihood_pulls_similar_and_pushes_dissimilar_pairs():
    """Property of Eq. 22: with orthonormal text vectors (V = I, so theta_ij = U_ij), a gradient
    step raises theta of every similar pair and lowers that of every dissimilar pair."""
    u, _ = _uv(d=6, seed=4)
    v = torch.eye(6, dtype=torch.float64)
    b = _batch()
    u.requires_grad_(True)
    _loss("pairwise_likelihood", PairwiseLikelihoodParams(intra=False), u, v, b).backward()
    step = ((u - 0.1 * u.grad) @ v.T - u @ v.T).detach()
    similar = b.relevant()
    assert (step[similar] > 0).all() and (step[~similar] < 0).all()


def test_instance_relevance_is_the_own_pair():
    b = _batch(relevance="instance")
    assert torch.equal(b.relevant(), torch.eye(6, dtype=torch.bool))


# ---------------------------------------------------------------------------------- J3 (Eq. 23)


@pytest.mark.parametrize("squared", [False, True])
def test_modality_invariance_matches_eq23(squared):
    u, v = _uv()
    d = (u - v).numpy()
    ref = ((d ** 2).sum() if squared else np.linalg.norm(d)) / 6
    value = _loss("modality_invariance", ModalityInvarianceParams(squared=squared), u, v, _batch())
    assert float(value) == pytest.approx(ref, rel=1e-12)


def test_modality_invariance_step_brings_the_pair_together():
    u, v = _uv()
    u.requires_grad_(True)
    _loss("modality_invariance", ModalityInvarianceParams(), u, v, _batch()).backward()
    new = (u - 0.5 * u.grad).detach()
    assert float((new - v).norm()) < float((u.detach() - v).norm())


# ------------------------------------------------------------------------ shared last layers


def _model(shared=True):
    from xmr.model import CrossModalModel

    spec = load_spec("specs/idcmr/scenes.yaml", sets=[] if shared else ["architecture.shared=null"])
    return CrossModalModel(spec.architecture, {"image": 12, "text": 7}, 4)


def test_shared_last_layers_are_one_module_reached_by_both_modalities():
    torch.manual_seed(0)
    model = _model()
    shared = list(model.shared.parameters())
    assert shared and model.emb_dim == 128
    ids = {id(p) for p in shared}
    assert not ids & {id(p) for b in model.branches.values() for p in b.parameters()}
    x = {"image": torch.randn(5, 12), "text": torch.randn(5, 7)}
    for m, other in (("image", "text"), ("text", "image")):
        model.zero_grad(set_to_none=True)
        model.encode(m, x[m]).pow(2).sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in shared), m
        assert all(p.grad is None for p in model.branches[other].parameters()), m
    # the same weights map both: a branch output fed through `common` equals `encode`
    z = model.branches["text"](x["text"])
    assert torch.equal(model.common(z), model.encode("text", x["text"]))
    assert "shared" in {n for n, _ in model.named_children()}


def test_shared_layers_need_equal_branch_outputs():
    with pytest.raises(SpecError, match="shared layers read both branches"):
        load_spec("specs/idcmr/scenes.yaml", sets=["architecture.text.out=64"])


def test_alexnet_cnn_branch_ends_at_fc7(tmp_path):
    """`backbone: alexnet` loads the named torchvision state dict and feeds fc7 (4,096-d, after
    its ReLU: the five convolutional layers, fc6 and fc7, without ImageNet's fc8) to the FC layers."""
    from xmr.branches import build_branch
    from xmr.compat.torchvision import import_torchvision
    from xmr.spec.models import CNNBranch

    torch.manual_seed(0)
    net = import_torchvision().models.alexnet(weights=None).eval()
    weights = tmp_path / "alexnet.pth"
    torch.save(net.state_dict(), weights)
    branch = build_branch(CNNBranch(type="cnn", backbone="alexnet", weights=str(weights), crop=64,
                                    hidden=[], out=8, normalize=False), 3 * 64 * 64).eval()
    pixels = torch.randint(0, 256, (2, 3 * 64 * 64), dtype=torch.uint8)
    x = (pixels.view(2, 3, 64, 64).float() - branch.mean) / branch.std
    with torch.no_grad():
        fc7 = net.classifier[:-1](torch.flatten(net.avgpool(net.features(x)), 1))
        assert fc7.shape == (2, 4096)
        assert torch.allclose(branch(pixels), branch.head(fc7), atol=1e-5)
    with pytest.raises(ValueError, match="needs `weights`"):
        CNNBranch(type="cnn", backbone="alexnet")


# ------------------------------------------------------------------------ the word matrix


def test_word_matrix_pads_truncates_and_keeps_order():
    from xmr.branches import Ragged
    from xmr.branches.words import word_matrix

    counts = [3, 0, 5, 1]
    seg = torch.repeat_interleave(torch.arange(4), torch.tensor(counts))
    values = torch.arange(len(seg) * 2, dtype=torch.float32).view(-1, 2)
    m = word_matrix(Ragged(values, seg, 4), rows=4)
    ref = torch.zeros(4, 4, 2)
    start = 0
    for i, c in enumerate(counts):
        for k in range(min(c, 4)):
            ref[i, k] = values[start + k]
        start += c
    assert torch.equal(m, ref)


def test_word_matrix_branch_flatten_and_mean():
    from xmr.branches import Ragged, build_branch
    from xmr.spec.models import WordMatrixBranch

    seg = torch.tensor([0, 0, 1])
    x = Ragged(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), seg, 2)
    flat = build_branch(WordMatrixBranch(type="word_matrix", max_words=3, pool="flatten",
                                         hidden=[], out=2, normalize=False), 2)
    lin = flat.net[0]
    expect = lin(torch.tensor([[1.0, 2.0, 3.0, 4.0, 0, 0], [5.0, 6.0, 0, 0, 0, 0]]))
    assert torch.allclose(flat(x), expect)
    mean = build_branch(WordMatrixBranch(type="word_matrix", max_words=3, pool="mean",
                                         hidden=[], out=2, normalize=False), 2)
    assert torch.allclose(mean(x), mean.net[0](torch.tensor([[2.0, 3.0], [5.0, 6.0]])))
    with pytest.raises(TypeError, match="words"):
        flat(torch.zeros(2, 2))


def test_word_matrix_needs_a_words_feature_set():
    with pytest.raises(SpecError, match="word_matrix branch reads a `words` feature set"):
        load_spec("specs/idcmr/scenes.yaml",
                  sets=["architecture.text={type: word_matrix, out: 256, normalize: false}"])


def test_words_granularity_and_word2vec_fitted_on_documents(tmp_path, monkeypatch):
    """`words` keeps each text's words in order without stop words, truncated; word2vec on such
    units is fitted on the training documents (their contexts), not on lone words."""
    import layouts

    from xmr.extractors.text import Word2VecCBOW, stop_word_set, tokenize
    from xmr.featurize import Prepared, featurize
    from xmr.pipeline import prepare_step
    from xmr.spec.models import DatasetSpec, FeatureSpec
    from xmr.store import Store
    from xmr.store.files import read_table

    root = layouts.wikipedia(tmp_path / "wiki")
    store = Store(tmp_path / "store")
    ds = DatasetSpec.model_validate({"name": "wikipedia", "root": str(root),
                                     "split": {"recipe": "official", "val": 0.1}})
    prepare_step(store, "w", ds)
    fitted = []
    real_fit = Word2VecCBOW.fit
    monkeypatch.setattr(Word2VecCBOW, "fit", lambda self, units: (fitted.extend(units),
                                                                  real_fit(self, units)))
    fs = featurize(store, "w", FeatureSpec.model_validate(
        {"modality": "text", "extractor": "word2vec_cbow", "params": {"min_count": 1},
         "granularity": {"type": "words", "max_units": 5}}))
    prepared = Prepared.open(store, "w")
    texts = prepared.items.column("text").to_pylist()
    assert fitted == [texts[i] for i in sorted(prepared.split_indices("train"))]
    stop = stop_word_set("english")
    first = [w for w in tokenize(texts[0]) if w not in stop][:5]
    units = read_table(fs.path / "units.parquet").to_pydict()
    assert np.all(np.diff(fs.offsets) == 5)  # 12-word articles
    assert [t for t, i in zip(units["text"], units["item_idx"]) if i == 0] == first
    assert set(units["kind"]) == {"word"}
    assert np.isfinite(fs.data).all() and (np.abs(fs.data).sum(1) > 0).all()


def test_a_non_finite_loss_stops_the_run_naming_phase_and_term(tmp_path, capsys):
    from xmr.cli import main

    sets = ["dataset.params.n_items=40", "dataset.params.image_size=48",
            "features.image.params.image_size=48", "training.phases.0.epochs=3",
            "losses.1.weight=1e30", "losses.1.params.reduction=n",
            "training.phases.0.optimizer={type: sgd, lr: 1e30, momentum: 0.0}"]
    assert main(["run", "specs/idcmr/scenes.yaml", "--store", str(tmp_path / "s"),
                 *[a for s in sets for a in ("--set", s)]]) == 1
    err = capsys.readouterr().err
    assert "phase 'idcmr', epoch" in err and ("is nan" in err or "is inf" in err), err


# ------------------------------------------------------------------- the vectorisation study


def test_cocategory_pairs():
    from xmr.vectorisation import characteristic_words, word_pairs

    docs = [["paint", "canvas", "war"], ["paint", "museum"], ["war", "army"], ["army", "siege"],
            ["canvas", "museum"], ["war", "siege", "paint"]]
    cats = [0, 0, 1, 1, 0, 1]
    words = characteristic_words(docs, cats, per_category=2, min_df=2)
    # purity: canvas 2/2, museum 2/2, army 2/2, siege 2/2 beat paint 2/3 and war 2/3
    assert words == {0: ["canvas", "museum"], 1: ["army", "siege"]}
    similar, dissimilar = word_pairs(words, seed=0)
    assert sorted(similar) == [("army", "siege"), ("canvas", "museum")]
    assert len(dissimilar) == 2
    assert all((a in words[0]) != (b in words[0]) for a, b in dissimilar)
    assert characteristic_words(docs, cats, 2, 2, known=lambda w: w != "army")[1] == ["siege", "war"]
    assert characteristic_words(docs, cats, 2, 2, min_purity=0.7,
                                known=lambda w: w != "army")[1] == ["siege"]


def test_pair_scores_reference():
    from xmr.vectorisation import pair_scores

    vec = {"a": np.array([1.0, 0]), "b": np.array([1.0, 1]), "c": np.array([0, 1.0]),
           "d": np.zeros(2)}
    s = pair_scores(vec, [("a", "b")], [("a", "c"), ("a", "d")])
    assert s["similar"] == pytest.approx(1 / math.sqrt(2))
    assert s["dissimilar"] == 0.0 and s["auc"] == 1.0


def test_cooccurrence_matches_a_window_loop():
    from xmr.extractors.glove import cooccurrence

    docs = [[0, 1, 2, 1], [2, 0], [3]]
    x = cooccurrence(docs, 4, window=2).toarray()
    ref = np.zeros((4, 4))
    for d in docs:
        for a in range(len(d)):
            for b in range(a + 1, min(a + 2, len(d) - 1) + 1):
                ref[d[a], d[b]] += 1 / (b - a)
                ref[d[b], d[a]] += 1 / (b - a)
    np.testing.assert_allclose(x, ref)


def test_glove_fit_reconstructs_log_cooccurrence():
    """Eq. 17 on a tiny corpus: the weighted loss falls towards 0, and the vectors of words that
    share contexts end up closer than those of words that never meet."""
    from xmr.extractors.glove import GloVeCorpus

    texts = ["red apple fruit sweet", "green apple fruit sour", "fast car engine road",
             "slow car engine wheel"] * 5
    g = GloVeCorpus({"vector_size": 8, "window": 3, "min_count": 1, "epochs": 300, "lr": 0.1,
                     "stop_words": "none"})
    g.fit(texts)
    assert g.history[-1] < 0.05 * g.history[0]
    index, vec = g._load()

    def cos(a, b):
        va, vb = vec[index[a]], vec[index[b]]
        return float(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))

    assert cos("apple", "fruit") > cos("apple", "engine")
    again = GloVeCorpus(g.params.model_dump())
    again.fit(texts)
    assert np.array_equal(again._load()[1], vec)  # bit-reproducible
    out = g.transform(["apple fruit", "unknownword"])
    np.testing.assert_allclose(out[0], (vec[index["apple"]] + vec[index["fruit"]]) / 2, rtol=1e-6)
    assert not out[1].any()


# ----------------------------------------------------------------- specs end to end


def _fixture(name, tmp_path):
    import layouts

    small = ["training.phases.0.epochs=2", "training.batch_size=8"]
    tiny_images = ["features.image.params.image_size=48"]
    if name == "wikipedia":
        return [f"dataset.root={layouts.wikipedia(tmp_path / 'w')}"] + small
    if name == "scenes":
        return ["dataset.params.n_items=40", "dataset.params.image_size=48"] + tiny_images + small
    if name == "mscoco":
        return [f"dataset.root={layouts.mscoco(tmp_path / 'c')}", "dataset.params.n_items=6",
                "dataset.split.n_train=3", "dataset.split.n_val=1", "dataset.split.n_test=2"] \
            + tiny_images + small
    if name == "flickr8k":
        return [f"dataset.root={layouts.flickr8k(tmp_path / 'f')}"] + tiny_images + small
    return [f"dataset.root={layouts.xmedia_raw(tmp_path / 'x')}", "dataset.split.n_train=3",
            "dataset.split.n_val=1", "dataset.split.n_test=2"] + tiny_images + small


@pytest.mark.parametrize("spec", ["wikipedia", "scenes", "mscoco", "flickr8k", "xmedia"])
def test_shipped_specs_run_end_to_end_on_fixture_layouts(spec, tmp_path):
    import json

    from xmr.cli import main

    out = tmp_path / "m.json"
    args = ["run", f"specs/idcmr/{spec}.yaml", "--store", str(tmp_path / "store"),
            "--metrics-out", str(out)]
    assert main(args + [a for s in _fixture(spec, tmp_path) for a in ("--set", s)]) == 0
    m = json.loads(out.read_text())
    assert {"i2t", "t2i"} <= set(m["tasks"])
    assert all(0 <= v["map"] <= 1 for v in m["tasks"].values())
