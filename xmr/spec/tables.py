"""Comparison tables (`xmr table FILE`): rows of experiments, columns of tasks, one metric, read
from the stored metrics, with a paper's published figures beside them where it reports them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import SAFE_NAME, Strict

Task = Literal["i2t", "t2i", "i2i", "t2t"]


class Published(Strict):
    """A paper's figure for this row's method, and whether its setting is this row's."""

    source: str = Field(description="where it is printed, e.g. 'uncsm Table 1'")
    values: dict[Task, float]
    comparable: bool = Field(description="the same dataset, features, split and protocol")
    note: str = Field("", description="what differs, when not comparable")

    @model_validator(mode="after")
    def _why(self) -> "Published":
        if not self.comparable and not self.note:
            raise ValueError("a published figure that is not comparable needs a `note` saying why")
        return self


class TableRow(Strict):
    method: str
    experiments: list[str] = Field(min_length=1, description="params.yaml experiments; several "
                                   "(seeds) give mean +- standard deviation")
    distance: Literal["cosine", "euclidean", "inner_product"] | None = Field(
        None, description="read the MAP under this `evaluation.also_distances` entry instead of "
        "the protocol's distance (msdmml Tables 3-5: IP and ED rows)")
    published: Published | None = None

    @model_validator(mode="after")
    def _names(self) -> "TableRow":
        import re

        bad = [e for e in self.experiments if not re.fullmatch(SAFE_NAME, e)]
        if bad:
            raise ValueError(f"experiment names must be single path components: {bad}")
        return self


class TableSpec(Strict):
    title: str
    description: str = ""
    metric: str = Field("map", description="a metric of the experiments' metrics.json, e.g. "
                        "map or map@100 (rows with `distance` have map only)")
    tasks: list[Task] = Field(default_factory=lambda: ["i2t", "t2i"], min_length=1)
    average: bool = Field(True, description="a column with the mean over the tasks")
    rows: list[TableRow] = Field(min_length=1)


__all__ = ["Published", "TableRow", "TableSpec"]
