"""Dispatch in batches: a claimed batch shares its transactions, and one message that cannot
be rendered or prepared spoils none of the others."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlmodel import Session

from service.delivery import rules
from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.runtime import Runtime
from service.scheduler.loop import Scheduler
from service.store.models import Contact, Message, MessageStatus
from tests.factories import FIXTURES, FakeClock, Harness, make_settings, running_app, signup, stored

DUE = 12


class WideChannel:
    """Takes every message at once and answers at once, so turns reach the store together."""

    concurrency = DUE

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def ready(self) -> None:
        """No rate limit."""

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        self.sent.append(message.contact_id)
        return DeliveryResult(ok=True, provider_message_id=f"wide:{message.id}")


def _welcomes(runtime: Runtime) -> dict[str, Message]:
    contacts = {c.id: c.email for c in stored(runtime, Contact)}
    return {contacts[m.contact_id] or "": m for m in stored(runtime, Message, stage="welcome")}


async def test_a_batch_shares_its_transactions(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(DUE):
        await harness.post_events(signup(f"guest{index}@example.com"))
    runtime: Runtime = harness.app.state.runtime
    real_write = runtime.db.write
    writes = 0

    @contextmanager
    def counted() -> Iterator[Session]:
        nonlocal writes
        writes += 1
        with real_write() as session:
            yield session

    monkeypatch.setattr(runtime.db, "write", counted)
    channel = WideChannel()
    report = await Scheduler(runtime, {"email": channel}).run_once(harness.clock.now())
    assert report.sent == DUE and len(set(channel.sent)) == DUE
    # One message at a time took three per message (rules, mark sending, record).
    assert writes <= 8, f"{writes} write transactions for {DUE} messages"
    assert {m.status for m in _welcomes(runtime).values()} == {MessageStatus.SENT}


async def test_one_message_that_cannot_render_fails_alone(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    content = tmp_path / "content"
    shutil.copytree(FIXTURES / "content", content)
    (content / "story" / "welcome.email.j2").write_text(
        "{% block subject %}Hi{% endblock %}{% block text %}Hi{% endblock %}\n"
        "{% block html %}{% if contact.attributes.n is defined %}\n"
        "{{ 'x' * contact.attributes.n }}\n{% endif %}{% endblock %}"
    )
    settings = make_settings(database_url, tmp_path, content_dir=content)
    async with running_app(settings, clock) as app:
        await app.post_events(signup("ava@example.com"))
        await app.post_events(signup("bea@example.com", attributes={"n": 10**9}))
        await app.post_events(signup("cleo@example.com"))
        runtime: Runtime = app.app.state.runtime
        channel = WideChannel()
        report = await Scheduler(runtime, {"email": channel}).run_once(clock.now())
        assert (report.sent, report.failed) == (2, 1)
        welcomes = _welcomes(runtime)
        assert welcomes["bea@example.com"].status == MessageStatus.FAILED
        assert "template over its limits" in (welcomes["bea@example.com"].error or "")
        for email in ("ava@example.com", "cleo@example.com"):
            assert (welcomes[email].status, welcomes[email].attempts) == (MessageStatus.SENT, 1)
        assert welcomes["bea@example.com"].contact_id not in channel.sent


async def test_one_message_whose_rules_crash_is_retried_alone(
    database_url: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A claim lease shorter than the welcome timer, so hers is retried before it fires.
    settings = make_settings(database_url, tmp_path, claim_lease_seconds=1.0)
    async with running_app(settings, clock) as harness:
        await _retried_alone(harness, monkeypatch)


async def _retried_alone(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    for email in ("ava@example.com", "bea@example.com", "cleo@example.com"):
        await harness.post_events(signup(email))
    runtime: Runtime = harness.app.state.runtime
    real_refusal = rules.refusal

    def refusal(session: Session, *, message: Message, contact: Contact) -> rules.Refusal | None:
        if contact.email == "bea@example.com":
            raise RuntimeError("a bug in one message's rules")
        return real_refusal(session, message=message, contact=contact)

    monkeypatch.setattr(rules, "refusal", refusal)
    channel = WideChannel()
    scheduler = Scheduler(runtime, {"email": channel})
    report = await scheduler.run_once(harness.clock.now())
    assert report.sent == 2
    welcomes = _welcomes(runtime)
    bea = welcomes["bea@example.com"]
    assert (bea.status, bea.attempts) == (MessageStatus.PENDING, 1)  # the turn counted
    for email in ("ava@example.com", "cleo@example.com"):
        assert welcomes[email].status == MessageStatus.SENT
    monkeypatch.setattr(rules, "refusal", real_refusal)
    harness.clock.advance(seconds=harness.settings.claim_lease_seconds + 1)
    assert (await scheduler.run_once(harness.clock.now())).sent == 1  # once its claim ran out
    assert _welcomes(runtime)["bea@example.com"].status == MessageStatus.SENT
    assert sorted(channel.sent) == sorted({m.contact_id for m in welcomes.values()})
