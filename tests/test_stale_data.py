"""Re-use depends on the content of every input: a changed data file re-runs what depends on it,
in `xmr run` and in `dvc repro`; the catalog follows what is on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from conftest import dvc_project, run_dvc
from layouts import wikipedia
from xmr.cli import main
from xmr.featurize import featurize
from xmr.pipeline import dataset_is_current, prepare_step
from xmr.spec.models import DatasetSpec, FeatureSpec
from xmr.store import Store, query

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "architecture.image.out=2", "--set", "architecture.text.out=2",
         "--set", "dataset.split.val=0.2"]


def _run(store: Path, root: Path, out: Path) -> dict:
    assert main(["run", "specs/wikipedia/cca.yaml", "--store", str(store), "--set",
                 f"dataset.root={root}", *SMALL, "--metrics-out", str(out)]) == 0
    return json.loads(out.read_text())["tasks"]


def _shuffle_test_images(root: Path) -> None:
    mat = {k: v for k, v in loadmat(root / "raw_features.mat").items() if not k.startswith("__")}
    mat["I_te"] = mat["I_te"][np.random.default_rng(1).permutation(len(mat["I_te"]))]
    savemat(root / "raw_features.mat", mat)


def test_xmr_run_sees_a_changed_data_file(tmp_path):
    root = wikipedia(tmp_path / "wiki")
    store = tmp_path / "store"
    before = _run(store, root, tmp_path / "a.json")
    _shuffle_test_images(root)
    again = _run(store, root, tmp_path / "b.json")
    fresh = _run(tmp_path / "fresh", root, tmp_path / "c.json")
    assert again == fresh  # the same store gives what a fresh one gives
    assert again["i2t"]["map"] != before["i2t"]["map"]  # and the change was not ignored


def test_exactly_what_reads_a_changed_file_is_recomputed(tmp_path):
    root = wikipedia(tmp_path / "wiki")
    store, key = Store(tmp_path / "store"), "wiki"
    spec = DatasetSpec(name="wikipedia", root=str(root), split={"recipe": "official", "val": 0.2})
    feats = [FeatureSpec(modality="image", extractor="precomputed", params={"name": "sift_bovw"}),
             FeatureSpec(modality="text", extractor="bow", params={"vocab_size": 50})]

    def build() -> list[tuple[str, str]]:
        sets = [featurize(store, key, f) for f in feats]
        return [(fs.path.name, fs.provenance["created_at"] + fs.provenance["content_hash"])
                for fs in sets]

    prepare_step(store, key, spec)
    assert dataset_is_current(store, key, spec)
    first = build()
    _shuffle_test_images(root)  # the image matrix changes; the texts do not
    assert not dataset_is_current(store, key, spec)
    prepare_step(store, key, spec)
    second = build()
    assert second[0][0] != first[0][0]  # a new precomputed set
    assert second[1] == first[1]  # the bag-of-words set is re-used as it was
    xml = root / "texts" / "testset000.xml"
    xml.write_text(xml.read_text().replace("<text>", "<text>Entirely new words here. "))
    assert not dataset_is_current(store, key, spec)
    prepare_step(store, key, spec)
    third = build()
    assert third[1][0] != second[1][0]  # the texts changed: a new bag-of-words set


def test_unchanged_sources_are_hashed_once(tmp_path, monkeypatch):
    from xmr.store import fingerprint

    root = wikipedia(tmp_path / "wiki")
    spec = DatasetSpec(name="wikipedia", root=str(root), split={"recipe": "official", "val": 0.2})
    store = Store(tmp_path / "store")
    prepare_step(store, "wiki", spec)
    calls = []
    real = fingerprint.sha256_file
    monkeypatch.setattr(fingerprint, "sha256_file", lambda p: calls.append(p) or real(p))
    assert dataset_is_current(store, "wiki", spec)
    assert calls == []  # sizes and mtimes unchanged: every hash came from the cache
    (root / "categories.list").write_text("art\nbiology\nwar\n")
    assert not dataset_is_current(store, "wiki", spec)
    assert calls == [(root / "categories.list").resolve()]


def test_catalog_forgets_removed_outputs(tmp_path):
    root = wikipedia(tmp_path / "wiki")
    store = tmp_path / "store"
    _run(store, root, tmp_path / "m.json")
    sql = "SELECT count(*) FROM results WHERE experiment = 'wikipedia_cca'"
    assert query(Store(store), sql)[1][0][0] > 0
    (store / "metrics" / "wikipedia_cca.json").unlink()  # as `dvc remove` / checkout would
    assert "results" not in [r[0] for r in query(Store(store), "SHOW TABLES")[1]]


@pytest.mark.slow
def test_dvc_repro_reruns_what_a_changed_data_file_feeds(tmp_path):
    root = wikipedia(tmp_path / "wiki")
    params = {
        "datasets": {"wiki": {
            "data": str(root),
            "spec": {"name": "wikipedia", "split": {"recipe": "official", "seed": 0, "val": 0.2}},
            "features": [{"modality": "image", "extractor": "precomputed", "params": {"name": "sift_bovw"}},
                         {"modality": "text", "extractor": "precomputed", "params": {"name": "lda"}}]}},
        "experiments": {"wiki_cca": {"spec": "specs/wikipedia/cca.yaml", "dataset": "wiki", "set": {
            "architecture": {"image": {"out": 2}, "text": {"out": 2}}}}},
    }
    proj = dvc_project(tmp_path / "proj", params)
    run_dvc(proj, "repro")
    before = json.loads((proj / "store/metrics/wiki_cca.json").read_text())["tasks"]
    assert "Running stage" not in run_dvc(proj, "repro")
    _shuffle_test_images(root)
    out = run_dvc(proj, "repro")
    for stage in ("prepare@wiki", "featurize@wiki", "train@wiki_cca", "evaluate@wiki_cca"):
        assert f"Running stage '{stage}'" in out, out
    after = json.loads((proj / "store/metrics/wiki_cca.json").read_text())["tasks"]
    assert after["i2t"]["map"] != before["i2t"]["map"]
