"""Shared pieces of the spec models: the strict base model and bounded scalar types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Modality = Literal["image", "text"]
Task = Literal["i2t", "t2i", "i2i", "t2t"]
Activation = Literal["relu", "tanh", "sigmoid", "gelu", "none"]

SEED_MAX = 2**32 - 1
# Bounds that no experiment of this field comes near, so that a typo (`out: 1e12`) is a spec
# error naming the field, not an out-of-memory traceback minutes into a run.
Width = Annotated[int, Field(gt=0, le=65536, description="layer width (1 ... 65536)")]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX, description="random seed (0 ... 2**32 - 1)")]
Epochs = Annotated[int, Field(ge=1, le=100_000)]
SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"  # one path component, never '.', '..', '.tmp-*'


class Strict(BaseModel):
    """Unknown keys are errors; so are NaN and infinite floats anywhere in a spec."""

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class NoParams(Strict):
    """A loss without parameters (any key is an error)."""
