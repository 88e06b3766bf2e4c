"""Bad data is an error that names the file and the row or item (or, with `partial: true`, a row of
the `missing` table); it is never silently accepted."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.io import loadmat, savemat

import layouts
from xmr.cli import main
from xmr.datasets import DATASETS, DatasetError, prepare
from xmr.spec.models import DatasetSpec

SMALL = ["--set", "architecture.image.out=2", "--set", "architecture.text.out=2",
         "--set", "dataset.split.val=0.2"]


def _edit_mat(path, **changes):
    mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    for k, v in changes.items():
        if v is None:
            del mat[k]
        else:
            mat[k] = v(mat[k])
    savemat(path, mat)


def _set(row, col, value):
    def f(m):
        m = m.copy()
        m[row, col] = value
        return m
    return f


@pytest.mark.parametrize("var,row,item", [("I_tr", 3, "trainset003"), ("I_te", 0, "testset000"),
                                          ("T_tr", 7, "trainset007")])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_feature_rows_name_file_and_item(tmp_path, capsys, var, row, item, value):
    root = layouts.wikipedia(tmp_path / "wiki")
    _edit_mat(root / "raw_features.mat", **{var: _set(row, 2, value)})
    assert main(["run", "specs/wikipedia/cca.yaml", "--store", str(tmp_path / "s"),
                 "--set", f"dataset.root={root}", *SMALL]) == 1
    err = capsys.readouterr().err
    assert "raw_features.mat" in err and f"item {item}" in err and "NaN or infinite" in err, err
    assert "Traceback" not in err


def test_non_finite_extractor_output_names_the_item(tmp_path, monkeypatch):
    from xmr.extractors.text import BagOfWords
    from xmr.featurize import featurize
    from xmr.pipeline import prepare_step
    from xmr.spec.models import FeatureSpec
    from xmr.store import Store

    root = layouts.wikipedia(tmp_path / "wiki")
    store = Store(tmp_path / "s")
    prepare_step(store, "w", DatasetSpec(name="wikipedia", root=str(root),
                                         split={"recipe": "official", "val": 0.2}))
    real = BagOfWords.transform

    def broken(self, units):
        out = real(self, units)
        out[4, 0] = np.nan
        return out

    monkeypatch.setattr(BagOfWords, "transform", broken)
    with pytest.raises(DatasetError, match=r"1 row\(s\) hold NaN or infinite values: row 4 "
                                           r"\(item trainset004, unit 4\)"):
        featurize(store, "w", FeatureSpec(modality="text", extractor="bow"))
    assert not list((tmp_path / "s" / "features" / "w").iterdir())


def test_undecodable_article_is_an_error_or_a_missing_row(tmp_path):
    root = layouts.wikipedia(tmp_path / "wiki")
    bad = root / "texts" / "trainset002.xml"
    bad.write_bytes(bad.read_bytes().replace(b"<text>", b"<text>Caf\xe9 "))
    spec = dict(name="wikipedia", root=str(root), split={"recipe": "official", "val": 0.2})
    with pytest.raises(DatasetError, match=r"trainset002.xml is not UTF-8 text \(byte 0xe9 at "
                                           r"offset \d+, line 1\)"):
        prepare(DatasetSpec(**spec), tmp_path / "a")
    prepare(DatasetSpec(**spec, partial=True), tmp_path / "b")
    missing = pq.read_table(tmp_path / "b" / "missing.parquet").to_pylist()
    assert [(m["item_id"], m["what"]) for m in missing] == [("trainset002", "text")]
    items = {r["item_id"]: r for r in pq.read_table(tmp_path / "b" / "items.parquet").to_pylist()}
    assert items["trainset002"]["text"] is None and items["trainset003"]["text"]


def test_undecodable_list_file_is_named(tmp_path):
    root = layouts.wikipedia(tmp_path / "wiki")
    (root / "categories.list").write_bytes(b"art\nbiolog\xff\nwarfare\n")
    with pytest.raises(DatasetError, match=r"categories.list: not UTF-8 text \(byte 0xff .*line 2\)"):
        prepare(DatasetSpec(name="wikipedia", root=str(root)), tmp_path / "a")


def _precomputed(root, tmp_path, name="sift_bovw"):
    spec = DatasetSpec(name="wikipedia", root=str(root), split={"recipe": "official"})
    prepare(spec, tmp_path / "p")
    return DATASETS.get("wikipedia")().precomputed(spec, root, name,
                                                   pq.read_table(tmp_path / "p" / "items.parquet"))


def test_missing_variable_and_truncated_file_are_named(tmp_path):
    root = layouts.wikipedia(tmp_path / "wiki")
    _edit_mat(root / "raw_features.mat", I_te=None)
    with pytest.raises(DatasetError, match=r"raw_features.mat: no variable 'I_te' \(it has \["):
        _precomputed(root, tmp_path)
    path = root / "raw_features.mat"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DatasetError, match="raw_features.mat: not a readable MATLAB file .* truncated"):
        _precomputed(root, tmp_path)


def test_view_of_wrong_orientation_is_named(tmp_path):
    root = layouts.xmedia_features(tmp_path / "xm")
    _edit_mat(root / "XMediaFeatures.mat", I_te_CNN=lambda m: m.T.copy())  # 16 x 3: items as columns
    spec = DatasetSpec(name="xmedia", root=str(root), split={"recipe": "official"})
    prepare(spec, tmp_path / "p")
    with pytest.raises(DatasetError, match=r"I_tr_CNN \(6, 16\), I_te_CNN \(16, 3\): .*items-as-columns"):
        DATASETS.get("xmedia")().precomputed(spec, root, "image",
                                             pq.read_table(tmp_path / "p" / "items.parquet"))


def test_one_hot_labels_load_multi_hot_are_named(tmp_path):
    root = layouts.xmedia_features(tmp_path / "xm")
    _edit_mat(root / "XMediaFeatures.mat", trImgCat=lambda m: np.eye(3)[m.ravel() - 1],
              teImgCat=lambda m: np.eye(3)[m.ravel() - 1])
    spec = DatasetSpec(name="xmedia", root=str(root), split={"recipe": "official"})
    meta = prepare(spec, tmp_path / "a")
    cats = [r["category"] for r in pq.read_table(tmp_path / "a" / "items.parquet").to_pylist()]
    assert cats == [0, 0, 1, 1, 2, 2, 0, 1, 2] and meta["n_items"] == 9
    _edit_mat(root / "XMediaFeatures.mat", trImgCat=_set(0, 2, 1.0))
    with pytest.raises(DatasetError, match=r"trImgCat is a 6 x 3 matrix but not one-hot"):
        prepare(spec, tmp_path / "b")
