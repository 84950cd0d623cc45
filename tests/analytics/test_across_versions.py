"""Figures across a journey's versions over a range count the rows of every version the
history holds (whether or not the service still knows it), exactly as the figures of each
version added up, and a range leaves out what lies outside it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import Session

from service.analytics import journey, messages
from service.analytics.figures import StageRow
from service.analytics.sql import Scope
from service.store.db import create_db_engine
from service.store.models import (
    Contact,
    Enrollment,
    Message,
    MessageStatus,
    TransitionRecord,
    VisitEnd,
)

JOURNEY = "tour"
START = datetime(2026, 3, 1, tzinfo=UTC)
SINCE, UNTIL = START + timedelta(days=10), START + timedelta(days=20)
VERSIONS = ("1", "2", "retired")  # "retired": rows of a version no longer loaded anywhere


def _enrollment(session: Session, number: int, version: str, started: datetime) -> None:
    """One enrollment: entered at `look`, on to `cart` a day later (a message each), and
    exited there on odd numbers; the others are still in `cart`."""
    contact_id, enrollment_id = f"c{version}-{number}", f"e{version}-{number}"
    exited = number % 2 == 1
    later = started + timedelta(days=1)
    session.execute(
        insert(Contact.__table__),  # type: ignore[attr-defined]
        [{"id": contact_id, "attributes": {}, "created_at": started, "updated_at": started}],
    )
    session.execute(
        insert(Enrollment.__table__),  # type: ignore[attr-defined]
        [
            {
                "id": enrollment_id,
                "contact_id": contact_id,
                "journey_id": JOURNEY,
                "version": version,
                "stage": "cart",
                "status": "exited" if exited else "active",
                "holdout": number % 3 == 0,
                "entered_at": later,
                "started_at": started,
                "ended_at": later + timedelta(hours=2) if exited else None,
                "path": "look > cart",
            }
        ],
    )
    move = {
        "enrollment_id": enrollment_id,
        "contact_id": contact_id,
        "journey_id": JOURNEY,
        "from_stage": None,
        "visit_end": None,
        "next_stage": None,
        "seconds": None,
    }
    moves = [
        {
            **move,
            "id": f"t{version}-{number}-1",
            "version": version,
            "to_stage": "look",
            "trigger": "entry:web.form_submitted",
            "at": started,
            "seq": 1,
            "visit_end": VisitEnd.VISIT,
            "next_stage": "cart",
            "seconds": 86400.0 + number,
        },
        {
            **move,
            "id": f"t{version}-{number}-2",
            "version": version,
            "from_stage": "look",
            "to_stage": "cart",
            "trigger": "after:1d",
            "at": later,
            "seq": 2,
            "visit_end": VisitEnd.EXIT if exited else VisitEnd.OPEN,
            "seconds": 7200.0 if exited else None,
        },
    ]
    if exited:
        moves.append(
            {
                **move,
                "id": f"t{version}-{number}-3",
                "version": version,
                "from_stage": "cart",
                "to_stage": "cart",
                "trigger": "exit:email.unsubscribed",
                "at": later + timedelta(hours=2),
                "seq": 3,
            }
        )
    session.execute(insert(TransitionRecord.__table__), moves)  # type: ignore[attr-defined]
    session.execute(
        insert(Message.__table__),  # type: ignore[attr-defined]
        [
            {
                "id": f"m{version}-{number}-{stage}",
                "idempotency_key": f"{enrollment_id}:{stage}",
                "contact_id": contact_id,
                "enrollment_id": enrollment_id,
                "journey_id": JOURNEY,
                "version": version,
                "stage": stage,
                "channel": "email",
                "template": f"tour/{stage}",
                "due_at": at,
                "status": MessageStatus.SENT if number % 4 else MessageStatus.HELD,
                "sent_at": at if number % 4 else None,
                "opened_at": at + timedelta(hours=1) if number % 2 == 0 else None,
                "created_at": at,
            }
            for stage, at in (("look", started), ("cart", later))
        ],
    )


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """Twelve enrollments per version, one every three days from START, so some begin,
    move and end inside the range and some outside it."""
    engine = create_db_engine(database_url)
    with Session(engine) as writing:
        for version in VERSIONS:
            for number in range(12):
                _enrollment(writing, number, version, START + timedelta(days=3 * number))
        writing.commit()
    with Session(engine) as reading:
        yield reading
    engine.dispose()


def _scope(version: str | None) -> Scope:
    return Scope(JOURNEY, version, SINCE, UNTIL)


def test_summary_across_versions_adds_up_every_version(session: Session) -> None:
    across = journey.summary(session, _scope(None))
    each = [journey.summary(session, _scope(version)) for version in VERSIONS]
    # Per version, the enrollments begun on days 12, 15 and 18 of the 36 days' twelve.
    assert across.entered == sum(s.entered for s in each) == 3 * len(VERSIONS)
    for name in ("holdout_entered", "active", "completed", "converted", "messages_sent"):
        assert getattr(across, name) == sum(getattr(s, name) for s in each), name
    assert across.exited.total == sum(s.exited.total for s in each) > 0


def test_stages_and_messages_across_versions_add_up_every_version(session: Session) -> None:
    names = ["look", "cart"]
    across = {row.stage: row for row in journey.stages(session, _scope(None), names=names)}
    each = [
        {row.stage: row for row in journey.stages(session, _scope(version), names=names)}
        for version in VERSIONS
    ]
    for stage in names:
        rows: list[StageRow] = [by_stage[stage] for by_stage in each]
        assert across[stage].entered == sum(row.entered for row in rows) > 0
        assert across[stage].still_here == sum(row.still_here for row in rows)
        for way in {way for row in rows for way in row.moved_to}:
            assert across[stage].moved_to[way] == sum(row.moved_to.get(way, 0) for row in rows)
    assert across["look"].median_seconds is not None
    sent = {row.template: row.metrics for row in messages.messages(session, _scope(None))}
    for template, metrics in sent.items():
        parts = [
            row.metrics
            for version in VERSIONS
            for row in messages.messages(session, _scope(version))
            if row.template == template
        ]
        assert metrics.queued == sum(m.queued for m in parts) > 0
        assert metrics.sent == sum(m.sent for m in parts)
        assert metrics.count("opened") == sum(m.count("opened") for m in parts)
