"""A process's applier thread applies stored events without a scheduler pass."""

from __future__ import annotations

import asyncio
import time

from service.enrollments.acceptor import Acceptor
from service.enrollments.inbox import store_requests
from service.runtime import Runtime
from service.scheduler.applier import Applier
from service.schemas import EventIn
from service.store.intake import InboxEvent
from service.store.models import Contact
from tests.factories import signup, stored


def test_a_nudged_applier_applies_and_stops_cleanly(runtime: Runtime) -> None:
    applier = Applier(runtime)
    applier.start()
    try:
        events = [EventIn.model_validate(signup(f"g{n}@example.com")) for n in range(5)]
        store_requests(runtime.db, [events], now=runtime.clock.now())
        applier.nudge()
        for _ in range(1000):
            if len(stored(runtime, Contact)) == 5:
                break
            time.sleep(0.01)
    finally:
        applier.stop()
    assert len(stored(runtime, Contact)) == 5
    assert all(row.applied_at is not None for row in stored(runtime, InboxEvent))


async def test_a_request_whose_caller_left_is_dropped_and_the_acceptor_goes_on(
    runtime: Runtime,
) -> None:
    acceptor = Acceptor(runtime.db, runtime.clock, on_stored=lambda: None)
    left = asyncio.ensure_future(acceptor.accept([EventIn.model_validate(signup(id="gone-1"))]))
    await asyncio.sleep(0)  # queued before the thread runs
    left.cancel()
    await asyncio.sleep(0)
    acceptor.start()
    try:
        (answer,) = await asyncio.wait_for(
            acceptor.accept([EventIn.model_validate(signup(id="here-1"))]), timeout=30
        )
    finally:
        acceptor.stop()
    assert answer.status == "accepted"
    assert [row.event_id for row in stored(runtime, InboxEvent)] == ["here-1"]
