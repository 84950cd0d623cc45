"""The dashboard's figures kept for a minute, so a page reloaded (or opened by a colleague)
within it reads the history once; each page says when its figures were computed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any, TypeVar

FIGURES_KEPT = timedelta(seconds=60)  # how long a page's figures are reused (shown "as of")
KEPT_MOST = 512  # pages' figures kept at once, whichever journeys, versions and ranges
T = TypeVar("T")


class FiguresCache:
    """Each page's figures, computed once and reused for FIGURES_KEPT: reading a million rows
    of history on every reload would make a busy dashboard the database's heaviest user."""

    def __init__(self) -> None:
        self._kept: dict[Hashable, tuple[datetime, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, *, now: datetime, compute: Callable[[], T]) -> tuple[datetime, T]:
        """The figures for `key` and when they were computed; computed now when none are
        kept or they are older than FIGURES_KEPT."""
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and now - kept[0] < FIGURES_KEPT:
            return kept[0], kept[1]
        value = compute()
        with self._lock:
            fresh = {k: v for k, v in self._kept.items() if now - v[0] < FIGURES_KEPT}
            if len(fresh) >= KEPT_MOST:
                fresh.clear()
            fresh[key] = (now, value)
            self._kept = fresh
        return now, value
