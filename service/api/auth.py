"""API keys with scopes: `key1=events+read,key2` (a key without scopes may do everything)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from service.errors import ConfigError

SCOPES = frozenset({"events", "read", "write"})
_SCOPE_LIST = re.compile(r"^[a-z]+(\+[a-z]+)*$")


@dataclass(frozen=True)
class ApiKey:
    """A configured key and what it may do; `label` is safe to log, the key is not."""

    key: str
    scopes: frozenset[str]
    label: str


def parse_api_keys(items: Iterable[str]) -> list[ApiKey]:
    """Read NURTURE_API_KEYS; raises ConfigError on an unknown scope."""
    keys: list[ApiKey] = []
    for index, item in enumerate(items):
        key, sep, scope_text = item.rpartition("=")
        if sep and _SCOPE_LIST.match(scope_text):
            scopes = frozenset(scope_text.split("+"))
            unknown = scopes - SCOPES
            if unknown:
                raise ConfigError(
                    f"NURTURE_API_KEYS: key #{index + 1} has unknown scope(s) "
                    f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(SCOPES))}"
                )
        else:
            key, scopes = item, SCOPES
        if not key:
            raise ConfigError(f"NURTURE_API_KEYS: key #{index + 1} is empty")
        keys.append(ApiKey(key=key, scopes=scopes, label=f"key#{index + 1}"))
    return keys
