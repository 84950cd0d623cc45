"""An app with the tracking API on: two write keys, the shop's origin, a default region."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.factories import FakeClock, Harness, journeys_copy, make_settings, running_app

SHOP_KEY = "wk_test_shop"
APP_KEY = "wk_test_app"
ORIGIN = "https://shop.example"
# Entered by a page view; a later pricing page moves her on, so the order of replays shows.
BROWSE = """
journey: browse
entry:
  event: web.page_viewed
  when: "event.properties.page == 'start'"
initial: looking
stages:
  looking:
    on:
      - event: web.page_viewed
        when: "event.properties.page == 'pricing'"
        to: interested
      - after: 30d
        to: done
  interested:
    on:
      - after: 30d
        to: done
  done: {final: true}
"""


def basic(key: str) -> dict[str, str]:
    """HTTP Basic auth with the write key as user name and an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
async def segment(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    settings = make_settings(
        database_url,
        tmp_path,
        journeys_dir=journeys_copy(tmp_path, extra={"browse": BROWSE}),
        segment_write_keys=f"{SHOP_KEY}=shop,{APP_KEY}",
        track_allowed_origins=ORIGIN,
        default_region="US",
    )
    async with running_app(settings, clock, headers=basic(SHOP_KEY)) as running:
        yield running
