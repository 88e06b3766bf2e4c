"""Text as a matrix of word vectors (idcmr): a `words` feature set -> fully connected layers."""

from __future__ import annotations

import torch

from ..spec.models import WordMatrixBranch
from . import BRANCHES, Branch, Ragged, mlp


def word_matrix(x: Ragged, rows: int) -> torch.Tensor:
    """(size, rows, d): each item's first ``rows`` units in order, zero-padded."""
    values, seg = x.values.float(), x.segments
    # position of each unit within its item (units of an item are contiguous and in order)
    starts = torch.zeros(x.size + 1, dtype=torch.long, device=seg.device)
    starts[1:] = torch.cumsum(torch.bincount(seg, minlength=x.size), 0)
    pos = torch.arange(len(seg), device=seg.device) - starts[seg]
    keep = pos < rows
    out = values.new_zeros(x.size, rows, values.shape[1])
    out[seg[keep], pos[keep]] = values[keep]
    return out


@BRANCHES.register("word_matrix")
class WordMatrix(Branch):
    """The first `max_words` word vectors of a document, flattened in reading order (or their
    mean), then fully connected layers."""

    def __init__(self, spec: WordMatrixBranch, in_dim: int):
        super().__init__()
        self.rows, self.pool = spec.max_words, spec.pool
        width = in_dim * spec.max_words if spec.pool == "flatten" else in_dim
        self.net = mlp([width, *spec.hidden, spec.out], spec.activation, spec.dropout,
                       last_activation=spec.out_activation)
        self.out_dim, self.normalize = spec.out, spec.normalize

    def forward(self, x: Ragged) -> torch.Tensor:
        if not isinstance(x, Ragged):
            raise TypeError("word_matrix needs a `words` feature set (one unit per word)")
        m = word_matrix(x, self.rows)
        if self.pool == "flatten":
            h = m.flatten(1)
        else:
            counts = torch.bincount(x.segments, minlength=x.size).clamp(1, self.rows)
            h = m.sum(1) / counts.unsqueeze(1).to(m.dtype)
        return self.finish(self.net(h))
