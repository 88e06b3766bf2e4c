"""The training part of a spec: phases (a discriminated union on `type`), batch size, seed."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .common import Epochs, Modality, Seed, Strict
from .deep import OutputCCAPhase
from .hashing import SCMHashPhase, SePHPhase
from .losses import LossTerm
from .subspace import (CFAPhase, JFSSLPhase, JRLPhase, KCCAPhase, MLCCAPhase, PLSPhase,
                       SemanticMatchingPhase, ThreeViewCCAPhase)


class OptimizerSpec(Strict):
    type: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.9, ge=0)
    lr_scale: dict[str, Annotated[float, Field(gt=0, le=1e6)]] = Field(
        default_factory=dict, description="learning-rate multipliers by module name, e.g. "
        "{image.backbone: 0.1} (a pretrained CNN fine-tuned more gently than the layers above "
        "it); the other trainable parameters use `lr`")


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
    enabled: bool = Field(True, description="false skips the phase: an ablation by one key, "
                          "e.g. uncsm without its contrastive pre-training")


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


class MultimodalDBNPhase(Strict):
    """The Multimodal DBN (Srivastava & Salakhutdinov 2012): both modalities' `dbn` branches by
    greedy layer-wise CD-k on the training split, then `architecture.joint_rbm` by CD-k on the
    training pairs' top layers. No labels are used."""

    type: Literal["multimodal_dbn"]
    name: str = "multimodal_dbn"
    dbn: CDSettings = CDSettings()
    joint: CDSettings = CDSettings()


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


class DMSFHPhase(Strict):
    """dmsfh Algorithm 1: every epoch, an epoch of the image network, an epoch of the text
    network (each with the other network's stored outputs and the codes B fixed), then the
    closed-form update of B (Eq. 18). Loss terms: inter_pair_nll (L1), intra_pair_nll (L2),
    label_bce_sum (L3), graph_regularization (L4, weight gamma), code_quantization (L5,
    weight beta); the learning rate decays geometrically from optimizer.lr to lr_end."""

    type: Literal["dmsfh"]
    name: str = "dmsfh"
    epochs: Epochs = Field(500, description="outer iterations of Algorithm 1 (4.3: 500)")
    losses: list[LossTerm] | None = Field(None, description="defaults to the spec's `losses`")
    modalities: list[Modality] = Field(
        default_factory=lambda: ["image", "text"], min_length=1,
        description="the networks trained; [text] trains TxtNet alone (no images), without L1")
    trainable: list[str] | None = Field(
        None, description="module names updated in each modality's step (e.g. image.head to keep "
        "a CNN backbone frozen); default: the whole branch")
    optimizer: OptimizerSpec = OptimizerSpec(type="sgd", lr=10 ** -1.5, momentum=0.0)
    lr_end: float = Field(1e-6, gt=0, description="learning rate of the last epoch (4.3: "
                          "10^-1.5 decayed to 10^-6)")
    lr_decay: Literal["linear", "geometric"] = Field(
        "linear", description="how the rate goes from optimizer.lr to lr_end over the epochs "
        "(4.3 says 'gradually'; linear is DCMH's schedule, geometric falls faster)")
    reduction: Literal["mean", "sum"] = Field(
        "mean", description="mean: each term averaged over its elements (L1, L2 over the batch's "
        "n pairs per item, L3 over labels, L5 over bits) and gamma / n in the B update; sum: "
        "Eq. 13's sums (their ratios as printed), the total divided by N_batch x n")
    init_outputs: Literal["random", "network"] = Field(
        "random", description="the stored F and G before the first step: N(0, 1) draws (DCMH's "
        "code does so; B starts as random codes, which breaks the symmetry between items) or the "
        "untrained networks' outputs (nearly equal for every item: B collapses to one code)")
    code_sweeps: int = Field(10, ge=1, le=10_000, description="cyclic coordinate-descent sweeps "
                             "over the rows of B per update, at most (it stops when none "
                             "changes)")
    select_on_val: bool = Field(False, description="keep the epoch with the best val MAP (the "
                                "paper trains a fixed number of epochs)")


class MetricNetworkPhase(Strict):
    """uncsm Section 3.2: the metric network trained with cross-entropy (Eqs. 4-5) on (image,
    text) pairs of the train split drawn once at random, similar : dissimilar as set, the
    branches frozen; the epoch with the best validation MAP (ranked by the network) is kept."""

    type: Literal["metric_network"]
    name: str = "metric"
    epochs: Epochs = 5
    pairs: int = Field(300_000, ge=2, le=10**9, description="training pairs drawn (4.4: about "
                       "300K on Wikipedia)")
    similar_fraction: float = Field(0.5, gt=0, lt=1, description="share of similar pairs (4.4: "
                                    "1 : 1)")
    batch_size: int = Field(256, ge=1, le=1 << 20, description="pairs per step")
    optimizer: OptimizerSpec = OptimizerSpec()


class UNCSMPreprocessPhase(Strict):
    """uncsm Section 4.4, for both modalities' `uncsm` branches: the DBNs by CD-k, then the
    feed-forward networks with a softmax classifier on the classes (multi-label: sigmoid
    cross-entropy). Both stay frozen afterwards."""

    type: Literal["uncsm_preprocess"]
    name: str = "preprocess"
    dbn: CDSettings = CDSettings()
    refine: GradientSettings = GradientSettings()


Phase = Annotated[
    Union[GradientPhase, CCAPhase, RBMPretrainPhase, AlternatingHashPhase, DMSFHPhase,
          MetricNetworkPhase, MGMMFramework1Phase, UNCSMPreprocessPhase, KCCAPhase, PLSPhase,
          CFAPhase, ThreeViewCCAPhase, MLCCAPhase, SemanticMatchingPhase, JFSSLPhase,
          OutputCCAPhase, SCMHashPhase, SePHPhase, JRLPhase, MultimodalDBNPhase],
    Field(discriminator="type"),
]


class TrainingSpec(Strict):
    phases: list[Phase] = Field(min_length=1)
    batch_size: int = Field(64, ge=2, le=1 << 20)
    seed: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = Field(None, ge=1, le=1024,
                                    description="torch CPU threads; default: the cores divided "
                                    "among the xmr processes running (xmr.threads)")
