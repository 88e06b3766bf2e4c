"""Fault injection: `xmr run` killed (SIGKILL) just before each of its atomic renames — every write
point of prepare, featurize, train, evaluate and the catalog rebuild. After each kill: the catalog
indexes no temporary, the next command leaves no temporary behind, and the re-run's metrics equal
those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from layouts import wikipedia
from xmr.cli import main
from xmr.store import Store, query

ROOT = Path(__file__).resolve().parents[1]
# Runs `xmr run` with os.replace counted; with KILL_AT=k the process kills itself (SIGKILL) at
# the k-th rename, before it happens. Each rename's destination is printed to stderr.
DRIVER = """
import os, signal, sys
count, kill_at, real = 0, int(os.environ.get("KILL_AT", "0")), os.replace
def replace(src, dst):
    global count
    count += 1
    print(f"RENAME {count} {dst}", file=sys.stderr, flush=True)
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
os.replace = replace
from xmr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _args(store: Path, root: Path, out: Path | None = None) -> list[str]:
    return ["run", "specs/wikipedia/cca.yaml", "--store", str(store), "--set", f"dataset.root={root}",
            "--set", "architecture.image.out=2", "--set", "architecture.text.out=2",
            "--set", "dataset.split.val=0.2", *(["--metrics-out", str(out)] if out else [])]


def _driver(args: list[str], kill_at: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, KILL_AT=str(kill_at), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", DRIVER, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def _temporaries(store: Path) -> list[Path]:
    return [p for p in store.rglob(".tmp-*")]


@pytest.mark.slow
def test_a_kill_at_any_write_point_loses_nothing(tmp_path):
    root = wikipedia(tmp_path / "wiki")
    base = _driver(_args(tmp_path / "base", root, tmp_path / "base.json"), 0)
    assert base.returncode == 0, base.stderr
    expected = json.loads((tmp_path / "base.json").read_text())["tasks"]
    points = [ln.split(" ", 2)[2] for ln in base.stderr.splitlines() if ln.startswith("RENAME ")
              and f"{tmp_path / 'base'}/" in ln]  # not the --metrics-out copy
    stages = {s for p in points for s in ("datasets", "features", "experiments", "metrics", "plots",
                                          "curves", "results", "catalog.duckdb") if f"/{s}" in p}
    assert stages == {"datasets", "features", "experiments", "metrics", "plots", "curves",
                      "results", "catalog.duckdb"}, points
    for k in range(1, len(points) + 1):
        store = tmp_path / f"kill{k}"
        res = _driver(_args(store, root), k)
        assert res.returncode == -9, f"kill at {k} ({points[k - 1]}): {res.stderr[-500:]}"
        assert _temporaries(store), f"kill at {k} left no temporary to test with"
        # the next command that touches the store: SQL over the catalog
        tables = [r[0] for r in query(Store(store), "SHOW TABLES")[1]]
        assert not _temporaries(store), f"kill at {k}: {_temporaries(store)} left behind"
        if "items" in tables:
            n = query(Store(store), "SELECT count(*), count(DISTINCT item_id) FROM items")[1][0]
            assert n == (45, 45), f"kill at {k}: items {n}"
        if "experiments" in tables:
            assert query(Store(store), "SELECT experiment FROM experiments")[1] == [("wikipedia_cca",)]
        out = tmp_path / f"kill{k}.json"
        assert main(_args(store, root, out)) == 0
        assert json.loads(out.read_text())["tasks"] == expected, f"kill at {k} ({points[k - 1]})"
        assert not _temporaries(store)
