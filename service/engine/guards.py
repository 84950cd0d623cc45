"""Guard expressions: Jinja2 expressions evaluated in a sandbox over plain data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Guards see plain dicts and lists only; the sandbox blocks dunder and internal access and
# ChainableUndefined makes a missing property compare as false instead of raising.
_ENV = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)


class GuardSyntaxError(ValueError):
    """A guard that does not parse; carries the offending expression."""


class Guard:
    """A compiled guard; evaluation never raises, it reports."""

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._compiled: Callable[..., Any] = _ENV.compile_expression(source)
        except TemplateSyntaxError as exc:
            raise GuardSyntaxError(f"bad guard {source!r}: {exc.message}") from exc

    def evaluate(self, context: Mapping[str, Any]) -> tuple[bool, str | None]:
        """Return (result, error); an expression that fails counts as false."""
        try:
            value = self._compiled(**context)
        except Exception as exc:  # any failure inside the sandbox is the guard's, not ours
            return False, f"guard {self.source!r} failed: {type(exc).__name__}: {exc}"
        if isinstance(value, ChainableUndefined):
            return False, None
        return bool(value), None
