from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("XMR_DATA", ROOT.parent / "shared" / "data"))


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
