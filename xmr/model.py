"""The cross-modal model a spec describes: two branches plus optional heads.

Optional last layers shared by both branches (one module) give the common space. Heads: a label
classifier shared by both modalities, a k-bit hash layer per modality, and a
metric network that scores an (image, text) pair. Autoencoder decoders read the representations;
an output CCA, once fitted, maps them to the common space. Phases decide which parts are trained
how.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .branches import ACTIVATIONS, build_branch, mlp
from .branches.dbn import JointTop
from .spec.models import ArchitectureSpec


class MetricNetwork(nn.Module):
    """uncsm's metric network (Section 3.2): [image embedding; text embedding] -> fully
    connected ReLU layers -> two units h_0, h_1 whose softmax gives p = P(similar) (Eq. 5)."""

    def __init__(self, dim: int, hidden: list[int]):
        super().__init__()
        self.dim = dim
        self.net = mlp([2 * dim, *hidden, 2], "relu")

    def logits(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        """(h_0, h_1) of each (image, text) row pair."""
        return self.net(torch.cat([img, txt], dim=-1))

    def score(self, img: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
        """h_1 - h_0, the log-odds of Eq. 5's p: it ranks pairs exactly as p does."""
        z = self.logits(img, txt)
        return z[..., 1] - z[..., 0]

    @torch.no_grad()
    def score_matrix(self, img: torch.Tensor, txt: torch.Tensor,
                     pair_batch: int = 65536) -> torch.Tensor:
        """(n_img, n_txt) scores of every image x text pair, as `score` gives them, in bounded
        memory. The first layer is linear in the concatenation, W [x; y] + b = W_x x + W_y y + b,
        so it is applied once per item rather than once per pair; the layers above run on at
        most ``pair_batch`` pairs at a time."""
        first, rest = self.net[0], self.net[1:]
        w = first.weight
        a = img.to(w.device, w.dtype) @ w[:, :self.dim].T + first.bias
        b = txt.to(w.device, w.dtype) @ w[:, self.dim:].T
        out = torch.empty(len(img), len(txt), dtype=w.dtype, device=w.device)
        rows = max(1, pair_batch // max(len(txt), 1))
        for s in range(0, len(img), rows):
            z = rest(a[s:s + rows, None, :] + b[None, :, :])
            out[s:s + rows] = z[..., 1] - z[..., 0]
        return out


class CrossModalModel(nn.Module):
    def __init__(self, arch: ArchitectureSpec, in_dims: dict[str, int], n_classes: int):
        super().__init__()
        self.branches = nn.ModuleDict({m: build_branch(getattr(arch, m), in_dims[m])
                                       for m in ("image", "text")})
        dims = {m: b.out_dim for m, b in self.branches.items()}
        self.shared = None
        if arch.shared is not None:
            sh = arch.shared
            self.shared = nn.Sequential(
                ACTIVATIONS[sh.activation]() if sh.in_activation else nn.Identity(),
                mlp([dims["image"], *sh.hidden, sh.out], sh.activation))
            self.shared_normalize = sh.normalize
            dims = {m: sh.out for m in dims}
        self.emb_dim = dims["image"]
        same = dims["image"] == dims["text"]
        if (arch.shared or arch.label_head or arch.metric_network or arch.triplet_branches) \
                and not same:
            raise ValueError(f"architecture: image.out ({dims['image']}) and text.out "
                             f"({dims['text']}) must match for shared layers, a shared label "
                             "head, metric network or triplet branches")
        self.label_head = (nn.Linear(self.emb_dim, n_classes, bias=arch.label_bias)
                           if arch.label_head else None)
        hh = arch.hash_head
        if hh is not None and hh.layout == "split":
            for m, d in dims.items():
                if d != hh.bits + n_classes:
                    raise ValueError(f"hash_head.layout 'split': {m}.out is {d}; it must be bits "
                                     f"+ classes = {hh.bits} + {n_classes} = "
                                     f"{hh.bits + n_classes}")
        if hh is not None and hh.layout == "identity":
            for m, d in dims.items():
                if d != hh.bits:
                    raise ValueError(f"hash_head.layout 'identity': {m}.out is {d}; it must be "
                                     f"bits = {hh.bits}")
        self.hash_spec = hh
        self.hash_head = (nn.ModuleDict({m: nn.Linear(d, hh.bits) for m, d in dims.items()})
                          if hh is not None and hh.layout == "linear" else None)
        self.metric_network = (MetricNetwork(self.emb_dim, arch.metric_network.hidden)
                               if arch.metric_network else None)
        tb = arch.triplet_branches
        self.triplet_branches = (nn.ModuleDict({m: mlp([d, tb.units], tb.activation,
                                                       last_activation=True)
                                                for m, d in dims.items()}) if tb else None)
        self.fusion, self.in_dims = arch.fusion, dict(in_dims)
        # the Multimodal DBN: the joint RBM's hidden layer is the common space
        self.joint_rbm = JointTop(arch.joint_rbm, dims) if arch.joint_rbm is not None else None
        if self.joint_rbm is not None:
            self.emb_dim = self.joint_rbm.out_dim
        dec = arch.decoders
        self.decoders = None
        if dec is not None:
            if self.fusion == "sum":  # one decoder per target, for every code (Ngiam et al.)
                pairs = [("any", tgt) for tgt in ("image", "text")]
            else:
                pairs = [(src, tgt) for src in dims for tgt in ("image", "text")
                         if ("self" if src == tgt else "cross") in dec.targets]
            self.decoders = nn.ModuleDict({
                f"{src}_to_{tgt}": mlp([dims.get(src, self.emb_dim), *dec.hidden, in_dims[tgt]],
                                       dec.activation)
                for src, tgt in pairs})
        oc = arch.output_cca
        self.output_cca = None
        if oc is not None:
            self.output_cca = nn.ModuleDict({m: nn.Linear(d, oc.out, dtype=torch.float64)
                                             for m, d in dims.items()})
            # set by the `output_cca` phase; saved with the weights
            self.register_buffer("output_cca_fitted", torch.tensor(False))

    def project(self, modality: str, z: torch.Tensor) -> torch.Tensor:
        """The fitted output CCA (`architecture.output_cca`, in float64) over a representation;
        the representation itself before the `output_cca` phase has run."""
        if self.output_cca is None or not bool(self.output_cca_fitted):
            return z
        return self.output_cca[modality](z.double()).float()

    def encode(self, modality: str, x) -> torch.Tensor:
        z = self.branches[modality](x)
        if self.joint_rbm is not None:  # the other modality's top layer inferred
            z = self.joint_rbm(modality, z)
        if self.fusion == "sum":  # the other modality's input is zero
            other = "text" if modality == "image" else "image"
            zero = torch.zeros(1, self.in_dims[other], device=z.device)
            z = z + self.branches[other](zero)
        return self.project(modality, self.common(z))

    def joint(self, inputs: dict) -> torch.Tensor:
        """The code of both inputs together (`fusion: sum`)."""
        return self.common(self.branches["image"](inputs["image"])
                           + self.branches["text"](inputs["text"]))

    def common(self, z: torch.Tensor) -> torch.Tensor:
        """The shared last layers (when the architecture has them) over a branch's output."""
        if self.shared is None:
            return z
        z = self.shared(z)
        return F.normalize(z, dim=-1) if self.shared_normalize else z

    @property
    def has_codes(self) -> bool:
        return self.hash_spec is not None

    def hash(self, modality: str, emb: torch.Tensor) -> torch.Tensor:
        """Continuous codes (F for images, G for texts); their sign is the binary code. `split`
        layout: the first `bits` units of the branch's output; `identity`: the output itself."""
        hh = self.hash_spec
        if hh is None:
            raise ValueError("this architecture has no hash_head")
        h = (emb[:, :hh.bits] if hh.layout == "split" else emb if hh.layout == "identity"
             else self.hash_head[modality](emb))
        return torch.tanh(h) if hh.activation == "tanh" else h

    def forward(self, inputs: dict) -> dict[str, torch.Tensor]:
        """The representations and heads of a batch; with decoders, also the batch's inputs
        (`input_image`, `input_text`) that the `reconstruction` loss compares against, and with
        `fusion: sum` the joint code of both inputs (`joint`)."""
        out = self.heads({m: self.encode(m, inputs[m]) for m in ("image", "text")})
        if self.decoders is not None:
            out.update({f"input_{m}": inputs[m] for m in ("image", "text")})
        if self.fusion == "sum":
            out["joint"] = self.joint(inputs)
        return out

    def heads(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Add the label logits and hash outputs of the embeddings ``out`` (modality -> (B, d))."""
        mods = [m for m in ("image", "text") if m in out]
        out = dict(out)
        split = self.hash_spec is not None and self.hash_spec.layout == "split"
        for m in mods:
            if self.label_head is not None:
                out[f"logits_{m}"] = self.label_head(out[m])
            elif split:  # the branch's own label layer: its last c units
                out[f"logits_{m}"] = out[m][:, self.hash_spec.bits:]
            if self.hash_spec is not None:
                out[f"hash_{m}"] = self.hash(m, out[m])
        return out

    def module_by_name(self, name: str) -> nn.Module:
        parts = {"image": self.branches["image"], "text": self.branches["text"],
                 "shared": self.shared, "label_head": self.label_head, "hash_head": self.hash_head,
                 "metric_network": self.metric_network, "triplet_branches": self.triplet_branches,
                 "decoders": self.decoders, "output_cca": self.output_cca,
                 "joint_rbm": self.joint_rbm}
        top, _, rest = name.partition(".")
        if top not in parts:
            raise ValueError(f"unknown module {name!r}; modules: {', '.join(parts)} (or a part of "
                             "a branch, e.g. image.head)")
        if parts[top] is None:
            raise ValueError(f"module {top!r} is not in this architecture")
        module = parts[top]
        for attr in rest.split(".") if rest else []:
            child = getattr(module, attr, None)
            if not isinstance(child, nn.Module):
                raise ValueError(f"module {name!r}: {type(module).__name__} has no part {attr!r}")
            module = child
        return module
