"""An app with every webhook provider and website tracking enabled, SNS faked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.signing import FakeAws, webhook_settings
from tests.factories import FakeClock, Harness, running_app


@pytest.fixture
def aws() -> FakeAws:
    return FakeAws()


@pytest.fixture
async def hooks(
    database_url: str, tmp_path: Path, clock: FakeClock, aws: FakeAws
) -> AsyncIterator[Harness]:
    """The app with all providers configured; nobody on loopback needs an API key."""
    settings = webhook_settings(database_url, tmp_path)
    async with running_app(settings, clock, http_transport=aws.transport) as running:
        yield running
