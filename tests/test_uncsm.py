"""uncsm: the contrastive and double triplet losses against direct loops, the online triplet
sampler, the metric network's pair sampler and scoring, the preprocessing phase, and the specs
end to end."""

import numpy as np
import pytest
import torch
from torch import nn

from xmr.losses import LOSSES, Batch
from xmr.losses.double_triplet import sample_triplets
from xmr.metrics import Side, evaluate_task
from xmr.model import MetricNetwork
from xmr.phases.metric_network import sample_pairs
from xmr.spec import SpecError, load_spec
from xmr.spec.models import ContrastiveParams, DoubleTripletParams
from xmr.spec.protocols import resolve_protocol

CATS = [0, 1, 0, 2, 1, 0]


def _batch(cats=CATS):
    c = torch.tensor(cats)
    return Batch(index=torch.arange(len(c)), category=c,
                 labels=nn.functional.one_hot(c).float(), relevance="category")


class _Model(nn.Module):
    def __init__(self, dim, units=3):
        super().__init__()
        self.triplet_branches = nn.ModuleDict({m: nn.Sequential(nn.Linear(dim, units), nn.Sigmoid())
                                               for m in ("image", "text")})


# ------------------------------------------------------------------------------ contrastive


def contrastive_reference(img, txt, cats, margin):
    """Eq. 1 pair by pair, averaged over every (image p, text q) pair."""
    terms = []
    for p in range(len(img)):
        for q in range(len(txt)):
            d = float(torch.linalg.vector_norm(img[p].double() - txt[q].double()))
            terms.append(d * d if cats[p] == cats[q] else max(0.0, margin - d) ** 2)
    return sum(terms) / len(terms)


@pytest.mark.parametrize("margin", [0.5, 1.0, 2.5])
def test_contrastive_matches_pairwise_loop(margin):
    torch.manual_seed(0)
    img, txt = torch.randn(6, 4) * 0.6, torch.randn(6, 4) * 0.6
    got = LOSSES.get("contrastive")(ContrastiveParams(margin=margin))(
        {"image": img, "text": txt}, _batch(), None)
    assert float(got) == pytest.approx(contrastive_reference(img, txt, CATS, margin), rel=1e-5)


def test_contrastive_pulls_same_class_and_pushes_others_only_inside_the_margin():
    loss = LOSSES.get("contrastive")(ContrastiveParams(margin=1.0))
    batch = _batch([0, 1])
    # image 0 sits on its own text; text 1 (another class) is 0.3 away: inside the margin.
    # image 1 is 2 away from text 0 (another class, beyond the margin) and ~2.02 from its own text
    img = torch.tensor([[0.0, 0.0], [0.0, 2.0]], requires_grad=True)
    txt = torch.tensor([[0.0, 0.0], [0.3, 0.0]])
    loss({"image": img, "text": txt}, batch, None).backward()
    step = (img - 0.1 * img.grad).detach()
    d = lambda a, b: float(torch.linalg.vector_norm(a - b))  # noqa: E731
    assert d(step[0], txt[1]) > d(img[0].detach(), txt[1])  # pushed out of the margin
    assert d(step[1], txt[1]) < d(img[1].detach(), txt[1])  # pulled to its own class
    # image 1's gradient is the pull alone (2 (i - t) / 4 pairs): the far pair adds nothing
    torch.testing.assert_close(img.grad[1], 2 * (img[1].detach() - txt[1]) / 4)
    # a batch whose dissimilar pairs are all beyond the margin and similar pairs coincide costs 0
    pts = torch.tensor([[0.0, 0.0], [5.0, 0.0]], requires_grad=True)
    far = loss({"image": pts, "text": pts.detach()}, _batch([0, 1]), None)
    far.backward()
    assert float(far.detach()) == 0.0 and bool(torch.isfinite(pts.grad).all())


# ------------------------------------------------------------------------- double triplet


def double_triplet_reference(img, txt, cats, branches, alpha, beta):
    """Eqs. 2-3: every (I+, T+, T-) through S_i's branch and every (T+, I+, I-) through S_t's,
    each averaged over its triplets, summed."""
    total = 0.0
    for anchor, others, g, margin in ((img, txt, branches["image"], alpha),
                                      (txt, img, branches["text"], beta)):
        ga, go = g(anchor).detach().double(), g(others).detach().double()
        terms = []
        for a in range(len(anchor)):
            for p in range(len(others)):
                for n in range(len(others)):
                    if cats[a] == cats[p] and cats[a] != cats[n]:
                        dp = float(((ga[a] - go[p]) ** 2).sum())
                        dn = float(((ga[a] - go[n]) ** 2).sum())
                        terms.append(max(0.0, dp - dn + margin))
        total += sum(terms) / len(terms)
    return total


@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (0.5, 2.0)])
def test_double_triplet_matches_triplet_loop(alpha, beta):
    torch.manual_seed(1)
    model = _Model(4)
    img, txt = torch.randn(6, 4), torch.randn(6, 4)
    got = LOSSES.get("double_triplet")(DoubleTripletParams(alpha=alpha, beta=beta))(
        {"image": img, "text": txt}, _batch(), model)
    want = double_triplet_reference(img, txt, CATS, model.triplet_branches, alpha, beta)
    assert float(got.detach()) == pytest.approx(want, rel=1e-5)


def test_double_triplet_gradients_of_both_branches_reach_each_pathway():
    """3.1: the gradients of the two loss branches are summed on top of each pathway."""
    torch.manual_seed(2)
    model = _Model(4)
    img = torch.randn(6, 4, requires_grad=True)
    txt = torch.randn(6, 4, requires_grad=True)
    loss = LOSSES.get("double_triplet")(DoubleTripletParams())
    loss({"image": img, "text": txt}, _batch(), model).backward()
    assert img.grad.abs().sum() > 0 and txt.grad.abs().sum() > 0
    for m in ("image", "text"):
        assert model.triplet_branches[m][0].weight.grad.abs().sum() > 0


def test_double_triplet_step_moves_the_negative_away():
    torch.manual_seed(3)
    model = _Model(2, units=2)
    img = torch.randn(2, 2, requires_grad=True)
    txt = torch.randn(2, 2)
    batch = _batch([0, 1])
    loss = LOSSES.get("double_triplet")(DoubleTripletParams(alpha=5.0, beta=5.0))

    @torch.no_grad()
    def gap():  # d(I_0, T_1) - d(I_0, T_0) in S_i's branch space: negative minus positive
        g = model.triplet_branches["image"]
        a, t = g(img), g(txt)
        return float(((a[0] - t[1]) ** 2).sum() - ((a[0] - t[0]) ** 2).sum())

    before = gap()
    opt = torch.optim.SGD([img, *model.parameters()], lr=0.5)
    for _ in range(20):
        opt.zero_grad()
        loss({"image": img, "text": txt}, batch, model).backward()
        opt.step()
    assert gap() > before


def test_double_triplet_needs_the_branches():
    with pytest.raises(SpecError, match="needs architecture.triplet_branches"):
        load_spec("specs/uncsm/scenes.yaml", sets=["architecture.triplet_branches=null"])


@pytest.mark.parametrize("per_anchor", [None, 1, 5])
def test_online_sampler_forms_only_valid_triplets(per_anchor):
    gen = torch.Generator().manual_seed(0)
    cats = torch.tensor([0, 0, 1, 1, 2, 0, 3])
    similar = cats[:, None] == cats[None, :]
    similar[6] = False  # an anchor without a positive forms no triplet
    a, p, n = sample_triplets(similar, per_anchor, gen)
    assert len(a) > 0
    assert bool(similar[a, p].all()) and not bool(similar[a, n].any())
    assert 6 not in a.tolist()
    if per_anchor is None:  # every valid triplet, once
        want = sum(int(similar[i].sum()) * int((~similar[i]).sum())
                   for i in range(len(cats)) if similar[i].any())
        assert len(set(zip(a.tolist(), p.tolist(), n.tolist()))) == len(a) == want
    else:
        assert len(a) == per_anchor * 6


# -------------------------------------------------------------------------- metric network


def test_pair_sampler_one_to_one_and_only_training_items():
    rng = np.random.default_rng(0)
    cats = np.array([0, 1, 2, 3, 4] * 40)
    train = np.arange(0, 200, 2)  # the other items are validation / test
    img, txt, y = sample_pairs(train, lambda i, t: cats[i] == cats[t], 10_000, 0.5, rng)
    assert len(y) == 10_000 and int(y.sum()) == 5_000
    assert set(img) <= set(train) and set(txt) <= set(train)
    assert np.array_equal(cats[img] == cats[txt], y == 1)
    # similar pairs are rare (1 in 5) yet exactly half; the order is shuffled
    assert 0.3 < y[:1000].mean() < 0.7
    with pytest.raises(ValueError, match="too few similar"):
        sample_pairs(train, lambda i, t: np.zeros(len(i), bool), 10, 0.5, rng, max_rounds=2)


def test_batched_pair_scoring_equals_unbatched():
    torch.manual_seed(0)
    net = MetricNetwork(5, [16, 16, 16])
    img, txt = torch.randn(9, 5), torch.randn(7, 5)
    want = torch.stack([net.score(img[i].expand(7, -1), txt).detach() for i in range(9)])
    for pair_batch in (1, 7, 20, 10_000):
        torch.testing.assert_close(net.score_matrix(img, txt, pair_batch), want,
                                   rtol=1e-5, atol=1e-5)


def test_metric_network_scores_drive_the_ranking():
    """A network whose score prefers the second text re-orders the cosine ranking of an image
    query: MAP 0.5 by cosine, 1 by the network (the relevant text is the second one)."""
    net = MetricNetwork(2, [])
    with torch.no_grad():
        net.net[0].weight.zero_()
        net.net[0].bias.zero_()
        net.net[0].weight[1, 3] = 1.0  # h_1 grows with the text's second coordinate
    q = Side({"image": torch.tensor([[1.0, 0.0]])}, torch.tensor([1]), torch.eye(2)[[1]],
             np.array([0]))
    db = Side({"text": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}, torch.tensor([0, 1]),
              torch.eye(2), np.array([1, 2]))
    from xmr.metrics import make_scorer

    cosine = evaluate_task("i2t", q, db, resolve_protocol("category_cosine"), ["map"])
    learned_protocol = resolve_protocol("category_learned")
    learned = evaluate_task("i2t", q, db, learned_protocol, ["map"],
                            scorer=make_scorer(learned_protocol, "i2t", net))
    assert cosine.metrics["map"] == pytest.approx(0.5)
    assert learned.metrics["map"] == pytest.approx(1.0)


def test_learned_distance_needs_a_metric_network_phase():
    with pytest.raises(SpecError, match="distance 'learned' ranks by the metric network"):
        load_spec("specs/uncsm/scenes.yaml", sets=["training.phases=[{type: uncsm_preprocess}]"])


# ----------------------------------------------------------------- phases and specs, end to end


def _fixture(name, tmp_path):
    import layouts

    small = ["training.phases.0.dbn.epochs=1", "training.phases.0.refine.epochs=1",
             "training.phases.1.epochs=2", "training.phases.2.epochs=2",
             "training.phases.3.epochs=1", "training.phases.3.pairs=200", "training.batch_size=8"]
    if name == "wikipedia":
        root, sets = layouts.wikipedia(tmp_path / "wiki"), ["dataset.split.n_val=5"]
    elif name == "nus_wide":  # 10 of the fixture's 12 concepts; 34 single-concept images
        root, sets = layouts.nus_wide(tmp_path / "nus"), [
            "dataset.split.n_train=12", "dataset.split.n_val=4", "dataset.split.n_test=8"]
    elif name == "nus_wide_10k":
        root, sets = layouts.nus_wide(tmp_path / "nus"), [
            "dataset.params.per_class=2", "dataset.split.n_train=12", "dataset.split.n_val=4",
            "dataset.split.n_test=4"]
    elif name == "pascal_sentence":
        root, sets = layouts.pascal_official(tmp_path / "pascal", per_category=4), [
            "dataset.split.n_train=4", "dataset.split.n_val=2", "dataset.split.n_test=2",
            "features.image.params.codebook=8", "features.image.params.fit_descriptors=100"]
    else:
        root, sets = None, ["dataset.params.n_items=40", "dataset.params.image_size=48",
                            "features.image.params.image_size=48"]
    if root is not None:
        sets.append(f"dataset.root={root}")
    return sets + small


@pytest.mark.parametrize("spec", ["wikipedia", "nus_wide", "nus_wide_10k", "pascal_sentence",
                                  "scenes"])
def test_shipped_specs_run_end_to_end_on_fixture_layouts(spec, tmp_path):
    """Each uncsm spec, on a small tree in its dataset's official layout: it prepares,
    featurizes, runs the four phases and scores both tasks by the metric network and by cosine."""
    import json

    from xmr.cli import main

    out = tmp_path / "m.json"
    args = ["run", f"specs/uncsm/{spec}.yaml", "--store", str(tmp_path / "store"),
            "--metrics-out", str(out)]
    assert main(args + [a for s in _fixture(spec, tmp_path) for a in ("--set", s)]) == 0
    m = json.loads(out.read_text())
    assert m["protocol"]["distance"] == "learned"
    assert set(m["tasks"]) == set(m["distances"]["cosine"]) - {"average"} == {"i2t", "t2i"}
    assert all(0 <= v["map"] <= 1 for v in m["tasks"].values())


def test_wikipedia_split_follows_corr_ae(tmp_path):
    """val_from: test carves the validation items out of the official test list."""
    import layouts
    from xmr.datasets import DATASETS
    from xmr.datasets.base import assign_splits
    from xmr.spec.models import SplitSpec

    root = layouts.wikipedia(tmp_path / "wiki", n_train=30, n_test=15)
    spec = load_spec("specs/uncsm/wikipedia.yaml", sets=[f"dataset.root={root}"])
    loaded = DATASETS.get("wikipedia")().load(spec.dataset, root, tmp_path)
    split = SplitSpec(recipe="official", n_val=5, val_from="test")
    got = assign_splits(loaded.items, split)
    assert [got.count(s) for s in ("train", "val", "test")] == [30, 5, 10]
    official = [it.official_split for it in loaded.items]
    assert all(o == "test" for o, s in zip(official, got) if s == "val")


def test_preprocessing_stays_frozen_and_cached_stems_match_the_full_forward(tmp_path,
                                                                           monkeypatch):
    """After uncsm_preprocess the DBN and refinement network no longer change; the phases that
    train only the pathways read their outputs computed once, equal to the full forward."""
    import json

    import xmr.phases.base as base
    from xmr.cli import main

    seen = []
    original = base.frozen_stem_forward

    def spy(ctx, rows):
        forward = original(ctx, rows)
        stems = {m: torch.cat([p.detach().flatten() for p in b.stem_parameters()]).clone()
                 for m, b in ctx.model.branches.items()}
        idx = torch.as_tensor(rows[:8])
        with torch.no_grad():
            full = {m: ctx.model.encode(m, ctx.data.take(m, idx)) for m in ("image", "text")}
            cached = forward(idx)
        seen.append((stems, full, cached))
        return forward

    monkeypatch.setattr(base, "frozen_stem_forward", spy)
    store = tmp_path / "store"
    sets = _fixture("scenes", tmp_path)
    assert main(["run", "specs/uncsm/scenes.yaml", "--store", str(store),
                 *[a for s in sets for a in ("--set", s)]]) == 0
    assert len(seen) == 2  # the contrastive and the double triplet phases
    exp = next(store.glob("experiments/*"))
    log = json.loads((exp / "train_log.json").read_text())
    assert [p["type"] for p in log["phases"]] == ["uncsm_preprocess", "gradient", "gradient",
                                                  "metric_network"]
    state = torch.load(exp / "model.pt", weights_only=True)["state_dict"]
    for stems, full, cached in seen:
        for m in ("image", "text"):
            final = torch.cat([state[k].flatten() for k in state
                               if k.startswith(f"branches.{m}.dbn.rbms")
                               or k.startswith(f"branches.{m}.refine")])
            torch.testing.assert_close(stems[m], final)  # unchanged to the end of training
            torch.testing.assert_close(cached[m], full[m])


def test_a_disabled_phase_is_skipped(tmp_path):
    import json

    from xmr.cli import main

    sets = _fixture("scenes", tmp_path) + ["training.phases.1.enabled=false"]
    store = tmp_path / "store"
    assert main(["run", "specs/uncsm/scenes.yaml", "--store", str(store),
                 *[a for s in sets for a in ("--set", s)]]) == 0
    log = json.loads(next(store.glob("experiments/*/train_log.json")).read_text())
    assert log["phases"][1] == {"name": "pretrain", "type": "gradient", "skipped": True}
    assert not any(e.get("phase") == "pretrain" for e in log["history"])


@pytest.mark.parametrize("sets", [["evaluation.protocol=category_cosine",
                                   "evaluation.also_distances=[learned]"],
                                  ["architecture.metric_network=null"]])
def test_learned_distance_anywhere_needs_the_network(sets):
    with pytest.raises(SpecError, match="distance 'learned' ranks by the metric network|needs "
                       "architecture.metric_network"):
        load_spec("specs/uncsm/scenes.yaml",
                  sets=sets + ["training.phases=[{type: uncsm_preprocess}]"])
