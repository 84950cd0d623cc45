"""Shared fixtures for the engine tests: the mini wedding journey and its content."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.engine.core import CompiledJourney, ContactView
from service.engine.loader import compile_text
from service.engine.render import ContentLibrary

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def mini_text() -> str:
    return (FIXTURES / "valid" / "mini.yaml").read_text()


@pytest.fixture
def mini(mini_text: str) -> CompiledJourney:
    return compile_text(mini_text, path="mini.yaml")


@pytest.fixture
def content() -> ContentLibrary:
    return ContentLibrary(FIXTURES / "content")


@pytest.fixture
def bride() -> ContactView:
    return ContactView(
        id="c1",
        attributes={"first_name": "Ava", "wedding_date": "2027-09-18"},
        timezone="America/New_York",
        email="ava@example.com",
    )


def utc(*parts: int) -> datetime:
    """A UTC datetime, shorter to write in tests."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]
