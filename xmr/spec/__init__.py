"""The experiment spec: pydantic models and loading. Importable without torch."""

from .load import SpecError, deep_merge, load_spec, parse_set, read_yaml, validate_spec
from .models import ExperimentSpec, ProtocolSpec, parse_metric_name

__all__ = [
    "ExperimentSpec", "ProtocolSpec", "SpecError", "deep_merge", "load_spec", "parse_metric_name",
    "parse_set", "read_yaml", "validate_spec",
]
