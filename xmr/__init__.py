"""xmr: a declarative experiment framework for supervised cross-modal retrieval."""

__version__ = "0.1.0"
