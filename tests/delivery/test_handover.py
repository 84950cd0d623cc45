"""Hand-over: a message is `sending` only inside its channel's gate, its template renders
with no transaction open, and a template over its limits fails only its own message."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.engine.render import Rendered
from service.runtime import Runtime
from service.scheduler.loop import Scheduler
from service.store.models import Message, MessageStatus
from tests.factories import FIXTURES, FakeClock, Harness, make_settings, running_app, signup, stored


class HeldChannel:
    """Takes `concurrency` messages at once and keeps them until the test lets them go."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.sent: list[str] = []
        self.holding = 0
        self.most_held = 0
        self.full = asyncio.Event()
        self.release = asyncio.Event()

    async def ready(self) -> None:
        """No rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.holding += 1
        self.most_held = max(self.most_held, self.holding)
        if self.holding >= self.concurrency:
            self.full.set()
        await self.release.wait()
        self.holding -= 1
        self.sent.append(message.idempotency_key)
        return DeliveryResult(ok=True, provider_message_id=f"held:{message.id}")


def _statuses(runtime: Runtime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in stored(runtime, Message):
        counts[message.status] = counts.get(message.status, 0) + 1
    return counts


async def _signups(harness: Harness, count: int) -> None:
    for index in range(count):
        await harness.post_events(signup(f"guest{index}@example.com"))


async def test_only_the_messages_a_channel_holds_are_sending(harness: Harness) -> None:
    await _signups(harness, 12)
    runtime: Runtime = harness.app.state.runtime
    channel = HeldChannel(concurrency=3)
    run = asyncio.create_task(Scheduler(runtime, {"email": channel}).run_once(harness.clock.now()))
    await asyncio.wait_for(channel.full.wait(), timeout=10)
    await asyncio.sleep(0.2)  # time for any other turn to (wrongly) mark its message
    assert _statuses(runtime) == {MessageStatus.SENDING: 3, MessageStatus.PENDING: 9}
    channel.release.set()
    assert (await asyncio.wait_for(run, timeout=20)).sent == 12
    assert channel.most_held == 3
    assert len(set(channel.sent)) == 12
    assert _statuses(runtime) == {MessageStatus.SENT: 12}


async def test_a_template_renders_with_no_transaction_open(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While her welcome renders slowly, her next event is stored at once (no lock held)."""
    await harness.post_events(signup())
    runtime: Runtime = harness.app.state.runtime
    content = runtime.content
    real_render = content.render
    rendering = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_render(channel: str, template: str, context: Mapping[str, Any]) -> Rendered:
        loop.call_soon_threadsafe(rendering.set)
        time.sleep(2.0)
        return real_render(channel, template, context)

    monkeypatch.setattr(content, "render", slow_render)
    run = asyncio.create_task(harness.run_scheduler())
    await asyncio.wait_for(rendering.wait(), timeout=10)
    started = time.monotonic()
    viewed = await harness.post_events(
        {
            "id": "view-1",
            "type": "web.page_viewed",
            "source": "test",
            "contact": {"email": "ava@example.com"},
            "properties": {"page": "home"},
        }
    )
    waited = time.monotonic() - started
    assert viewed.status_code == 200, viewed.text
    assert waited < 1.0, f"the event waited {waited:.2f}s for the render"
    assert not run.done()
    assert (await asyncio.wait_for(run, timeout=20)).sent == 1


RUNAWAY = {
    "multiplied by her data": "{{ 'x' * contact.attributes.n }}",
    "a huge range": "{% for i in range(contact.attributes.n) %}{% endfor %}",
    "too slow": (
        "{% for a in range(9000) %}{% for b in range(9000) %}{% for c in range(9000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    ),
}


@pytest.mark.parametrize("runaway", sorted(RUNAWAY))
async def test_a_template_over_its_limits_fails_its_message_for_good(
    database_url: str, tmp_path: Path, clock: FakeClock, runaway: str
) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "content", content)
    (content / "story" / "welcome.email.j2").write_text(
        "{% block subject %}Hi{% endblock %}{% block text %}Hi{% endblock %}\n"
        "{% block html %}{% if contact.attributes.n is defined %}\n"
        + RUNAWAY[runaway]
        + "\n{% endif %}{% endblock %}"
    )
    settings = make_settings(
        database_url, tmp_path, content_dir=content, template_timeout_seconds=0.5
    )
    async with running_app(settings, clock) as app:
        await app.post_events(signup(attributes={"first_name": "Ava", "n": 10**9}))
        await app.post_events(signup("bea@example.com"))
        runtime: Runtime = app.app.state.runtime
        channel = HeldChannel(concurrency=1)
        channel.release.set()
        scheduler = Scheduler(runtime, {"email": channel})
        started = time.monotonic()
        report = await scheduler.run_once(clock.now())
        assert time.monotonic() - started < 5
        assert (report.sent, report.failed) == (1, 1)
        for _ in range(3):  # never retried
            clock.advance(hours=2)
            await scheduler.run_once(clock.now())
        ava = (await app.contact())["id"]
        [failed] = stored(runtime, Message, contact_id=ava, stage="welcome")
        assert (failed.status, failed.attempts) == (MessageStatus.FAILED, 1)
        assert failed.error is not None
        assert failed.error.startswith(f"{content}/story/welcome.email.j2:3: ")
        assert "template over its limits" in failed.error
        assert len([key for key in channel.sent if ":welcome:" in key]) == 1  # hers never went
