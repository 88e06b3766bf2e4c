"""No data loss: names that become paths are single safe components; temporaries are never
indexed and are removed by the next command once their process is gone; the SQL surface is a
sandbox over the catalog alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from layouts import wikipedia
from xmr.cli import main
from xmr.pipeline import params_dataset, params_experiment
from xmr.spec import SpecError
from xmr.store import Store, query
from xmr.store.catalog import catalog_is_stale, refresh_catalog
from xmr.store.files import atomic_dir, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", [".", "..", "../x", "a/b", ".tmp-x", "-rf", "", "x" * 129, "a b"])
def test_unsafe_names_never_become_paths(tmp_path, name):
    store = Store(tmp_path)
    for method in (store.dataset_dir, store.experiment_dir, store.metrics_path, store.plots_dir,
                   store.curves_dir, store.results_dir, store.features_dir):
        with pytest.raises(ValueError, match="not a safe name"):
            method(name)
    with pytest.raises(ValueError, match="not a safe name"):
        store.featureset_dir("ok", name)


def test_run_with_dot_names_is_refused_and_loses_nothing(tmp_path, capsys):
    (tmp_path / "experiments" / "keep").mkdir(parents=True)
    (tmp_path / "experiments" / "keep" / "model.pt").write_text("x")
    for bad in (".", ".."):
        assert main(["run", "specs/scenes/cca.yaml", "--store", str(tmp_path), "--set", f"name={bad}"]) == 1
        assert "name: not a safe name" in capsys.readouterr().err
    assert (tmp_path / "experiments" / "keep" / "model.pt").read_text() == "x"


def test_params_keys_are_safe_names():
    params = {"datasets": {"..": {"spec": {"name": "scenes"}}},
              "experiments": {"../up": {"spec": "specs/scenes/cca.yaml", "dataset": "scenes"}}}
    with pytest.raises(ValueError, match="not a safe name"):
        params_dataset(params, "..")
    with pytest.raises(ValueError, match="not a safe name"):
        params_experiment(params, "../up")


def test_params_dataset_is_checked_like_a_spec():
    params = {"datasets": {"s": {"data": "xmr/datasets/scenes.py", "spec": {
        "name": "scenes", "params": {"n_items": 0}}, "features": [
        {"modality": "text", "extractor": "bow", "params": {"vocab_size": 0}},
        {"modality": "text", "extractor": "bow", "granularity": {"type": "grid"}}]}}}
    with pytest.raises(SpecError) as exc:
        params_dataset(params, "s")
    msg = str(exc.value)
    assert "datasets.s.spec.dataset.params.n_items" in msg
    assert "datasets.s.features.0.params.vocab_size" in msg
    assert "datasets.s.features.1.granularity" in msg
    params["datasets"]["s"] = {"data": "../elsewhere", "spec": {"name": "scenes"}}
    with pytest.raises(SpecError, match="datasets.s.data: a generated dataset is built from its "
                                        "generator xmr/datasets/scenes.py"):
        params_dataset(params, "s")
    params["datasets"]["s"] = {"spec": {"name": "scenes"}}
    with pytest.raises(SpecError, match="datasets.s.data: name the folder"):
        params_dataset(params, "s")
    params["datasets"]["s"] = {"data": "/somewhere/else", "spec": {"name": "wikipedia", "root": "/data/w"}}
    with pytest.raises(SpecError, match="datasets.s.data: '/somewhere/else' is not the dataset's root"):
        params_dataset(params, "s")
    params["datasets"]["s"] = {"data": "/data/w", "spec": {"name": "wikipedia"}}
    assert params_dataset(params, "s")[0].root == "/data/w"  # the root DVC watches is the one read


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    dead, live = _dead_pid(), os.getpid()
    folder = tmp_path / "experiments"
    folder.mkdir()
    for name in (f".tmp-a-{dead}-0123abcd", f".tmp-b-{live}-0123abcd", ".tmp-old-layout"):
        (folder / name).mkdir()
    (tmp_path / f".tmp-catalog.duckdb-{dead}-0123abcd").write_text("x")
    removed = Store(tmp_path).remove_stale_temporaries()
    assert sorted(p.name for p in removed) == sorted(
        [f".tmp-a-{dead}-0123abcd", ".tmp-old-layout", f".tmp-catalog.duckdb-{dead}-0123abcd"])
    assert (folder / f".tmp-b-{live}-0123abcd").is_dir()
    assert remove_stale_temporaries(folder) == []  # the live one stays


def test_catalog_never_reads_a_temporary(tmp_path):
    root = wikipedia(tmp_path / "wiki")
    store = tmp_path / "store"
    assert main(["run", "specs/wikipedia/cca.yaml", "--store", str(store), "--set", f"dataset.root={root}",
                 "--set", "architecture.image.out=2", "--set", "architecture.text.out=2"]) == 0
    (key,) = [p.name for p in (store / "datasets").iterdir()]
    n = query(Store(store), "SELECT count(*) FROM items")[1][0][0]
    with pytest.raises(RuntimeError):  # a prepare interrupted half-way, in this (live) process
        with atomic_dir(store / "datasets" / key) as tmp:
            for f in ("items.parquet", "units.parquet", "dataset.json"):
                (tmp / f).write_bytes((store / "datasets" / key / f).read_bytes())
            refresh_catalog(Store(store))
            assert query(Store(store), "SELECT count(*) FROM items")[1][0][0] == n
            exps = query(Store(store), "SELECT experiment FROM experiments")[1]
            assert exps == [("wikipedia_cca",)]
            raise RuntimeError
    assert not [p for p in (store / "datasets").iterdir() if p.name.startswith(".tmp-")]


HOSTILE = [
    ("COPY (SELECT 1) TO 'store/metrics/x.json'", "file system operations are disabled"),
    ("SELECT * FROM read_csv('/etc/passwd')", "file system operations are disabled"),
    ("SELECT * FROM glob('/root/*')", "file system operations are disabled"),
    ("INSTALL httpfs", "disabled"),
    ("LOAD httpfs", "disabled"),
    ("ATTACH '/tmp/other.db'", "file system operations are disabled"),
    ("SET enable_external_access = true", "the configuration has been locked"),
    ("SET lock_configuration = false", "the configuration has been locked"),
    ("CREATE TABLE t AS SELECT 1", "read-only"),
    ("DROP TABLE items", "read-only"),
    ("INSERT INTO items SELECT * FROM items", "read-only"),
    ("EXPORT DATABASE '/tmp/dump'", "file system operations are disabled"),
]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("sql")
    root = wikipedia(base / "wiki")
    assert main(["run", "specs/wikipedia/cca.yaml", "--store", str(base / "store"), "--set",
                 f"dataset.root={root}", "--set", "architecture.image.out=2",
                 "--set", "architecture.text.out=2"]) == 0
    return base / "store"


@pytest.mark.parametrize("sql,message", HOSTILE, ids=[h[0][:24] for h in HOSTILE])
def test_hostile_sql_is_refused(small_store, sql, message, capsys):
    metrics = small_store / "metrics" / "wikipedia_cca.json"
    before = metrics.read_bytes()
    assert main(["sql", sql, "--store", str(small_store)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert metrics.read_bytes() == before
    assert main(["sql", "SELECT count(*) FROM results", "--store", str(small_store)]) == 0


def test_every_result_type_prints(small_store, capsys):
    import json

    sql = ("SELECT now() AS t, INTERVAL 3 DAY AS i, 12::HUGEINT AS h, 1.5::DECIMAL(5, 2) AS d, "
           "'a'::BLOB AS b, uuid() AS u, {'a': 1} AS s, [1.5, 2]::FLOAT[] AS l, MAP([1], [2]) AS m, "
           "'101'::BIT AS bits, DATE '2020-01-01' AS day, 1::UNION(a INT, b VARCHAR) AS un")
    assert main(["sql", sql, "--store", str(small_store)]) == 0
    out = capsys.readouterr().out
    assert "101" in out and "3 days" in out and "2020-01-01" in out and "(1 row)" in out
    assert main(["sql", sql, "--store", str(small_store), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["bits"] == "101" and row["l"] == [1.5, 2.0] and row["s"] == {"a": 1}
    cols, rows = query(Store(small_store), "SELECT [1.5, 2]::FLOAT[] AS l, 2 AS n")
    assert cols == ["l", "n"] and rows == [([1.5, 2.0], 2)]  # lists stay lists, numbers numbers


def test_corrupt_metrics_file_is_named(small_store, capsys, tmp_path):
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(small_store, copy)
    (copy / "metrics" / "wikipedia_cca.json").write_text("")
    assert catalog_is_stale(Store(copy))
    assert main(["sql", "SELECT 1", "--store", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "metrics/wikipedia_cca.json: not valid JSON" in err and "Traceback" not in err
