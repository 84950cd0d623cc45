"""The scheduler: exactly-once sends across workers, retries, and version pinning."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from service.clock import SystemClock
from service.errors import ConfigError
from service.runtime import build_runtime
from service.scheduler.channels import DeliveryResult, OutgoingMessage
from service.scheduler.runner import Scheduler
from tests.factories import FIXTURES, FakeClock, Harness, make_settings, running_app, signup


class FlakyChannel:
    """Fails the first `failures` sends, transiently or for good."""

    def __init__(self, failures: int, *, permanent: bool = False) -> None:
        self.failures = failures
        self.permanent = permanent
        self.sent: list[str] = []

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


async def test_enrollment_keeps_its_version(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", journeys)
    story = journeys / "wedding-story.yaml"
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
    story.write_text(
        story.read_text().replace('version: "1"', 'version: "2"').replace("after: 3s", "after: 1h")
    )
    async with running_app(settings, clock) as app:
        await app.post_events(signup("bea@example.com"))
        clock.advance(seconds=3)
        assert (await app.run_scheduler()).timers == 1
        ava, bea = await app.contact(), await app.contact("bea@example.com")
        assert (ava["enrollments"][0]["version"], ava["enrollments"][0]["stage"]) == ("1", "favors")
        assert (bea["enrollments"][0]["version"], bea["enrollments"][0]["stage"]) == (
            "2",
            "welcome",
        )
        detail = (await app.client.get("/journeys/wedding-story")).json()
        assert [v["version"] for v in detail["versions"]] == ["1", "2"]


def test_rewritten_explicit_version_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", journeys)
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys)
    build_runtime(settings, SystemClock()).close()
    story = journeys / "wedding-story.yaml"
    story.write_text(story.read_text().replace("after: 3s", "after: 4s"))
    with pytest.raises(ConfigError, match="version 1 differs"):
        build_runtime(settings, SystemClock())


def test_missing_journeys_folder(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, journeys_dir=tmp_path / "absent")
    with pytest.raises(ConfigError, match="journeys folder not found"):
        build_runtime(settings, SystemClock())
