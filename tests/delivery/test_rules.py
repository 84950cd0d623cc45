"""Send-time rules, one by one: the enrollment, consent and suppression, an address, E.164
for texts, the send window and the frequency cap."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from service.contacts import repository as contacts_repo
from service.delivery import rules
from service.delivery.rules import Deferral, Refusal
from service.enrollments import repository as enrollments_repo
from service.runtime import Runtime
from service.store.models import Contact, Message, MessageStatus
from tests.factories import FakeClock, Harness, journeys_copy, make_settings, running_app, signup

WINDOW = '{start: "09:00", end: "20:00"}'


@dataclass
class Rows:
    """Ava's welcome email and her contact row, inside one write transaction."""

    session: Session
    message: Message
    contact: Contact


@contextmanager
def _rows(runtime: Runtime) -> Iterator[Rows]:
    with runtime.db.write() as session:
        message = session.exec(select(Message)).one()
        contact = session.exec(select(Contact).where(Contact.id == message.contact_id)).one()
        yield Rows(session, message, contact)


def _sms(message: Message) -> Message:
    """A text of the same enrollment (never stored: the rules only read around it)."""
    return Message(**{**message.model_dump(), "id": "sms-1", "channel": "sms"})


@pytest.fixture
async def ava(harness: Harness) -> AsyncIterator[Runtime]:
    await harness.post_events(signup(contact={"email": "ava@example.com", "phone": "+15555550100"}))
    yield harness.app.state.runtime


def test_a_message_of_an_active_enrollment_may_go_out(ava: Runtime) -> None:
    with _rows(ava) as rows:
        assert rules.refusal(rows.session, message=rows.message, contact=rows.contact) is None
        assert rules.refusal(rows.session, message=_sms(rows.message), contact=rows.contact) is None


@pytest.mark.parametrize("ended", ["exited", "converted", "restarted"])
def test_an_enrollment_that_ended_early_cancels(ava: Runtime, ended: str) -> None:
    with _rows(ava) as rows:
        enrollment = enrollments_repo.get_enrollment(
            rows.session, enrollment_id=rows.message.enrollment_id
        )
        assert enrollment is not None
        enrollment.status = ended
        assert rules.refusal(rows.session, message=rows.message, contact=rows.contact) == Refusal(
            MessageStatus.CANCELED, f"enrollment {ended} before sending"
        )


def test_a_completed_enrollment_still_sends_its_last_message(ava: Runtime) -> None:
    with _rows(ava) as rows:
        enrollment = enrollments_repo.get_enrollment(
            rows.session, enrollment_id=rows.message.enrollment_id
        )
        assert enrollment is not None
        enrollment.status = "completed"
        assert rules.refusal(rows.session, message=rows.message, contact=rows.contact) is None


def test_a_deleted_enrollment_cancels(ava: Runtime) -> None:
    with _rows(ava) as rows:
        orphan = Message(**{**rows.message.model_dump(), "enrollment_id": "gone"})
        assert rules.refusal(rows.session, message=orphan, contact=rows.contact) == Refusal(
            MessageStatus.CANCELED, "enrollment deleted before sending"
        )


def test_withdrawn_consent_and_suppression_suppress(ava: Runtime) -> None:
    with _rows(ava) as rows:
        now = rows.message.due_at
        contacts_repo.set_consent(
            rows.session,
            contact_id=rows.contact.id,
            channel="email",
            suppressed=True,
            reason="hard bounce",
            now=now,
        )
        assert rules.refusal(rows.session, message=rows.message, contact=rows.contact) == Refusal(
            MessageStatus.SUPPRESSED, "suppressed (hard bounce)"
        )
        contacts_repo.set_consent(
            rows.session,
            contact_id=rows.contact.id,
            channel="sms",
            status="withdrawn",
            reason="sms.opted_out",
            now=now,
        )
        assert rules.refusal(
            rows.session, message=_sms(rows.message), contact=rows.contact
        ) == Refusal(MessageStatus.SUPPRESSED, "consent withdrawn (sms.opted_out)")
        webhook = Message(**{**rows.message.model_dump(), "channel": "webhook"})
        assert rules.refusal(rows.session, message=webhook, contact=rows.contact) is None


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        (None, "the contact has no phone"),
        ("555-0100", "the contact's phone number is not E.164 (+ and digits)"),
        ("+1555555010\u0660", "the contact's phone number is not E.164 (+ and digits)"),
    ],
)
def test_a_text_needs_an_e164_number(ava: Runtime, phone: str | None, reason: str) -> None:
    with _rows(ava) as rows:
        rows.contact.phone = phone
        assert rules.refusal(
            rows.session, message=_sms(rows.message), contact=rows.contact
        ) == Refusal(MessageStatus.FAILED, reason)


def test_an_email_needs_an_address(ava: Runtime) -> None:
    with _rows(ava) as rows:
        rows.contact.email = None
        assert rules.refusal(rows.session, message=rows.message, contact=rows.contact) == Refusal(
            MessageStatus.FAILED, "the contact has no email"
        )


@pytest.fixture
async def windowed(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[Runtime, FakeClock]]:
    """Ava signed up at 15:00 UTC to a story that sends from 09:00 to 20:00 her time."""
    journeys = journeys_copy(tmp_path, send_window=WINDOW)
    settings = make_settings(database_url, tmp_path, journeys_dir=journeys, frequency_cap=1)
    async with running_app(settings, clock) as app:
        await app.post_events(signup())
        yield app.app.state.runtime, clock


def test_the_send_window_opens_next_morning_in_her_zone(
    windowed: tuple[Runtime, FakeClock],
) -> None:
    runtime, clock = windowed
    late = clock.now().replace(hour=21)
    with _rows(runtime) as rows:
        opens = rules.window_opens(runtime, message=rows.message, contact=rows.contact, moment=late)
        assert opens == late.replace(hour=9) + timedelta(days=1)
        rows.contact.timezone = "America/New_York"  # 21:00 UTC is 16:00 in New York
        here = rules.window_opens(runtime, message=rows.message, contact=rows.contact, moment=late)
        assert here == late
        webhook = Message(**{**rows.message.model_dump(), "channel": "webhook"})
        assert rules.window_opens(runtime, message=webhook, contact=None, moment=late) == late
        deferral = rules.deferral(
            rows.session, runtime, message=rows.message, contact=rows.contact, now=late
        )
        assert deferral is None


def test_outside_the_window_a_message_waits_without_a_note(
    windowed: tuple[Runtime, FakeClock],
) -> None:
    runtime, clock = windowed
    late = clock.now().replace(hour=21)
    with _rows(runtime) as rows:
        assert rules.deferral(
            rows.session, runtime, message=rows.message, contact=rows.contact, now=late
        ) == Deferral(late.replace(hour=9) + timedelta(days=1))


def test_the_frequency_cap_delays_until_a_day_after_the_last_send_and_says_so(
    windowed: tuple[Runtime, FakeClock],
) -> None:
    runtime, clock = windowed
    now = clock.now()
    with _rows(runtime) as rows:
        assert (
            rules.deferral(
                rows.session, runtime, message=rows.message, contact=rows.contact, now=now
            )
            is None
        )
        earlier = Message(
            **{
                **rows.message.model_dump(),
                "id": "sent-1",
                "idempotency_key": "earlier",
                "status": MessageStatus.SENT,
                "sent_at": now - timedelta(hours=23),
            }
        )
        rows.session.add(earlier)
        rows.session.flush()
        # A day after the last send is 16:00 UTC tomorrow, inside the window.
        until = now + timedelta(hours=1)
        assert rules.deferral(
            rows.session, runtime, message=rows.message, contact=rows.contact, now=now
        ) == Deferral(until, note=f"delayed by frequency cap until {until.isoformat()}")
        webhook = Message(**{**rows.message.model_dump(), "channel": "webhook"})
        assert (
            rules.deferral(rows.session, runtime, message=webhook, contact=rows.contact, now=now)
            is None
        )
