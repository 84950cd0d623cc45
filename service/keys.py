"""Finding a presented secret among the configured keys without leaking which one matched."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Keyed(Protocol):
    """Anything configured with a secret `key`."""

    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=Keyed)


def match_key(keys: Sequence[K], presented: str) -> K | None:
    """The configured key equal to `presented`, compared in constant time against all."""
    found: K | None = None
    for candidate in keys:
        if hmac.compare_digest(candidate.key.encode(), presented.encode()):
            found = candidate
    return found
