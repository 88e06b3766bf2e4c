"""End to end: `xmr run`, the Wikipedia baseline, and the DVC pipeline in a scratch copy."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import dvc_project, run_dvc
from xmr.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_xmr_run_scenes_writes_metrics(tiny_store, tmp_path, capsys):
    out = tmp_path / "m.json"
    rc = main(["run", "specs/scenes/deep.yaml", "--store", str(tiny_store), "--metrics-out", str(out),
               "--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48",
               "--set", "training.phases.0.epochs=3"])
    assert rc == 0
    m = json.loads(out.read_text())
    assert m["protocol"]["relevance"] == "category" and m["protocol"]["ties"] == "database_order"
    assert set(m["tasks"]) == {"i2t", "t2i", "i2i", "t2t"}
    for t in m["tasks"].values():
        assert set(t) == {"map", "map@100", "p@50", "r@10"} and 0 <= t["map"] <= 1
    plots = tiny_store / "plots" / "scenes_deep"
    assert sorted(p.name for p in plots.iterdir()) == ["pr_i2i.csv", "pr_i2t.csv", "pr_t2i.csv", "pr_t2t.csv"]
    # the mAP@R curve (msdmml Figs. 4-6): R = 50 ... 500, each point the metric map@R would give
    curve = (tiny_store / "curves" / "scenes_deep" / "map_at_r_i2t.csv").read_text().splitlines()
    assert curve[0] == "R,map" and [int(r.split(",")[0]) for r in curve[1:]] == list(range(50, 501, 50))
    assert float(curve[2].split(",")[1]) == pytest.approx(m["tasks"]["i2t"]["map@100"], abs=1e-6)
    assert main(["sql", "SELECT count(*) AS n FROM results WHERE experiment='scenes_deep'",
                 "--store", str(tiny_store)]) == 0
    assert "16" in capsys.readouterr().out


def test_xmr_run_reuses_cached_features(tiny_store):
    from xmr.store import query

    before = query(__import__("xmr.store", fromlist=["Store"]).Store(tiny_store),
                   "SELECT name, created_at FROM featuresets ORDER BY name")[1]
    assert main(["run", "specs/scenes/cca.yaml", "--store", str(tiny_store),
                 "--set", "dataset.params.n_items=80", "--set", "dataset.params.image_size=48",
                 "--set", "training.phases.0.pca=16"]) == 0
    after = query(__import__("xmr.store", fromlist=["Store"]).Store(tiny_store),
                  "SELECT name, created_at FROM featuresets ORDER BY name")[1]
    assert set(before) <= set(after)


def test_wikipedia_deep_beats_020(wikipedia_root, tmp_path):
    from xmr.pipeline import run_spec
    from xmr.spec import load_spec
    from xmr.store import Store

    spec = load_spec("specs/wikipedia/deep.yaml", sets=[f"dataset.root={wikipedia_root}"])
    m = run_spec(spec, Store(tmp_path))
    assert m["tasks"]["i2t"]["map"] > 0.20 and m["tasks"]["t2i"]["map"] > 0.20, m["tasks"]


@pytest.mark.slow
def test_dvc_pipeline_repro_and_experiments(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["datasets"] = {"scenes": params["datasets"]["scenes"]}
    params["datasets"]["scenes"]["spec"]["params"] = {"n_items": 60, "image_size": 48, "seed": 0}
    params["experiments"] = {k: v for k, v in params["experiments"].items() if k.startswith("scenes")}
    params["experiments"]["scenes_deep"]["set"]["training"]["phases"]["0"]["epochs"] = 2
    params["experiments"]["scenes_cca"]["set"] = {"training": {"phases": {"0": {"pca": 16}}}}
    params["studies"] = {"vectorisation": {"scenes": params["studies"]["vectorisation"]["scenes"]}}
    proj = dvc_project(tmp_path / "proj", params)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    out = run_dvc(proj, "repro")
    for stage in ("prepare@scenes", "featurize@scenes", "train@scenes_cca", "train@scenes_deep",
                  "evaluate@scenes_cca", "evaluate@scenes_deep", "vectorisation@scenes"):
        assert f"Running stage '{stage}'" in out
    study = json.loads((proj / "store" / "studies" / "vectorisation_scenes.json").read_text())
    assert set(study["methods"]) == {"bow", "cbow", "skipgram", "glove", "glove_corpus"}
    assert study["methods"]["bow"]["auc"] == 0.5  # one-hot words: every pair at cosine 0
    assert "Running stage" not in run_dvc(proj, "repro")
    subprocess.run([*git, "add", "-A"], cwd=proj, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=proj, check=True)
    # one experiment's knob re-runs that experiment's stages only
    out = run_dvc(proj, "exp", "run", "-S", "experiments.scenes_deep.set.losses.0.params.margin=0.1")
    assert "Running stage 'train@scenes_deep'" in out
    assert "Running stage 'train@scenes_cca'" not in out
    assert "Running stage 'featurize@scenes'" not in out
    show = run_dvc(proj, "exp", "show", "--csv")
    header = show.splitlines()[0]
    assert "store/metrics/scenes_deep.json:tasks.i2t.map" in header
    assert "store/metrics/scenes_deep.json:tasks.t2i.map" in header
    assert "experiments.scenes_deep.set.losses.0.params.margin" in header
    assert len(show.strip().splitlines()) >= 4  # header, workspace, main, the experiment


def test_stage_errors_are_one_line_not_tracebacks():
    res = subprocess.run([sys.executable, "-m", "stages.train", "no_such_experiment"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 1
    assert "no experiments.no_such_experiment" in res.stderr and "scenes_deep" in res.stderr
    assert "Traceback" not in res.stderr
