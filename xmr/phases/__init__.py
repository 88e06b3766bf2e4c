"""Training phases (`xmr list phases`): each runs one step of a method's schedule."""

from . import (cca, dmsfh, gradient, hashing, jfssl, jrl, mdbn, metric_network, mgmm,  # noqa: F401
               output_cca, rbm, semantic, shallow_hashing, subspace, uncsm)  # (registration)
from .base import PHASES, PhaseContext

__all__ = ["PHASES", "PhaseContext"]
