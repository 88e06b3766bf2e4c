"""Looking at runs: `xmr compare` (a terminal table) and `xmr report` (a static HTML folder)."""

from .compare import compare_command
from .runs import Run, load_run, resolve_experiments

__all__ = ["Run", "compare_command", "load_run", "resolve_experiments"]
