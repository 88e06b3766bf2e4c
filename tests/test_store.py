import json

import numpy as np
import pyarrow as pa
import pytest

from xmr.store import FeatureSet, FeatureSetWriter, Store, query, refresh_catalog
from xmr.store.files import atomic_dir


def test_featureset_round_trip(tmp_path):
    data = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    offsets = np.array([0, 2, 2, 5, 10])
    with FeatureSetWriter(tmp_path / "fs", 10, 3, offsets=offsets, chunk_rows=4) as w:
        w.write(data[:6])
        w.write(data[6:])
        prov = w.finish({"name": "fs", "extractor": "x"})
    fs = FeatureSet.open(tmp_path / "fs")
    np.testing.assert_array_equal(fs.data, data)
    np.testing.assert_array_equal(fs.offsets, offsets)
    assert fs.fine and fs.provenance["rows"] == 10 and fs.provenance["content_hash"] == prov["content_hash"]


def test_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with FeatureSetWriter(tmp_path / "fs", 4, 2) as w:
            w.write(np.zeros((2, 2)))
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_incomplete_set_is_refused(tmp_path):
    with pytest.raises(ValueError, match="2 rows written, 4 declared"):
        with FeatureSetWriter(tmp_path / "fs", 4, 2) as w:
            w.write(np.zeros((2, 2)))
            w.finish({})
    assert not (tmp_path / "fs").exists()


def test_bad_offsets(tmp_path):
    with pytest.raises(ValueError, match="offsets"):
        with FeatureSetWriter(tmp_path / "fs", 4, 2, offsets=np.array([0, 3, 2, 4])):
            pass


def test_atomic_dir_replaces_whole(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]


def test_catalog_tables_and_read_only(tmp_path):
    store = Store(tmp_path)
    d = store.dataset_dir("toy")
    d.mkdir(parents=True)
    pa.parquet.write_table(pa.table({"item_id": ["a", "b"], "dataset": ["toy"] * 2,
                                     "split": ["train", "test"]}), d / "items.parquet")
    (d / "dataset.json").write_text(json.dumps({"name": "toy", "n_items": 2, "categories": []}))
    refresh_catalog(store)
    cols, rows = query(store, "SELECT split, count(*) FROM items GROUP BY split ORDER BY split")
    assert rows == [("test", 1), ("train", 1)]
    import duckdb

    with pytest.raises(duckdb.Error, match="read-only"):
        query(store, "DROP TABLE items")


def test_catalog_rebuilt_when_stale(tmp_path):
    store = Store(tmp_path)
    d = store.dataset_dir("toy")
    d.mkdir(parents=True)
    (d / "dataset.json").write_text(json.dumps({"name": "toy", "n_items": 1}))
    assert query(store, "SELECT n_items FROM datasets")[1] == [(1,)]
    import os
    import time

    time.sleep(0.01)
    (d / "dataset.json").write_text(json.dumps({"name": "toy", "n_items": 5}))
    os.utime(d / "dataset.json", (time.time() + 5, time.time() + 5))
    assert query(store, "SELECT n_items FROM datasets")[1] == [(5,)]
