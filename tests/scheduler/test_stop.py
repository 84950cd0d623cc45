"""Stopping the interval job mid-pass: what no channel holds yet goes back to pending at once
(no attempt counted), what a channel holds finishes within the grace period, and past it
only those are left with an unknown outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from service.runtime import Runtime
from service.scheduler.jobs import start_interval_job, stop_interval_job
from service.scheduler.loop import Scheduler
from service.store.models import Message, MessageStatus
from tests.delivery.test_handover import HeldChannel
from tests.factories import FakeClock, Harness, make_settings, running_app, signup, stored

DUE = 12
HELD = 3


@pytest.fixture
async def harness(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    """A claim lease shorter than the welcome timer, so leases run out before timers fire."""
    settings = make_settings(database_url, tmp_path, claim_lease_seconds=1.0)
    async with running_app(settings, clock) as running:
        yield running


async def _pass_in_progress(
    harness: Harness,
) -> tuple[Runtime, HeldChannel, Scheduler, AsyncIOScheduler]:
    for index in range(DUE):
        await harness.post_events(signup(f"guest{index}@example.com"))
    runtime: Runtime = harness.app.state.runtime
    channel = HeldChannel(concurrency=HELD)
    scheduler = Scheduler(runtime, {"email": channel})
    aps = start_interval_job(scheduler, interval=0.05)
    await asyncio.wait_for(channel.full.wait(), timeout=10)
    return runtime, channel, scheduler, aps


def _by_status(runtime: Runtime) -> dict[str, list[Message]]:
    found: dict[str, list[Message]] = {}
    for message in stored(runtime, Message):
        found.setdefault(message.status, []).append(message)
    return found


async def test_a_stop_hands_back_the_unsent_and_finishes_those_in_hand(harness: Harness) -> None:
    runtime, channel, scheduler, aps = await _pass_in_progress(harness)
    stopping = asyncio.create_task(stop_interval_job(aps, scheduler, grace=10))
    await asyncio.sleep(0.3)
    assert not stopping.done()  # waits for the messages in hand
    channel.release.set()
    await asyncio.wait_for(stopping, timeout=10)
    found = _by_status(runtime)
    assert sorted(found) == [MessageStatus.PENDING, MessageStatus.SENT]
    assert len(found[MessageStatus.SENT]) == len(channel.sent) == HELD
    pending = found[MessageStatus.PENDING]
    assert len(pending) == DUE - HELD
    assert all(m.claimed_until is None and m.attempts == 0 and m.error is None for m in pending)
    # Any worker sends them at once, without waiting for a lease to run out.
    other = HeldChannel(concurrency=HELD)
    other.release.set()
    report = await Scheduler(runtime, {"email": other}).run_once(harness.clock.now())
    assert report.sent == DUE - HELD
    assert not set(other.sent) & set(channel.sent)


async def test_past_the_grace_period_only_messages_in_hand_are_unknown(harness: Harness) -> None:
    runtime, channel, scheduler, aps = await _pass_in_progress(harness)
    await asyncio.wait_for(stop_interval_job(aps, scheduler, grace=0.3), timeout=10)
    found = _by_status(runtime)
    assert len(found[MessageStatus.SENDING]) == HELD  # their provider never answered
    assert len(found[MessageStatus.PENDING]) == DUE - HELD
    harness.clock.advance(seconds=harness.settings.claim_lease_seconds + 1)
    other = HeldChannel(concurrency=HELD)
    other.release.set()
    report = await Scheduler(runtime, {"email": other}).run_once(harness.clock.now())
    assert report.sent == DUE - HELD
    unknown = [m for m in stored(runtime, Message) if m.status == MessageStatus.FAILED]
    assert len(unknown) == HELD
    assert all(m.error and m.error.startswith("delivery outcome unknown") for m in unknown)
    channel.release.set()
