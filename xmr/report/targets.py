"""The paper targets beside a report's runs: each published number of
`specs/targets/papers.yaml` whose method a run implements, with the run's value for the same
metric, marked comparable only when the run's setting is the target's in every field, and
otherwise with the fields that differ."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..spec.load import SpecError, format_validation_error, read_yaml
from ..spec.targets import Target, TargetsFile
from .runs import Run

TARGETS_FILE = Path("specs/targets/papers.yaml")


def load_targets(path: Path = TARGETS_FILE) -> list[Target]:
    if not path.is_file():
        return []
    data = read_yaml(path)
    try:
        return TargetsFile.model_validate(data).targets
    except ValidationError as exc:
        raise SpecError(format_validation_error(str(path), exc, data)) from None


def feature_name(fspec: dict[str, Any]) -> str:
    """A run's feature set as targets name it: the released matrix's name for `precomputed`,
    ``bow:<vocabulary>`` for a bag of words, else the extractor's name."""
    params = fspec.get("params") or {}
    if fspec["extractor"] == "precomputed":
        return str(params.get("name"))
    if fspec["extractor"] == "bow":
        return f"bow:{params.get('vocab_size')}"
    return fspec["extractor"]


def run_setting(run: Run) -> dict[str, Any]:
    protocol = run.metrics["protocol"]
    return {"dataset": run.spec["dataset"]["name"], "queries": run.metrics["queries"]["count"],
            "database": run.metrics["database"]["count"],
            "features": {m: feature_name(f) for m, f in run.spec["features"].items()
                         if m in ("image", "text")},
            "relevance": protocol["relevance"], "distance": protocol["distance"]}


def differences(target: Target, run: Run) -> list[str]:
    """The setting fields in which ``run`` differs from ``target``, as readable reasons."""
    have = run_setting(run)
    want = target.setting.model_dump()
    reasons = []
    for key in ("dataset", "queries", "database", "relevance", "distance"):
        if have[key] != want[key]:
            reasons.append(f"{key}: paper {want[key]}, run {have[key]}")
    for m, name in want["features"].items():
        if have["features"].get(m) != name:
            reasons.append(f"{m} features: paper {name}, run {have['features'].get(m)}")
    metric = target.setting.metric
    if any(metric not in run.metrics["tasks"].get(t, {}) for t in target.values):
        reasons.append(f"metric: the run does not report {metric}")
    return reasons


def target_rows(runs: list[Run], targets: list[Target] | None = None) -> list[dict]:
    """For each (target, run) pair where the run implements the target's method: both values
    per task, and whether they are comparable (with the reasons when not)."""
    targets = load_targets() if targets is None else targets
    rows = []
    for target in targets:
        for run in runs:
            if run.name not in target.experiments:
                continue
            reasons = differences(target, run)
            metric = target.setting.metric
            rows.append({
                "paper": target.paper, "source": target.source, "method": target.method,
                "experiment": run.name, "metric": metric,
                "paper_values": dict(target.values),
                "run_values": {t: run.metrics["tasks"].get(t, {}).get(metric)
                               for t in target.values},
                "comparable": not reasons, "reasons": reasons, "note": target.note})
    return rows


__all__ = ["differences", "feature_name", "load_targets", "run_setting", "target_rows"]
