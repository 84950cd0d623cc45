"""Store behaviour that the rest relies on: aware UTC times, claims, serialised writers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.exc import StatementError

from service.contacts import repository as contacts_repo
from service.enrollments import repository as enrollments_repo
from service.store.db import Database
from service.store.models import Contact, Enrollment

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _contact(db: Database, email: str) -> str:
    with db.write() as session:
        return contacts_repo.ensure_contact(session, field="email", value=email, now=NOW).id


def test_times_read_back_aware_utc(database_url: str) -> None:
    db = Database(database_url)
    paris = timezone(timedelta(hours=1))
    with db.write() as session:
        contact = contacts_repo.ensure_contact(
            session, field="email", value="a@example.com", now=NOW
        )
        contact.updated_at = datetime(2026, 3, 2, 13, 0, tzinfo=paris)
        session.add(contact)
    with db.session() as session:
        stored = contacts_repo.get_contact(session, contact_id=contact.id)
        assert stored is not None
        assert stored.updated_at == NOW and stored.updated_at.tzinfo is not None
        assert stored.created_at.utcoffset() == timedelta(0)
    with pytest.raises(StatementError, match="naive"), db.write() as session:
        session.add(Contact(email="b@example.com", created_at=datetime(2026, 1, 1), updated_at=NOW))
    db.dispose()


def test_claims_skip_leased_rows(database_url: str) -> None:
    db = Database(database_url)
    contact_id = _contact(db, "a@example.com")
    with db.write() as session:
        for minutes in (1, 2, 30):
            session.add(
                Enrollment(
                    contact_id=contact_id,
                    journey_id="j",
                    version="1",
                    stage="s",
                    status="active",
                    entered_at=NOW,
                    started_at=NOW,
                    next_due_at=NOW + timedelta(minutes=minutes),
                )
            )
    later = NOW + timedelta(minutes=5)
    with db.write() as session:
        first = enrollments_repo.claim_due_enrollments(
            session, now=later, lease_until=later + timedelta(minutes=1), limit=1
        )
    with db.write() as session:
        second = enrollments_repo.claim_due_enrollments(
            session, now=later, lease_until=later + timedelta(minutes=1), limit=10
        )
    with db.write() as session:
        none_left = enrollments_repo.claim_due_enrollments(
            session, now=later, lease_until=later + timedelta(minutes=1), limit=10
        )
    after_lease = later + timedelta(minutes=2)
    with db.write() as session:
        reclaimed = enrollments_repo.claim_due_enrollments(
            session, now=after_lease, lease_until=after_lease, limit=10
        )
    assert len(first) == 1 and len(second) == 1 and first != second
    assert none_left == []
    assert len(reclaimed) == 2
    db.dispose()


def test_concurrent_writers_do_not_deadlock(database_url: str) -> None:
    db = Database(database_url)
    contact_id = _contact(db, "a@example.com")
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(10):
                with db.write() as session:
                    contact = contacts_repo.lock_contact(session, contact_id=contact_id)
                    assert contact is not None
                    contact.history_seq += 1
                    session.add(contact)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        contact = contacts_repo.get_contact(session, contact_id=contact_id)
        assert contact is not None and contact.history_seq == 80
    db.dispose()


def test_event_dedupe_and_consent(database_url: str) -> None:
    db = Database(database_url)
    contact_id = _contact(db, "a@example.com")
    values: dict[str, Any] = {
        "source": "esp",
        "event_id": "1",
        "type": "email.opened",
        "time": NOW,
        "contact_id": contact_id,
        "properties": {},
        "received_at": NOW,
    }
    with db.write() as session:
        assert enrollments_repo.record_event(session, **values) is not None
        assert enrollments_repo.record_event(session, **values) is None
        assert contacts_repo.blocked_reason(session, contact_id=contact_id, channel="email") is None
        contacts_repo.set_consent(
            session,
            contact_id=contact_id,
            channel="email",
            suppressed=True,
            reason="hard bounce",
            now=NOW,
        )
    with db.session() as session:
        reason = contacts_repo.blocked_reason(session, contact_id=contact_id, channel="email")
        assert reason == "suppressed (hard bounce)"
    db.dispose()
