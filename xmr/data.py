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
    views: dict[str, FeatureView]  # modality -> view
    category: torch.Tensor
    labels: torch.Tensor
    relevance: str
    device: torch.device

    @classmethod
    def build(cls, prepared: Prepared, featuresets: dict[str, FeatureSet], relevance: str,
              device: torch.device) -> "ExperimentData":
        category, labels = prepared.targets()
        if relevance == "category" and bool((category < 0).any()):
            raise ValueError(f"dataset {prepared.key}: relevance 'category' but some items have no "
                             "category; use a shared_label protocol")
        views = {m: FeatureView(fs, device) for m, fs in featuresets.items()}
        return cls(prepared, views, category.to(device), labels.to(device), relevance, device)

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
        return {m: v.take(idx) for m, v in self.views.items()}

    def batch(self, idx: torch.Tensor, codes: torch.Tensor | None = None) -> Batch:
        return Batch(index=idx, category=self.category[idx], labels=self.labels[idx],
                     relevance=self.relevance, codes=None if codes is None else codes[idx])
