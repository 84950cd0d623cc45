"""Shared fixture loading and a fixed clock for the webhook adapter tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    """Raw fixture bytes, without the trailing newline editors add."""
    return (FIXTURES / name).read_bytes().rstrip(b"\n")


def fixture_json(name: str) -> Any:
    """A JSON fixture, decoded."""
    return json.loads(fixture(name))
