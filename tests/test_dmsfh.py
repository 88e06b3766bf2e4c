"""dmsfh: L1-L5 against direct formulas, the B update (never raises Eq. 18's objective, exact
when gamma = 0), TxtNet's multi-scale fusion, the split hash/label layer, the hash-lookup
metrics and Hamming ranking with ties against slow references, the spec checks, and the specs
end to end on fixture layouts."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from xmr.losses import LOSSES, Batch
from xmr.losses.dmsfh import AlternatingState, graph_objective
from xmr.metrics import Side, evaluate_task, pack_codes
from xmr.phases.dmsfh import code_objective, graph_code_update
from xmr.spec import SpecError, load_spec
from xmr.spec.models import NoParams, ProtocolSpec

LABELS = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=torch.float64)


def _state(modality="image", n_train=7, k=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    train_labels = (torch.rand(n_train, 3, generator=g) < 0.4).double()
    outputs = {m: torch.randn(n_train, k, generator=g, dtype=torch.float64) for m in ("image", "text")}
    similar = ((LABELS @ train_labels.T) > 0).double()
    return AlternatingState(modality, outputs, similar), g


def _batch(codes=None):
    return Batch(index=torch.arange(5), category=torch.full((5,), -1), labels=LABELS,
                 relevance="shared_label", codes=codes, extra={})


def _nll_reference(h, other, s):
    """-sum_ij (S_ij phi_ij - log(1 + e^phi_ij)), phi = 1/2 h_i . other_j, by loops."""
    total = 0.0
    for i in range(len(h)):
        for j in range(len(other)):
            phi = 0.5 * float(h[i] @ other[j])
            total -= float(s[i, j]) * phi - math.log1p(math.exp(phi))
    return total


@pytest.mark.parametrize("modality", ["image", "text"])
def test_pairwise_terms_match_the_double_sum(modality):
    """L1 (Eq. 3) pairs the batch with the other network's stored outputs, L2 (Eqs. 6-7) with
    its own."""
    st, g = _state(modality)
    h = torch.randn(5, 5, generator=g, dtype=torch.float64)
    batch = _batch()
    batch.extra["alternating"] = st
    other = "text" if modality == "image" else "image"
    out = {f"hash_{modality}": h}
    l1 = LOSSES.get("inter_pair_nll")(NoParams())(out, batch, None)
    l2 = LOSSES.get("intra_pair_nll")(NoParams())(out, batch, None)
    assert float(l1) == pytest.approx(_nll_reference(h, st.outputs[other], st.similar), rel=1e-12)
    assert float(l2) == pytest.approx(_nll_reference(h, st.outputs[modality], st.similar), rel=1e-12)


def test_pairwise_term_is_finite_for_huge_inner_products():
    st, _ = _state()
    st.outputs["text"] = st.outputs["text"] * 1e4
    batch = _batch()
    batch.extra["alternating"] = st
    h = torch.full((5, 5), 100.0, dtype=torch.float64)
    assert torch.isfinite(LOSSES.get("inter_pair_nll")(NoParams())({"hash_image": h}, batch, None))


def test_likelihood_gradient_pulls_similar_pairs_together_and_pushes_dissimilar_apart():
    """Eq. 14's gradient: a step on F raises phi with the similar texts, lowers it with the
    dissimilar ones."""
    st, g = _state()
    h = torch.randn(5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    batch = _batch()
    batch.extra["alternating"] = st
    LOSSES.get("inter_pair_nll")(NoParams())({"hash_image": h}, batch, None).backward()
    with torch.no_grad():
        phi0 = h @ st.outputs["text"].T
        phi1 = (h - 1e-3 * h.grad) @ st.outputs["text"].T
    s = st.similar.bool()
    assert ((phi1 - phi0)[s] > 0).float().mean() > 0.5  # similar pairs: phi mostly up
    assert ((phi1 - phi0)[~s] < 0).float().mean() > 0.5  # dissimilar: mostly down
    assert float((phi1 - phi0)[s].mean()) > 0 > float((phi1 - phi0)[~s].mean())


def test_label_and_quantisation_terms_match_their_formulas():
    st, g = _state("text")
    logits = torch.randn(5, 3, generator=g, dtype=torch.float64)
    h = torch.randn(5, 5, generator=g, dtype=torch.float64)
    codes = torch.where(torch.randn(5, 5, generator=g) >= 0, 1.0, -1.0).double()
    batch = _batch(codes)
    batch.extra["alternating"] = st
    out = {"logits_text": logits, "hash_text": h}
    l3 = LOSSES.get("label_bce_sum")(NoParams())(out, batch, None)
    ref = sum(-float(LABELS[i, j] * logits[i, j]) + math.log1p(math.exp(float(logits[i, j])))
              for i in range(5) for j in range(3))  # Eq. 10
    assert float(l3) == pytest.approx(ref, rel=1e-12)
    l5 = LOSSES.get("code_quantization")(NoParams())(out, batch, None)
    assert float(l5) == pytest.approx(float(((codes - h) ** 2).sum()), rel=1e-12)  # Eq. 12


def test_alternating_terms_refuse_to_run_outside_their_phase():
    batch = _batch(torch.ones(5, 5))
    with pytest.raises(ValueError, match="dmsfh"):
        LOSSES.get("inter_pair_nll")(NoParams())({"hash_image": torch.zeros(5, 5)}, batch, None)
    batch.extra["alternating"] = _state()[0]
    with pytest.raises(ValueError, match="B update"):
        LOSSES.get("graph_regularization")(NoParams())({}, batch, None)


def test_graph_objective_is_the_laplacian_trace_and_the_weighted_distance_sum():
    g = torch.Generator().manual_seed(3)
    b = torch.where(torch.randn(6, 4, generator=g) >= 0, 1.0, -1.0).double()
    s = (torch.rand(6, 6, generator=g) < 0.5).double()
    s = ((s + s.T) > 0).double()
    lap = torch.diag(s.sum(1)) - s
    half_sum = 0.5 * sum(float(s[i, j]) * float(((b[i] - b[j]) ** 2).sum())
                         for i in range(6) for j in range(6))
    assert float(graph_objective(b, s)) == pytest.approx(float(torch.trace(b.T @ lap @ b)))
    assert float(graph_objective(b, s)) == pytest.approx(half_sum)


# ------------------------------------------------------------------------------ the B update


def _random_case(seed, n=6, k=3):
    g = torch.Generator().manual_seed(seed)
    f, gg = (torch.randn(n, k, generator=g, dtype=torch.float64) for _ in range(2))
    s = (torch.rand(n, n, generator=g) < 0.4).double()
    s = ((s + s.T) > 0).double()
    s.fill_diagonal_(1.0)
    prev = torch.where(torch.randn(n, k, generator=g) >= 0, 1.0, -1.0).double()
    return f, gg, s, prev


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("gamma", [0.1, 1.0, 5.0])
def test_code_update_never_increases_the_objective_of_eq18(seed, gamma):
    """From any previous B, the update's J(B) (Eq. 18, Eq. 13's weights) is no larger, and no
    single row can be changed to lower it (a coordinate-wise minimum)."""
    f, g, s, prev = _random_case(seed)
    beta = 0.7
    new, _ = graph_code_update([f, g], s, beta, gamma, prev, sweeps=50)
    j_new = code_objective(new, [f, g], s, beta, gamma)
    assert j_new <= code_objective(prev, [f, g], s, beta, gamma) + 1e-9
    assert set(new.unique().tolist()) <= {-1.0, 1.0}
    for i in range(len(new)):
        for row in itertools.product([-1.0, 1.0], repeat=new.shape[1]):
            other = new.clone()
            other[i] = torch.tensor(row, dtype=torch.float64)
            assert code_objective(other, [f, g], s, beta, gamma) >= j_new - 1e-9


def test_code_update_is_the_global_minimum_without_the_graph_term():
    """gamma = 0: B = sign(F + G), and brute force over every binary B agrees."""
    f, g, s, prev = _random_case(0, n=3, k=2)
    new, _ = graph_code_update([f, g], s, 1.0, 0.0, prev)
    assert torch.equal(new, torch.where(f + g >= 0, 1.0, -1.0).double())
    best = min(code_objective(torch.tensor(c, dtype=torch.float64).view(3, 2), [f, g], s, 1.0, 0.0)
               for c in itertools.product([-1.0, 1.0], repeat=6))
    assert code_objective(new, [f, g], s, 1.0, 0.0) == pytest.approx(best)


def test_code_update_reaches_the_global_minimum_on_tiny_cases_mostly():
    """Coordinate descent can stop at a local minimum; on tiny random cases it is mostly global
    (a check that the update optimises Eq. 18, not merely that it does not go up)."""
    hits = 0
    for seed in range(20):
        f, g, s, prev = _random_case(seed, n=3, k=2)
        new, _ = graph_code_update([f, g], s, 1.0, 1.0, prev, sweeps=20)
        best = min(code_objective(torch.tensor(c, dtype=torch.float64).view(3, 2), [f, g], s, 1.0,
                                  1.0) for c in itertools.product([-1.0, 1.0], repeat=6))
        hits += code_objective(new, [f, g], s, 1.0, 1.0) <= best + 1e-9
    assert hits >= 15  # 15 of these 20 (deterministic seeds)


def test_graph_term_pulls_similar_items_to_one_code():
    """Eq. 11's purpose: with a strong graph term, items of one connected group share a code."""
    f, g, _, _ = _random_case(1, n=6, k=4)
    s = torch.zeros(6, 6, dtype=torch.float64)
    s[:3, :3] = s[3:, 3:] = 1.0
    new, _ = graph_code_update([f, g], s, 1.0, 10.0, None, sweeps=20)
    assert all(torch.equal(new[i], new[0]) for i in range(3))
    assert all(torch.equal(new[i], new[3]) for i in range(3, 6))


# ------------------------------------------------------------------- TxtNet and the split head


@pytest.mark.parametrize("fusion", ["concat", "resize"])
def test_txtnet_blocks_pool_at_each_scale_and_fuse(fusion):
    from xmr.branches import build_branch
    from xmr.spec.models import TxtNetBranch

    net = build_branch(TxtNetBranch(type="txtnet", scales=[4, 3], hidden=[8], out=6,
                                    fusion=fusion), 10)
    for block in net.blocks:  # identity 1x1 convolutions: the maps are the pooled averages
        nn.init.ones_(block.conv.weight)
        nn.init.zeros_(block.conv.bias)
    x = torch.arange(10, dtype=torch.float32).unsqueeze(0)
    fused = net.fuse(x)
    # scale 4: windows [0..3], [4..7], [8, 9] (a partial last window averages what it covers)
    pooled4, pooled3 = torch.tensor([1.5, 5.5, 8.5]), torch.tensor([1.0, 4.0, 7.0, 9.0])
    if fusion == "concat":
        torch.testing.assert_close(fused, torch.cat([x[0], pooled4, pooled3]).unsqueeze(0))
        assert net.net[0].in_features == 10 + 3 + 4
    else:
        assert fused.shape == (1, 3, 10)
        assert torch.equal(fused[0, 0], x[0])
        torch.testing.assert_close(fused[0, 1], pooled4.repeat_interleave(torch.tensor([4, 4, 2])))
        torch.testing.assert_close(fused[0, 2], pooled3.repeat_interleave(torch.tensor([3, 3, 3, 1])))
    assert net(torch.rand(5, 10)).shape == (5, 6)


def test_txtnet_rejects_a_vocabulary_smaller_than_its_largest_scale():
    from xmr.branches import build_branch
    from xmr.spec.models import TxtNetBranch

    with pytest.raises(ValueError, match="fewer than the largest pooling scale 50"):
        build_branch(TxtNetBranch(type="txtnet", out=8), 40)


def test_split_layout_takes_codes_and_label_logits_from_one_layer():
    from xmr.model import CrossModalModel
    from xmr.spec.models import ArchitectureSpec

    arch = ArchitectureSpec.model_validate({
        "image": {"type": "mlp", "hidden": [8], "out": 7, "normalize": False},
        "text": {"type": "mlp", "hidden": [8], "out": 7, "normalize": False},
        "label_head": False, "hash_head": {"bits": 4, "layout": "split", "activation": "none"}})
    model = CrossModalModel(arch, {"image": 5, "text": 6}, n_classes=3)
    x = {"image": torch.rand(2, 5), "text": torch.rand(2, 6)}
    out = model(x)
    for m in ("image", "text"):
        torch.testing.assert_close(out[f"hash_{m}"], out[m][:, :4])
        torch.testing.assert_close(out[f"logits_{m}"], out[m][:, 4:])
    with pytest.raises(ValueError, match=r"bits \+ classes = 4 \+ 5 = 9"):
        CrossModalModel(arch, {"image": 5, "text": 6}, n_classes=5)


# -------------------------------------------------------------- Hamming ranking and hash lookup


def _codes(n, bits, seed):
    rng = np.random.default_rng(seed)
    return np.where(rng.random((n, bits)) < 0.5, -1.0, 1.0)


def _side(codes, labels, first_item=0):
    return Side({"image": torch.from_numpy(pack_codes(codes)),
                 "text": torch.from_numpy(pack_codes(codes))},
                torch.full((len(codes),), -1), torch.as_tensor(labels, dtype=torch.float32),
                np.arange(first_item, first_item + len(codes)))


def _slow_reference(qc, dc, q_labels, d_labels, radii, cut):
    """Per query: distances by counting differing bits; ranking by distance with ties in
    database order; AP over the whole list and over the top `cut` (retrieved-relevant
    denominator: 0 when none is retrieved, also for a query without any relevant item); lookup
    precision / recall within each radius (queries without a relevant item left out)."""
    out = {"map": [], f"map@{cut}": [], **{f"{b}@{r}": [] for r in radii for b in ("hp", "hr")}}
    for i in range(len(qc)):
        dist = [int((qc[i] != dc[j]).sum()) for j in range(len(dc))]
        rel = [bool((q_labels[i] * d_labels[j]).sum() > 0) for j in range(len(dc))]
        order = sorted(range(len(dc)), key=lambda j: (dist[j], j))
        if not any(rel):
            out[f"map@{cut}"].append(0.0)
            continue
        hits, precisions = 0, []
        for rank, j in enumerate(order, 1):
            if rel[j]:
                hits += 1
                precisions.append(hits / rank)
        out["map"].append(np.mean(precisions))
        top = [p for p, j in zip(precisions, [j for j in order if rel[j]])
               if order.index(j) < cut]
        out[f"map@{cut}"].append(np.mean(top) if top else 0.0)
        for r in radii:
            found = [j for j in range(len(dc)) if dist[j] <= r]
            good = sum(rel[j] for j in found)
            out[f"hp@{r}"].append(good / len(found) if found else 0.0)
            out[f"hr@{r}"].append(good / sum(rel))
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("bits", [6, 13, 16])
def test_hamming_ranking_and_lookup_match_slow_references_with_ties(bits):
    """Few bits make many equal distances: MAP, MAP@R and the radius metrics agree with a
    direct computation; the lookup F1 is the F1 of the mean precision and mean recall."""
    rng = np.random.default_rng(bits)
    qc, dc = _codes(9, bits, 1), _codes(40, bits, 2)
    ql = (rng.random((9, 4)) < 0.3).astype(float)
    dl = (rng.random((40, 4)) < 0.3).astype(float)
    ql[0] = 0  # a query without a relevant item: skipped
    radii = [0, 1, 2]
    names = ["map", "map@10"] + [f"{b}@{r}" for r in radii for b in ("hp", "hr", "hf1")]
    protocol = ProtocolSpec(relevance="shared_label", distance="hamming")
    res = evaluate_task("i2t", _side(qc, ql), _side(dc, dl, 100), protocol, names, query_chunk=4)
    ref = _slow_reference(qc, dc, ql, dl, radii, 10)
    for name, value in ref.items():
        assert res.metrics[name] == pytest.approx(value, abs=1e-12), name
    for r in radii:
        p, rc = ref[f"hp@{r}"], ref[f"hr@{r}"]
        assert res.metrics[f"hf1@{r}"] == pytest.approx(2 * p * rc / (p + rc) if p + rc else 0.0)
        assert res.radius["precision"][r] == pytest.approx(p)
        assert res.radius["recall"][r] == pytest.approx(rc)
    assert res.n_empty == int(((ql @ dl.T) == 0).all(1).sum()) >= 1
    assert res.radius["recall"][bits] == pytest.approx(1.0)  # radius = bits finds everything


def test_hamming_ties_keep_database_order():
    """All codes equal: every distance ties, so the ranking is the database order."""
    codes = np.ones((5, 8))
    q_labels = np.array([[1.0, 0.0]])
    d_labels = np.array([[0, 1], [1, 0], [0, 1], [0, 1], [1, 0]], dtype=float)
    protocol = ProtocolSpec(relevance="shared_label", distance="hamming")
    res = evaluate_task("i2t", _side(codes[:1], q_labels), _side(codes, d_labels, 10), protocol,
                        ["map", "hp@0", "hr@0"])
    assert res.metrics["map"] == pytest.approx((1 / 2 + 2 / 5) / 2)  # relevant at ranks 2 and 5
    assert res.metrics["hp@0"] == pytest.approx(2 / 5) and res.metrics["hr@0"] == 1.0


# ---------------------------------------------------------------------------- the spec checks


def test_validate_rejects_what_a_dmsfh_run_would_reject():
    spec = "specs/dmsfh/scenes.yaml"
    with pytest.raises(SpecError, match="needs code_quantization"):
        load_spec(spec, sets=["losses.4.weight=0"])
    with pytest.raises(SpecError, match="belongs to the dmsfh phase"):
        load_spec(spec, sets=["training.phases.0={type: gradient, epochs: 1}"])
    with pytest.raises(SpecError, match="hash-lookup metrics"):
        load_spec(spec, sets=["evaluation.protocol=category_cosine"])
    with pytest.raises(SpecError, match="needs both networks"):
        load_spec(spec, sets=["training.phases.0.modalities=[text]"])
    with pytest.raises(SpecError, match="not dmsfh terms"):
        load_spec(spec, sets=["losses.0={name: label_ce}"])
    with pytest.raises(SpecError, match="belong to no network"):
        load_spec(spec, sets=["training.phases.0.trainable=[hash_head]"])
    with pytest.raises(SpecError, match="must be bits"):
        load_spec(spec, sets=["architecture.text.out=16"])


# ------------------------------------------------------------------- specs, end to end


def _fixture(spec, tmp_path):
    import layouts

    if spec == "wikipedia":
        return ["dataset.split.val=0.2", f"dataset.root={layouts.wikipedia(tmp_path / 'wiki')}",
                "architecture.text.scales=[10,5]",  # the fixture's vocabulary is small
                "architecture.image.out=67", "architecture.text.out=67"]  # 3 categories
    if spec.startswith("mirflickr25k"):
        root, _ = layouts.mirflickr_dcmh(tmp_path / "mir", n=30, with_images=spec == "mirflickr25k")
        return [f"dataset.root={root}", "dataset.split.n_train=16", "dataset.split.n_test=6"]
    if spec == "nus_wide":  # 12 concepts in the fixture: the 5 most frequent stand for 21
        return [f"dataset.root={layouts.nus_wide(tmp_path / 'nus')}",
                "dataset.params.top_concepts=5", "dataset.split.n_train=8",
                "dataset.split.n_test=4", "architecture.image.out=69", "architecture.text.out=69",
                "architecture.text.scales=[4,2]"]  # 8 tags in the fixture
    return ["dataset.params.n_items=60", "dataset.params.image_size=48",
            "architecture.text.scales=[10,5]"]


@pytest.mark.parametrize("spec", ["scenes", "wikipedia", "mirflickr25k", "mirflickr25k_text",
                                  "nus_wide"])
def test_shipped_specs_run_end_to_end_on_fixture_layouts(spec, tmp_path):
    """Each dmsfh spec on a small tree in its dataset's layout: prepare, featurize, Algorithm 1
    for two epochs, Hamming ranking and lookup on every task, the radius curves written."""
    import json

    from xmr.cli import main

    sets = _fixture(spec, tmp_path) + ["training.phases.0.epochs=2", "training.batch_size=8"]
    if spec in ("mirflickr25k", "nus_wide"):
        sets += ["features.image.params.size=40", "architecture.image.crop=32"]
    if spec.startswith("mirflickr25k") or spec == "nus_wide":
        sets += ["architecture.text.hidden=[32,16]"]
    out = tmp_path / "m.json"
    args = ["run", f"specs/dmsfh/{spec}.yaml", "--store", str(tmp_path / "store"),
            "--metrics-out", str(out)]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    m = json.loads(out.read_text())
    tasks = {"t2t"} if spec == "mirflickr25k_text" else set(load_spec(
        f"specs/dmsfh/{spec}.yaml").evaluation.tasks)
    assert set(m["tasks"]) == tasks
    for values in m["tasks"].values():
        assert 0 <= values["map"] <= 1 and 0 <= values["hr@2"] <= 1
    plots = tmp_path / "store" / "plots" / m["experiment"]
    assert sorted(p.name for p in plots.glob("radius_*.csv")) == sorted(f"radius_{t}.csv"
                                                                        for t in tasks)
