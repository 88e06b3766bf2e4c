"""Reading specs: YAML -> overrides -> pydantic -> registries, with errors that name the file,
the field and the value.

The YAML reader is strict: a duplicate key is an error (not "the last one wins"), a document whose
anchors and aliases expand past `MAX_YAML_VALUES` values is refused before it is built (the
"billion laughs"), and a file that is not UTF-8 is named with the byte at fault.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from .models import SAFE_NAME, ExperimentSpec

MAX_YAML_VALUES = 100_000


class SpecError(ValueError):
    """A spec that cannot be read or validated. The message names the file and each field path."""


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a mapping key must be a plain value, got {key!r}",
                    key_node.start_mark) from None
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {first})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values ``node`` becomes once every alias is expanded (aliases are shared nodes)."""
    if id(node) in memo:
        return memo[id(node)]
    if id(node) in active:
        raise SpecError("an alias refers to itself (a recursive YAML structure)")
    active.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo, active) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, active) + _expanded_size(v, memo, active)
                       for k, v in node.value)
    else:
        size = 1
    active.discard(id(node))
    memo[id(node)] = min(size, MAX_YAML_VALUES + 1)
    return memo[id(node)]


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document strictly; errors become SpecError naming ``source``."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_YAML_VALUES:
            raise SpecError(f"{source}: the YAML expands to more than {MAX_YAML_VALUES:,} values "
                            "through anchors and aliases; write the values out")
        return loader.construct_document(node)
    except SpecError as exc:
        raise SpecError(str(exc) if str(exc).startswith(source) else f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise SpecError(f"{source}: the YAML is nested too deeply") from None
    finally:
        loader.dispose()


def decode_utf8(data: bytes, path: str | Path, error: type[Exception] = SpecError) -> str:
    """UTF-8 text, or ``error`` naming the file and the first undecodable byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                    f"{exc.start}, line {line})") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file; a missing or undecodable one is a SpecError naming it."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such {what}")
    return decode_utf8(path.read_bytes(), path)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, the rest replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _split_set(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    parts = key.split(".")
    if not sep or not key or not all(parts):
        raise SpecError(f"--set {item!r}: expected dotted.key=value")
    return parts, load_yaml(raw, f"--set {item!r}")


def parse_set(assignments: Iterable[str]) -> dict[str, Any]:
    """``["training.epochs=5", "losses.0.weight=2"]`` -> a nested mapping (for display).

    Values are parsed as YAML (``5`` is an int, ``[1, 2]`` a list, ``false`` a bool).
    """
    nested: dict[str, Any] = {}
    for item in assignments:
        parts, value = _split_set(item)
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def set_path(data: dict[str, Any], parts: list[str], value: Any, label: str) -> None:
    """Put ``value`` at the dotted path ``parts`` of ``data`` (in place), replacing what is there;
    a numeric part indexes into a list. ``label`` names the assignment in errors."""
    node: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[:i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SpecError(f"{label}: {where}: no such list element (the list has {len(node)})")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), (dict, list)):
                    node[part] = {}
                node = node[part]
        else:
            raise SpecError(f"{label}: {'.'.join(parts[:i])} is a value, not a mapping")


def apply_sets(data: dict[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """Apply ``--set dotted.key=value`` items to a copy of ``data``. The value *replaces* what is at
    the key (``dataset.params={}`` empties the params); a numeric element indexes into a list."""
    out = copy.deepcopy(data)
    for item in assignments:
        parts, value = _split_set(item)
        set_path(out, parts, value, f"--set {item!r}")
    return out


def apply_values(data: dict[str, Any], values: Mapping[str, Any], label: str) -> dict[str, Any]:
    """A copy of ``data`` with each ``dotted.key: value`` of ``values`` set (as `apply_sets`)."""
    out = copy.deepcopy(data)
    for key, value in values.items():
        set_path(out, key.split("."), copy.deepcopy(value), f"{label} {key!r}")
    return out


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


def spec_files(root: str | Path = "specs") -> list[Path]:
    """The experiment specs under ``root``; ``spaces/`` holds `xmr tune` search spaces,
    ``tables/`` `xmr table` comparison tables and ``targets/`` the papers' published numbers
    instead."""
    root = Path(root)
    return sorted(p for p in root.rglob("*.yaml")
                  if not {"spaces", "tables", "targets"} & set(p.relative_to(root).parts))


def read_yaml(path: str | Path) -> dict[str, Any]:
    data = load_yaml(read_text(path, "spec file"), str(path))
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a spec is a YAML mapping, got {type(data).__name__}")
    return data


def data_path(data: Any, loc: tuple) -> str:
    """A pydantic error location as the path a user wrote: the tags pydantic adds for union
    members (``training.phases.0.gradient.epochs``) are dropped (``training.phases.0.epochs``)."""
    parts: list[str] = []
    node, tagged = data, True  # the root is no union member
    for p in loc:
        if isinstance(node, Mapping) and not tagged and p in (node.get("type"), node.get("name")):
            tagged = True  # a member's tag comes first, even when a field has its name
            continue       # (`{type: kernel, kernel: rbf}`: loc image.kernel.out)
        if isinstance(node, Mapping) and p in node:
            node, tagged = node[p], False
        elif isinstance(node, list) and isinstance(p, int) and 0 <= p < len(node):
            node, tagged = node[p], False
        elif isinstance(node, Mapping):
            if p in (node.get("type"), node.get("name")):
                continue  # the discriminator tag of a union member (last: a model-level error)
            if _looks_like_type(p):
                continue  # the member name of a plain union (`str | ProtocolSpec`)
            node = None
        elif node is not None:
            continue  # below a scalar, only union tags follow
        parts.append(str(p))
    return ".".join(parts) or "<root>"


def _looks_like_type(p: Any) -> bool:
    return isinstance(p, str) and (p[:1].isupper() or "[" in p or
                                   p in ("str", "int", "float", "bool", "none", "list", "dict"))


def format_validation_error(source: str, exc: ValidationError, data: Any = None) -> str:
    """One line per error: the field path as written, what is wrong, and the value given."""
    lines = [f"{source}: {exc.error_count()} error(s) in the spec"]
    for err in exc.errors(include_url=False):
        loc = data_path(data, err["loc"]) if data is not None else (
            ".".join(str(p) for p in err["loc"]) or "<root>")
        msg, value = err["msg"], err.get("input")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (remove it or check its spelling)"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx", {})
            key = str(ctx.get("discriminator", "type")).strip("'")
            loc = f"{loc}.{key}" if loc != "<root>" else key
            msg = (f"unknown {key} {ctx['tag']!r}; choose one of: {ctx.get('expected_tags')}"
                   if err["type"] == "union_tag_invalid" else f"missing `{key}`")
            value = None
        elif err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == SAFE_NAME:
            msg = ("not a safe name: letters, digits, '_', '.' and '-', starting with a letter, "
                   "digit or '_', at most 128 characters (it becomes a folder name)")
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
            if _LOCATED.match(msg):  # a model-level check that names its own field path
                loc, msg = (f"{loc}." if loc != "<root>" else "") + msg.split(": ", 1)[0], \
                    msg.split(": ", 1)[1]
        if isinstance(value, (dict, list)) or value is None:
            lines.append(f"  {loc}: {msg}")
            continue
        shown = repr(value)
        lines.append(f"  {loc}: {msg} (got {shown[:77] + '...' if len(shown) > 80 else shown})")
    return "\n".join(lines)


_LOCATED = re.compile(r"^[A-Za-z_][\w]*(\.[\w]+)*: ")


def validate_spec(data: Mapping[str, Any], source: str = "<spec>") -> ExperimentSpec:
    """The spec model, then every name and parameter set that resolves through a registry."""
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(source, exc, data)) from None
    from .checks import check_registered_names  # registries: imported when a spec is checked

    check_registered_names(spec, source)
    return spec


def load_spec(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    sets: Iterable[str] = (),
) -> ExperimentSpec:
    """Read ``path``, merge ``overrides`` (e.g. a params.yaml section) then apply ``--set`` items."""
    data = read_yaml(path)
    if overrides:
        data = _apply_list_indices(data, overrides, "")
    data = apply_sets(data, sets)
    return validate_spec(data, str(path))


def params_errors(model: type[BaseModel], params: Any, where: str) -> list[str]:
    """Each problem of ``params`` against ``model`` as ``"<where>.<field>: <message> (got ...)"``."""
    try:
        model.model_validate(params)
    except ValidationError as exc:
        out = []
        for e in exc.errors(include_url=False):
            loc = ".".join([where, *(str(p) for p in e["loc"])])
            msg = e["msg"]
            if e["type"] == "extra_forbidden":
                msg = f"unknown key; allowed: {', '.join(sorted(model.model_fields)) or 'none'}"
            shown = repr(e.get("input"))
            out.append(f"{loc}: {msg} (got {shown[:77] + '...' if len(shown) > 80 else shown})")
        return out
    return []
