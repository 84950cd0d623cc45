"""Dispatch: exactly-once sends across workers, leases, retries, and crashes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.runtime import build_runtime
from service.scheduler.loop import Scheduler
from tests.factories import Harness, signup


class FlakyChannel:
    """Fails the first `failures` sends, transiently or for good."""

    def __init__(self, failures: int, *, permanent: bool = False) -> None:
        self.failures = failures
        self.permanent = permanent
        self.sent: list[str] = []

    async def ready(self) -> None:
        """No rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        if self.failures:
            self.failures -= 1
            return DeliveryResult(ok=False, error="provider said no", permanent=self.permanent)
        self.sent.append(message.idempotency_key)
        return DeliveryResult(ok=True, provider_message_id="p-1")


async def test_two_workers_send_each_message_once(harness: Harness) -> None:
    for index in range(12):
        await harness.post_events(signup(f"guest{index}@example.com"))
    runtime = harness.app.state.runtime
    other = build_runtime(harness.settings, harness.clock)
    try:
        workers = [Scheduler(runtime), Scheduler(other), Scheduler(runtime)]
        reports = await asyncio.gather(*(w.run_once(harness.clock.now()) for w in workers))
    finally:
        other.close()
    assert sum(r.sent for r in reports) == 12
    keys = [json.loads(line)["idempotency_key"] for line in harness.outbox_lines()]
    assert len(keys) == len(set(keys)) == 12


async def _favors_email(harness: Harness) -> dict[str, Any]:
    contact = await harness.contact()
    messages = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    found: dict[str, Any] = next(m for m in messages if m["stage"] == "favors")
    return found


class SlowChannel:
    """Holds a message in the rate limiter or at the provider until the test lets it go."""

    def __init__(self, *, hold_in: str) -> None:
        self.hold_in = hold_in
        self.waiting = asyncio.Event()
        self.go = asyncio.Event()
        self.sent: list[str] = []

    async def _hold(self, where: str) -> None:
        if self.hold_in == where:
            self.waiting.set()
            await self.go.wait()

    async def ready(self) -> None:
        await self._hold("ready")

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.sent.append(message.idempotency_key)
        await self._hold("send")
        return DeliveryResult(ok=True, provider_message_id="slow-1")


def _favors(keys: list[str]) -> list[str]:
    return [key for key in keys if ":favors:" in key]


async def _in_favors(harness: Harness) -> None:
    """Ava waits in `favors`, whose own timer is weeks away: only its email is due."""
    await harness.post_events(signup())
    contact = await harness.contact()
    url = f"/contacts/{contact['id']}/enrollments/wedding-story/move"
    assert (await harness.client.post(url, json={"stage": "favors"})).status_code == 200


async def test_a_claim_lost_in_the_rate_limiter_is_sent_by_one_worker_only(
    harness: Harness,
) -> None:
    await _in_favors(harness)
    runtime = harness.app.state.runtime
    slow, fast = SlowChannel(hold_in="ready"), FlakyChannel(0)
    first = asyncio.create_task(Scheduler(runtime, {"email": slow}).run_once(harness.clock.now()))
    await asyncio.wait_for(slow.waiting.wait(), timeout=10)
    # The first worker waits in the rate limiter past its lease; another claims the message.
    harness.clock.advance(seconds=harness.settings.claim_lease_seconds + 1)
    await Scheduler(runtime, {"email": fast}).run_once(harness.clock.now())
    slow.go.set()
    await asyncio.wait_for(first, timeout=10)
    assert len(_favors(fast.sent)) == 1 and _favors(slow.sent) == []
    assert (await _favors_email(harness))["status"] == "sent"


async def test_a_message_at_the_provider_is_not_claimed_again(harness: Harness) -> None:
    await _in_favors(harness)
    runtime = harness.app.state.runtime
    slow, fast = SlowChannel(hold_in="send"), FlakyChannel(0)
    first = asyncio.create_task(Scheduler(runtime, {"email": slow}).run_once(harness.clock.now()))
    await asyncio.wait_for(slow.waiting.wait(), timeout=10)
    harness.clock.advance(seconds=harness.settings.claim_lease_seconds / 2)
    await Scheduler(runtime, {"email": fast}).run_once(harness.clock.now())
    assert _favors(fast.sent) == []
    slow.go.set()
    assert (await asyncio.wait_for(first, timeout=10)).sent == 1
    favors = await _favors_email(harness)
    assert (favors["status"], favors["provider_message_id"]) == ("sent", "slow-1")


async def test_a_worker_stopping_mid_send_fails_the_message_visibly(harness: Harness) -> None:
    await _in_favors(harness)
    runtime = harness.app.state.runtime
    slow = SlowChannel(hold_in="send")
    stopped = asyncio.create_task(Scheduler(runtime, {"email": slow}).run_once(harness.clock.now()))
    await asyncio.wait_for(slow.waiting.wait(), timeout=10)
    stopped.cancel()  # the worker dies while the provider holds the message
    with pytest.raises(asyncio.CancelledError):
        await stopped
    harness.clock.advance(seconds=harness.settings.claim_lease_seconds + 1)
    fast = FlakyChannel(0)
    await Scheduler(runtime, {"email": fast}).run_once(harness.clock.now())
    assert _favors(fast.sent) == []
    favors = await _favors_email(harness)
    assert favors["status"] == "failed"
    assert favors["error"].startswith("delivery outcome unknown")


async def test_transient_failure_is_retried_with_backoff(harness: Harness) -> None:
    await harness.post_events(signup())
    contact = await harness.contact()
    url = f"/contacts/{contact['id']}/enrollments/wedding-story/move"
    await harness.client.post(url, json={"stage": "favors"})  # no timer due soon
    channel = FlakyChannel(1)
    scheduler = Scheduler(harness.app.state.runtime, {"email": channel}, jitter=lambda: 0.0)
    first = await scheduler.run_once(harness.clock.now())
    assert (first.sent, channel.sent) == (0, [])
    harness.clock.advance(seconds=1)
    assert (await scheduler.run_once(harness.clock.now())).sent == 0
    harness.clock.advance(seconds=30)
    assert (await scheduler.run_once(harness.clock.now())).sent == 1
    message = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()[-1]
    assert (message["status"], message["attempts"], message["error"]) == ("sent", 2, None)


async def test_permanent_failure_is_not_retried(harness: Harness) -> None:
    await harness.post_events(signup())
    scheduler = Scheduler(harness.app.state.runtime, {"email": FlakyChannel(5, permanent=True)})
    assert (await scheduler.run_once(harness.clock.now())).failed == 1
    harness.clock.advance(hours=2)
    await scheduler.run_once(harness.clock.now())
    contact = await harness.contact()
    message = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()[0]
    assert (message["stage"], message["status"], message["attempts"]) == ("welcome", "failed", 1)
    assert message["error"] == "provider said no"


class CrashingChannel:
    """A channel with a bug, before the provider (`ready`) or while sending (`send`)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.calls = 0

    async def ready(self) -> None:
        if self.where == "ready":
            self.calls += 1
            raise RuntimeError("bug before the provider")

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.calls += 1
        raise RuntimeError("bug while sending")


async def test_a_message_that_always_crashes_stops_being_retried(harness: Harness) -> None:
    await _in_favors(harness)
    channel = CrashingChannel("ready")
    scheduler = Scheduler(harness.app.state.runtime, {"email": channel})
    for _ in range(harness.settings.max_send_attempts + 3):
        await scheduler.run_once(harness.clock.now())
        harness.clock.advance(seconds=harness.settings.claim_lease_seconds + 1)
    favors = await _favors_email(harness)
    assert favors["status"] == "failed"
    assert favors["error"] == (
        f"gave up after {harness.settings.max_send_attempts} attempts (internal errors)"
    )
    assert channel.calls == harness.settings.max_send_attempts


async def test_a_crash_while_sending_is_never_resent(harness: Harness) -> None:
    await _in_favors(harness)
    channel = CrashingChannel("send")
    scheduler = Scheduler(harness.app.state.runtime, {"email": channel})
    for _ in range(3):
        await scheduler.run_once(harness.clock.now())
        harness.clock.advance(seconds=harness.settings.claim_lease_seconds + 1)
    favors = await _favors_email(harness)
    assert (favors["status"], channel.calls) == ("failed", 1)
    assert favors["error"].startswith("delivery outcome unknown: internal error during send")
