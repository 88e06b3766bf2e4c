"""Training phases (`xmr list phases`): each runs one step of a method's schedule."""

from . import cca, dmsfh, gradient, hashing, metric_network, mgmm, rbm, uncsm  # noqa: F401  (registration)
from .base import PHASES, PhaseContext

__all__ = ["PHASES", "PhaseContext"]
