"""An app with two journeys a bride can be in at once, one with a note for agents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.factories import FakeClock, Harness, journeys_copy, make_settings, running_app

GIFT_GUIDE = """
journey: gift-guide
entry:
  event: web.page_viewed
  when: "event.properties.page == 'gifts'"
initial: browsing
stages:
  browsing:
    description: Looking at gifts for the wedding party.
    agent_note: Offer the free gift-wrap service.
    recommend:
      - {name: Botanical gift wrap, url: "https://shop.example/wrap", price: 14}
      - {name: Kraft favor boxes, url: "https://shop.example/favors/kraft"}
    on:
      - after: 30d
        to: done
  done: {final: true}
"""


@pytest.fixture
async def context_app(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Harness]:
    settings = make_settings(
        database_url,
        tmp_path,
        journeys_dir=journeys_copy(tmp_path, extra={"gift-guide": GIFT_GUIDE}),
        default_region="US",
        track_publishable_keys="pk_test_shop",
        track_allowed_origins="https://shop.example",
    )
    async with running_app(settings, clock) as running:
        yield running
