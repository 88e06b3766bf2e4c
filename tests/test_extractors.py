"""Every extractor x granularity through the featurize step (what `xmr featurize` runs), the
selective-search overlap rule, and properties of the hand-crafted features."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import layouts
from xmr.extractors import EXTRACTORS
from xmr.featurize import featurize
from xmr.granularity import box_iou, keep_bigger
from xmr.pipeline import featurize_step, prepare_step
from xmr.spec.models import DatasetSpec, FeatureSpec
from xmr.store.catalog import query
from xmr.store.files import sha256_file
from xmr.store.layout import FeatureSet, Store


@pytest.fixture(scope="module")
def pascal_store(tmp_path_factory):
    """A store holding a prepared Pascal Sentence fixture (official layout, 6 images)."""
    tmp = tmp_path_factory.mktemp("pascal")
    root = layouts.pascal_official(tmp / "pascal")
    store = Store(tmp / "store")
    prepare_step(store, "pascal", DatasetSpec(name="pascal_sentence", root=str(root),
                                              split={"recipe": "counts", "n_train": 4, "n_val": 1,
                                                     "n_test": 1}))
    return store


def _spec(modality, extractor, granularity=None, **params):
    return FeatureSpec(modality=modality, extractor=extractor, params=params,
                       granularity=granularity or {"type": "whole"})


IMAGE_CASES = [
    ("efficientnet_lite0", {"type": "whole"}, {"image_size": 64}, 1280),
    ("efficientnet_lite0", {"type": "grid", "n": 3}, {"image_size": 32}, 1280),
    ("efficientnet_lite0", {"type": "selective_search", "max_units": 4, "resize": 96},
     {"image_size": 32}, 1280),
    ("pixels", {"type": "grid", "n": 2}, {"size": 8}, 192),
    ("color_histogram", None, {}, 64),
    ("color_moments", {"type": "grid", "n": 2}, {"image_size": 40}, 225),
    ("edge_histogram", None, {}, 73),
    ("gabor_gist", None, {"image_size": 64}, 512),
    ("sift_bovw", None, {"codebook": 8, "image_size": 96, "step": 12}, 8),
]
TEXT_CASES = [
    ("bow", {"type": "whole"}, {"vocab_size": 20}, None),
    ("bow", {"type": "sentences"}, {"vocab_size": 20}, None),
    ("tfidf", {"type": "whole"}, {"vocab_size": 20}, None),
    ("lda", {"type": "whole"}, {"topics": 3, "max_iter": 5}, 3),
    ("glove_mean", {"type": "sentences"}, {}, 50),
    ("word2vec_cbow", {"type": "whole"}, {"vector_size": 12, "min_count": 1}, 12),
    ("word2vec_skipgram", {"type": "sentences"}, {"vector_size": 12, "min_count": 1}, 12),
    ("minilm", {"type": "sentences"}, {}, 384),
]


@pytest.mark.parametrize("extractor,granularity,params,dim", IMAGE_CASES + TEXT_CASES,
                         ids=lambda v: v if isinstance(v, str) else None)
def test_every_extractor_and_granularity(pascal_store, extractor, granularity, params, dim):
    modality = EXTRACTORS.get(extractor).modality
    spec = _spec(modality, extractor, granularity, **params)
    fs = featurize(pascal_store, "pascal", spec)
    prov = json.loads((fs.path / "provenance.json").read_text())
    assert prov["extractor"] == extractor and prov["items_hash"] and prov["split_hash"]
    x = fs.data
    assert x.shape[0] == prov["rows"] and np.isfinite(x.astype(np.float64)).all()
    if dim is not None:
        assert x.shape[1] == dim
    if spec.granularity.type != "whole":
        assert fs.offsets is not None and fs.offsets[-1] == len(x)
    else:
        assert len(x) == 6
    assert x.std(0).max() > 0  # items differ
    again = featurize(pascal_store, "pascal", spec)  # cached: same set, not rebuilt
    assert again.path == fs.path
    assert json.loads((again.path / "provenance.json").read_text())["created_at"] == prov["created_at"]


def test_selective_search_regions_in_the_catalog(pascal_store):
    spec = _spec("image", "color_histogram", {"type": "selective_search", "max_units": 5,
                                              "resize": 96, "iou": 0.7})
    names = featurize_step(pascal_store, "pascal", [spec], prune=False)
    cols, rows = query(pascal_store, f"SELECT item_id, count(*) AS regions, min(box[1]) >= 0, "
                                     f"max(box[3]) <= 1 FROM units WHERE featureset = '{names[0]}' "
                                     "GROUP BY item_id ORDER BY item_id")
    assert len(rows) == 6 and all(1 <= r[1] <= 5 and r[2] and r[3] for r in rows)
    boxes = query(pascal_store, f"SELECT item_idx, box FROM units WHERE featureset = '{names[0]}'")[1]
    for item in range(6):
        b = np.array([bx for i, bx in boxes if i == item])
        iou = box_iou(b, b)
        np.fill_diagonal(iou, 0)
        assert iou.max() <= 0.7 + 1e-6  # the rule leaves no pair above the threshold


def test_changing_a_parameter_gives_a_new_set(pascal_store):
    a = featurize(pascal_store, "pascal", _spec("text", "bow", vocab_size=10))
    b = featurize(pascal_store, "pascal", _spec("text", "bow", vocab_size=12))
    assert a.path != b.path and a.data.shape[1] == 10 and b.data.shape[1] == 12


# --------------------------------------------------------------------------- backbones

BACKBONES = [("vgg16_fc7", "vgg16", 4096), ("vgg19_fc7", "vgg19", 4096),
             ("alexnet_fc7", "alexnet", 4096), ("resnet34_pool", "resnet34", 512),
             ("resnet101_pool", "resnet101", 2048)]


@pytest.mark.parametrize("extractor,arch,dim", BACKBONES)
def test_torchvision_backbone_from_named_weights(pascal_store, tmp_path, extractor, arch, dim):
    from xmr.compat.torchvision import import_torchvision

    torch.manual_seed(0)
    model = getattr(import_torchvision().models, arch)(weights=None).eval()
    weights = tmp_path / f"{arch}.pth"
    torch.save(model.state_dict(), weights)
    spec = _spec("image", extractor, weights=str(weights), resize=72, crop=64)
    fs = featurize(pascal_store, "pascal", spec)
    prov = json.loads((fs.path / "provenance.json").read_text())
    assert prov["weights_sha256"] == sha256_file(weights)
    x = fs.data
    assert x.shape == (6, dim)
    # the stored fc7 / pooled feature is the network's own intermediate output
    ext = EXTRACTORS.get(extractor)(spec.params)
    from xmr.extractors.base import load_crop
    from xmr.featurize import Prepared

    path = Prepared.open(pascal_store, "pascal").items.column("image_path")[0].as_py()
    img = ext._tensor(load_crop(path, None))[None]
    with torch.inference_mode():
        if arch.startswith("resnet"):
            model.fc = torch.nn.Identity()
            ref = model(img)
        else:
            feats = torch.flatten(model.avgpool(model.features(img)), 1)
            ref = model.classifier[:5 if arch.startswith("vgg") else 6](feats)
    # batched vs single-image float32 sums differ slightly at random-init scales
    scale = float(ref.abs().max())
    np.testing.assert_allclose(x[0], ref[0].numpy(), rtol=1e-3, atol=1e-4 * scale)
    if "fc7" in extractor:
        assert (x >= 0).all()  # fc7 is taken after its ReLU
    shutil.rmtree(fs.path)  # keep the module's store small


def test_backbone_refuses_missing_or_wrong_weights(pascal_store, tmp_path):
    with pytest.raises(ValueError, match="set params.weights"):
        featurize(pascal_store, "pascal", _spec("image", "resnet34_pool"))
    with pytest.raises(FileNotFoundError, match="nope.pth not found"):
        featurize(pascal_store, "pascal", _spec("image", "resnet34_pool", weights=str(tmp_path / "nope.pth")))
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a torchvision resnet34 state dict"):
        featurize(pascal_store, "pascal", _spec("image", "resnet34_pool", weights=str(tmp_path / "other.pth")))


# --------------------------------------------------------------------------- properties


def _slow_keep_bigger(boxes, thr):
    """Direct reading of the rule: visit boxes from the biggest; keep one unless it overlaps a
    kept (hence bigger or equal) box by more than ``thr``."""
    def area(b):
        return (b[2] - b[0]) * (b[3] - b[1])

    def iou(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        return inter / (area(a) + area(b) - inter)

    order = sorted(range(len(boxes)), key=lambda i: -area(boxes[i]))
    kept = []
    for i in order:
        if all(iou(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return kept


def test_keep_bigger_matches_the_direct_rule():
    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.random((30, 2)) * 0.7
        wh = 0.05 + rng.random((30, 2)) * 0.3
        boxes = np.column_stack([xy, xy + wh])
        assert keep_bigger(boxes, 0.5).tolist() == _slow_keep_bigger(boxes.tolist(), 0.5)
    # of two heavily overlapping boxes, the bigger survives
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.52, 0.52], [0.7, 0.7, 0.9, 0.9]])
    assert keep_bigger(boxes, 0.7).tolist() == [1, 2]


def test_handcrafted_feature_properties():
    from xmr.extractors.handcrafted import color_moments

    uniform = np.full((20, 20, 3), (10, 120, 250), np.uint8)
    cm = color_moments(uniform, 2).reshape(4, 3, 3)
    assert np.allclose(cm[:, 0], (10, 120, 250)) and np.allclose(cm[:, 1:], 0)
    img = np.random.default_rng(0).integers(0, 256, (10, 10, 3)).astype(np.uint8)
    cell = img[:5, 5:].reshape(-1, 3).astype(float)
    skew = np.cbrt(((cell - cell.mean(0)) ** 3).mean(0))
    assert np.allclose(color_moments(img, 2).reshape(4, 3, 3)[1], [cell.mean(0), cell.std(0), skew])
    hist = EXTRACTORS.get("color_histogram")({"space": "rgb", "bins": 2}).describe(uniform)
    assert hist.sum() == pytest.approx(1) and hist[1] == 1  # r<128, g<128, b>=128
    edge = EXTRACTORS.get("edge_histogram")()
    flat = edge.describe(uniform)
    assert flat[-1] == 1 and flat[:-1].sum() == 0  # no edges: all mass in the non-edge bin
    step = np.zeros((64, 64, 3), np.uint8)
    step[:, 32:] = 255
    e = edge.describe(step)
    assert e.sum() == pytest.approx(1) and e[0] > 0  # a vertical edge: gradient direction 0 deg


def test_word2vec_is_reproducible(pascal_store):
    a = EXTRACTORS.get("word2vec_skipgram")({"vector_size": 8, "min_count": 1})
    b = EXTRACTORS.get("word2vec_skipgram")({"vector_size": 8, "min_count": 1})
    texts = layouts.SENTENCES * 3
    a.fit(texts)
    b.fit(texts)
    np.testing.assert_array_equal(a.transform(texts[:2]), b.transform(texts[:2]))
    assert a.oov == 0


def test_tags_granularity_on_mirflickr(tmp_path):
    root = layouts.mirflickr_official(tmp_path / "mir")
    store = Store(tmp_path / "store")
    prepare_step(store, "mir", DatasetSpec(name="mirflickr25k", root=str(root),
                                           params={"min_tag_images": 2}))
    fs = featurize(store, "mir", _spec("text", "bow", {"type": "tags"}, norm="none"))
    sums = fs.data.sum(1)
    # one tag per unit: a count of 1, or 0 for a tag the training split never used
    assert set(sums.tolist()) <= {0.0, 1.0} and sums.mean() > 0.5
    cols, rows = query(store, "SELECT item_id, count(*) FROM units WHERE kind = 'tag' AND "
                              "featureset IS NOT NULL GROUP BY item_id ORDER BY item_id")
    assert dict(rows)["1"] == 2  # 'cloud' (one image only) is not in the DCMH-style tag list
    assert isinstance(FeatureSet.open(fs.path), FeatureSet)


def test_xmr_featurize_from_params(tmp_path, monkeypatch, capsys):
    """`xmr prepare` / `xmr featurize` on a params.yaml naming a dataset in its official layout:
    the feature sets land in the store with their provenance rows in the catalog."""
    import yaml

    from xmr.cli import main

    root = layouts.pascal_official(tmp_path / "pascal")
    params = {"datasets": {"pascal": {
        "data": str(root),
        "spec": {"name": "pascal_sentence", "root": str(root),
                 "split": {"recipe": "counts", "n_train": 4, "n_val": 1, "n_test": 1}},
        "features": [
            {"modality": "image", "extractor": "color_moments", "params": {"image_size": 32},
             "granularity": {"type": "selective_search", "max_units": 3, "resize": 96}},
            {"modality": "image", "extractor": "edge_histogram", "granularity": {"type": "grid", "n": 2}},
            {"modality": "text", "extractor": "tfidf", "granularity": {"type": "sentences"}},
            {"modality": "text", "extractor": "glove_mean"}]}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")
    assert main(["prepare", "pascal", "--store", store]) == 0
    assert main(["featurize", "pascal", "--store", store]) == 0
    capsys.readouterr()
    assert main(["sql", "SELECT extractor, granularity.type AS g, rows, fine FROM featuresets "
                        "ORDER BY extractor", "--store", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["extractor"], r["g"], r["fine"]) for r in rows] == [
        ("color_moments", "selective_search", True), ("edge_histogram", "grid", True),
        ("glove_mean", "whole", False), ("tfidf", "sentences", True)]
    assert rows[1]["rows"] == 24 and rows[2]["rows"] == 6 and rows[3]["rows"] == 30
    # bad input: one line naming the file
    (root / "sentence" / "dog" / "2008_100000.txt").write_text("")
    assert main(["prepare", "pascal", "--store", store]) == 1
    assert "2008_100000" in capsys.readouterr().err


def test_efficientnet_worker_path_equals_single_image_path(tmp_path, monkeypatch):
    """uint8 pixels from DataLoader workers, normalised per batch, then a channels_last forward:
    the same features as the single-image float path through a contiguous forward; and the
    same with or without workers (2 workers over 3 batches)."""
    from PIL import Image

    from xmr.extractors import image as image_mod

    rng = np.random.default_rng(0)
    units = []
    for i in range(7):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8)).save(path)
        units.append((path, None if i % 2 else (0.1, 0.2, 0.9, 0.8)))
    ext = EXTRACTORS.get("efficientnet_lite0")({"image_size": 32, "batch_size": 3,
                                                 "device": "cpu"})
    from xmr.extractors.base import load_crop

    single = torch.stack([ext._tensor(load_crop(*u)) for u in units])
    batched = ext._batch_input(torch.stack([ext._unit_tensor(u) for u in units]))
    assert torch.equal(single, batched)
    net = ext._network().eval()
    with torch.inference_mode():
        ref = net(single).numpy()
    monkeypatch.setattr(image_mod, "decode_workers", lambda n, b: 2)
    with_workers = ext.transform(units)
    monkeypatch.setattr(image_mod, "decode_workers", lambda n, b: 0)
    np.testing.assert_array_equal(ext.transform(units), with_workers)
    np.testing.assert_allclose(with_workers, ref, rtol=1e-4, atol=1e-5)


def test_random_crops_are_seeded_per_unit(tmp_path):
    from PIL import Image

    from xmr.compat.torchvision import import_torchvision

    weights = tmp_path / "resnet34.pth"
    torch.save(import_torchvision().models.resnet34(weights=None).state_dict(), weights)
    path = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (90, 80, 3), np.uint8)).save(path)
    ext = EXTRACTORS.get("resnet34_pool")({"weights": str(weights), "resize": 72, "crop": 48,
                                           "crop_mode": "random"})
    a, b = (path, None), (path, (0.0, 0.0, 1.0, 0.9))
    first = ext._unit_tensor(a)
    torch.manual_seed(123)  # the global state does not matter
    assert torch.equal(ext._unit_tensor(b), ext._unit_tensor(b))
    assert torch.equal(ext._unit_tensor(a), first) and not torch.equal(first, ext._unit_tensor(b))


def test_decode_workers_follow_the_core_share(monkeypatch):
    from xmr.extractors.image import decode_workers

    monkeypatch.setenv("XMR_THREADS", "2")
    assert decode_workers(64, 64) == 0 and decode_workers(65, 64) == 2
    monkeypatch.setenv("XMR_THREADS", "16")
    assert decode_workers(1000, 64) == 4
