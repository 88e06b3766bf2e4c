from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("XMR_DATA", ROOT.parent / "shared" / "data"))


def run_dvc(cwd: Path, *args: str) -> str:
    """`dvc ARGS` in ``cwd`` with the test environment's executables; fails the test on error."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    res = subprocess.run([str(Path(sys.executable).parent / "dvc"), *args], cwd=cwd, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout + res.stderr


def dvc_project(proj: Path, params: dict) -> Path:
    """A scratch copy of the pipeline (code, specs, dvc.yaml) with ``params``, under git and DVC.
    dvc.yaml iterates over `studies.vectorisation`; ``params`` without it get it empty. The
    report stages and the overlaid plots name the main experiments, which ``params`` may not
    have: the copy keeps those whose experiments it has."""
    import yaml

    params = {**params, "studies": params.get("studies") or {"vectorisation": {}}}

    proj.mkdir()
    for name in (".dvcignore", "specs", "stages", "xmr"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, proj / name)
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    known = set(params.get("experiments") or {})
    for key in [k for k in dvc["stages"] if k.startswith("report_")]:
        words = dvc["stages"][key]["cmd"].split()
        if not set(words[2:words.index("--out")]) <= known:
            del dvc["stages"][key]
    dvc["plots"] = [p for p in dvc.get("plots", [])
                    if {f.split("/")[2] for f in next(iter(p.values()))["y"]} <= known]
    (proj / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False, allow_unicode=True))
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (proj / "store").mkdir()
    (proj / "store" / ".gitignore").write_text("*\n!.gitignore\n")
    subprocess.run(["git", "init", "-q"], cwd=proj, check=True)
    run_dvc(proj, "init", "-q")
    run_dvc(proj, "config", "core.analytics", "false")
    return proj


@pytest.fixture(autouse=True)
def _project_root(monkeypatch):
    """Tests run from the project root, as the CLI and DVC stages do."""
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def wikipedia_root() -> Path:
    root = DATA / "wikipedia"
    if not (root / "raw_features.mat").is_file():
        pytest.skip(f"Wikipedia data not found at {root} (set XMR_DATA to the folder holding it)")
    return root


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory):
    """A scratch store shared by the end-to-end tests (tiny scenes, built once)."""
    return tmp_path_factory.mktemp("store")
