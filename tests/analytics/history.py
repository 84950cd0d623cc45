"""A known history of a small shop journey, built through the real API, the scheduler on the
fake clock and provider feedback tied back to messages; and the one way tests put a contact
in the holdout until enrollment assigns it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import update
from sqlmodel import col, select

from service.runtime import Runtime
from service.store.models import Enrollment, Message, MessageStatus
from tests.factories import FakeClock, Harness, event, journeys_copy, make_settings, running_app

SHOP = """
journey: shop
version: "1"
entry:
  event: web.form_submitted
  when: "event.properties.form == 'shop'"
exit:
  events: [email.unsubscribed]
goal:
  event: order.completed
attribution: {window: 1d}
initial: browse
stages:
  browse:
    send: {channel: email, template: story/welcome}
    on:
      - event: web.page_viewed
        when: "event.properties.page == 'cart'"
        to: cart
  cart:
    send: {channel: email, template: story/favors}
    on:
      - event: web.page_viewed
        when: "event.properties.page == 'home'"
        to: browse
      - event: web.page_viewed
        when: "event.properties.page == 'never'"
        to: never
      - after: 10s
        to: done
  never:
    on:
      - after: 1s
        to: done
  done: {final: true}
"""
NAMES = ["ann", "bob", "cat", "dan", "eve", "fay", "gus"]


def hold_out(runtime: Runtime, *, contact_id: str, journey_id: str) -> None:
    """Put a contact's enrollment in the holdout and record its unsent messages as held, as
    enrollment and dispatch do for a holdout contact. The one place tests do this."""
    with runtime.db.write() as session:
        session.execute(
            update(Enrollment)
            .where(col(Enrollment.contact_id) == contact_id, Enrollment.journey_id == journey_id)
            .values(holdout=True)
        )
        pending = select(Message).where(
            col(Message.contact_id) == contact_id,
            col(Message.journey_id) == journey_id,
            col(Message.status) == MessageStatus.PENDING,
        )
        for message in session.exec(pending).all():
            message.status = MessageStatus.HELD
            message.sent_at = message.due_at
            session.add(message)


@asynccontextmanager
async def shop_app(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    """The app with the shop journey beside the fixture journeys."""
    folder = journeys_copy(tmp_path, extra={"shop": SHOP})
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    async with running_app(settings, clock) as harness:
        yield harness


async def _messages(harness: Harness, contact_id: str, stage: str) -> list[str]:
    found = (await harness.client.get(f"/contacts/{contact_id}/messages")).json()
    return [str(m["id"]) for m in found if m["stage"] == stage]


def _view(name: str, page: str) -> dict[str, object]:
    return event("web.page_viewed", email=f"{name}@example.com", properties={"page": page})


async def build(harness: Harness) -> dict[str, str]:
    """Seven shoppers (times in seconds after the start): Ann loops browse, cart, browse,
    cart and orders at 20 (revenue not a number, total 50); Bob's welcome is delivered,
    opened and clicked at 5 and he orders 2 days later (value 80, outside the 1-day window);
    Cat's welcome bounces and her cart times out to done at 20; Dan unsubscribes at 30 (an
    exit rule); Eve is held out and orders at 40 (total 30); Fay is exited by an operator
    at 50; Gus stays. Nobody reaches `never`. Contact ids by name."""
    post, clock = harness.post_events, harness.clock
    runtime: Runtime = harness.app.state.runtime
    signups = [
        event("web.form_submitted", email=f"{n}@example.com", properties={"form": "shop"})
        for n in NAMES
    ]
    assert (await post(*signups)).status_code == 200
    ids = {n: (await harness.contact(f"{n}@example.com"))["id"] for n in NAMES}
    hold_out(runtime, contact_id=ids["eve"], journey_id="shop")
    await harness.run_scheduler()
    welcome = {n: (await _messages(harness, ids[n], "browse"))[0] for n in ("bob", "cat", "dan")}
    clock.advance(seconds=5)
    for kind in ("email.delivered", "email.opened", "email.clicked"):
        feedback = event(kind, email="bob@example.com", properties={"message_id": welcome["bob"]})
        assert (await post(feedback)).status_code == 200
    bounce = event(
        "email.bounced", email="cat@example.com", properties={"message_id": welcome["cat"]}
    )
    assert (await post(bounce)).status_code == 200
    clock.advance(seconds=5)
    assert (await post(_view("ann", "cart"), _view("cat", "cart"))).status_code == 200
    await harness.run_scheduler()
    clock.advance(seconds=2)
    assert (await post(_view("ann", "home"))).status_code == 200
    await harness.run_scheduler()
    clock.advance(seconds=3)
    assert (await post(_view("ann", "cart"))).status_code == 200
    await harness.run_scheduler()
    clock.advance(seconds=5)
    order = {"revenue": "lots", "total": 50}
    assert (
        await post(event("order.completed", email="ann@example.com", properties=order))
    ).status_code == 200
    await harness.run_scheduler()
    clock.advance(seconds=10)
    unsubscribe = event(
        "email.unsubscribed", email="dan@example.com", properties={"message_id": welcome["dan"]}
    )
    assert (await post(unsubscribe)).status_code == 200
    clock.advance(seconds=10)
    eve_order = event("order.completed", email="eve@example.com", properties={"total": 30})
    assert (await post(eve_order)).status_code == 200
    clock.advance(seconds=10)
    exited = await harness.client.post(f"/contacts/{ids['fay']}/enrollments/shop/exit")
    assert exited.status_code == 200, exited.text
    clock.advance(days=2, seconds=-50)
    bob_order = event("order.completed", email="bob@example.com", properties={"value": 80})
    assert (await post(bob_order)).status_code == 200
    return ids
