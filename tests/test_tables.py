"""`xmr table`: comparison tables read from the stored metrics, never made up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xmr.cli import main
from xmr.spec.load import SpecError
from xmr.tables import load_table


def _metrics(store, name, i2t, t2i, euclidean=None):
    path = store / "metrics" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"tasks": {"i2t": {"map": i2t, "map@100": i2t + 0.1},
                      "t2i": {"map": t2i, "map@100": t2i + 0.1}}}
    if euclidean:
        body["distances"] = {"euclidean": {"i2t": {"map": euclidean[0]},
                                           "t2i": {"map": euclidean[1]}}}
    path.write_text(json.dumps(body))


TABLE = """
title: T
metric: map
tasks: [i2t, t2i]
rows:
  - method: A
    experiments: [a]
    published: {source: paper Table 1, values: {i2t: 0.5, t2i: 0.25}, comparable: false,
                note: other features}
  - method: B
    experiments: [b0, b1, b2]
  - method: A (ED)
    experiments: [a]
    distance: euclidean
"""


def test_table_cells_are_the_stored_metrics(tmp_path, capsys):
    store = tmp_path / "store"
    _metrics(store, "a", 0.3, 0.2, euclidean=(0.11, 0.13))
    for i, v in enumerate((0.40, 0.42, 0.47)):
        _metrics(store, f"b{i}", v, v - 0.1)
    (tmp_path / "t.yaml").write_text(TABLE)
    assert main(["table", str(tmp_path / "t.yaml"), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    b = np.array([0.40, 0.42, 0.47])
    assert "| A | 0.300 | 0.200 | 0.250 | `evaluate@a` | 0.500 / 0.250 / 0.375 | paper Table 1 [1] |" \
        in out
    assert f"| B | {b.mean():.3f} ± {b.std(ddof=1):.3f} |" in out and "(+2 seeds)" in out
    assert "| A (ED) | 0.110 | 0.130 | 0.120 |" in out
    assert "[1] paper Table 1: not comparable: other features" in out
    assert main(["table", str(tmp_path / "t.yaml"), "--store", str(store), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[1]["mean"]["i2t"] == pytest.approx(b.mean())


def test_a_missing_experiment_names_its_stage(tmp_path, capsys):
    (tmp_path / "t.yaml").write_text(TABLE)
    assert main(["table", str(tmp_path / "t.yaml"), "--store", str(tmp_path)]) == 1
    assert "dvc repro evaluate@a" in capsys.readouterr().err


@pytest.mark.parametrize("edit, message", [
    (("comparable: false,\n                note: other features", "comparable: false"),
     "needs a `note`"),
    (("experiments: [a]\n    published", "experiments: [../a]\n    published"),
     "single path components"),
])
def test_bad_tables_are_refused(tmp_path, edit, message):
    (tmp_path / "t.yaml").write_text(TABLE.replace(*edit))
    with pytest.raises(SpecError, match=message):
        load_table(tmp_path / "t.yaml")


def test_shipped_tables_load_and_name_params_experiments():
    from pathlib import Path

    from xmr.pipeline import read_params

    experiments = read_params()["experiments"]
    for path in sorted(Path("specs/compare/tables").glob("*.yaml")):
        for row in load_table(path).rows:
            assert set(row.experiments) <= set(experiments), (path, row.experiments)
