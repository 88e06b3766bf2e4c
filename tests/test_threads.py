"""Thread counts from the machine and the xmr processes sharing it."""

import subprocess
import sys

import pytest

from xmr import threads


@pytest.fixture
def claims(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "claims_dir", lambda: tmp_path / "claims")
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.delenv(threads.ENV, raising=False)
    return tmp_path / "claims"


def test_cores_are_divided_among_live_claims(claims):
    assert threads.thread_count() == 4  # nobody claims: the whole machine
    threads.claim_cores()
    assert threads.live_claims() == 1 and threads.thread_count() == 4
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (claims / str(other.pid)).touch()
        assert threads.thread_count() == 2  # a second process: half each
    finally:
        other.kill()
        other.wait()
    assert threads.thread_count() == 4  # its claim is stale now, and removed
    assert not (claims / str(other.pid)).exists()


def test_fixed_and_environment_counts(claims, monkeypatch):
    assert threads.thread_count(3) == 3
    monkeypatch.setenv(threads.ENV, "5")
    assert threads.thread_count() == 5
    monkeypatch.setenv(threads.ENV, "two")
    with pytest.raises(ValueError, match="XMR_THREADS='two'"):
        threads.thread_count()


def test_configure_sets_torch_threads(claims):
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.configure_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
