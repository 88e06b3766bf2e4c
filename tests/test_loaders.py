"""Every dataset loader on a fixture tree in its official layout, its errors, partial loads, and
the real files in ../shared/data where present."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import layouts
from conftest import DATA
from xmr.datasets import DATASETS, DatasetError, prepare
from xmr.spec.models import DatasetSpec
from xmr.store.layout import Store


def _prep(tmp_path, name, root, split=None, out="ds", **kw):
    spec = DatasetSpec(name=name, root=str(root), split=split or {"recipe": "random", "train": 0.5,
                                                                   "val": 0.2}, **kw)
    meta = prepare(spec, tmp_path / out)
    return meta, pq.read_table(tmp_path / out / "items.parquet").to_pylist(), \
        pq.read_table(tmp_path / out / "units.parquet").to_pylist()


def _precomputed(name, root, feature, items_dir, **kw):
    spec = DatasetSpec(name=name, root=str(root), **kw)
    return DATASETS.get(name)().precomputed(spec, root, feature, pq.read_table(items_dir / "items.parquet"))


# --------------------------------------------------------------------------- Pascal Sentence


def test_pascal_official_layout(tmp_path):
    root = layouts.pascal_official(tmp_path / "pascal")
    meta, items, units = _prep(tmp_path, "pascal_sentence", root,
                               {"recipe": "counts", "n_train": 4, "n_val": 1, "n_test": 1})
    assert meta["n_items"] == 6 and meta["split_counts"] == {"train": 4, "val": 1, "test": 1}
    assert {it["category"] for it in items} == {0, 11}  # aeroplane, dog
    assert all(it["image_path"] and Image.open(it["image_path"]).size == (96, 72) for it in items)
    assert sum(u["kind"] == "sentence" for u in units) == 30


def test_pascal_json_layout_and_missing_image(tmp_path):
    root = layouts.pascal_json(tmp_path / "pascal")
    meta, items, _ = _prep(tmp_path, "pascal_sentence", root)
    assert meta["n_items"] == 8 and all(it["image_path"] for it in items)
    # a corrupt image: an error naming the file, unless the load is partial
    bad = root / "images" / "2008_000001.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="2008_000001.jpg.*partial"):
        _prep(tmp_path, "pascal_sentence", root, out="b")
    assert not (tmp_path / "b").exists()
    meta, items, _ = _prep(tmp_path, "pascal_sentence", root, out="c", partial=True)
    assert meta["n_missing"] == 1 and meta["n_items"] == 8
    missing = pq.read_table(tmp_path / "c" / "missing.parquet").to_pylist()
    assert missing[0]["item_id"] == "2008_000001" and missing[0]["what"] == "image"
    assert [it["image_path"] for it in items if it["item_id"] == "2008_000001"] == [None]


def test_pascal_dscmr_subset(tmp_path):
    root = layouts.pascal_dscmr(tmp_path / "pascal")
    meta, items, _ = _prep(tmp_path, "pascal_sentence", root, {"recipe": "official", "val": 0.25})
    assert meta["split_counts"] == {"train": 6, "val": 2, "test": 4}
    text, info = _precomputed("pascal_sentence", root, "dscmr_text", tmp_path / "ds")
    assert text.shape == (12, 300) and len(info["sha256"]) == 64
    with pytest.raises(DatasetError, match="train_img.mat"):
        _precomputed("pascal_sentence", root, "dscmr_image", tmp_path / "ds")


@pytest.mark.data
def test_pascal_real_json(tmp_path):
    root = DATA / "pascal-sentence"
    if not (root / "pascal_sentences.json").is_file():
        pytest.skip(f"Pascal Sentence data not found at {root}")
    meta, items, units = _prep(tmp_path, "pascal_sentence", root,
                               {"recipe": "counts", "n_train": 800, "n_val": 100, "n_test": 100},
                               params={"layout": "json"})
    assert meta["n_items"] == 1000 and meta["split_counts"] == {"train": 800, "val": 100, "test": 100}
    assert np.bincount([it["category"] for it in items]).tolist() == [50] * 20
    per_item = np.bincount([u["item_idx"] for u in units if u["kind"] == "sentence"])
    assert per_item.sum() == 4998 and set(per_item.tolist()) == {4, 5, 6}  # 3 x 4, 1 x 6


@pytest.mark.data
def test_pascal_real_dscmr(tmp_path):
    root = DATA / "pascal-sentence"
    if not (root / "dscmr-features").is_dir():
        pytest.skip(f"DSCMR features not found at {root}")
    meta, _, _ = _prep(tmp_path, "pascal_sentence", root, {"recipe": "official", "val": 0.0},
                       params={"layout": "dscmr"})
    assert meta["split_counts"] == {"train": 800, "val": 0, "test": 100}
    text, _ = _precomputed("pascal_sentence", root, "dscmr_text", tmp_path / "ds")
    assert text.shape == (900, 300)
    if not (root / "dscmr-features" / "train_img.mat").is_file():
        with pytest.raises(DatasetError, match="train_img.mat"):
            _precomputed("pascal_sentence", root, "dscmr_image", tmp_path / "ds")


# --------------------------------------------------------------------------- MIRFLICKR-25K


def test_mirflickr_official_dcmh_recipe(tmp_path):
    root = layouts.mirflickr_official(tmp_path / "mir")
    meta, items, units = _prep(tmp_path, "mirflickr25k", root, params={"min_tag_images": 2})
    # kept: a label and a tag used by 2+ images; im5 ('rare') and im7 (no label) are dropped
    assert [it["item_id"] for it in items] == ["1", "2", "3", "4", "6", "8"]
    sky = layouts.MIR_LABELS.index("sky")
    assert items[0]["tags"] == ["sky", "blue"] and sky in items[0]["labels"]
    assert meta["multilabel"] and {u["kind"] for u in units} == {"tag"}
    meta, items, _ = _prep(tmp_path, "mirflickr25k", root, out="all", params={"recipe": "all"})
    assert meta["n_items"] == 8
    (root / "annotations" / "dog.txt").unlink()
    with pytest.raises(DatasetError, match="dog.txt"):
        _prep(tmp_path, "mirflickr25k", root, out="x")


def test_mirflickr_official_msdmml_recipe(tmp_path):
    """msdmml: the 24 labels plus the strict _r1 ones, the most frequent tags, pairs without a
    label or a kept tag dropped."""
    root = layouts.mirflickr_official(tmp_path / "mir")
    (root / "annotations" / "sky_r1.txt").write_text("3\n8\n")
    (root / "annotations" / "dog_r1.txt").write_text("7\n")  # im7 gets its only label here
    meta, items, _ = _prep(tmp_path, "mirflickr25k", root,
                           params={"recipe": "msdmml", "top_tags": 3})
    names = meta["label_names"]
    assert len(names) == 24 + len(layouts.MIR_LABELS) and names[24:26] == ["animals_r1", "baby_r1"]
    # tags by images using them: sky 5, dog 3, blue 2 / park 2 (tie -> blue); 'park' is dropped
    assert [it["item_id"] for it in items] == ["1", "2", "3", "4", "6", "7", "8"]
    by_id = {it["item_id"]: it for it in items}
    assert by_id["7"]["tags"] == ["blue"] and by_id["7"]["labels"] == [names.index("dog_r1")]
    assert by_id["2"]["tags"] == ["dog"]
    assert names.index("sky_r1") in by_id["8"]["labels"]


def test_mirflickr_dcmh_mat_release(tmp_path):
    root, imgs = layouts.mirflickr_dcmh(tmp_path / "mir")
    meta, items, _ = _prep(tmp_path, "mirflickr25k", root,
                           {"recipe": "query_retrieval", "n_test": 2, "n_train": 3})
    assert meta["split_counts"] == {"train": 3, "val": 0, "test": 2, "retrieval": 1}
    assert items[4]["labels"] == [4]
    decoded = np.asarray(Image.open(tmp_path / "ds" / items[2]["image_path"]), np.float32)
    assert decoded.shape == imgs[2].shape and np.abs(decoded - imgs[2]).mean() < 3  # JPEG q95
    yall, info = _precomputed("mirflickr25k", root, "yall", tmp_path / "ds")
    assert yall.shape == (6, 1386) and info["variables"] == ["YAll"]


@pytest.mark.data
def test_mirflickr_real_dcmh(tmp_path):
    root = DATA / "mirflickr25k"
    if not (root / "mirflickr25k-lall.mat").is_file():
        pytest.skip(f"MIRFLICKR-25K data not found at {root}")
    meta, items, _ = _prep(tmp_path, "mirflickr25k", root,
                           {"recipe": "query_retrieval", "n_test": 2000, "n_train": 10000})
    assert meta["n_items"] == 20015 and meta["split_counts"]["retrieval"] == 8015
    assert all(it["labels"] for it in items)  # the release keeps labelled pairs only
    yall, _ = _precomputed("mirflickr25k", root, "yall", tmp_path / "ds")
    assert yall.shape == (20015, 1386) and (yall.sum(1) > 0).all()


# --------------------------------------------------------------------------- NUS-WIDE


def test_nus_wide_recipes(tmp_path):
    root = layouts.nus_wide(tmp_path / "nus")
    meta, items, _ = _prep(tmp_path, "nus_wide", root, {"recipe": "official", "val": 0.0},
                           params={"recipe": "nus10k", "per_class": 2})
    assert meta["n_items"] == 20 and not meta["multilabel"] and len(meta["categories"]) == 10
    assert meta["split_counts"]["train"] + meta["split_counts"]["test"] == 20
    assert all(len(it["labels"]) == 1 and it["labels"][0] == it["category"] for it in items)
    assert all(it["image_path"] for it in items) and items[0]["text"]
    meta, items, _ = _prep(tmp_path, "nus_wide", root, out="m",
                           params={"recipe": "nus5k_mgmm", "n_items": 10})
    assert meta["n_items"] == 10 and meta["categories"] == ["animal", "clouds", "person", "sky",
                                                             "water", "window"]
    assert "0000_1000" not in [it["item_id"] for it in items]  # animal + sky: two concepts
    meta, items, _ = _prep(tmp_path, "nus_wide", root, out="a", params={"recipe": "nus81"})
    assert meta["multilabel"] and meta["n_items"] == 35  # image 5 has no tags
    meta, _, _ = _prep(tmp_path, "nus_wide", root, out="t", params={"recipe": "nus21", "top_concepts": 4})
    assert meta["label_names"] == ["animal", "clouds", "sky", "window"]  # 4 most frequent, list order
    # msdmml: draws from the official train (24 images, 23 kept) and test (12) lists, val counted
    meta, items, _ = _prep(tmp_path, "nus_wide", root, {"recipe": "official", "n_val": 4}, out="d",
                           params={"recipe": "nus81", "draw_train": 14, "draw_test": 10})
    assert meta["split_counts"] == {"train": 10, "val": 4, "test": 10}
    with pytest.raises(DatasetError, match="draw_test=20, but only 12"):
        _prep(tmp_path, "nus_wide", root, out="e", params={"recipe": "nus81", "draw_test": 20})
    ch, _ = _precomputed("nus_wide", root, "ch", tmp_path / "a", params={"recipe": "nus81"})
    assert ch.shape == (35, 64)
    tags, _ = _precomputed("nus_wide", root, "tags1k", tmp_path / "a", params={"recipe": "nus81"})
    assert tags.shape == (35, 8) and (tags.sum(1) > 0).all()


def test_nus_wide_bad_label_file(tmp_path):
    root = layouts.nus_wide(tmp_path / "nus", with_images=False)
    path = root / "Groundtruth" / "AllLabels" / "Labels_sky.txt"
    path.write_text(path.read_text()[:-6])
    with pytest.raises(DatasetError, match="Labels_sky.txt: 33 0/1 values, expected 36"):
        _prep(tmp_path, "nus_wide", root, params={"recipe": "nus81"})


# --------------------------------------------------------------------------- Corel 5K


@pytest.mark.parametrize("width", [np.int32, np.int16])
def test_corel5k_lear_layout(tmp_path, width):
    root = layouts.corel5k(tmp_path / "corel", width)
    meta, items, units = _prep(tmp_path, "corel5k", root, {"recipe": "official", "val": 0.0})
    assert meta["n_items"] == 6  # 3000/3001 has no words and is dropped
    assert meta["categories"] == ["1000", "2000", "3000"]
    first = items[0]
    assert first["item_id"] == "1000_1001" and first["tags"] == ["sky", "water"]
    assert first["category"] == 0 and first["image_path"].endswith("1001.jpeg")
    assert sum(u["kind"] == "tag" for u in units) == 11


# --------------------------------------------------------------------------- XMedia


def test_xmedia_raw_pairs_within_category(tmp_path):
    root = layouts.xmedia_raw(tmp_path / "xm")
    meta, items, _ = _prep(tmp_path, "xmedia", root)
    assert meta["n_items"] == 6 and meta["categories"] == ["bird", "car"]
    assert meta["n_missing"] == 1  # car's surplus image, listed, not an error
    missing = pq.read_table(tmp_path / "ds" / "missing.parquet").to_pylist()
    assert missing[0]["what"] == "pair" and missing[0]["dropped"]


def test_xmedia_features_layout(tmp_path):
    root = layouts.xmedia_features(tmp_path / "xm")
    meta, items, _ = _prep(tmp_path, "xmedia", root, {"recipe": "official", "val": 0.0})
    assert meta["n_items"] == 9 and items[-1]["category"] == 2
    img, _ = _precomputed("xmedia", root, "image", tmp_path / "ds")
    assert img.shape == (9, 16)
    with pytest.raises(DatasetError, match="no variable 'T_tr_W2V'.*I_tr_CNN"):
        _precomputed("xmedia", root, "text", tmp_path / "ds",
                     params={"variables": {"text": ["T_tr_W2V", "T_te_W2V"]}})


# --------------------------------------------------------------------------- captions


def test_flickr8k_official_split(tmp_path):
    root = layouts.flickr8k(tmp_path / "f8k")
    meta, items, units = _prep(tmp_path, "flickr8k", root, {"recipe": "official"})
    assert meta["split_counts"] == {"train": 4, "val": 1, "test": 1}
    assert sum(u["item_idx"] == 0 for u in units) == 5
    bad = root / "Flickr8k_text" / "Flickr8k.token.txt"
    bad.write_text(bad.read_text() + "broken line without tab\n")
    with pytest.raises(DatasetError, match=r"Flickr8k.token.txt:31"):
        _prep(tmp_path, "flickr8k", root, out="x")


def test_mscoco_captions_and_instances(tmp_path):
    root = layouts.mscoco(tmp_path / "coco")
    meta, items, _ = _prep(tmp_path, "mscoco", root, {"recipe": "official", "val": 0.0})
    assert meta["n_items"] == 6 and meta["label_names"] == ["person", "car", "dog"]
    assert meta["split_counts"] == {"train": 3, "val": 0, "test": 3}
    assert items[2]["labels"] == [2] and len(items[0]["text"]) > 20
    meta, _, _ = _prep(tmp_path, "mscoco", root, out="s", params={"n_items": 4})
    assert meta["n_items"] == 4


# --------------------------------------------------------------------------- Wikipedia


def test_wikipedia_missing_text_needs_partial(tmp_path):
    from test_datasets import _fixture_tree

    root = _fixture_tree(tmp_path / "wiki")
    (root / "texts" / "t2.xml").unlink()
    with pytest.raises(DatasetError, match="t2.xml"):
        _prep(tmp_path, "wikipedia", root, {"recipe": "official"})
    meta, items, _ = _prep(tmp_path, "wikipedia", root, {"recipe": "official"}, out="p", partial=True)
    assert meta["n_missing"] == 1 and items[1]["text"] is None
    # the catalog lists what was missing
    from xmr.store.catalog import query, refresh_catalog

    store = Store(tmp_path / "store")
    (store.root / "datasets").mkdir(parents=True)
    (tmp_path / "p").rename(store.dataset_dir("wiki"))
    refresh_catalog(store)
    cols, rows = query(store, "SELECT item_id, what FROM missing")
    assert rows == [("t2", "text")]


def test_split_recipe_counts_must_add_up(tmp_path):
    from xmr.spec.models import SplitSpec

    root = layouts.pascal_official(tmp_path / "pascal")
    with pytest.raises(DatasetError, match="n_train \\+ n_val \\+ n_test = 5 but the dataset has 6"):
        _prep(tmp_path, "pascal_sentence", root, {"recipe": "counts", "n_train": 3, "n_val": 1,
                                                  "n_test": 1})
    with pytest.raises(ValueError, match="needs n_train and n_test"):
        SplitSpec(recipe="counts", n_train=3)
    with pytest.raises(ValueError, match="dataset.params.layuot: unknown key; allowed: layout"):
        _prep(tmp_path, "pascal_sentence", root, params={"layuot": "json"})
