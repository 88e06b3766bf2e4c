"""Paper targets (`specs/targets/papers.yaml`): the papers' published numbers as data, each
with the setting it was measured in, so that a report can say whether a run of this project
measures the same thing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Strict

Task = Literal["i2t", "t2i", "i2i", "t2t"]


class TargetSetting(Strict):
    """What a published number was measured on. Features are named as xmr names a run's
    features (`xmr.report.targets.feature_name`): ``sift_bovw``, ``lda`` (the released
    matrices), ``bow:2000`` (a 2,000-word bag of words), ``efficientnet_lite0``, ...; features
    this project cannot compute get a name of their own (``resnet101_finetuned``)."""

    dataset: str = Field(description="the dataset's registered name, e.g. wikipedia")
    queries: int = Field(ge=1, description="the number of test queries")
    database: int = Field(ge=1, description="the number of database items")
    features: dict[Literal["image", "text"], str]
    relevance: Literal["category", "shared_label", "instance"]
    distance: str = Field(description="cosine, euclidean, inner_product, hamming or learned")
    metric: str = Field(description="the metric as xmr names it: map, map@100, ...")


class Target(Strict):
    paper: str = Field(description="the paper's short name (seeds index): mgmm, msdmml, ...")
    source: str = Field(description="where it is printed, e.g. 'Table 1'")
    method: str
    experiments: list[str] = Field(min_length=1, description="the params.yaml experiments that "
                                   "implement this method, compared with it in reports")
    setting: TargetSetting
    values: dict[Task, float]
    note: str = ""


class TargetsFile(Strict):
    targets: list[Target] = Field(min_length=1)


__all__ = ["Target", "TargetSetting", "TargetsFile"]
