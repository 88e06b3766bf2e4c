"""`xmr tune`: the search finds a synthetic objective's known best, prunes on per-epoch validation
MAP, never reads the test split during the search, resumes after an interruption, records a
failing trial and goes on, and writes the choice back into params.yaml."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from layouts import wikipedia
from xmr import pipeline
from xmr.cli import main
from xmr.spec import SpecError, load_spec
from xmr.spec.tuning import SearchSpace
from xmr.store import Store, query
from xmr.tune import read_space, tune, write_params

ROOT = Path(__file__).resolve().parents[1]


def _synthetic(monkeypatch, calls: list):
    """Replace training by a known objective of (lr, epochs): best at lr = 0.01; per-epoch val MAP
    rises towards it, so a bad lr is visible (and prunable) from the first epochs."""
    def train_step(store, spec, key, build_features=False, write=True, on_epoch=None):
        phase = spec.training.phases[0]
        target = 1.0 - (math.log10(phase.optimizer.lr) + 2.0) ** 2
        calls.append(phase.optimizer.lr)
        for e in range(1, phase.epochs + 1):
            if on_epoch:
                on_epoch({"phase": "joint", "epoch": e, "val_map": target * e / phase.epochs})
        return {"best_val_map": target}

    monkeypatch.setattr(pipeline, "train_step", train_step)
    monkeypatch.setattr(pipeline, "ensure_dataset", lambda store, spec: "synthetic")


BASE = load_spec(ROOT / "specs/scenes/deep.yaml").model_dump(mode="json")


def test_search_finds_the_known_best(tmp_path, monkeypatch):
    calls = []
    _synthetic(monkeypatch, calls)
    grid = SearchSpace.model_validate({"params": {"training.phases.0.optimizer.lr": {
        "type": "choice", "values": [1e-4, 1e-3, 1e-2, 1e-1]}}, "sampler": "grid"})
    res = tune(BASE, "deep", grid, Store(tmp_path / "g"), trials=10, evaluate=False)
    assert res.best_params == {"training.phases.0.optimizer.lr": 0.01} and res.best_value == 1.0
    assert sorted(calls) == [1e-4, 1e-3, 1e-2, 1e-1]  # the grid, each point once
    tpe = SearchSpace.model_validate({"params": {"training.phases.0.optimizer.lr": {
        "type": "float", "low": 1e-5, "high": 1.0, "log": True}}, "pruner": "none", "seed": 3})
    res = tune(BASE, "deep", tpe, Store(tmp_path / "t"), trials=30, evaluate=False)
    assert abs(math.log10(res.best_params["training.phases.0.optimizer.lr"]) + 2) < 0.3


def test_median_pruner_stops_bad_trials(tmp_path, monkeypatch):
    _synthetic(monkeypatch, [])
    space = SearchSpace.model_validate({"params": {"training.phases.0.optimizer.lr": {
        "type": "float", "low": 1e-5, "high": 1.0, "log": True}}, "startup_trials": 3,
        "warmup_epochs": 2, "seed": 0})
    res = tune(BASE, "deep", space, Store(tmp_path), trials=20, evaluate=False)
    pruned = [t for t in res.trials if t["state"] == "pruned"]
    assert pruned and all(t["epochs"] < 30 for t in pruned)
    best_complete = max(t["val_map"] for t in res.trials if t["state"] == "complete")
    assert res.best_value == best_complete


def _wiki_base(root: Path) -> dict:
    return load_spec(ROOT / "specs/wikipedia/deep.yaml", sets=[
        f"dataset.root={root}", "dataset.split.val=0.2", "training.phases.0.epochs=3",
        "architecture.image.hidden=[16]", "architecture.text.hidden=[16]",
        "architecture.image.out=8", "architecture.text.out=8"]).model_dump(mode="json")


def test_the_test_split_is_never_read_during_a_search(tmp_path, monkeypatch):
    from xmr.data import ExperimentData

    root = wikipedia(tmp_path / "wiki")
    base = _wiki_base(root)
    space = SearchSpace.model_validate({"params": {"losses.0.params.margin": {
        "type": "choice", "values": [0.1, 0.3]}}, "sampler": "grid"})
    real_split = ExperimentData.split

    def guarded(self, name):
        if name == "test":
            raise AssertionError("the test split was read during the search")
        return real_split(self, name)

    monkeypatch.setattr(ExperimentData, "split", guarded)
    monkeypatch.setattr(pipeline, "evaluate_step", lambda *a: pytest.fail("evaluated in a search"))
    res = tune(base, "wiki", space, Store(tmp_path / "s"), trials=2, evaluate=False)
    assert [t["state"] for t in res.trials] == ["complete", "complete"] and res.metrics is None
    assert not (tmp_path / "s" / "experiments").exists()  # trials write no experiment
    monkeypatch.undo()
    evaluated = []
    real_evaluate = pipeline.evaluate_step
    monkeypatch.setattr(pipeline, "evaluate_step", lambda *a: evaluated.append(a) or real_evaluate(*a))
    res = tune(base, "wiki", space, Store(tmp_path / "s"), trials=2)  # resumes: no new trial
    assert len(res.trials) == 2 and len(evaluated) == 1  # the choice is tested once
    assert set(res.metrics["tasks"]) == {"i2t", "t2i", "i2i", "t2t"}
    record = json.loads((tmp_path / "s/tuning/wikipedia_deep/tuning.json").read_text())
    assert record["best"]["params"] == res.best_params and record["test"]["tasks"]
    rows = query(Store(tmp_path / "s"), "SELECT number, state FROM trials ORDER BY number")[1]
    assert rows == [(0, "complete"), (1, "complete")]


def test_resume_and_interrupted_trials(tmp_path, monkeypatch):
    import optuna

    calls = []
    _synthetic(monkeypatch, calls)
    space = SearchSpace.model_validate({"params": {"training.phases.0.optimizer.lr": {
        "type": "float", "low": 1e-4, "high": 1e-1, "log": True}}, "pruner": "none"})
    store = Store(tmp_path)
    first = tune(BASE, "deep", space, store, trials=3, evaluate=False)
    # an interrupted search leaves a trial running in the study
    study = optuna.load_study(study_name=first.study,
                              storage=f"sqlite:///{tmp_path / 'tuning/scenes_deep/study.db'}")
    study.ask()
    again = tune(BASE, "deep", space, store, trials=6, evaluate=False)
    assert [t["number"] for t in again.trials] == list(range(6))
    assert again.trials[:3] == first.trials  # resumed, not restarted
    assert again.trials[3]["state"] == "fail" and "interrupted" in again.trials[3]["error"]
    assert len(calls) == 5  # 3 + 2 new trials: the interrupted one counts towards the 6


def test_failing_trial_is_recorded_and_the_search_goes_on(tmp_path, monkeypatch):
    _synthetic(monkeypatch, [])
    space = SearchSpace.model_validate({"params": {
        "training.phases.0.optimizer.lr": {"type": "choice", "values": [0.01, -1.0, 0.001]}},
        "sampler": "grid"})
    res = tune(BASE, "deep", space, Store(tmp_path), trials=3, evaluate=False)
    states = {json.loads(t["params"])["training.phases.0.optimizer.lr"]: t for t in res.trials}
    assert states[-1.0]["state"] == "fail"
    assert "training.phases.0.optimizer.lr: Input should be greater than 0" in states[-1.0]["error"]
    assert states[0.01]["state"] == "complete" and states[0.001]["state"] == "complete"
    table = pq.read_table(tmp_path / "tuning/scenes_deep/trials.parquet").to_pylist()
    assert sorted(r["state"] for r in table) == ["complete", "complete", "fail"]


def test_space_file_errors_name_the_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("params:\n  training.seed: {type: int, low: 5, high: 1}\n")
    with pytest.raises(SpecError, match=r"(?s)space.yaml: .*params.training.seed: low must be below high"):
        read_space(path)
    path.write_text("params:\n  training.nope: {type: choice, values: [1]}\n")
    with pytest.raises(SpecError, match=r"(?s)\(search space\).*training.nope: unknown key"):
        tune(BASE, "deep", read_space(path), Store(tmp_path), trials=1, evaluate=False)


def test_choice_written_back_to_params_yaml(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    write_params(params, "scenes_deep", {"training.phases.0.optimizer.lr": 0.003,
                                         "losses.0.params.margin": 0.3})
    text = params.read_text()
    assert "# Parameters of the DVC pipeline" in text  # comments kept
    spec, _ = pipeline.params_experiment(pipeline.read_params(params), "scenes_deep")
    assert spec.training.phases[0].optimizer.lr == 0.003 and spec.losses[0].params.margin == 0.3
    assert spec.training.phases[0].epochs == 30  # the other overrides stay


@pytest.mark.parametrize("path", sorted((ROOT / "specs" / "spaces").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_shipped_spaces_fit_their_experiment(path):
    from xmr.tune import check_space

    experiment = path.read_text().split("--experiment ", 1)[1].split()[0]
    spec, _ = pipeline.params_experiment(pipeline.read_params(), experiment)
    check_space(spec.model_dump(mode="json"), read_space(path), experiment)


def test_cli_needs_one_base(capsys):
    assert main(["tune", "--space", "x.yaml", "--trials", "1"]) == 1
    assert "give a spec file or --experiment" in capsys.readouterr().err
