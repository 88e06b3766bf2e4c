import numpy as np
import pyarrow.parquet as pq
import pytest

from xmr.datasets import DatasetError, prepare
from xmr.spec.models import DatasetSpec


def test_scenes_is_deterministic_and_split_is_stored(tmp_path):
    spec = DatasetSpec(name="scenes", params={"n_items": 40, "image_size": 48})
    a = prepare(spec, tmp_path / "a")
    b = prepare(spec, tmp_path / "b")
    assert a["split_hash"] == b["split_hash"] and a["items_hash"] == b["items_hash"]
    assert a["split_counts"] == {"train": 24, "val": 8, "test": 8}
    assert (tmp_path / "a/images/scene-00000.png").read_bytes() == \
        (tmp_path / "b/images/scene-00000.png").read_bytes()
    items = pq.read_table(tmp_path / "a/items.parquet").to_pylist()
    units = pq.read_table(tmp_path / "a/units.parquet").to_pylist()
    for it in items:
        assert it["text"].strip() and it["category"] in it["labels"]
    kinds = {u["kind"] for u in units}
    assert kinds == {"sentence", "tag", "object"}
    c = prepare(DatasetSpec(name="scenes", params={"n_items": 40, "image_size": 48},
                            split={"seed": 1}), tmp_path / "c")
    assert c["split_hash"] != a["split_hash"]


def test_scenes_rejects_unknown_param(tmp_path):
    with pytest.raises(ValueError, match="n_itemz"):
        prepare(DatasetSpec(name="scenes", params={"n_itemz": 3}), tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_wikipedia_real(wikipedia_root, tmp_path):
    meta = prepare(DatasetSpec(name="wikipedia", root=str(wikipedia_root),
                               split={"recipe": "official", "val": 0.1}), tmp_path / "w")
    assert meta["n_items"] == 2866
    assert meta["split_counts"] == {"train": 1956, "val": 217, "test": 693}
    items = pq.read_table(tmp_path / "w/items.parquet")
    assert sum(t is not None for t in items.column("text").to_pylist()) == 2866
    units = pq.read_table(tmp_path / "w/units.parquet")
    assert units.num_rows > 2866  # sentences


def _fixture_tree(root, bad_line=None):
    root.mkdir()
    (root / "categories.list").write_text("art\nbiology\n")
    (root / "trainset_txt_img_cat.list").write_text("t1\ti1\t1\nt2\ti2\t2\n" + (bad_line or ""))
    (root / "testset_txt_img_cat.list").write_text("t3\ti3\t2\n")
    (root / "texts").mkdir()
    for t in ("t1", "t2", "t3"):
        (root / "texts" / f"{t}.xml").write_text(
            f'<document id="{t}"><text>Hello {t}. Second sentence.</text></document>')
    return root


def test_wikipedia_fixture_layout(tmp_path):
    root = _fixture_tree(tmp_path / "wiki")
    meta = prepare(DatasetSpec(name="wikipedia", root=str(root),
                               split={"recipe": "official", "val": 0.5}), tmp_path / "w")
    assert meta["split_counts"] == {"train": 1, "val": 1, "test": 1}
    units = pq.read_table(tmp_path / "w/units.parquet").to_pylist()
    assert [u["text"] for u in units if u["item_id"] == "t1"] == ["Hello t1.", "Second sentence."]


def test_wikipedia_bad_row_names_file_and_line(tmp_path):
    root = _fixture_tree(tmp_path / "wiki", bad_line="t9 i9 x\n")
    with pytest.raises(DatasetError, match=r"trainset_txt_img_cat.list:3"):
        prepare(DatasetSpec(name="wikipedia", root=str(root), split={"recipe": "official"}),
                tmp_path / "w")
    assert not (tmp_path / "w").exists()


def test_wikipedia_missing_folder_says_how_to_fix(tmp_path):
    with pytest.raises(DatasetError, match="dataset.root"):
        prepare(DatasetSpec(name="wikipedia", root=str(tmp_path / "nope")), tmp_path / "w")


def test_wikipedia_precomputed_rows_checked(tmp_path):
    from scipy.io import savemat

    from xmr.datasets.wikipedia import WikipediaDataset

    root = _fixture_tree(tmp_path / "wiki")
    savemat(root / "raw_features.mat", {"I_tr": np.ones((3, 4)), "I_te": np.ones((1, 4)),
                                        "T_tr": np.ones((2, 2)), "T_te": np.ones((1, 2))})
    src = WikipediaDataset()
    spec = DatasetSpec(name="wikipedia", root=str(root))
    with pytest.raises(DatasetError, match=r"I_tr has shape \(3, 4\) but trainset_txt_img_cat.list lists 2 items"):
        src.precomputed(spec, root, "sift_bovw")
    m, info = src.precomputed(spec, root, "lda")
    assert m.shape == (3, 2) and len(info["sha256"]) == 64
