"""Training phases (`xmr list phases`): each runs one step of a method's schedule."""

from . import (cca, dmsfh, gradient, hashing, jfssl, metric_network, mgmm, rbm, semantic,  # noqa: F401
               subspace, uncsm)  # (registration)
from .base import PHASES, PhaseContext

__all__ = ["PHASES", "PhaseContext"]
