"""Losses against direct loops, and the property each is for."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from xmr.losses import LOSSES, Batch
from xmr.spec.models import LabelCEParams, PairCEParams, TripletParams


def _batch(cat, n_cls=3):
    cat = torch.tensor(cat)
    return Batch(index=torch.arange(len(cat)), category=cat,
                 labels=F.one_hot(cat, n_cls).float(), relevance="category")


def _dist(a, b, kind):
    return 1 - F.cosine_similarity(a, b, dim=0) if kind == "cosine" else ((a - b) ** 2).sum()


def reference_triplet(img, txt, cat, margin, kind, mining):
    terms = []
    n = len(cat)
    for anchors, cands in ((img, txt), (txt, img)):
        for a in range(n):
            for p in range(n):
                if cat[p] != cat[a]:
                    continue
                negs = [margin + _dist(anchors[a], cands[p], kind) - _dist(anchors[a], cands[q], kind)
                        for q in range(n) if cat[q] != cat[a]]
                if not negs:
                    continue
                hinges = [max(float(v), 0.0) for v in negs]
                terms += hinges if mining == "all" else [max(hinges)]
    return sum(terms) / len(terms)


@pytest.mark.parametrize("kind, mining", list(itertools.product(["cosine", "squared_euclidean"],
                                                                ["all", "hardest"])))
def test_triplet_matches_loop(kind, mining):
    torch.manual_seed(0)
    cat = [0, 0, 1, 2, 1, 0]
    img, txt = torch.randn(6, 4), torch.randn(6, 4)
    loss = LOSSES.get("triplet")(TripletParams(margin=0.3, distance=kind, mining=mining))
    got = loss({"image": img, "text": txt}, _batch(cat), None)
    assert float(got) == pytest.approx(reference_triplet(img, txt, cat, 0.3, kind, mining), rel=1e-5)


def test_triplet_step_moves_negative_away():
    """The paper property: a margin violation pushes the irrelevant item from the anchor."""
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    txt = torch.tensor([[0.9, 0.1], [0.8, 0.3]], requires_grad=True)  # text 1 (class 1) near image 0
    loss = LOSSES.get("triplet")(TripletParams(margin=0.5, distance="squared_euclidean"))
    before = float(((img[0] - txt[1]) ** 2).sum().detach())
    opt = torch.optim.SGD([img, txt], lr=0.1)
    value = loss({"image": img, "text": txt}, _batch([0, 1]), None)
    value.backward()
    opt.step()
    assert float(value.detach()) > 0
    assert float(((img[0] - txt[1]) ** 2).sum().detach()) > before


def test_triplet_zero_when_margin_met():
    img = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    loss = LOSSES.get("triplet")(TripletParams(margin=0.5, distance="cosine"))
    assert float(loss({"image": img, "text": img.clone()}, _batch([0, 1]), None)) == 0.0


def test_label_ce_matches_functional():
    torch.manual_seed(1)
    li, lt = torch.randn(4, 3), torch.randn(4, 3)
    b = _batch([0, 2, 1, 2])
    loss = LOSSES.get("label_ce")(LabelCEParams())
    out = {"image": li, "text": lt, "logits_image": li, "logits_text": lt}
    want = F.cross_entropy(li, b.category) + F.cross_entropy(lt, b.category)
    assert float(loss(out, b, None)) == pytest.approx(float(want))
    b.relevance = "shared_label"
    want = F.binary_cross_entropy_with_logits(li, b.labels) + F.binary_cross_entropy_with_logits(lt, b.labels)
    assert float(loss(out, b, None)) == pytest.approx(float(want))


def test_label_ce_needs_the_head():
    with pytest.raises(ValueError, match="logits_image"):
        LOSSES.get("label_ce")(LabelCEParams())({"image": torch.zeros(2, 2), "text": torch.zeros(2, 2)},
                                                _batch([0, 1]), None)


def test_quantization_matches_loop_and_is_zero_at_codes():
    h_i, h_t = torch.tanh(torch.randn(3, 8)), torch.tanh(torch.randn(3, 8))
    b = _batch([0, 1, 2])
    b.codes = torch.sign(h_i + h_t)
    loss = LOSSES.get("quantization")({})
    want = sum(float(((b.codes[r] - h[r]) ** 2).sum()) for h in (h_i, h_t) for r in range(3)) / 3
    out = {"image": h_i, "text": h_t, "hash_image": h_i, "hash_text": h_t}
    assert float(loss(out, b, None)) == pytest.approx(want, rel=1e-5)
    out = {"image": h_i, "text": h_t, "hash_image": b.codes, "hash_text": b.codes}
    assert float(loss(out, b, None)) == 0.0


def test_pair_ce_learns_to_separate_related_pairs():
    from xmr.model import MetricNetwork

    torch.manual_seed(0)

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.metric_network = MetricNetwork(2, [16])

    model = Holder()
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    b = _batch([0, 1, 0, 1])
    loss = LOSSES.get("pair_ce")(PairCEParams(negatives=2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        value = loss({"image": emb, "text": emb}, b, model)
        first = first if first is not None else float(value.detach())
        opt.zero_grad()
        value.backward()
        opt.step()
    assert float(value.detach()) < first / 2
    s = model.metric_network.score(emb[:1].expand(4, -1), emb)
    assert s[2] > s[1] and s[0] > s[3]
