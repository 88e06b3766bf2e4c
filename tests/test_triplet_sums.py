"""The O(B^2 log B) all-triplets sums against the direct (A, P, N) form: values and gradients,
with tied distances, anchors without positives or negatives, and every loss that uses them."""

import pytest
import torch

from xmr.losses.base import Batch
from xmr.losses.double_triplet import triplet_hinge
from xmr.losses.multi_margin import pair_margins
from xmr.losses.triplet import all_triplet_hinges, direct_triplet_hinges, triplet_terms


def _case(seed, b=40, ties=True):
    g = torch.Generator().manual_seed(seed)
    d = torch.rand(b, b, generator=g, dtype=torch.float64)
    if ties:  # equal distances, and distances equal to a positive's x
        d = (d * 8).round() / 8
    cat_a = torch.randint(0, 4, (b,), generator=g)
    cat_c = torch.randint(0, 4, (b,), generator=g)
    rel = cat_a[:, None] == cat_c[None, :]
    rel[0] = True  # an anchor without negatives
    rel[1] = False  # an anchor without positives
    return d, rel


def _grads(fn, *tensors):
    leaves = [t.clone().requires_grad_(True) for t in tensors]
    value = fn(*leaves)
    value.backward()
    return value.detach(), [t.grad for t in leaves]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [True, False])
def test_all_triplet_sum_equals_direct_form(seed, ties):
    d, rel = _case(seed, ties=ties)
    e = d + 0.1 * torch.rand_like(d)
    fast, g_fast = _grads(lambda x, y: all_triplet_hinges(x + 0.2, y, rel)[0], d, e)
    direct, g_direct = _grads(lambda x, y: direct_triplet_hinges(x + 0.2, y, rel).sum(), d, e)
    torch.testing.assert_close(fast, direct, rtol=1e-9, atol=1e-12)
    for a, b in zip(g_fast, g_direct):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    count = all_triplet_hinges(d, e, rel)[1]
    assert count == direct_triplet_hinges(d, e, rel).numel() > 0


@pytest.mark.parametrize("mining", ["all", "hardest"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_triplet_terms_mean_equals_direct_mean(mining, dtype):
    d, rel = _case(7)
    d = d.to(dtype)

    def direct(x):  # the previous form: the (A, P, N) hinge tensor, masked
        hinge = (0.3 + x.unsqueeze(2) - x.unsqueeze(1)).clamp(min=0)
        valid = rel.unsqueeze(2) & ~rel.unsqueeze(1)
        if mining == "all":
            return hinge[valid].mean()
        has = rel & (~rel).any(dim=1, keepdim=True)
        return hinge.masked_fill(~valid, float("-inf")).amax(dim=2)[has].mean()

    def fast(x):
        s, n = triplet_terms(x, rel, 0.3, mining)
        return s / n

    v_fast, (g_fast,) = _grads(fast, d)
    v_direct, (g_direct,) = _grads(direct, d)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(v_fast.to(dtype), v_direct, rtol=tol, atol=tol)
    if mining == "all" or dtype == torch.float64:  # hardest: ties split the max's gradient
        torch.testing.assert_close(g_fast.to(dtype), g_direct, rtol=tol, atol=tol)


def test_multi_margin_and_double_triplet_equal_direct_forms():
    d, rel = _case(3, ties=False)
    alpha = pair_margins(d, [0.1, 0.2, 0.3], None)
    s, n = all_triplet_hinges(d, d - alpha, rel)
    hinge = (alpha.unsqueeze(1) + d.unsqueeze(2) - d.unsqueeze(1)).clamp(min=0)
    direct = hinge[rel.unsqueeze(2) & ~rel.unsqueeze(1)]
    torch.testing.assert_close(s / n, direct.mean(), rtol=1e-12, atol=1e-12)
    x, y = torch.randn(12, 5, dtype=torch.float64), torch.randn(12, 5, dtype=torch.float64)
    sim = rel[:12, :12]
    sq = (x[:, None] - y[None]).pow(2).sum(-1)
    want = direct_triplet_hinges(sq + 0.5, sq, sim & (sim.any(1) & (~sim).any(1))[:, None])
    torch.testing.assert_close(triplet_hinge(x, y, sim, 0.5, None), want.mean())


def test_a_margin_violation_pushes_the_negative_away():
    """The paper's property through the fast form: a negative closer than positive + margin
    gets a gradient that increases its distance (d decreases the loss when it grows)."""
    d = torch.tensor([[0.5, 0.6, 2.0]], dtype=torch.float64, requires_grad=True)
    rel = torch.tensor([[True, False, False]])
    s, n = all_triplet_hinges(d + 0.2, d, rel)
    (s / n).backward()
    assert d.grad[0, 1] < 0 and d.grad[0, 2] == 0 and d.grad[0, 0] > 0


def test_batch_relevance_feeds_the_sums():
    batch = Batch(torch.arange(6), torch.tensor([0, 0, 1, 1, 2, 2]), torch.zeros(6, 1), "category")
    d = torch.rand(6, 6, dtype=torch.float64)
    s, n = all_triplet_hinges(d + 0.1, d, batch.relevant())
    assert n == 6 * 2 * 4  # every anchor: 2 positives x 4 negatives
    torch.testing.assert_close(s, direct_triplet_hinges(d + 0.1, d, batch.relevant()).sum())
