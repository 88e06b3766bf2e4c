"""Pydantic models of an xmr experiment spec.

One discriminated union per pluggable role (granularity, branch, loss, phase). Every model forbids
unknown keys. This module imports neither torch nor numpy, so `xmr validate` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Modality = Literal["image", "text"]
Task = Literal["i2t", "t2i", "i2i", "t2t"]

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


# --------------------------------------------------------------------------------------------
# dataset


class SplitSpec(Strict):
    """How items are assigned to train / val / test. Stored in the catalog; never re-drawn."""

    recipe: Literal["random", "official", "counts", "query_retrieval"] = Field(
        "random",
        description="random: seeded shuffle by fractions; official: the dataset's own train/test "
        "lists, with `val` carved (seeded) out of the official train part; counts: seeded "
        "shuffle into exactly n_train / n_val / n_test items (they must add up to the dataset); "
        "query_retrieval: n_test queries, the rest is the retrieval set, of which n_train (and "
        "n_val) are drawn for training (the DCMH protocol); the remaining items get split "
        "'retrieval' and serve only as database items",
    )
    seed: Seed = 0
    train: float = Field(0.6, gt=0, lt=1)
    val: float = Field(0.2, ge=0, lt=1)
    n_train: int | None = Field(None, ge=1, le=10**9, description="recipes counts / query_retrieval")
    n_val: int = Field(0, ge=0, le=10**9, description="recipes counts / query_retrieval")
    n_test: int | None = Field(None, ge=1, le=10**9, description="recipes counts / query_retrieval")

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
          TagsGranularity],
    Field(discriminator="type"),
]


class FeatureSpec(Strict):
    modality: Modality | None = Field(None, description="defaults to the key when it is image/text")
    extractor: str = Field(description="registered extractor (see `xmr list extractors`)")
    granularity: Granularity = WholeGranularity()
    params: dict[str, Any] = Field(default_factory=dict, description="extractor parameters, "
                                   "checked against the extractor's own model")


# --------------------------------------------------------------------------------------------
# architecture

Activation = Literal["relu", "tanh", "sigmoid", "gelu", "none"]


class MLPBranch(Strict):
    """Fully connected layers over a coarse feature vector."""

    type: Literal["mlp"]
    input: str | None = Field(None, description="feature key; defaults to the branch's modality")
    hidden: list[Width] = Field(default_factory=lambda: [512])
    out: Width = Field(128)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    batch_norm: bool = False
    normalize: bool = Field(True, description="L2-normalise the output embedding")


class LinearBranch(Strict):
    """One linear projection (what closed-form methods such as CCA fill in)."""

    type: Literal["linear"]
    input: str | None = None
    out: Width = Field(10)
    normalize: bool = False


class UnitPoolBranch(Strict):
    """Fine-grained units -> per-unit MLP -> mean or max pool per item (variable units per item)."""

    type: Literal["unit_pool"]
    input: str | None = None
    hidden: list[Width] = Field(default_factory=lambda: [512])
    out: Width = Field(128)
    pool: Literal["mean", "max"] = "mean"
    activation: Activation = "relu"
    normalize: bool = True


class ConvNetBranch(Strict):
    """A small CNN trained end to end from pixels (needs a `pixels` feature set)."""

    type: Literal["convnet"]
    input: str | None = None
    channels: list[Width] = Field(default_factory=lambda: [16, 32, 64])
    out: Width = Field(128)
    normalize: bool = True


MGMMStage = Literal["joint", "joint_rbm", "fusion"]
MGMM_STAGES: tuple[str, ...] = ("joint", "joint_rbm", "fusion")


class MGMMBranch(Strict):
    """mgmm (Liu et al. 2023): per granularity a two-layer DBN (Gaussian RBM for image features,
    Replicated Softmax for word counts), fine units merged per item (Eq. 8), cross-modal joint
    optimisation networks (Eqs. 7, 9), a joint RBM over coarse + fine (Eqs. 10-11), a softmax-
    trained feed-forward fusion network (Framework I), then Framework II's fully connected head.
    Framework I is trained by the `mgmm_framework1` phase; the head by a `gradient` phase with
    `trainable: [image.head, text.head, label_head]`."""

    type: Literal["mgmm"]
    coarse: str | None = Field(None, description="feature key of whole items; null = not used")
    fine: str | None = Field(None, description="feature key of fine-grained units (offsets); "
                             "null = not used")
    visible: Literal["gaussian", "replicated_softmax"] = Field(
        "gaussian", description="the DBNs' first layer: gaussian (real features, standardised on "
        "train) or replicated_softmax (word counts)")
    dbn: list[Width] = Field(default_factory=lambda: [2048, 1024],
                                                   description="DBN hidden sizes (5.1)")
    joint: list[Width] = Field(
        default_factory=lambda: [1024, 1024], description="hidden sizes of the three-layer joint "
        "optimisation network (its output has the DBN's output size)")
    joint_rbm: list[Width] = Field(
        default_factory=lambda: [1024, 2048], description="joint RBM h(1) per granularity, h(2)")
    fusion: list[Width] = Field(
        default_factory=lambda: [1024, 1024, 1024], description="feed-forward fusion network "
        "(softmax-trained); its last layer is the fused feature")
    head: list[Width] = Field(
        default_factory=lambda: [1024, 1024], description="Framework II hidden sizes")
    out: Width = Field(1024, description="Framework II output (the common representation)")
    stages: list[MGMMStage] = Field(
        default_factory=lambda: list(MGMM_STAGES), description="the Framework I stages above the "
        "DBNs, in order; leave one out to ablate it, and the next stage (or Framework II) reads "
        "the one below: the DBN outputs O / M, the joint networks' R (both concatenated over "
        "granularities) or the joint RBM's h(2)")
    activation: Activation = "relu"
    normalize: bool = Field(False, description="L2-normalise the output (the paper does not)")

    @model_validator(mode="after")
    def _one_granularity(self) -> "MGMMBranch":
        if self.coarse is None and self.fine is None:
            raise ValueError("an mgmm branch needs `coarse`, `fine` or both")
        if self.stages != [s for s in MGMM_STAGES if s in self.stages]:
            raise ValueError(f"`stages` must list each of {list(MGMM_STAGES)} at most once, in "
                             f"that order; got {self.stages}")
        return self


Branch = Annotated[
    Union[MLPBranch, LinearBranch, UnitPoolBranch, ConvNetBranch, MGMMBranch],
    Field(discriminator="type")
]


class HashHead(Strict):
    bits: int = Field(32, ge=8, le=1024)


class MetricNetworkSpec(Strict):
    """A pair-scoring network over [image embedding; text embedding] (UNCSM-style)."""

    hidden: list[Width] = Field(default_factory=lambda: [256, 128])


IMAGE_ONLY, TEXT_ONLY = ("grid", "selective_search"), ("sentences", "tags")


def check_granularity(where: str, feat: "FeatureSpec") -> None:
    """A granularity applies to one modality: grid and regions to images, sentences and tags to
    texts."""
    g = feat.granularity.type
    if (g in IMAGE_ONLY and feat.modality != "image") or (g in TEXT_ONLY and feat.modality != "text"):
        raise ValueError(f"{where}.granularity: {g!r} does not apply to {feat.modality} features")


def branch_inputs(branch) -> dict[str, str]:
    """The feature keys a branch reads, by role: ``{"input": key}``, or an mgmm branch's
    ``{"coarse": key, "fine": key}`` (the granularities it uses)."""
    if branch.type == "mgmm":
        return {r: k for r, k in (("coarse", branch.coarse), ("fine", branch.fine)) if k}
    return {"input": branch.input}


class ArchitectureSpec(Strict):
    image: Branch
    text: Branch
    label_head: bool = Field(True, description="a linear classifier shared by both modalities")
    hash_head: HashHead | None = Field(None, description="a k-bit tanh hash layer per modality")
    metric_network: MetricNetworkSpec | None = None

    @model_validator(mode="after")
    def _mgmm_joint_on_both_sides(self) -> "ArchitectureSpec":
        sides = [b for b in (self.image, self.text) if isinstance(b, MGMMBranch)]
        if len(sides) == 2 and ("joint" in sides[0].stages) != ("joint" in sides[1].stages):
            raise ValueError("the cross-modal joint optimisation (stage `joint`) pairs the two "
                             "modalities: list it in both mgmm branches' `stages` or in neither")
        return self


# --------------------------------------------------------------------------------------------
# losses


class NoParams(Strict):
    """A loss without parameters (any key is an error)."""


class TripletParams(Strict):
    margin: float = Field(0.2, ge=0)
    distance: Literal["cosine", "squared_euclidean"] = "cosine"
    mining: Literal["all", "hardest"] = Field(
        "all", description="all: mean over every valid triplet; hardest: hardest negative per pair"
    )
    directions: list[Literal["i2t", "t2i"]] = Field(default_factory=lambda: ["i2t", "t2i"])


class TripletLoss(Strict):
    """Cross-modal triplet hinge loss; relevance = same category / shared label."""

    name: Literal["triplet"]
    weight: float = Field(1.0, ge=0)
    params: TripletParams = TripletParams()


class LabelCEParams(Strict):
    modalities: list[Modality] = Field(default_factory=lambda: ["image", "text"])


class LabelCELoss(Strict):
    """Label prediction from each modality's embedding (softmax CE, or BCE when multi-label)."""

    name: Literal["label_ce"]
    weight: float = Field(1.0, ge=0)
    params: LabelCEParams = LabelCEParams()


class QuantizationLoss(Strict):
    """||B - H||^2 between binary codes B and continuous hash outputs H (hashing methods)."""

    name: Literal["quantization"]
    weight: float = Field(1.0, ge=0)
    params: NoParams = NoParams()


class PairCEParams(Strict):
    negatives: int = Field(3, ge=1, le=1000, description="unrelated pairs drawn per related pair")


class PairCELoss(Strict):
    """Softmax cross-entropy of the metric network on related / unrelated pairs."""

    name: Literal["pair_ce"]
    weight: float = Field(1.0, ge=0)
    params: PairCEParams = PairCEParams()


class MultiMarginTripletParams(Strict):
    margins: list[Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: [0.5, 1.0, 1.5],
        description="the margin-set alpha_1 < ... < alpha_w (mgmm Definition 1); one value = the "
        "ordinary single-margin triplet loss")
    edges: list[float] | None = Field(
        None, description="interval edges e_1 < ... < e_{w-1} in (0, 1) of the min-max normalised "
        "squared distance (Eq. 15); default: equal widths k / w (the paper does not give them)")
    directions: list[Literal["i2t", "t2i"]] = Field(default_factory=lambda: ["i2t", "t2i"])

    @model_validator(mode="after")
    def _ascending(self) -> "MultiMarginTripletParams":
        m = self.margins
        if not m or any(b <= a for a, b in zip(m, m[1:])):
            raise ValueError(f"margins must be a non-empty, strictly ascending margin-set, got {m}")
        if self.edges is not None:
            e = self.edges
            if len(e) != len(m) - 1:
                raise ValueError(f"{len(m)} margins need {len(m) - 1} edges, got {len(e)}")
            if any(not 0 < v < 1 for v in e) or any(b <= a for a, b in zip(e, e[1:])):
                raise ValueError(f"edges must ascend strictly inside (0, 1), got {e}")
        return self


class MultiMarginTripletLoss(Strict):
    """mgmm's multi-margin triplet loss (Eqs. 14-18): squared Euclidean distances, each
    (anchor, negative) pair's margin picked by its batch-normalised distance."""

    name: Literal["multi_margin_triplet"]
    weight: float = Field(1.0, ge=0)
    params: MultiMarginTripletParams = MultiMarginTripletParams()


LossTerm = Annotated[
    Union[TripletLoss, LabelCELoss, QuantizationLoss, PairCELoss, MultiMarginTripletLoss],
    Field(discriminator="name"),
]


# --------------------------------------------------------------------------------------------
# training


class OptimizerSpec(Strict):
    type: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0)


class GradientPhase(Strict):
    """Minibatch gradient descent on the weighted loss terms; checkpoint chosen on val MAP."""

    type: Literal["gradient"]
    name: str = "joint"
    epochs: Epochs = 20
    losses: list[LossTerm] | None = Field(None, description="defaults to the spec's `losses`")
    trainable: list[str] | None = Field(
        None, description="module names to update (image, text, label_head, hash_head, "
        "metric_network); default: all but metric_network"
    )
    optimizer: OptimizerSpec = OptimizerSpec()
    select_on_val: bool = True


class CCAPhase(Strict):
    """Closed-form CCA (scikit-learn) filling the two linear branches."""

    type: Literal["cca"]
    name: str = "cca"
    max_iter: int = Field(500, ge=1, le=1_000_000)
    rank_rtol: float | None = Field(
        None, ge=0, lt=1, description="directions of a view whose singular value is below this "
        "fraction of the largest are dropped before CCA (rank detection); default max(n, d) * "
        "eps(float32); 0 keeps every direction")
    pca: int | None = Field(None, ge=1, le=65536, description="reduce each view to this many principal "
                            "components (fitted on train) before CCA; guards against n < d")


class RBMPretrainPhase(Strict):
    """Layer-wise RBM pre-training of MLP branches by contrastive divergence (CD-k), no backprop."""

    type: Literal["rbm_pretrain"]
    name: str = "rbm"
    modalities: list[Modality] = Field(default_factory=lambda: ["image", "text"])
    epochs: Epochs = 5
    k: int = Field(1, ge=1, le=1000)
    lr: float = Field(1e-3, gt=0)
    visible: Literal["gaussian", "bernoulli"] = "gaussian"


class CDSettings(Strict):
    epochs: Epochs = 10
    k: int = Field(1, ge=1, le=1000, description="Gibbs steps of CD-k")
    lr: float = Field(1e-3, gt=0)


class GradientSettings(Strict):
    epochs: Epochs = 20
    lr: float = Field(1e-3, gt=0)


class MGMMFramework1Phase(Strict):
    """mgmm Framework I for both modalities' `mgmm` branches: DBNs by CD-k, merging (Eq. 8),
    cross-modal joint optimisation (Eqs. 7, 9), the joint RBM by CD-k (Eqs. 10-11) and the
    softmax-trained fusion network. Everything it trains is frozen afterwards."""

    type: Literal["mgmm_framework1"]
    name: str = "framework1"
    dbn: CDSettings = CDSettings()
    joint: GradientSettings = GradientSettings()
    joint_rbm: CDSettings = CDSettings()
    fusion: GradientSettings = GradientSettings()


class AlternatingHashPhase(Strict):
    """Alternate network updates with the closed-form code update B = sign(...)."""

    type: Literal["alternating_hash"]
    name: str = "hash"
    rounds: Epochs = 10
    epochs_per_round: Epochs = 1
    losses: list[LossTerm] | None = None
    gamma: float = Field(1.0, ge=0, description="weight of the network outputs in the B update")
    optimizer: OptimizerSpec = OptimizerSpec()


class MetricNetworkPhase(Strict):
    """Train the metric network on frozen embeddings; evaluation then ranks by its scores."""

    type: Literal["metric_network"]
    name: str = "metric"
    epochs: Epochs = 5
    losses: list[LossTerm] | None = None
    optimizer: OptimizerSpec = OptimizerSpec()


Phase = Annotated[
    Union[GradientPhase, CCAPhase, RBMPretrainPhase, AlternatingHashPhase, MetricNetworkPhase,
          MGMMFramework1Phase],
    Field(discriminator="type"),
]


class TrainingSpec(Strict):
    phases: list[Phase] = Field(min_length=1)
    batch_size: int = Field(64, ge=2, le=1 << 20)
    seed: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = Field(None, ge=1, le=1024,
                                    description="torch CPU threads; default: torch's")


# --------------------------------------------------------------------------------------------
# evaluation


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
        "fraction of queries with a relevant item in the top K (mgmm's Recall@K)",
    )
    pr_points: int = Field(20, ge=2, le=1000)
    query_chunk: int = Field(256, ge=1, le=1 << 20, description="queries scored at once (bounds memory)")

    @model_validator(mode="after")
    def _unique(self) -> "EvaluationSpec":
        for field in ("tasks", "metrics"):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field}: {values} lists a name twice")
        return self


def parse_metric_name(name: str) -> tuple[str, int | None]:
    """'map' -> ('map', None); 'map@100' -> ('map', 100); 'p@50'; 'r@10'."""
    base, _, cut = name.partition("@")
    if base not in ("map", "p", "r", "hit") or (base != "map" and not cut):
        raise ValueError(f"metric {name!r} is not one of map, map@R, p@N, r@K, hit@K")
    if cut:
        if not cut.isdigit() or not 0 < int(cut) <= 10**9:
            raise ValueError(f"metric {name!r}: the cut-off must be a positive integer")
        return base, int(cut)
    return base, None


# --------------------------------------------------------------------------------------------


class ExperimentSpec(Strict):
    name: str = Field(pattern=SAFE_NAME, description="the experiment's name; it becomes a folder "
                      "name, so letters, digits, '_', '.', '-', not starting with '.' or '-'")
    description: str = ""
    dataset: DatasetSpec
    features: dict[str, FeatureSpec]
    architecture: ArchitectureSpec
    losses: list[LossTerm] = Field(default_factory=list)
    training: TrainingSpec
    evaluation: EvaluationSpec = EvaluationSpec()

    @model_validator(mode="after")
    def _wire(self) -> "ExperimentSpec":
        for key, feat in self.features.items():
            if feat.modality is None:
                if key not in ("image", "text"):
                    raise ValueError(f"features.{key}: set `modality` (image or text)")
                feat.modality = key  # type: ignore[assignment]
            check_granularity(f"features.{key}", feat)
        for modality in ("image", "text"):
            branch = getattr(self.architecture, modality)
            if branch.type != "mgmm":
                branch.input = branch.input or modality
            for role, name in branch_inputs(branch).items():
                where = f"architecture.{modality}.{role}"
                if name not in self.features:
                    raise ValueError(f"{where}: no feature {name!r}; features are: "
                                     f"{', '.join(self.features)}")
                feat = self.features[name]
                if feat.modality != modality:
                    raise ValueError(f"{where}: {name!r} is not a {modality} feature")
                if role == "fine" and feat.granularity.type == "whole":
                    raise ValueError(f"{where}: {name!r} has whole-item granularity; fine units "
                                     "need grid, selective_search, sentences or tags")
                if role == "coarse" and feat.granularity.type != "whole":
                    raise ValueError(f"{where}: {name!r} is fine-grained; coarse needs whole items")
        self._check_phases()
        return self

    def _check_phases(self) -> None:
        """Phases that fill particular branches: cca two linear branches of one size over
        whole-item features."""
        arch = self.architecture
        for i, phase in enumerate(self.training.phases):
            if phase.type != "cca":
                continue
            for m in ("image", "text"):
                branch = getattr(arch, m)
                if branch.type != "linear":
                    raise ValueError(f"training.phases.{i}: phase cca fills linear branches; "
                                     f"architecture.{m} is {branch.type}")
                if self.features[branch.input].granularity.type != "whole":
                    raise ValueError(f"training.phases.{i}: phase cca needs whole-item features; "
                                     f"architecture.{m}.input is fine-grained")
            if arch.image.out != arch.text.out:
                raise ValueError(f"training.phases.{i}: phase cca needs architecture.image.out == "
                                 f"architecture.text.out (the component count)")
