"""Migration 0007 backfills each message's feedback facts from the events already tied back
to it, with the same event types delivery/status.py reads, keeping the earliest time."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from typing import Any

from alembic import command
from sqlalchemy import column, create_engine, insert, select, table
from sqlalchemy.types import JSON, Boolean, Integer, String

from service.delivery.status import REACHED
from service.store.migrate import MIGRATIONS, alembic_config
from service.store.types import UTCDateTime

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _migration() -> Any:
    path = MIGRATIONS / "versions" / "0007_analytics.py"
    spec = importlib.util.spec_from_file_location("migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(name: str, **types: Any) -> Any:
    return table(name, *(column(n, t) for n, t in types.items()))


def test_the_migration_reads_feedback_as_the_writer_does() -> None:
    migration = _migration()
    assert dict(REACHED) == migration.REACHED


def test_backfill_keeps_the_first_time_each_status_was_reached(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "0006")
    engine = create_engine(database_url)
    text_, time_ = String(), UTCDateTime()
    contacts = _table(
        "contacts", id=text_, attributes=JSON(), history_seq=Integer(), created_at=time_,
        updated_at=time_,
    )  # fmt: skip
    enrollments = _table(
        "enrollments", id=text_, contact_id=text_, journey_id=text_, version=text_, stage=text_,
        status=text_, visit=Integer(), holdout=Boolean(), entered_at=time_, started_at=time_,
    )  # fmt: skip
    messages = _table(
        "messages", id=text_, idempotency_key=text_, contact_id=text_, enrollment_id=text_,
        journey_id=text_, version=text_, stage=text_, visit=Integer(), channel=text_,
        template=text_, due_at=time_, status=text_, attempts=Integer(), created_at=time_,
    )  # fmt: skip
    events = _table(
        "events", id=text_, source=text_, event_id=text_, type=text_, time=time_,
        contact_id=text_, properties=JSON(), received_at=time_, message_id=text_,
        journey_id=text_,
    )  # fmt: skip
    at = {"created_at": T0, "updated_at": T0}
    message = {"contact_id": "c1", "enrollment_id": "e1", "journey_id": "j", "version": "1"}
    message |= {"stage": "s", "visit": 1, "channel": "email", "template": "t", "due_at": T0}
    message |= {"status": "sent", "attempts": 1, "created_at": T0}
    # Reports of m1 arrive out of order; m2 only bounced; m3 has no feedback.
    reports = [
        ("m1", "email.clicked", 9),
        ("m1", "email.opened", 5),
        ("m1", "email.delivered", 7),
        ("m1", "email.clicked", 20),
        ("m2", "email.bounced", 3),
        ("m2", "web.page_viewed", 1),
    ]
    with engine.begin() as connection:
        contact = {"id": "c1", "attributes": {}, "history_seq": 0, **at}
        connection.execute(insert(contacts), [contact])
        connection.execute(
            insert(enrollments),
            [
                {
                    "id": "e1", "contact_id": "c1", "journey_id": "j", "version": "1",
                    "stage": "s", "status": "active", "visit": 1, "holdout": False,
                    "entered_at": T0, "started_at": T0,
                }
            ],
        )  # fmt: skip
        connection.execute(
            insert(messages),
            [{"id": m, "idempotency_key": m, **message} for m in ("m1", "m2", "m3")],
        )
        connection.execute(
            insert(events),
            [
                {
                    "id": f"ev{n}", "source": "test", "event_id": f"ev{n}", "type": kind,
                    "time": T0 + timedelta(minutes=minutes), "contact_id": "c1",
                    "properties": {}, "received_at": T0, "message_id": m, "journey_id": "j",
                }
                for n, (m, kind, minutes) in enumerate(reports)
            ],
        )  # fmt: skip
    command.upgrade(config, "head")
    facts = _table("messages", id=text_, **{f"{s}_at": time_ for s in REACHED})
    with engine.connect() as connection:
        rows = {r.id: r for r in connection.execute(select(facts)).all()}
    engine.dispose()
    minute = {m: {s: getattr(r, f"{s}_at") for s in REACHED} for m, r in rows.items()}
    none = dict.fromkeys(REACHED)
    after = {n: T0 + timedelta(minutes=n) for n in (3, 5, 9)}
    assert minute["m1"] == none | {"delivered": after[5], "opened": after[5], "clicked": after[9]}
    assert minute["m2"] == none | {"bounced": after[3]}
    assert minute["m3"] == none
