"""Work-arounds for the pinned environment, each in one small module."""
