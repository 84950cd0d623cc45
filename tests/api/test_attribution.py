"""Attribution decided when the order is recorded, through the real interfaces: feedback
before or after the order, a message sent after it, an order outside the window, a held-out
order, a redelivered Segment order and a batch; and the migration's backfill of the facts
giving the figures the live writers gave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from service.store.migrate import alembic_config
from tests.analytics.history import build, hold_out, shop_app
from tests.api.test_analytics import EXPECTED, rounded
from tests.factories import FakeClock, Harness, event, journeys_copy, make_settings, running_app
from tests.segment.conftest import basic
from tests.store.migrations import migration

SEGMENT_KEY = "wk_test_gift"
# The goal does not end the enrollment, so her messages still go out after an order.
GIFT = """
journey: gift
version: "1"
entry:
  event: web.form_submitted
  when: "event.properties.form == 'gift'"
goal: {event: order.completed, ends: false}
attribution: {window: 1h}
initial: welcome
stages:
  welcome:
    send: {channel: email, template: story/welcome}
    on:
      - after: 1d
        to: done
  done: {final: true}
"""


@pytest.fixture
async def gift(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    """The app with the gift journey and a Segment write key for the shop."""
    folder = journeys_copy(tmp_path, extra={"gift": GIFT})
    settings = make_settings(
        database_url, tmp_path, journeys_dir=folder, segment_write_keys=f"{SEGMENT_KEY}=shop"
    )
    async with running_app(settings, clock) as harness:
        yield harness


def _signup(name: str) -> dict[str, Any]:
    contact = {"email": f"{name}@example.com", "external_id": f"u-{name}"}
    return event("web.form_submitted", contact=contact, properties={"form": "gift"})


def _order(name: str, total: float, **fields: Any) -> dict[str, Any]:
    return event(
        "order.completed", email=f"{name}@example.com", properties={"total": total}, **fields
    )


async def _welcome(harness: Harness, name: str) -> str:
    contact = await harness.contact(f"{name}@example.com")
    found = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    return str(next(m["id"] for m in found if m["stage"] == "welcome"))


async def _feedback(harness: Harness, name: str, message_id: str) -> None:
    for kind in ("email.delivered", "email.opened"):
        body = event(kind, email=f"{name}@example.com", properties={"message_id": message_id})
        assert (await harness.post_events(body)).status_code == 200


async def _figures(harness: Harness) -> tuple[dict[str, Any], dict[str, Any]]:
    """The journey's summary and its welcome message row."""
    summary = (await harness.client.get("/journeys/gift/analytics")).json()
    rows = (await harness.client.get("/journeys/gift/analytics/messages")).json()
    return summary, next(r for r in rows if r["stage"] == "welcome")


async def test_feedback_before_or_after_the_order_leaves_the_credit_alone(gift: Harness) -> None:
    harness, clock = gift, gift.clock
    assert (await harness.post_events(_signup("ann"), _signup("bob"))).status_code == 200
    await harness.run_scheduler()
    welcome = {name: await _welcome(harness, name) for name in ("ann", "bob")}
    clock.advance(seconds=5)
    await _feedback(harness, "bob", welcome["bob"])  # Bob's feedback comes first
    assert (await harness.post_events(_order("ann", 20), _order("bob", 30))).status_code == 200
    clock.advance(seconds=5)
    await _feedback(harness, "ann", welcome["ann"])  # Ann's after her order
    summary, row = await _figures(harness)
    assert summary["revenue"] == 50.0 and summary["converted"] == 2
    assert (row["sent"], row["delivered"], row["opened"], row["open_rate"]) == (2, 2, 2, 1.0)
    assert (row["conversions"], row["revenue"], row["revenue_per_message"]) == (2, 50.0, 25.0)


async def test_a_message_sent_after_the_order_is_recorded_never_earns_it(gift: Harness) -> None:
    harness, clock = gift, gift.clock
    assert (await harness.post_events(_signup("cat"))).status_code == 200
    clock.advance(seconds=1)
    # Recorded before her welcome goes out, though it says it happens half an hour later.
    later = (clock.now() + timedelta(minutes=30)).isoformat()
    assert (await harness.post_events(_order("cat", 15, time=later))).status_code == 200
    clock.advance(seconds=1)
    await harness.run_scheduler()
    clock.advance(seconds=1)
    assert (await harness.post_events(_order("cat", 7))).status_code == 200
    summary, row = await _figures(harness)
    assert summary["revenue"] == 7.0  # the second order only
    assert (row["sent"], row["conversions"], row["revenue"]) == (1, 1, 7.0)
    # The backfill judges each order as it stood when it was recorded, as the live writer did.
    config = alembic_config(harness.settings.database_url)
    command.downgrade(config, migration("0009").down_revision)
    command.upgrade(config, "head")
    assert await _figures(harness) == (summary, row)


async def test_an_order_outside_the_window_converts_but_earns_nothing(gift: Harness) -> None:
    harness, clock = gift, gift.clock
    assert (await harness.post_events(_signup("dan"))).status_code == 200
    await harness.run_scheduler()
    clock.advance(hours=1, seconds=1)
    assert (await harness.post_events(_order("dan", 9))).status_code == 200
    summary, row = await _figures(harness)
    assert (summary["converted"], summary["revenue"]) == (1, 0.0)
    assert (row["sent"], row["conversions"], row["revenue"]) == (1, 0, 0.0)


async def test_a_held_out_order_counts_for_the_holdout_alone(gift: Harness) -> None:
    harness, clock = gift, gift.clock
    assert (await harness.post_events(_signup("eve"))).status_code == 200
    contact = await harness.contact("eve@example.com")
    hold_out(harness.app.state.runtime, contact_id=contact["id"], journey_id="gift")
    await harness.run_scheduler()
    clock.advance(minutes=10)
    assert (await harness.post_events(_order("eve", 30))).status_code == 200
    summary, row = await _figures(harness)
    lift = (await harness.client.get("/journeys/gift/analytics/lift")).json()
    assert (summary["revenue"], row["held"], row["revenue"]) == (0.0, 1, 0.0)
    assert (lift["holdout"]["revenue"], lift["treatment"]["revenue"]) == (30.0, 0.0)


async def test_a_redelivered_segment_order_and_a_batch_are_each_credited_once(
    gift: Harness,
) -> None:
    harness, clock = gift, gift.clock
    signups = [_signup(name) for name in ("fay", "gus", "hal")]
    assert (await harness.post_events(*signups)).status_code == 200
    await harness.run_scheduler()
    clock.advance(minutes=5)
    track = {
        "userId": "u-fay",
        "event": "Order Completed",
        "messageId": "order-1",
        "properties": {"revenue": 25, "total": 99},
    }
    for _ in range(2):  # the SDK retries a call it got no answer for
        sent = await harness.client.post("/v1/track", json=track, headers=basic(SEGMENT_KEY))
        assert sent.status_code == 200, sent.text
    batch = await harness.post_events(_order("gus", 10), _order("hal", 5))
    assert [r["status"] for r in batch.json()["results"]] == ["accepted", "accepted"]
    await harness.apply_inbox()  # the Segment calls were stored and answered, then applied
    summary, row = await _figures(harness)
    assert summary["revenue"] == 40.0  # Fay's revenue once (not her total), Gus's and Hal's
    assert (row["conversions"], row["revenue"]) == (3, 40.0)


async def _every_figure(harness: Harness) -> dict[str, Any]:
    return {
        path: rounded((await harness.client.get(f"/journeys/shop/analytics{path}")).json())
        for path in EXPECTED
    }


async def test_the_backfill_gives_the_figures_the_live_facts_give(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    async with shop_app(database_url, tmp_path, clock) as harness:
        await build(harness)
        live = await _every_figure(harness)
    assert live == rounded(EXPECTED)
    config = alembic_config(database_url)
    command.downgrade(config, migration("0009").down_revision)  # the facts are gone
    command.upgrade(config, "head")  # and rebuilt from the history
    again = tmp_path / "again"
    again.mkdir()
    async with shop_app(database_url, again, clock) as harness:
        assert await _every_figure(harness) == live
