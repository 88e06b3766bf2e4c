"""Reading specs: YAML -> overrides -> pydantic, with errors that name file, field and value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from pydantic import ValidationError

from .models import ExperimentSpec


class SpecError(ValueError):
    """A spec that cannot be read or validated. The message names the file and each field path."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, the rest replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_set(assignments: Iterable[str]) -> dict[str, Any]:
    """``["training.epochs=5", "losses.0.weight=2"]`` -> a nested override mapping.

    Values are parsed as YAML (``5`` is an int, ``[1, 2]`` a list, ``false`` a bool). A numeric
    path element indexes into a list.
    """
    nested: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SpecError(f"--set {item!r}: expected dotted.key=value")
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return nested


def _apply_list_indices(data: Any, override: Any, path: str) -> Any:
    """Merge like deep_merge, but a mapping with numeric keys edits a list element-wise."""
    if isinstance(data, list) and isinstance(override, Mapping):
        out = copy.deepcopy(data)
        for k, v in override.items():
            if not str(k).isdigit() or int(k) >= len(out):
                raise SpecError(f"{path}.{k}: no such list element (the list has {len(out)})")
            out[int(k)] = _apply_list_indices(out[int(k)], v, f"{path}.{k}")
        return out
    if isinstance(data, Mapping) and isinstance(override, Mapping):
        out = copy.deepcopy(dict(data))
        for k, v in override.items():
            out[k] = _apply_list_indices(out.get(k), v, f"{path}.{k}" if path else str(k))
        return out
    return copy.deepcopy(override)


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping, got {type(data).__name__}")
    return data


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [f"{source}: {exc.error_count()} error(s) in the spec"]
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (remove it or check its spelling)"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"  {loc}: {msg} (got {shown})")
    return "\n".join(lines)


def validate_spec(data: Mapping[str, Any], source: str = "<spec>") -> ExperimentSpec:
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc)) from None


def load_spec(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> ExperimentSpec:
    """Read ``path``, merge ``overrides`` (e.g. a params.yaml section) then ``--set`` items."""
    data = read_yaml(path)
    if overrides:
        data = _apply_list_indices(data, overrides, "")
    extra = parse_set(sets)
    if extra:
        data = _apply_list_indices(data, extra, "")
    spec = validate_spec(data, str(path))
    _check_registered_names(spec, str(path))
    return spec


def _check_registered_names(spec: ExperimentSpec, source: str) -> None:
    """Names that resolve through registries (datasets, extractors, protocols).

    These registries import no torch at module level, so validation stays light.
    """
    from ..datasets import DATASETS
    from ..extractors import EXTRACTORS
    from .protocols import PROTOCOLS

    problems = []
    if spec.dataset.name not in DATASETS:
        problems.append(f"  dataset.name: unknown dataset {spec.dataset.name!r}; "
                        f"choose one of: {', '.join(DATASETS.names())}")
    for key, feat in spec.features.items():
        if feat.extractor not in EXTRACTORS:
            problems.append(f"  features.{key}.extractor: unknown extractor {feat.extractor!r}; "
                            f"choose one of: {', '.join(EXTRACTORS.names())}")
    proto = spec.evaluation.protocol
    if isinstance(proto, str) and proto not in PROTOCOLS:
        problems.append(f"  evaluation.protocol: unknown protocol {proto!r}; "
                        f"choose one of: {', '.join(PROTOCOLS.names())}")
    if problems:
        raise SpecError("\n".join([f"{source}: {len(problems)} error(s) in the spec", *problems]))
