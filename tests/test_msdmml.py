"""msdmml: the multi-scale metric loss against a direct double loop over pairs, and its paper
properties."""

import math

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from xmr.losses import LOSSES, Batch
from xmr.spec.models import MultiScaleMetricParams


def _batch(labels):
    y = torch.tensor(labels, dtype=torch.float32)
    return Batch(index=torch.arange(len(y)), category=y.argmax(1), labels=y,
                 relevance="shared_label")


def reference(img, txt, labels, alpha, c, lambdas, similarity, reduction):
    """Eqs. 3-11 written out pair by pair."""
    y = [torch.tensor(v, dtype=torch.float64) for v in labels]
    n = len(y)

    def sim(a, b):
        if similarity == "instance":
            return 1.0 if a == b else 0.0
        dot = float(y[a] @ y[b])
        if similarity == "binary":
            return 1.0 if dot > 0 else 0.0
        return dot / (math.sqrt(float(y[a] @ y[a])) * math.sqrt(float(y[b] @ y[b])))

    def term(u, v, s):
        d = float(((u.double() - v.double()) ** 2).sum())
        eps = max(0.0, c - d) if s == 0 else 0.0
        return alpha * s * d + (1 - alpha) * eps

    parts = []
    for xs, zs, intra in ((img, txt, False), (img, img, True), (txt, txt, True)):
        terms = [term(xs[a], zs[b], sim(a, b)) for a in range(n) for b in range(n)
                 if not (intra and a == b)]
        parts.append(sum(terms) if reduction == "sum" else sum(terms) / len(terms))
    return sum(w * p for w, p in zip(lambdas, parts))


LABELS = [[1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 1, 1, 1], [0, 1, 0, 0]]


@pytest.mark.parametrize("similarity", ["multiscale", "binary", "instance"])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("alpha, lambdas", [(0.4, (0.6, 0.2, 0.2)), (0.8, (0.0, 0.5, 0.5)),
                                            (0.4, (1.0, 0.0, 0.0))])
def test_matches_double_loop(similarity, reduction, alpha, lambdas):
    torch.manual_seed(0)
    img = F.normalize(torch.randn(6, 5), dim=1)
    txt = F.normalize(torch.randn(6, 5), dim=1)
    params = MultiScaleMetricParams(alpha=alpha, lambda_inter=lambdas[0], lambda_image=lambdas[1],
                                    lambda_text=lambdas[2], similarity=similarity,
                                    reduction=reduction)
    got = LOSSES.get("multiscale_metric")(params)({"image": img, "text": txt}, _batch(LABELS), None)
    want = reference(img, txt, LABELS, alpha, 1.0, lambdas, similarity, reduction)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_similar_pair_pulled_by_alpha_times_distance():
    """S = 1: the loss is alpha * ||f - g||^2; no slack term however close the pair is."""
    u, v = torch.tensor([1.0, 0.0]), torch.tensor([0.6, 0.8])
    params = MultiScaleMetricParams(alpha=0.4, lambda_inter=1.0, lambda_image=0.0, lambda_text=0.0)
    loss = LOSSES.get("multiscale_metric")(params)
    got = loss({"image": u[None], "text": v[None]}, _batch([[1, 0]]), None)
    assert float(got) == pytest.approx(0.4 * float(((u - v) ** 2).sum()))


def test_dissimilar_pair_slack_only_inside_c():
    """S = 0: beta * max(0, c - d); zero once the squared distance reaches c."""
    params = MultiScaleMetricParams(alpha=0.4, lambda_inter=1.0, lambda_image=0.0, lambda_text=0.0)
    loss = LOSSES.get("multiscale_metric")(params)
    batch = _batch([[1, 0], [0, 1]])
    near = {"image": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
            "text": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}  # d(0, 1) = 2 > c: no slack
    assert float(loss(near, batch, None)) == pytest.approx(0.0)
    close = {"image": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
             "text": torch.tensor([[1.0, 0.0], [0.8, 0.6]])}
    d01 = float(((close["image"][0] - close["text"][1]) ** 2).sum())  # 0.8 < c
    d10 = float(((close["image"][1] - close["text"][0]) ** 2).sum())  # 2.0
    d11 = float(((close["image"][1] - close["text"][1]) ** 2).sum())
    want = 0.6 * max(0.0, 1.0 - d01) + 0.6 * max(0.0, 1.0 - d10) + 0.4 * d11
    assert float(loss(close, batch, None)) == pytest.approx(want, rel=1e-6)
    assert d01 < 1.0


def _step_distance(labels):
    """Squared distance of image 0 and text 1 after one SGD step. Each item's image and text
    start at the same point, so only the cross pairs have a gradient."""
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    img = torch.stack([a, b]).requires_grad_(True)
    txt = torch.stack([a, b]).requires_grad_(True)
    params = MultiScaleMetricParams(alpha=0.4, lambda_inter=1.0, lambda_image=0.0, lambda_text=0.0)
    LOSSES.get("multiscale_metric")(params)({"image": img, "text": txt}, _batch(labels),
                                            None).backward()
    with torch.no_grad():
        for t in (img, txt):
            t -= 0.1 * t.grad
        return float(((img[0] - txt[1]) ** 2).sum())


def test_larger_label_overlap_is_pulled_closer():
    """The paper's point (Fig. 2): from the same distance (2.0), a pair sharing all its labels
    (S = 1) ends closer than one sharing half of them (S = 0.5), which ends closer than before."""
    full = _step_distance([[1, 1, 0], [1, 1, 0]])
    half = _step_distance([[1, 1, 0], [1, 0, 1]])
    assert full < half < 2.0


def test_dissimilar_pair_pushed_apart():
    params = MultiScaleMetricParams(alpha=0.4, lambda_inter=1.0, lambda_image=0.0, lambda_text=0.0)
    loss = LOSSES.get("multiscale_metric")(params)
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[0.0, 1.0], [0.9, 0.1]], requires_grad=True)  # text 1 (label b) near image 0
    before = float(((img[0] - txt.detach()[1]) ** 2).sum())
    opt = torch.optim.SGD([txt], lr=0.1)
    loss({"image": img, "text": txt}, _batch([[1, 0], [0, 1]]), None).backward()
    opt.step()
    assert float(((img[0] - txt.detach()[1]) ** 2).sum()) > before


def test_lambdas_must_sum_to_one():
    with pytest.raises(ValidationError, match="must be 1"):
        MultiScaleMetricParams(lambda_inter=0.5, lambda_image=0.5, lambda_text=0.5)
    MultiScaleMetricParams(lambda_inter=0.0, lambda_image=0.5, lambda_text=0.5)


# --------------------------------------------------------------------------- the pixel branch


def _cnn(crop=32, side=40, batch_norm="frozen"):
    from xmr.branches import build_branch
    from xmr.spec.models import CNNBranch

    spec = CNNBranch(type="cnn", crop=crop, hidden=[16], out=8, out_activation=True, init_std=0.02,
                     batch_norm=batch_norm)
    return build_branch(spec, 3 * side * side)


def test_cnn_branch_random_crops_in_training_centre_in_evaluation():
    branch = _cnn()
    x = torch.randint(0, 256, (4, 3 * 40 * 40), dtype=torch.uint8)
    branch.eval()
    centre = branch.crops(x)
    assert centre.shape == (4, 3, 32, 32)
    assert torch.equal(centre, x.view(4, 3, 40, 40)[:, :, 4:36, 4:36].float())
    branch.train()
    torch.manual_seed(0)
    crops = [branch.crops(x) for _ in range(3)]
    assert not all(torch.equal(c, crops[0]) for c in crops[1:])
    head = branch.head
    linear = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert all(float(m.bias.detach().abs().max()) == 0 for m in linear)
    assert all(0.01 < float(m.weight.detach().std()) < 0.03 for m in linear)  # N(0, 0.02)
    assert isinstance(head[-1], torch.nn.ReLU)  # out_activation


@pytest.mark.parametrize("batch_norm", ["frozen", "batch"])
def test_cnn_branch_frozen_backbone_stays_frozen_and_fine_tuning_moves_it(batch_norm):
    x = torch.randint(0, 256, (8, 3 * 40 * 40), dtype=torch.uint8)
    for frozen in (True, False):
        torch.manual_seed(0)
        branch = _cnn(batch_norm=batch_norm).train()
        assert branch.training and branch.backbone.training == (batch_norm == "batch")
        before = {k: v.clone() for k, v in branch.backbone.state_dict().items()}
        for p in branch.backbone.parameters():
            p.requires_grad_(not frozen)
        params = [p for p in branch.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-2)
        branch(x).sum().backward()
        opt.step()
        after = branch.backbone.state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert bool(changed) != frozen
        stats = {k for k in before if k.endswith(("running_mean", "running_var"))}
        # running statistics move only when fine-tuned in batch mode
        assert bool(changed & stats) == (not frozen and batch_norm == "batch")


def test_cnn_crop_larger_than_stored_pixels_is_a_spec_error():
    from xmr.spec.load import SpecError, load_spec

    with pytest.raises(SpecError, match="architecture.image.crop: 120 is larger than feature "
                                        "'image''s pixel size 112"):
        load_spec("specs/msdmml/scenes_pixels.yaml", sets=["features.image.params.size=112",
                                                           "architecture.image.crop=120"])
    with pytest.raises(SpecError, match="a cnn branch reads pixels"):
        load_spec("specs/msdmml/scenes_pixels.yaml",
                  sets=["features.image={extractor: efficientnet_lite0}"])


# --------------------------------------------------------------------------- specs, end to end


def _fixture(name, tmp_path):
    import layouts

    if name == "wikipedia":
        return layouts.wikipedia(tmp_path / "wiki"), ["dataset.split.n_val=6"]
    if name == "nus_wide":
        return layouts.nus_wide(tmp_path / "nus"), [
            "dataset.params.draw_train=20", "dataset.params.draw_test=10",
            "dataset.split.n_val=4"]
    if name == "mirflickr25k":  # 6 of the 8 images have a label and a tag
        return layouts.mirflickr_official(tmp_path / "mir"), [
            "dataset.split.n_train=3", "dataset.split.n_val=1", "dataset.split.n_test=2"]
    return None, ["dataset.params.n_items=40", "dataset.params.image_size=48"]


@pytest.mark.parametrize("spec, dataset", [("wikipedia", "wikipedia"), ("nus_wide", "nus_wide"),
                                           ("mirflickr25k", "mirflickr25k"),
                                           ("scenes_pixels", "scenes")])
def test_shipped_specs_run_end_to_end_on_fixture_layouts(spec, dataset, tmp_path):
    """Each msdmml spec, on a small tree in its dataset's official layout: it prepares,
    featurizes, trains and scores every task (one epoch, small pixels)."""
    import json

    from xmr.cli import main

    root, sets = _fixture(dataset, tmp_path)
    if root is not None:
        sets.append(f"dataset.root={root}")
    if spec != "wikipedia":
        sets += ["features.image.params.size=40", "architecture.image.crop=32"]
    out = tmp_path / "m.json"
    sets += ["training.phases.0.epochs=1", "training.batch_size=8"]
    args = ["run", f"specs/msdmml/{spec}.yaml", "--store", str(tmp_path / "store"),
            "--metrics-out", str(out)]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    m = json.loads(out.read_text())
    assert set(m["tasks"]) == {"i2t", "t2i", "i2i", "t2t"}
    assert all(0 <= v["map@100"] <= 1 for v in m["tasks"].values())


def test_lr_scale_puts_named_modules_in_their_own_group():
    from xmr.phases.base import make_optimizer
    from xmr.spec.models import OptimizerSpec

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def module_by_name(self, name):
            return getattr(self, name)

    model = Model()
    opt = make_optimizer(model.parameters(), OptimizerSpec(lr=1e-3, lr_scale={"b": 0.1}), model)
    lrs = sorted((g["lr"], len(g["params"])) for g in opt.param_groups)
    assert lrs == [(pytest.approx(1e-4), 2), (1e-3, 2)]
    for p in model.b.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="module 'b' has no parameter that this phase trains"):
        make_optimizer(model.parameters(), OptimizerSpec(lr_scale={"b": 0.1}), model)
