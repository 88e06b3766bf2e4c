"""The dataset, split and feature parts of a spec (granularity strategies included)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from .common import SAFE_NAME, Modality, Seed, Strict


class SplitSpec(Strict):
    """How items are assigned to train / val / test. Stored in the catalog; never re-drawn."""

    recipe: Literal["random", "official", "counts", "query_retrieval"] = Field(
        "random",
        description="random: seeded shuffle by fractions; official: the dataset's own train/test "
        "lists, with `val` (a fraction, or exactly `n_val` items when set) carved (seeded) out "
        "of the official train part (or of the test part, `val_from: test`); counts: seeded "
        "shuffle into exactly n_train / n_val / n_test items (they must add up to the dataset); "
        "query_retrieval: n_test queries, the rest is the retrieval set, of which n_train (and "
        "n_val) are drawn for training (the DCMH protocol); the remaining items get split "
        "'retrieval' and serve only as database items",
    )
    seed: Seed = 0
    train: float = Field(0.6, gt=0, lt=1)
    val: float = Field(0.2, ge=0, lt=1)
    n_train: int | None = Field(None, ge=1, le=10**9, description="recipes counts / query_retrieval")
    n_val: int = Field(0, ge=0, le=10**9, description="recipes counts / query_retrieval; "
                       "official: the validation items carved from train (0: use `val`)")
    n_test: int | None = Field(None, ge=1, le=10**9, description="recipes counts / query_retrieval")
    val_from: Literal["train", "test"] = Field(
        "train", description="official: the list validation items are carved from (test: the "
        "Corr-AE / uncsm Wikipedia split, 2,173 train, 231 val, 462 test)")

    @model_validator(mode="after")
    def _fractions(self) -> "SplitSpec":
        if self.recipe == "random" and self.train + self.val >= 1:
            raise ValueError(f"train + val must leave room for test, got {self.train} + {self.val}")
        if self.recipe in ("counts", "query_retrieval") and (self.n_train is None or self.n_test is None):
            raise ValueError(f"recipe {self.recipe!r} needs n_train and n_test (and optionally n_val)")
        return self


class DatasetSpec(Strict):
    name: str = Field(pattern=SAFE_NAME, description="registered dataset (see `xmr list datasets`)")
    root: str | None = Field(
        None, description="folder of a dataset on disk, in its official layout; `$XMR_DATA/<name>` "
        "or ../shared/data/<name> when unset"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="dataset-specific options, "
                                   "checked against the dataset's own model (`xmr list datasets`)")
    partial: bool = Field(
        False, description="load a dataset with missing files: items whose image or text is "
        "missing are kept without it (or dropped when nothing is left) and listed in the "
        "catalog's `missing` table; when false, the first missing file is an error")
    split: SplitSpec = SplitSpec()


# --------------------------------------------------------------------------------------------
# features and granularity


class WholeGranularity(Strict):
    """The whole item: one row per item."""

    type: Literal["whole"] = "whole"


class GridGranularity(Strict):
    """n x n grid patches of an image: n*n units per item."""

    type: Literal["grid"]
    n: int = Field(3, ge=1, le=8)


class SentencesGranularity(Strict):
    """The sentences of a text: a variable number of units per item."""

    type: Literal["sentences"]
    max_units: int = Field(32, ge=1, le=10_000)


class TagsGranularity(Strict):
    """The tags of an item: a variable number of units per item."""

    type: Literal["tags"]
    max_units: int = Field(64, ge=1, le=10_000)


class WordsGranularity(Strict):
    """The words of a text in reading order (xmr's tokenizer, stop words removed), at most
    `max_units` per item: the document as a matrix of word vectors (idcmr). Extractors that learn
    from context (word2vec) are fitted on the training split's whole documents."""

    type: Literal["words"]
    max_units: int = Field(100, ge=1, le=100_000)
    stop_words: str = Field("english", description="'english' (scikit-learn's list), 'none', or "
                            "a file of stop words (one per line)")


class SelectiveSearchGranularity(Strict):
    """Selective-search regions of an image (opencv-contrib), overlaps resolved by the mgmm rule:
    of two regions with IoU above `iou`, the bigger one is kept."""

    type: Literal["selective_search"]
    mode: Literal["fast", "quality", "single"] = "fast"
    iou: float = Field(0.7, gt=0, le=1, description="two regions overlapping more: keep the bigger")
    max_units: int = Field(16, ge=1, le=10_000, description="regions kept per image (the biggest "
                           "survivors)")
    min_area: float = Field(0.02, ge=0, lt=1, description="smallest region, as a fraction of the image")
    resize: int = Field(256, ge=32, le=8192, description="longer image side for the search (speed)")


Granularity = Annotated[
    Union[WholeGranularity, GridGranularity, SelectiveSearchGranularity, SentencesGranularity,
          TagsGranularity, WordsGranularity],
    Field(discriminator="type"),
]


class FeatureSpec(Strict):
    modality: Modality | None = Field(None, description="defaults to the key when it is image/text")
    extractor: str = Field(description="registered extractor (see `xmr list extractors`)")
    granularity: Granularity = WholeGranularity()
    params: dict[str, Any] = Field(default_factory=dict, description="extractor parameters, "
                                   "checked against the extractor's own model")


IMAGE_ONLY, TEXT_ONLY = ("grid", "selective_search"), ("sentences", "tags", "words")


def check_granularity(where: str, feat: "FeatureSpec") -> None:
    """A granularity applies to one modality: grid and regions to images, sentences, tags and
    words to texts."""
    g = feat.granularity.type
    if (g in IMAGE_ONLY and feat.modality != "image") or (g in TEXT_ONLY and feat.modality != "text"):
        raise ValueError(f"{where}.granularity: {g!r} does not apply to {feat.modality} features")
