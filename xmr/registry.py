"""Registries: one lookup surface (``get`` / ``names`` / ``describe``) per pluggable role.

Registries hold implementations; the spec package holds the matching parameter models. A test
checks that both list the same names, so the two can never drift apart.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that no registry entry carries; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry(Generic[T]):
    """A named collection of implementations of one role (losses, branches, …)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}

    def register(self, name: str, description: str | None = None) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            doc = description or (getattr(obj, "__doc__", None) or "").strip().splitlines()
            self._descriptions[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; registered {self.kind}s: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def describe(self) -> list[tuple[str, str]]:
        return [(n, self._descriptions[n]) for n in self.names()]

    def __contains__(self, name: str) -> bool:
        return name in self._items
