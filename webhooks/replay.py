"""One-time token bookkeeping, so a captured signed request cannot be replayed."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol


class ReplayGuard(Protocol):
    """Remembers tokens; the service backs this with its store across processes."""

    def seen(self, token: str) -> bool:
        """Record the token; True when it had already been recorded."""
        ...


class MemoryReplayGuard:
    """Bounded LRU of recent tokens, for tests and single-process deployments."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._tokens: OrderedDict[str, None] = OrderedDict()

    def seen(self, token: str) -> bool:
        """Record the token; True when it had already been recorded."""
        if token in self._tokens:
            self._tokens.move_to_end(token)
            return True
        self._tokens[token] = None
        if len(self._tokens) > self._capacity:
            self._tokens.popitem(last=False)
        return False
