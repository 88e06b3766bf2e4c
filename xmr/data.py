"""In-memory views of an experiment's feature sets and targets, batched by item index."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .branches import Ragged
from .featurize import Prepared
from .losses import Batch
from .store.layout import FeatureSet


class FeatureView:
    """A feature set on a device; ``take(idx)`` gives a dense batch or a `Ragged` one."""

    def __init__(self, fs: FeatureSet, device: torch.device):
        self.fs = fs
        self.device = device
        # kept in the stored dtype (closed-form phases use float64 as shipped); branches cast
        self.data = torch.from_numpy(np.ascontiguousarray(fs.data)).to(device)
        self.offsets = torch.from_numpy(fs.offsets).to(device) if fs.fine else None

    @property
    def dim(self) -> int:
        return int(self.data.shape[1])

    def take(self, idx: torch.Tensor):
        if self.offsets is None:
            return self.data[idx]
        starts, ends = self.offsets[idx], self.offsets[idx + 1]
        lengths = ends - starts
        segments = torch.repeat_interleave(torch.arange(len(idx), device=self.device), lengths)
        base = torch.repeat_interleave(starts - torch.cumsum(lengths, 0) + lengths, lengths)
        rows = base + torch.arange(int(lengths.sum()), device=self.device)
        return Ragged(self.data[rows], segments, len(idx))


@dataclass
class ExperimentData:
    prepared: Prepared
    roles: dict[str, dict[str, FeatureView]]  # modality -> role (input | coarse | fine) -> view
    category: torch.Tensor
    labels: torch.Tensor
    relevance: str
    device: torch.device

    @classmethod
    def build(cls, prepared: Prepared, featuresets: dict, relevance: str,
              device: torch.device) -> "ExperimentData":
        """``featuresets``: modality -> FeatureSet, or modality -> {role: FeatureSet}."""
        category, labels = prepared.targets()
        if relevance == "category" and bool((category < 0).any()):
            raise ValueError(f"dataset {prepared.key}: relevance 'category' but some items have no "
                             "category; use a shared_label protocol")
        roles = {m: {r: FeatureView(f, device) for r, f in
                     (fs.items() if isinstance(fs, dict) else [("input", fs)])}
                 for m, fs in featuresets.items()}
        return cls(prepared, roles, category.to(device), labels.to(device), relevance, device)

    @property
    def views(self) -> dict[str, FeatureView]:
        """Each modality's main view (its only input, or its first role)."""
        return {m: next(iter(r.values())) for m, r in self.roles.items()}

    def take(self, modality: str, idx: torch.Tensor):
        """A batch of one modality's inputs: a tensor / `Ragged`, or a dict by role."""
        roles = self.roles[modality]
        if list(roles) == ["input"]:
            return roles["input"].take(idx)
        return {r: v.take(idx) for r, v in roles.items()}

    def in_dims(self) -> dict:
        return {m: r["input"].dim if list(r) == ["input"] else {k: v.dim for k, v in r.items()}
                for m, r in self.roles.items()}

    @property
    def n_items(self) -> int:
        return self.prepared.items.num_rows

    @property
    def n_classes(self) -> int:
        return int(self.labels.shape[1]) if self.relevance == "shared_label" else \
            len(self.prepared.meta["categories"])

    def split(self, name: str) -> np.ndarray:
        return self.prepared.split_indices(name)

    def inputs(self, idx: torch.Tensor) -> dict:
        return {m: self.take(m, idx) for m in self.roles}

    def batch(self, idx: torch.Tensor, codes: torch.Tensor | None = None) -> Batch:
        return Batch(index=idx, category=self.category[idx], labels=self.labels[idx],
                     relevance=self.relevance, codes=None if codes is None else codes[idx])
