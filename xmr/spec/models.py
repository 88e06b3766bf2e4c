"""Pydantic models of an xmr experiment spec.

One discriminated union per pluggable role (granularity, branch, loss, phase), each in the module
of its part of the spec: `dataset` (splits, features, granularity), `architecture` (branches),
`losses`, `training` (phases) and `evaluation`. This module assembles them into `ExperimentSpec`
and re-exports every model, so `from xmr.spec.models import X` keeps working. Every model forbids
unknown keys. None of these modules imports torch or numpy, so `xmr validate` stays fast.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from .architecture import *  # noqa: F401,F403
from .architecture import ArchitectureSpec, branch_inputs
from .common import *  # noqa: F401,F403
from .common import SAFE_NAME, Strict
from .dataset import *  # noqa: F401,F403
from .dataset import DatasetSpec, FeatureSpec, check_granularity
from .evaluation import *  # noqa: F401,F403
from .evaluation import EvaluationSpec
from .losses import *  # noqa: F401,F403
from .losses import LossTerm
from .training import *  # noqa: F401,F403
from .training import TrainingSpec


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
                if branch.type == "word_matrix" and feat.granularity.type != "words":
                    raise ValueError(f"{where}: a word_matrix branch reads a `words` feature set "
                                     f"(one unit per word); {name!r} has granularity "
                                     f"{feat.granularity.type!r}")
        self._check_phases()
        return self

    def loss_lists(self) -> list[tuple[str, list]]:
        """(where, terms) for the spec's losses and each phase's own list of them."""
        return [("losses", self.losses)] + [(f"training.phases.{i}.losses", p.losses)
                                            for i, p in enumerate(self.training.phases)
                                            if getattr(p, "losses", None)]

    def _check_phases(self) -> None:
        """Phases and losses that need particular parts: cca two linear branches of one size over
        whole-item features; uncsm_preprocess uncsm branches; the metric network phase and
        pair_ce a metric network; double_triplet the triplet branches; label_regression's learned
        classifier the label head. (The `learned` distance, which a protocol name may imply, is
        checked with the registries: `spec/checks.py`.)"""
        arch = self.architecture
        needs = {"double_triplet": "triplet_branches", "pair_ce": "metric_network",
                 "cosine_quantization": "hash_head", "focal_hamming": "hash_head",
                 "hamming_quantization": "hash_head"}
        for where, listed in self.loss_lists():
            for j, term in enumerate(listed):
                part = needs.get(term.name)
                if term.name == "triplet" and term.params.source == "hash":
                    part = "hash_head"
                if part and getattr(arch, part) is None:
                    raise ValueError(f"{where}.{j}: loss {term.name!r} needs architecture.{part}")
                if (term.name == "label_regression" and term.params.classifier == "learned"
                        and not arch.label_head):
                    raise ValueError(f"{where}.{j}: loss 'label_regression' with classifier "
                                     "'learned' needs architecture.label_head (the classifier C)")
        dbns = [m for m in ("image", "text") if getattr(arch, m).type == "dbn"]
        if dbns and (arch.joint_rbm is None or not any(
                p.type == "multimodal_dbn" for p in self.training.phases)):
            raise ValueError(f"architecture.{dbns[0]}: dbn branches are trained by a "
                             "multimodal_dbn phase with architecture.joint_rbm; add both")
        for m in dbns:
            if self.features[getattr(arch, m).input].granularity.type != "whole":
                raise ValueError(f"architecture.{m}: a dbn branch reads whole-item features; "
                                 f"input {getattr(arch, m).input!r} has units")
        for i, phase in enumerate(self.training.phases):
            if phase.type == "metric_network" and arch.metric_network is None:
                raise ValueError(f"training.phases.{i}: phase metric_network needs "
                                 "architecture.metric_network")
            if phase.type == "multimodal_dbn" and arch.joint_rbm is None:
                raise ValueError(f"training.phases.{i}: phase multimodal_dbn trains dbn branches "
                                 "and architecture.joint_rbm; set architecture.joint_rbm")
            if phase.type == "uncsm_preprocess":
                for m in ("image", "text"):
                    if getattr(arch, m).type != "uncsm":
                        raise ValueError(f"training.phases.{i}: phase uncsm_preprocess trains "
                                         f"uncsm branches; architecture.{m} is "
                                         f"{getattr(arch, m).type}")
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
