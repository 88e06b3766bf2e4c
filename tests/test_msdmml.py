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
