"""The outbox tables: one message per stage visit, claims that only lease, and provider
feedback tied only to the contact's own message."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from service.delivery import outbox
from service.engine.core import MessageOrder
from service.runtime import Runtime
from service.store.models import Contact, Enrollment, Message, MessageStatus
from tests.factories import Harness, signup


async def test_a_stage_visit_queues_its_message_once(harness: Harness) -> None:
    await harness.post_events(signup())
    runtime: Runtime = harness.app.state.runtime
    now = harness.clock.now()
    with runtime.db.write() as session:
        enrollment = session.exec(select(Enrollment)).one()
        order = MessageOrder(
            stage="welcome", visit=1, channel="email", template="story/welcome", due_at=now
        )
        again = outbox.enqueue(
            session, enrollment=enrollment, order=order, event_row_id=None, now=now
        )
        later = MessageOrder(
            stage="welcome", visit=2, channel="email", template="story/welcome", due_at=now
        )
        second = outbox.enqueue(
            session, enrollment=enrollment, order=later, event_row_id=None, now=now
        )
    assert (again, second) == (False, True)
    with runtime.db.session() as session:
        rows = session.exec(select(Message).order_by(Message.visit)).all()
    assert [(m.idempotency_key, m.status, m.attempts) for m in rows] == [
        (f"{enrollment.id}:welcome:1", MessageStatus.PENDING, 0),
        (f"{enrollment.id}:welcome:2", MessageStatus.PENDING, 0),
    ]


async def test_a_claim_leases_without_counting_an_attempt(harness: Harness) -> None:
    await harness.post_events(signup(), signup("bea@example.com"))
    runtime: Runtime = harness.app.state.runtime
    now = harness.clock.now()
    lease = now + timedelta(minutes=1)
    with runtime.db.write() as session:
        first = outbox.claim_due(session, now=now, lease_until=lease, limit=1)
        second = outbox.claim_due(session, now=now, lease_until=lease, limit=5)
        none_left = outbox.claim_due(session, now=now, lease_until=lease, limit=5)
    assert (len(first), len(second), none_left) == (1, 1, [])
    with runtime.db.session() as session:
        rows = session.exec(select(Message)).all()
    assert {(m.claimed_until, m.attempts, m.status) for m in rows} == {
        (lease, 0, MessageStatus.PENDING)
    }
    with runtime.db.write() as session:
        reclaimed = outbox.claim_due(
            session, now=lease + timedelta(seconds=1), lease_until=lease, limit=5
        )
    assert len(reclaimed) == 2  # an expired lease is claimed again


async def test_feedback_names_only_the_contacts_own_message(harness: Harness) -> None:
    await harness.post_events(signup(), signup("bea@example.com"))
    runtime: Runtime = harness.app.state.runtime
    with runtime.db.session() as session:
        ava = session.exec(select(Contact).where(Contact.email == "ava@example.com")).one()
        bea = session.exec(select(Contact).where(Contact.email == "bea@example.com")).one()
        mine = session.exec(select(Message).where(Message.contact_id == ava.id)).one()
        for properties, expected in [
            ({"message_id": mine.id}, mine.id),
            ({"message_id": "x" * 37}, None),
            ({"message_id": 42}, None),
            ({}, None),
        ]:
            found = outbox.referenced_message(session, contact_id=ava.id, properties=properties)
            assert (found.id if found else None) == expected
        theirs = {"message_id": mine.id}
        assert outbox.referenced_message(session, contact_id=bea.id, properties=theirs) is None
