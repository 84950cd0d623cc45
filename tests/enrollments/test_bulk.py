"""Bulk enrolment writes exactly the rows the unit of work writes one contact at a time: the
same contacts, consents, enrollments, history, visit facts, messages and timers, whatever
the batch size; and `nurture import` enrols a few thousand lines through it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlmodel import Session, SQLModel

from service.contacts import repository as contacts_repo
from service.contacts.profile import check_date_attributes, contact_view
from service.engine.core import Status
from service.engine.entry import decide_enrolment
from service.engine.groups import in_holdout
from service.enrollments import imports
from service.enrollments import repository as enrollments_repo
from service.enrollments.bulk import enrol_contacts
from service.enrollments.imports import ImportReport, Line, import_contacts, read_lines
from service.enrollments.profiles import upsert_in
from service.enrollments.unit import Work, enrollment_state, start_enrollment
from service.errors import NurtureError
from service.runtime import Runtime
from service.store.models import (
    Consent,
    ConsentStatus,
    Contact,
    Enrollment,
    Event,
    Message,
    Note,
    TransitionRecord,
)
from tests.factories import (
    START,
    FakeClock,
    add_contact,
    event,
    ingest,
    journeys_copy,
    make_settings,
    open_runtime,
    signup,
    stored,
)

REPO = Path(__file__).parents[2]
# Renewals: half held out, a send window, a first timer counted from her renewal date (a date
# already close fires at once on entry), an exit rule and re-entry after an exit.
RENEWAL = """
journey: renewal
entry:
  event: web.page_viewed
  when: "event.properties.page == 'renew'"
  reenter: after_exit
exit:
  events: [custom.cancelled]
holdout: 50%
send_window: {start: "09:00", end: "20:00"}
initial: reminder
stages:
  reminder:
    send: {channel: email, template: story/welcome}
    on:
      - at: {attribute: renewal_date, offset: -7d, time: "09:00"}
        to: last_call
      - after: 30d
        to: done
  last_call:
    send: {channel: email, template: story/favors}
    on:
      - after: 2d
        to: done
  done: {final: true}
"""
HEADER = "id,email,phone,external_id,timezone,persona,consent_email,consent_sms,"
HEADER += "attributes.renewal_date,attributes.plan\n"
LINES = [
    # new contacts: a date far off, one close enough to fire at once, none, another zone
    ",new1@example.com,,,,,,,2026-09-01,gold",
    ",new2@example.com,+15555550102,,Europe/Paris,,,withdrawn,2026-03-05,",
    ",,,crm-3,America/New_York,,,,,silver",
    ",new4@example.com,,,Asia/Tokyo,,granted,,2026-03-03,gold",
    # existing contacts: matched by email, by phone (her email renamed), by id (twice)
    ",known@example.com,,,,,granted,,2026-06-01,gold",
    ",renamed@example.com,+15555550200,,,,,,,",
    "seed-byid,,,,,,,,2026-04-01,",
    "seed-byid,,,,,,,,2026-04-20,platinum",
    # the email the rename freed: a new contact
    ",old@example.com,,,,,,,2026-05-01,",
    # already active in the journey, her date moved (her timer follows); exited before
    ",active@example.com,,,,,,,2026-03-04,",
    ",exited@example.com,,,,bride,granted,withdrawn,,",
    # refused: unknown id, identifiers of two contacts, a date that is none
    "nobody-has-this-id,,,,,,,,,",
    ",known@example.com,+15555550200,,,,,,,",
    ",baddate@example.com,,,,,,,soon,",
]
SEEDS = (
    ("seed-known", {"email": "known@example.com", "attributes": {"plan": "gold"}}),
    ("seed-renamed", {"email": "old@example.com", "phone": "+15555550200"}),
    ("seed-byid", {"external_id": "crm-byid", "timezone": "Europe/Berlin"}),
)
TABLES: tuple[type[SQLModel], ...] = (
    Contact,
    Consent,
    Enrollment,
    TransitionRecord,
    Message,
    Event,
    Note,
)


@pytest.fixture
def renewals(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    folder = journeys_copy(tmp_path, extra={"renewal": RENEWAL})
    settings = make_settings(database_url, tmp_path, journeys_dir=folder)
    with open_runtime(settings, clock) as runtime:
        yield runtime


def _seed(runtime: Runtime, clock: FakeClock) -> None:
    """The same starting rows for each run: contacts with fixed ids, one active in the
    renewal journey, one who left it, one who withdrew email consent."""
    clock.current = START
    for contact_id, fields in SEEDS:
        add_contact(runtime, id=contact_id, **fields)
    renew = {"page": "renew"}
    ingest(runtime, event("web.page_viewed", email="active@example.com", id="s1", properties=renew))
    ingest(runtime, event("web.page_viewed", email="exited@example.com", id="s2", properties=renew))
    ingest(runtime, event("custom.cancelled", email="exited@example.com", id="s3"))
    ingest(runtime, event("email.unsubscribed", email="exited@example.com", id="s4"))
    ingest(runtime, signup("known@example.com", id="s5"))
    clock.advance(hours=1)


def _reference_line(
    runtime: Runtime, line: Line, journey_id: str | None, counts: ImportReport, session: Session
) -> None:
    """One line the way the unit of work writes one contact: upsert, consents, enrolment."""
    now = runtime.clock.now()
    check_date_attributes(
        runtime.journeys.date_attributes, line.body.attributes, field_prefix="attributes"
    )
    contact, created, changed = upsert_in(session, runtime=runtime, body=line.body)
    for channel, status in line.consents.items():
        consents = contacts_repo.contact_consents(session, contact_id=contact.id)
        existing = next((c.status for c in consents if c.channel == channel), None)
        if existing == status or (existing is None and status == ConsentStatus.GRANTED):
            continue
        contacts_repo.set_consent(
            session, contact_id=contact.id, channel=channel, status=status, reason="import", now=now
        )
        changed = True
    if journey_id is not None:
        compiled = runtime.journeys.current_of(journey_id)
        mine = enrollments_repo.contact_enrollments(
            session, contact_id=contact.id, journey_id=journey_id
        )
        active = [enrollment_state(e) for e in mine if e.status == Status.ACTIVE]
        decision = decide_enrolment(
            compiled, contact_view(contact), active=active, enrolled_before=bool(mine), now=now
        )
        if decision is None:
            counts.skipped_reentry += 1
        else:
            start_enrollment(Work(session, contact, now), compiled=compiled, decision=decision)
            counts.enrolled += 1
    if created:
        counts.created += 1
    elif changed:
        counts.updated += 1
    else:
        counts.unchanged += 1


def _one_by_one(runtime: Runtime, text: str, journey_id: str | None) -> ImportReport:
    counts = ImportReport(dry_run=False)
    for line in read_lines(text)[1]:
        if isinstance(line, Line):
            with contextlib.suppress(NurtureError):
                runtime.db.write_retrying(
                    partial(_reference_line, runtime, line, journey_id, counts)
                )
    return counts


def _counts(report: ImportReport) -> tuple[int, ...]:
    return (
        report.created,
        report.updated,
        report.unchanged,
        report.enrolled,
        report.skipped_reentry,
    )


def _snapshot(runtime: Runtime) -> dict[str, list[str]]:
    """Every row of every table a contact's work writes, random ids replaced by what the row
    is (her identifier, the journey, the order of her enrollments, a move's number) and the
    holdout of a new contact (whose id is drawn anew each run) by whether it is hers."""
    with runtime.db.session() as session:
        rows = {
            model.__tablename__: [  # type: ignore[attr-defined]
                dict(row._mapping)
                for row in session.execute(select(model.__table__))  # type: ignore[attr-defined]
            ]
            for model in TABLES
        }
    labels: dict[str, str] = {}
    for row in rows["contacts"]:
        seeded = row["id"].startswith("seed-")
        labels[row["id"]] = row["id"] if seeded else row["email"] or row["external_id"]
    for row in rows["events"]:
        labels[row["id"]] = f"event {row['source']}/{row['event_id']}"
    ordered = sorted(
        rows["enrollments"],
        key=lambda e: (labels[e["contact_id"]], e["journey_id"], e["started_at"], e["status"]),
    )
    for number, row in enumerate(ordered):
        labels[row["id"]] = f"enrollment {number}"
        if not row["contact_id"].startswith("seed-"):
            share = runtime.journeys.get(row["journey_id"], row["version"]).journey.holdout
            row["holdout"] = row["holdout"] == in_holdout(
                row["contact_id"], row["journey_id"], share
            )
    for row in rows["transitions"]:
        labels[row["id"]] = f"move {labels[row['enrollment_id']]}/{row['seq']}"
    for row in rows["messages"]:
        enrollment_id = row["enrollment_id"]
        row["idempotency_key"] = row["idempotency_key"].replace(
            enrollment_id, labels[enrollment_id]
        )
        labels[row["id"]] = f"message {row['idempotency_key']}"
    for row in rows["consents"]:
        labels[row["id"]] = f"consent {labels[row['contact_id']]}/{row['channel']}"
    return {
        table: sorted(
            repr(sorted((k, labels.get(v, v) if isinstance(v, str) else v) for k, v in r.items()))
            for r in found
        )
        for table, found in rows.items()
    }


def _forget(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        session.execute(delete(Contact))  # every other row goes with her
    assert all(stored(runtime, model) == [] for model in TABLES)


def _imports(runtime: Runtime, clock: FakeClock, run: Any) -> list[tuple[int, ...]]:
    """The same three imports: enrolling in the renewals, then the wedding story (where
    she enrolled before, reenter: never), then profile changes alone (timers follow)."""
    text = HEADER + "".join(f"{line}\n" for line in LINES)
    counts = [_counts(run(runtime, text, "renewal"))]
    clock.advance(minutes=5)
    counts.append(_counts(run(runtime, text, "wedding-story")))
    clock.advance(minutes=5)
    moved = text.replace("2026-06-01", "2026-03-06").replace("2026-09-01", "2026-08-01")
    counts.append(_counts(run(runtime, moved, None)))
    return counts


@pytest.mark.parametrize("batch", [1000, 4])
def test_bulk_import_writes_the_rows_one_by_one_writes(
    renewals: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    _seed(renewals, clock)
    reference_counts = _imports(renewals, clock, _one_by_one)
    reference = _snapshot(renewals)
    _forget(renewals)

    monkeypatch.setattr(imports, "BATCH", batch)
    _seed(renewals, clock)

    def bulk_import(runtime: Runtime, text: str, journey_id: str | None) -> ImportReport:
        return import_contacts(runtime, text, journey_id=journey_id)

    assert _imports(renewals, clock, bulk_import) == reference_counts
    # Five new (one on the email a rename freed), six lines on existing contacts (one twice by
    # id, enrolled once), the active one skipped, the one who left enrolled again.
    assert reference_counts[0] == (5, 6, 0, 9, 2)
    snapshot = _snapshot(renewals)
    for table in reference:
        assert snapshot[table] == reference[table], table
    # The edges are there: held-out and not, a first timer fired at once, a timer moved.
    enrollments = stored(renewals, Enrollment, journey_id="renewal")
    assert {e.holdout for e in enrollments} == {True, False}
    assert {e.stage for e in enrollments} == {"reminder", "last_call"}
    [seeded] = [e for e in enrollments if e.status == Status.ACTIVE and e.started_at == START]
    assert seeded.next_due_at is not None and seeded.next_due_at < START + timedelta(days=2)
    assert len(stored(renewals, Consent)) == 3


def test_audience_batches_write_the_rows_one_by_one_writes(
    renewals: Runtime, clock: FakeClock
) -> None:
    """Existing contacts only, as audience enrolment gives them: the same snapshot as the
    unit of work's, with a contact that is gone meanwhile passed over."""
    _seed(renewals, clock)
    ids = [*sorted(c.id for c in stored(renewals, Contact)), "gone"]

    def one_by_one(session: Session) -> None:
        compiled = renewals.journeys.current_of("renewal")
        now = renewals.clock.now()
        for contact_id in ids:
            contact = contacts_repo.lock_contact(session, contact_id=contact_id)
            if contact is None:
                continue
            mine = enrollments_repo.contact_enrollments(
                session, contact_id=contact_id, journey_id="renewal"
            )
            active = [enrollment_state(e) for e in mine if e.status == Status.ACTIVE]
            decision = decide_enrolment(
                compiled, contact_view(contact), active=active, enrolled_before=bool(mine), now=now
            )
            if decision is not None:
                start_enrollment(Work(session, contact, now), compiled=compiled, decision=decision)

    renewals.db.write_retrying(one_by_one)
    reference = _snapshot(renewals)
    _forget(renewals)
    _seed(renewals, clock)
    ids = [*sorted(c.id for c in stored(renewals, Contact)), "gone"]
    compiled = renewals.journeys.current_of("renewal")
    enrol = partial(enrol_contacts, runtime=renewals, compiled=compiled, contact_ids=ids)
    with renewals.db.session() as session:
        assert enrol(session, dry_run=True) == (4, 1)
    assert renewals.db.write_retrying(enrol) == (4, 1)
    assert _snapshot(renewals) == reference


def test_the_command_imports_and_enrols_thousands_of_lines(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the command runs on its own SQLite file here")
    count = 3000
    settings = make_settings(database_url, tmp_path)
    with open_runtime(settings, clock):  # publishes the journeys the command enrols in
        pass
    rows = "".join(f"bride{n}@example.com,Bride {n},2027-09-18\n" for n in range(count))
    path = tmp_path / "brides.csv"
    path.write_text("email,attributes.first_name,attributes.wedding_date\n" + rows)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NURTURE_")}
    env = {
        **clean,
        "NURTURE_DATABASE_URL": database_url,
        "NURTURE_JOURNEYS_DIR": str(settings.journeys_dir),
        "NURTURE_CONTENT_DIR": str(settings.content_dir),
    }
    command = [sys.executable, "-m", "service.cli", "import", str(path), "--journey"]
    result = subprocess.run(
        [*command, "wedding-story"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = f"{count} line(s): {count} created, 0 updated, 0 unchanged, 0 with errors"
    assert result.stdout.splitlines()[-1] == f"{expected}; {count} enrolled, 0 skipped by re-entry"
    with open_runtime(settings, clock) as runtime:
        assert len(stored(runtime, Contact)) == count
        enrollments = stored(runtime, Enrollment)
        assert len(enrollments) == count and {e.stage for e in enrollments} == {"welcome"}
        assert len(stored(runtime, Message)) == count
        moves = stored(runtime, TransitionRecord)
        assert {(m.trigger, m.seq, m.visit_end) for m in moves} == {("entry", 1, "open")}
    again = subprocess.run(
        [*command, "wedding-story"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert again.stdout.splitlines()[-1].endswith(f"0 enrolled, {count} skipped by re-entry")
