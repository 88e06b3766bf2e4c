"""`xmr compare [EXPERIMENT_GLOB...] [--rev REV...]`: one line per run, readable at 100 columns.

A row is an experiment of the store (or, with ``--rev``, an experiment at a git revision or DVC
experiment, read through DVC): MAP per task, their average, the protocol's name, and the
settings in which the rows differ. Without ``--rev`` the settings are the stored specs
(`store/experiments/<name>/spec.json`); with it, each experiment's `params.yaml` section at each
revision (what `dvc exp run -S` edits).
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any

from ..store import Store
from .runs import TASK_NAMES, differing, flatten, load_run, resolve_experiments
from .targets import feature_name

WIDTH = 100
# Beyond this many differing settings, rows are told apart by a summary of each spec section
# that differs (the method), not setting by setting.
MAX_KEYS = 8
# Settings that differ between any two experiments and say nothing about the method.
IGNORED = ("name", "description", "dataset.root", "evaluation.query_chunk",
           "evaluation.memory_mb", "training.device", "training.num_threads")


@dataclass
class Row:
    experiment: str
    rev: str | None
    protocol: str
    maps: dict[str, float]
    average: float | None
    settings: dict[str, Any]
    error: str | None = None


def _row(name: str, rev: str | None, metrics: dict | None, settings: dict,
         error: str | None = None) -> Row:
    if metrics is None:
        return Row(name, rev, "—", {}, None, settings, error or "no metrics")
    maps = {t: float(v["map"]) for t, v in metrics["tasks"].items() if "map" in v}
    avg = (metrics.get("average") or {}).get("map")
    return Row(name, rev, metrics["protocol"]["name"], maps,
               None if avg is None else float(avg), settings)


def workspace_rows(store: Store, patterns: list[str]) -> list[Row]:
    rows = []
    for name in resolve_experiments(store, patterns):
        run = load_run(store, name, curves=False)  # a line needs no curve
        rows.append(_row(name, None, run.metrics, run.spec))
    return rows


def revision_rows(store: Store, patterns: list[str], revs: list[str]) -> list[Row]:
    """The experiments named by ``patterns`` (matched against the workspace's store) at the
    workspace and at each of ``revs`` (git revisions or DVC experiment names), read with DVC."""
    from dvc.repo import Repo

    names = resolve_experiments(store, patterns)
    targets = [str(store.metrics_path(n)) for n in names]
    with Repo(".") as repo:
        metrics = repo.metrics.show(targets=targets, revs=revs)
        params = repo.params.show(targets=["params.yaml"], revs=revs)
    rows = []
    for name, target in zip(names, targets):
        for rev in ["workspace", *revs]:
            if rev not in metrics:
                raise ValueError(f"xmr compare: DVC found no revision {rev!r} (a git revision "
                                 "or a `dvc exp list` name)")
            entry = ((metrics[rev] or {}).get("data", {})).get(target) or {}
            section = (((params.get(rev) or {}).get("data", {}).get("params.yaml") or {})
                       .get("data") or {}).get("experiments") or {}
            error = None
            if "data" not in entry:
                error = "no metrics at this revision" + (
                    f" ({entry['error']})" if entry.get("error") else "")
            rows.append(_row(name, rev, entry.get("data"), section.get(name) or {}, error))
    return rows


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def short_keys(keys: list[str]) -> dict[str, str]:
    """Each dotted key by its shortest suffix that no other key ends with, at least two parts
    long and not starting with a list index (``losses.1.weight``, ``hash_head.bits``)."""
    parts = {k: k.split(".") for k in keys}
    out = {}
    for k, p in parts.items():
        n = min(2, len(p))
        while n < len(p) and (p[-n].isdigit() or any(
                o != k and o.split(".")[-n:] == p[-n:] for o in keys)):
            n += 1
        out[k] = ".".join(p[-n:])
    return out


def spec_summary(spec: dict[str, Any], sections: set[str]) -> str:
    """A stored spec's method in a few words, for the ``sections`` in which the rows differ."""
    parts = []
    ds = spec.get("dataset") or {}
    if "dataset" in sections:
        parts.append(f"{ds.get('name')}/{(ds.get('split') or {}).get('recipe')}")
    if "features" in sections:
        feats = spec.get("features") or {}
        parts.append("/".join(feature_name(f) for f in feats.values()))
    if "architecture" in sections:
        arch = spec.get("architecture") or {}
        text = "/".join(str((arch.get(m) or {}).get("type")) for m in ("image", "text"))
        head = arch.get("hash_head")
        parts.append(text + (f" {head['bits']}-bit" if head else ""))
    if "losses" in sections:
        parts.append("+".join(str(term.get("name")) for term in spec.get("losses") or []) or
                     "no losses")
    if "training" in sections:
        phases = (spec.get("training") or {}).get("phases") or []
        parts.append("+".join(str(p.get("type")) for p in phases))
    return "  ".join(parts)


def render(rows: list[Row], width: int = WIDTH) -> str:
    """The rows as a fixed-width table. The settings in which the rows differ follow on the
    same line where they fit, else on the next lines, indented."""
    if not rows:
        return "(no runs)"
    tasks = [t for t in TASK_NAMES if any(t in r.maps for r in rows)]
    # Across revisions, each experiment's rows are compared with each other only.
    groups = ({r.experiment: [o for o in rows if o.experiment == r.experiment] for r in rows}
              if rows[0].rev else {None: rows})
    keys_of = {g: differing([r.settings for r in members], IGNORED)
               for g, members in groups.items()}
    keys = list(dict.fromkeys(k for ks in keys_of.values() for k in ks))
    sections = {k.split(".")[0] for k in keys}
    summarise = len(keys) > MAX_KEYS and "architecture" in rows[0].settings
    flat = [flatten(r.settings) for r in rows]
    name_w = min(max(len("experiment"), *(len(r.experiment) for r in rows)), 32)
    rev_w = min(max([len("rev")] + [len(r.rev or "") for r in rows]), 12) if rows[0].rev else 0
    proto_w = min(max(len("protocol"), *(len(r.protocol) for r in rows)), 28)
    head = ["experiment".ljust(name_w)] + (["rev".ljust(rev_w)] if rev_w else []) + \
        ["protocol".ljust(proto_w)] + [TASK_NAMES[t].rjust(5) for t in tasks] + ["  avg"]
    rest = width - len("  ".join(head)) - 2
    lines = ["  ".join(head + ["differs" if keys and rest >= 20 else ""]).rstrip()]
    for r, f in zip(rows, flat):
        cells = [_fit(r.experiment, name_w).ljust(name_w)]
        if rev_w:
            cells.append(_fit(r.rev or "", rev_w).ljust(rev_w))
        cells.append(_fit(r.protocol, proto_w).ljust(proto_w))
        cells += [f"{r.maps[t]:.3f}".rjust(5) if t in r.maps else "—".rjust(5) for t in tasks]
        cells.append(f"{r.average:.3f}".rjust(5) if r.average is not None else "—".rjust(5))
        if r.error:
            note = r.error
        elif summarise:
            note = spec_summary(r.settings, sections)
        else:
            own = keys_of[r.experiment if rows[0].rev else None]
            short = short_keys(own)
            note = " ".join(f"{short[k]}={_value(f[k])}" for k in own if k in f)
        if len(note) <= rest:
            lines.append("  ".join(cells + [note]).rstrip())
            continue
        lines.append("  ".join(cells).rstrip())
        wrapped = textwrap.wrap(note, width - 4, break_on_hyphens=False)
        lines += ["    " + w for w in wrapped[:2]]
        if len(wrapped) > 2:
            lines[-1] = "    " + _fit(wrapped[1], width - 16) + " (and more)"
    if summarise:
        lines += ["", *textwrap.wrap(
            f"{len(keys)} settings differ; `differs` summarises the spec sections that do ("
            + ", ".join(sorted(sections)) + "); `xmr compare --json` lists them all", width)]
    return "\n".join(lines)


def compare_command(patterns: list[str], revs: list[str], store_root: str = "store",
                    as_json: bool = False, width: int = WIDTH) -> str:
    store = Store(store_root)
    rows = revision_rows(store, patterns, revs) if revs else workspace_rows(store, patterns)
    if as_json:
        keys = differing([r.settings for r in rows], IGNORED)
        return json.dumps([{"experiment": r.experiment, "rev": r.rev, "protocol": r.protocol,
                            "map": r.maps, "average": r.average, "error": r.error,
                            "differs": {k: v for k, v in flatten(r.settings).items() if k in keys}}
                           for r in rows], indent=1)
    return render(rows, width)


__all__ = ["Row", "compare_command", "render", "revision_rows", "workspace_rows"]
