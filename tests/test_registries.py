"""Spec unions and implementation registries must list the same names (they cannot drift)."""

import typing

import pytest

from xmr.branches import BRANCHES
from xmr.cli import main
from xmr.granularity import GRANULARITIES
from xmr.losses import LOSSES
from xmr.phases import PHASES
from xmr.spec import models


def _tags(union, field: str) -> set[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(m.model_fields[field].annotation)[0] for m in members}


@pytest.mark.parametrize("union, field, registry", [
    (models.LossTerm, "name", LOSSES), (models.Branch, "type", BRANCHES),
    (models.Phase, "type", PHASES), (models.Granularity, "type", GRANULARITIES),
])
def test_union_matches_registry(union, field, registry):
    assert _tags(union, field) == set(registry.names())


def test_unknown_name_lists_choices():
    with pytest.raises(KeyError, match="registered losss?: .*triplet"):
        LOSSES.get("nope")


def test_list_command(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("datasets:", "scenes", "wikipedia", "efficientnet_lite0", "glove_mean", "triplet",
                 "rbm_pretrain", "category_cosine", "hamming", "specs/scenes/deep.yaml"):
        assert word in out
