"""A runtime on the test database, for driving the receiving pipeline without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.runtime import Runtime, build_runtime
from tests.factories import FakeClock, make_settings


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    built = build_runtime(make_settings(database_url, tmp_path), clock)
    try:
        yield built
    finally:
        built.close()
