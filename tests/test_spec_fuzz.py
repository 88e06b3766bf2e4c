"""A seeded spec fuzzer: mutants of every shipped spec that are invalid by construction must be
rejected by `xmr validate` with a message naming the file and the field, never accepted, never a
traceback. Plus the specific invalid specs that once validated (issue 8)."""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import pytest
import yaml

from xmr.cli import main
from xmr.spec.load import spec_files

ROOT = Path(__file__).resolve().parents[1]
SPECS = spec_files(ROOT / "specs")
MUTANTS_PER_SPEC = 80  # x 35 shipped specs: 2,800 per run
# Keys whose string value is a name from a closed set (a Literal or a registry): any other string
# is invalid.
CLOSED_NAMES = {"type", "extractor", "activation", "distance", "mining", "recipe", "device",
                "visible", "pool", "relevance", "database", "norm", "layout", "protocol",
                "empty_queries", "map_at_r_denominator", "ties", "mode", "stop_words_mode",
                "fusion", "reduction", "init_outputs", "lr_decay", "search"}


def _paths(node, prefix=()):
    """Every (path, value) in a YAML tree, parents before children."""
    yield prefix, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _set(data, path, value):
    node = data
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


def _mutants(data: dict, rng: random.Random, n: int):
    """``n`` (operator, mutant, field path) of ``data``."""
    nodes = [(p, v) for p, v in _paths(data) if p and p[0] != "description"]
    maps = [(p, v) for p, v in _paths(data) if isinstance(v, dict)]
    out = []
    while len(out) < n:
        op = rng.choice(["unknown_key", "non_finite", "wrong_type", "negative", "bad_name", "list"])
        d = copy.deepcopy(data)
        if op == "unknown_key":
            path, _ = rng.choice(maps)
            key = f"zz_{rng.randrange(10**6)}"
            _set(d, path + (key,), 1) if path else d.__setitem__(key, 1)
            out.append((op, d, path + (key,)))
            continue
        path, value = rng.choice(nodes)
        if op == "non_finite" and isinstance(value, (int, float)) and not isinstance(value, bool):
            _set(d, path, rng.choice([math.inf, -math.inf, math.nan]))
        elif op == "wrong_type" and not isinstance(value, dict) and path[-1] != "description":
            _set(d, path, {"zz": 1})
        elif op == "negative" and isinstance(value, int) and not isinstance(value, bool):
            _set(d, path, -7 - rng.randrange(100))
        elif op == "bad_name" and isinstance(value, str) and path[-1] in CLOSED_NAMES:
            _set(d, path, f"zz_{rng.randrange(10**6)}")
        elif op == "list" and isinstance(value, list) and value and not isinstance(value[0], dict):
            _set(d, path, "zz")
        else:
            continue
        out.append((op, d, path))
    return out


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_invalid_mutants_are_rejected_naming_file_and_field(spec_path, tmp_path, capsys):
    data = yaml.safe_load(spec_path.read_text())
    rng = random.Random(f"xmr-{spec_path.name}")
    target = tmp_path / f"mutant-{spec_path.stem}.yaml"
    failures = []
    for op, mutant, path in _mutants(data, rng, MUTANTS_PER_SPEC):
        target.write_text(yaml.safe_dump(mutant, sort_keys=False, allow_unicode=True))
        rc = main(["validate", str(target)])
        err = capsys.readouterr().err
        field = ".".join(map(str, path))
        if rc != 1 or str(target) not in err or f"  {field}:" not in err or "Traceback" in err:
            failures.append(f"{op} at {field}: rc={rc}\n{err}")
    assert not failures, f"{len(failures)} of {MUTANTS_PER_SPEC} mutants:\n" + "\n".join(failures[:5])


def _validate(tmp_path, capsys, text: str | bytes, *sets: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    rc = main(["validate", str(path), *(a for s in sets for a in ("--set", s))])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err, err
    return err


BASE = (ROOT / "specs/scenes/deep.yaml").read_text()


@pytest.mark.parametrize("sets,field", [
    (["training.phases.0.optimizer.lr=.inf"], "training.phases.0.optimizer.lr"),
    (["losses.0.weight=.nan"], "losses.0.weight"),
    (["training.phases.0.optimizer.weight_decay=.inf"], "training.phases.0.optimizer.weight_decay"),
    (["evaluation.tasks=[]"], "evaluation.tasks"),
    (["evaluation.metrics=[]"], "evaluation.metrics"),
    (["evaluation.metrics=[map, {a: 1}]"], "evaluation.metrics.1"),
    (["evaluation.metrics=[map, p@0]"], "evaluation.metrics.1"),
    (["training.seed=-1"], "training.seed"),
    (["training.seed=4294967296"], "training.seed"),
    (["dataset.split.seed=99999999999"], "dataset.split.seed"),
    (["architecture.image.out=1e12"], "architecture.image.out"),
    (["architecture.text.hidden=[1000000000]"], "architecture.text.hidden.0"),
    (["dataset.params.n_items=0"], "dataset.params.n_items"),
    (["dataset.params.n_items=many"], "dataset.params.n_items"),
    (["dataset.params.image_size=-64"], "dataset.params.image_size"),
    (["dataset.params.bogus=1"], "dataset.params.bogus"),
    (["dataset.params.seed=-3"], "dataset.params.seed"),
    (["features.text.params.vocab_size=0"], "features.text.params.vocab_size"),
    (["features.text.params.bogus=1"], "features.text.params.bogus"),
    (["features.text.extractor=efficientnet_lite0"], "features.text.extractor"),
    (["features.text.granularity={type: grid}"], "features.text.granularity"),
    (["name=."], "name"), (["name=.."], "name"), (["name=../x"], "name"), (["name=.tmp-x"], "name"),
    (["dataset.name=../etc"], "dataset.name"),
])
def test_specific_invalid_specs(tmp_path, capsys, sets, field):
    err = _validate(tmp_path, capsys, BASE, *sets)
    assert str(tmp_path / "spec.yaml") in err and f"{field}:" in err, err


@pytest.mark.parametrize("spec,sets,field", [
    ("wikipedia/cca.yaml", ["features.image.params.name=sift"], "features.image.params.name"),
    ("scenes/cca.yaml", ["architecture.text.type=mlp"], "training.phases.0"),
    ("scenes/cca.yaml", ["architecture.text.out=3"], "training.phases.0"),
])
def test_checks_a_run_would_make(tmp_path, capsys, spec, sets, field):
    err = _validate(tmp_path, capsys, (ROOT / "specs" / spec).read_text(), *sets)
    assert str(tmp_path / "spec.yaml") in err and f"{field}:" in err, err


def test_yaml_errors_name_the_file(tmp_path, capsys):
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    err = _validate(tmp_path, capsys, BASE + laughs)
    assert "expands to more than 100,000 values" in err and "spec.yaml" in err
    err = _validate(tmp_path, capsys, BASE + "name: again\n")
    assert "duplicate key 'name'" in err and "line" in err
    err = _validate(tmp_path, capsys, b"name: caf\xe9\n" + BASE.encode())
    assert "not UTF-8" in err and "byte 0xe9" in err and "line 1" in err
    err = _validate(tmp_path, capsys, BASE, "training.epochs=[1, 2")
    assert "--set 'training.epochs=[1, 2'" in err and "not valid YAML" in err


def test_set_replaces_a_mapping(tmp_path):
    from xmr.spec import load_spec

    spec = load_spec(ROOT / "specs/scenes/deep.yaml", sets=["dataset.params={}"])
    assert spec.dataset.params == {}
    spec = load_spec(ROOT / "specs/scenes/deep.yaml", sets=["dataset.params={n_items: 50}"])
    assert spec.dataset.params == {"n_items": 50}
    spec = load_spec(ROOT / "specs/scenes/deep.yaml", sets=["dataset.params.seed=3"])
    assert spec.dataset.params["seed"] == 3 and "n_items" in spec.dataset.params
