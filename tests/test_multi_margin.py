"""mgmm's multi-margin triplet loss against a direct reading of Eqs. 14-18, and its properties."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xmr.losses import LOSSES, Batch
from xmr.losses.multi_margin import pair_margins
from xmr.spec.models import MultiMarginTripletParams


def _batch(cat, n_cls=4):
    cat = torch.tensor(cat)
    return Batch(index=torch.arange(len(cat)), category=cat, labels=F.one_hot(cat, n_cls).float(),
                 relevance="category")


def reference(img, txt, cat, margins, edges=None):
    """Plain loops: Eq. 14 over the batch, Eq. 15 per (anchor, negative), Eqs. 16-18."""
    n, w = len(cat), len(margins)
    edges = edges if edges is not None else [k / w for k in range(1, w)]
    d = [[float(((img[p] - txt[q]) ** 2).sum()) for q in range(n)] for p in range(n)]
    flat = [v for row in d for v in row]
    lo, hi = min(flat), max(flat)

    def alpha(p, q):  # image p, text q
        dn = (d[p][q] - lo) / (hi - lo) if hi > lo else 0.0
        for k, e in enumerate(edges):
            if dn <= e:
                return margins[k]
        return margins[-1]

    terms = []
    for a in range(n):
        for pos in range(n):
            if cat[pos] != cat[a]:
                continue
            for neg in range(n):
                if cat[neg] == cat[a]:
                    continue
                # Eq. 17: image anchor a, text positive, text negative; alpha of (i_a, t_neg)
                terms.append(max(0.0, alpha(a, neg) + d[a][pos] - d[a][neg]))
                # Eq. 18: text anchor a, image positive, image negative; alpha of (i_neg, t_a)
                terms.append(max(0.0, alpha(neg, a) + d[pos][a] - d[neg][a]))
    return sum(terms) / len(terms), len(terms)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("margins,edges", [([0.5, 1.0, 1.5], None), ([0.1, 0.5, 0.7], [0.2, 0.9]),
                                           ([1.0], None), ([1, 3, 7, 9], [0.1, 0.15, 0.2])])
def test_matches_direct_loop(seed, margins, edges):
    g = torch.Generator().manual_seed(seed)
    img, txt = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    cat = torch.randint(0, 3, (9,), generator=g).tolist()
    loss = LOSSES.get("multi_margin_triplet")(MultiMarginTripletParams(margins=margins, edges=edges))
    got = loss({"image": img, "text": txt}, _batch(cat), None)
    want, _ = reference(img, txt, cat, margins, edges)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_margins_picked_per_pair_and_empty_intervals():
    # distances 0, 1, 4, 9 (normalised 0, 1/9, 4/9, 1) against edges 0.5 / 0.6: the middle
    # interval (0.5, 0.6] holds no pair, and nothing breaks
    img = torch.zeros(1, 1)
    txt = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    d = torch.cdist(img, txt).pow(2)
    alpha = pair_margins(d, [1.0, 2.0, 3.0], [0.5, 0.6])
    assert alpha.tolist() == [[1.0, 1.0, 1.0, 3.0]]
    # the edge itself belongs to the lower interval: (e_{k-1}, e_k]
    assert pair_margins(d, [1.0, 2.0], [4 / 9]).tolist() == [[1.0, 1.0, 1.0, 2.0]]


def test_normalisation_is_per_batch_and_scale_free():
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    d = torch.cdist(img, txt).pow(2)
    a = pair_margins(d, [0.1, 0.5, 0.7], None)
    assert torch.equal(a, pair_margins(d * 37.0 + 2.0, [0.1, 0.5, 0.7], None))
    # a pair's margin depends on the rest of its batch: adding a far-away pair shrinks the others
    far = torch.cat([d, torch.full((6, 1), float(d.max() * 10))], 1)
    assert pair_margins(far, [0.1, 0.5, 0.7], None)[:, :6].max() == 0.1


def test_a_farther_negative_gets_a_larger_margin_and_is_pushed_away():
    """The paper's point (Fig. 4): irrelevant items are kept at distances that grow with how far
    they already are; a step of gradient descent moves each violating negative away."""
    img = torch.tensor([[0.0, 0.0], [5.0, 5.0], [5.0, 5.1]], requires_grad=True)
    txt = torch.tensor([[0.1, 0.0], [0.5, 0.0], [1.0, 0.2]], requires_grad=True)
    batch = _batch([0, 1, 1])  # pair 0 in category 0; pairs 1 and 2 in category 1
    params = MultiMarginTripletParams(margins=[0.5, 2.0, 4.0], edges=[0.01, 0.5])
    alpha = pair_margins(torch.cdist(img, txt).pow(2), params.margins, params.edges)
    assert alpha[0, 1] == 0.5 and alpha[0, 2] == 2.0  # the farther negative, the larger margin
    LOSSES.get("multi_margin_triplet")(params)({"image": img, "text": txt}, batch, None).backward()
    with torch.no_grad():
        before = torch.cdist(img[:1], txt[1:]).pow(2)
        after = torch.cdist(img[:1] - 0.05 * img.grad[:1], txt[1:] - 0.05 * txt.grad[1:]).pow(2)
    assert (after > before).all()


def test_params_are_validated():
    with pytest.raises(ValueError, match="strictly ascending margin-set"):
        MultiMarginTripletParams(margins=[1.0, 0.5])
    with pytest.raises(ValueError, match="3 margins need 2 edges"):
        MultiMarginTripletParams(margins=[1, 2, 3], edges=[0.5])
    with pytest.raises(ValueError, match="inside"):
        MultiMarginTripletParams(margins=[1, 2], edges=[1.2])
