"""The search space of `xmr tune`: spec fields (dotted keys, as `--set` writes them) and the values
each may take, plus the sampler and pruner. Imports no torch."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from .models import Seed, Strict


class SearchParam(Strict):
    """One searched field: a `choice` among `values`, or an `int` / `float` range [low, high]
    (`log: true` samples on a log scale; `step` makes a range discrete)."""

    type: Literal["choice", "int", "float"]
    values: list[Any] | None = Field(None, min_length=1, description="choice: the candidates "
                                     "(any YAML values, lists included)")
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> "SearchParam":
        if self.type == "choice":
            if self.values is None or self.low is not None or self.high is not None:
                raise ValueError("a choice gives `values` (and no low / high)")
            return self
        if self.values is not None or self.low is None or self.high is None:
            raise ValueError(f"an {self.type} range gives `low` and `high` (and no values)")
        if not self.low < self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("a log range cannot have a step")
        if self.type == "int" and not all(float(v).is_integer() for v in (self.low, self.high)):
            raise ValueError("an int range needs integer low and high")
        return self

    def grid(self) -> list[Any]:
        """The candidates a grid search visits: the choices, or the steps of a range."""
        if self.type == "choice":
            return list(self.values)
        step = self.step or (1 if self.type == "int" else None)
        if step is None:
            raise ValueError("a grid over a float range needs `step`")
        n = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        cast = int if self.type == "int" else float
        return [cast(round(self.low + i * step, 12)) for i in range(n)]


class SearchSpace(Strict):
    """What `xmr tune` searches, and how. Selection reads validation MAP only."""

    params: dict[str, SearchParam] = Field(min_length=1, description="dotted spec keys, e.g. "
                                           "`training.phases.0.optimizer.lr`")
    sampler: Literal["tpe", "grid", "random"] = Field(
        "tpe", description="tpe: Optuna's TPE; grid: every combination (choices and stepped "
        "ranges); random")
    pruner: Literal["median", "none"] = Field(
        "median", description="median: stop a trial whose validation MAP at an epoch is below "
        "the median of earlier trials at that epoch (Optuna's MedianPruner)")
    startup_trials: int = Field(5, ge=0, le=10_000, description="trials before TPE and the "
                                "pruner start to act")
    warmup_epochs: int = Field(3, ge=0, le=100_000, description="epochs of a trial the pruner "
                               "never stops")
    seed: Seed = 0
