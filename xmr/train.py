"""The generic trainer: builds the model a spec describes, runs its phases, and writes the
experiment's representations of every item to the store."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import zarr

from .data import ExperimentData
from .metrics import Side, evaluate_task, make_scorer, pack_codes
from .threads import configure_threads
from .model import CrossModalModel
from .phases import PHASES, PhaseContext
from .spec.models import ExperimentSpec, ProtocolSpec
from .spec.protocols import resolve_protocol
from .store.files import atomic_dir, stable_hash, write_json


@dataclass
class Representations:
    """Per modality, the embedding of every item; bit-packed codes when there is a hash head."""

    embeddings: dict[str, np.ndarray]
    codes: dict[str, np.ndarray] | None = None

    def for_protocol(self, protocol: ProtocolSpec) -> dict[str, np.ndarray]:
        if protocol.distance == "hamming":
            if self.codes is None:
                raise ValueError("protocol distance 'hamming' needs binary codes: add "
                                 "architecture.hash_head")
            return self.codes
        return self.embeddings

    def save(self, path: Path) -> None:
        group = zarr.open_group(path, mode="w")
        for m, a in self.embeddings.items():
            group.create_array(f"embeddings_{m}", data=a)
        for m, a in (self.codes or {}).items():
            group.create_array(f"codes_{m}", data=a)

    @classmethod
    def load(cls, path: Path) -> "Representations":
        group = zarr.open_group(path, mode="r")
        names = list(group.array_keys())
        emb = {n.split("_", 1)[1]: group[n][:] for n in names if n.startswith("embeddings_")}
        codes = {n.split("_", 1)[1]: group[n][:] for n in names if n.startswith("codes_")}
        return cls(emb, codes or None)


@torch.no_grad()
def represent(model: CrossModalModel, data: ExperimentData, idx: np.ndarray | None = None,
              batch: int = 1024) -> Representations:
    """Representations of the items ``idx`` (default: every item), rows in that order."""
    model.eval()
    rows = torch.as_tensor(np.arange(data.n_items) if idx is None else idx, device=data.device)
    emb, codes = {}, {}
    for m in ("image", "text"):
        parts = [model.encode(m, data.take(m, rows[s:s + batch]))
                 for s in range(0, len(rows), batch)]
        e = torch.cat(parts)
        emb[m] = e.float().cpu().numpy()
        if model.has_codes:
            codes[m] = pack_codes(model.hash(m, e))
    return Representations(emb, codes or None)


def split_sides(reps: dict[str, np.ndarray], category: torch.Tensor, labels: torch.Tensor,
                splits: dict[str, np.ndarray], query: str, database: str) -> tuple[Side, Side]:
    def side(idx: np.ndarray) -> Side:
        t = torch.as_tensor(idx)
        return Side({m: torch.from_numpy(np.ascontiguousarray(a[idx])) for m, a in reps.items()},
                    category.cpu()[t], labels.cpu()[t], idx)

    return side(splits[query]), side(splits[database])


def score_splits(reps: Representations, category, labels, splits: dict[str, np.ndarray],
                 query: str, protocol: ProtocolSpec, tasks: list[str], metrics: list[str],
                 pr_points: int = 20, query_chunk: int = 256, metric_network=None,
                 memory_mb: int = 1024) -> dict:
    database = query if protocol.database == "test" else protocol.database
    q, db = split_sides(reps.for_protocol(protocol), category, labels, splits, query, database)
    return {t: evaluate_task(t, q, db, protocol, metrics, pr_points, query_chunk,
                             scorer=make_scorer(protocol, t, metric_network),
                             memory_mb=memory_mb) for t in tasks}


def train_experiment(spec: ExperimentSpec, data: ExperimentData, out_dir: Path | None,
                     featuresets: dict[str, str],
                     on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Run the spec's phases and write model.pt, embeddings.zarr, spec.json, train_log.json into
    ``out_dir`` (nothing is written when it is None: a tuning trial). Only the train and val
    splits are read; ``on_epoch`` gets each epoch's log entry (with its val MAP)."""
    torch.manual_seed(spec.training.seed)
    configure_threads(spec.training.num_threads)
    device = data.device
    protocol = resolve_protocol(spec.evaluation.protocol)
    model = CrossModalModel(spec.architecture, data.in_dims(),
                            data.n_classes).to(device)
    splits = {s: data.split(s) for s in ("train", "val")}
    if len(splits["train"]) == 0:
        raise ValueError(f"dataset {data.prepared.key}: the train split is empty")
    # validation encodes only what it scores: val queries, and the train split when the
    # protocol's database is the training set (or the retrieval set, of which train is part)
    db_train = protocol.database in ("train", "retrieval")
    if db_train:
        protocol = protocol.model_copy(update={"database": "train"})
    val_rows = np.concatenate([splits["val"]] + ([splits["train"]] if db_train else []))
    n_val = len(splits["val"])
    local = {"val": np.arange(n_val), "train": np.arange(n_val, len(val_rows))}

    def validate() -> float:
        """Mean val MAP (i2t, t2i). Under the `learned` distance, phases that run before the
        metric network is trained are scored by cosine similarity (uncsm 4.4 does so)."""
        if n_val == 0:
            return float("nan")
        reps = represent(model, data, val_rows)
        model.train()
        rows = torch.as_tensor(val_rows, device=data.device)
        learned = protocol.distance == "learned" and ctx.metric_ready
        val_protocol = (protocol if protocol.distance != "learned" or learned
                        else protocol.model_copy(update={"distance": "cosine"}))
        res = score_splits(reps, data.category[rows], data.labels[rows], local, "val",
                           val_protocol, ["i2t", "t2i"], ["map"],
                           metric_network=model.metric_network if learned else None)
        return float(np.mean([r.metrics["map"] for r in res.values()]))

    ctx = PhaseContext(spec, model, data, device, np.random.default_rng(spec.training.seed),
                       validate, on_epoch=on_epoch)
    started = time.perf_counter()
    phase_results = []
    for phase in spec.training.phases:
        if not getattr(phase, "enabled", True):
            phase_results.append({"name": phase.name, "type": phase.type, "skipped": True})
            continue
        t0 = time.perf_counter()
        result = PHASES.get(phase.type)(ctx, phase)
        phase_results.append({"name": phase.name, "type": phase.type,
                              "seconds": round(time.perf_counter() - t0, 2), **result})
    seconds = time.perf_counter() - started
    spec_json = spec.model_dump(mode="json")
    log = {
        "experiment": spec.name, "dataset": data.prepared.key, "spec_hash": stable_hash(spec_json),
        "split_hash": data.prepared.meta["split_hash"], "device": str(device),
        "featuresets": featuresets, "train_seconds": round(seconds, 2),
        "best_val_map": validate() if n_val else None,
        "phases": phase_results, "history": ctx.log,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if out_dir is None:
        return log
    reps = represent(model, data)
    with atomic_dir(out_dir) as tmp:
        torch.save({"state_dict": model.state_dict(), "in_dims": data.in_dims(),
                    "n_classes": data.n_classes}, tmp / "model.pt")
        reps.save(tmp / "embeddings.zarr")
        write_json(tmp / "spec.json", spec_json)
        write_json(tmp / "train_log.json", log)
    return log


def load_model(exp_dir: Path, spec: ExperimentSpec, device: torch.device | str = "cpu") -> CrossModalModel:
    ckpt = torch.load(exp_dir / "model.pt", map_location=device, weights_only=True)
    model = CrossModalModel(spec.architecture, ckpt["in_dims"], ckpt["n_classes"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


__all__ = ["Representations", "load_model", "represent", "score_splits", "train_experiment"]
