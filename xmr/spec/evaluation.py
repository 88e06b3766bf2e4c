"""The evaluation part of a spec: the protocol, tasks and metric names."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from .common import Strict, Task


class ProtocolSpec(Strict):
    """Everything that makes MAP numbers comparable; stamped into every result."""

    name: str = "custom"
    relevance: Literal["category", "shared_label", "instance"] = Field(
        "category", description="category: same category; shared_label: at least one shared "
        "label; instance: only the query's own pair (caption datasets without classes)")
    database: Literal["test", "train", "retrieval"] = Field(
        "test", description="queries are always the test split; the database is the test split, "
        "the train split, or every item that is not a query (retrieval)"
    )
    exclude_self: bool = Field(True, description="remove an I->I / T->T query from its database")
    distance: Literal["cosine", "euclidean", "inner_product", "hamming", "learned"] = "cosine"
    ties: Literal["database_order"] = Field(
        "database_order", description="equal scores are ranked by database position (stable sort)"
    )
    empty_queries: Literal["skip", "zero"] = Field(
        "skip", description="queries with no relevant item in the database: left out of the mean, "
        "or counted as AP 0"
    )
    map_at_r_denominator: Literal["retrieved_relevant", "min_r_relevant"] = Field(
        "retrieved_relevant",
        description="MAP@R divides by the relevant items retrieved in the top R (the DCMH-era "
        "convention) or by min(R, number relevant)",
    )
    search: Literal["exact", "faiss_flat", "faiss_ivf"] = Field(
        "exact", description="exact: every query ranks the whole database (all metrics); "
        "faiss_flat: FAISS exact top-K (its own tie order); faiss_ivf: FAISS approximate top-K "
        "(inverted file). With FAISS only top-K metrics with cut-offs <= search_k are allowed")
    search_k: int = Field(1000, ge=1, le=1 << 20,
                          description="FAISS: the result list length of each query")
    ivf_lists: int = Field(1024, ge=1, le=1 << 20,
                           description="faiss_ivf: k-means cells (capped at the database size)")
    ivf_probe: int = Field(16, ge=1, le=1 << 20, description="faiss_ivf: cells visited per query")


def _metric_name(name: str) -> str:
    parse_metric_name(name)
    return name


MetricName = Annotated[str, AfterValidator(_metric_name)]


class EvaluationSpec(Strict):
    protocol: str | ProtocolSpec = Field(
        "category_cosine", description="a registered protocol name or a full protocol"
    )
    tasks: list[Task] = Field(default_factory=lambda: ["i2t", "t2i"], min_length=1)
    metrics: list[MetricName] = Field(
        default_factory=lambda: ["map", "map@100", "p@50", "r@10"], min_length=1,
        description="map, map@R, p@N, r@K, hit@K (R, N, K positive integers); hit@K is the "
        "fraction of queries with a relevant item in the top K (mgmm's Recall@K); with the "
        "hamming distance also hp@r, hr@r, hf1@r: precision, recall and F1 of the hash lookup "
        "within Hamming radius r (dmsfh Table 5)",
    )
    pr_points: int = Field(20, ge=2, le=1000)
    map_curve: list[Annotated[int, Field(ge=1, le=10**9)]] = Field(
        default_factory=lambda: list(range(50, 501, 50)), min_length=1,
        description="the R values of the mAP@R curve written per task as a DVC plot "
        "(msdmml Figs. 4-6: 50 ... 500 step 50)")
    also_distances: list[Literal["cosine", "euclidean", "inner_product", "learned"]] = Field(
        default_factory=list, description="score the same representations with these distances "
        "too (MAP per task in metrics.json under `distances`; uncsm Table 5: cosine beside the "
        "metric network)")
    query_chunk: int = Field(256, ge=1, le=1 << 20,
                             description="at most this many queries scored at once")
    memory_mb: int = Field(1024, ge=64, le=1 << 20, description="working memory of evaluation "
                           "(a chunk's scores and relevance, the ranking threads' buffers); "
                           "chunks of queries are sized to fit it")

    @model_validator(mode="after")
    def _unique(self) -> "EvaluationSpec":
        for field in ("tasks", "metrics", "map_curve", "also_distances"):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field}: {values} lists a name twice")
        return self


RADIUS_METRICS = ("hp", "hr", "hf1")


def parse_metric_name(name: str) -> tuple[str, int | None]:
    """'map' -> ('map', None); 'map@100' -> ('map', 100); 'p@50'; 'r@10'; 'hit@1'; the hash
    lookup metrics within Hamming radius r: 'hp@2' (precision), 'hr@2' (recall), 'hf1@2'."""
    base, _, cut = name.partition("@")
    if base not in ("map", "p", "r", "hit", *RADIUS_METRICS) or (base != "map" and not cut):
        raise ValueError(f"metric {name!r} is not one of map, map@R, p@N, r@K, hit@K, hp@r, "
                         "hr@r, hf1@r")
    if cut:
        low = 0 if base in RADIUS_METRICS else 1
        if not cut.isdigit() or not low <= int(cut) <= 10**9:
            raise ValueError(f"metric {name!r}: the cut-off must be an integer >= {low}")
        return base, int(cut)
    return base, None


# --------------------------------------------------------------------------------------------
