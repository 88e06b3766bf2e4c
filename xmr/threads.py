"""CPU threads from the machine and from the xmr processes sharing it.

Two torch processes with a thread per core each slow each other 5-30x on a small machine. Each
heavy xmr process (a featurize, train or evaluate stage, `xmr run`) claims a share of the cores:
it writes its pid into a per-user folder in the temporary directory, and its thread count is
the cores it may use (`os.sched_getaffinity`) divided by the live claims. A `dvc queue start
-j 2` on two cores therefore runs each experiment with one thread. Processes re-read the share
at natural points (every extraction batch, every training run and evaluation), so one that
started alone gives threads back when another starts. `XMR_THREADS` fixes the count.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

from .store.files import pid_alive

ENV = "XMR_THREADS"


def claims_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"xmr-cpu-{os.getuid()}"


def available_cores() -> int:
    return len(os.sched_getaffinity(0))


def claim_cores() -> None:
    """Register this process as one sharing the cores (until it exits)."""
    folder = claims_dir()
    folder.mkdir(parents=True, exist_ok=True)
    mine = folder / str(os.getpid())
    mine.touch()
    atexit.register(mine.unlink, missing_ok=True)


def live_claims() -> int:
    """Processes sharing the cores now (stale claims of dead processes are removed)."""
    folder, n = claims_dir(), 0
    if not folder.is_dir():
        return 0
    for entry in folder.iterdir():
        if entry.name.isdigit() and pid_alive(int(entry.name)):
            n += 1
        else:
            entry.unlink(missing_ok=True)
    return n


def thread_count(fixed: int | None = None) -> int:
    """``fixed``, else ``XMR_THREADS``, else the cores divided among the live claims."""
    if fixed:
        return fixed
    env = os.environ.get(ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{ENV}={env!r}: expected a positive integer")
        return int(env)
    return max(1, available_cores() // max(1, live_claims()))


def configure_threads(fixed: int | None = None) -> int:
    """Set torch's intra-op threads to `thread_count` (when it changed) and return it."""
    import torch

    n = thread_count(fixed)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
