"""The inbox: events stored at once and answered, then applied in order within her lane.

A lane is her strongest identifier in the event (id, external id, email, phone): one lane's
events apply one after another in the order they were stored, by whichever applier holds
the lane's oldest pending event, each in a savepoint of one transaction per batch that also
marks it applied, so a crash never loses or doubles an effect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from service.contacts.profile import check_date_attributes
from service.enrollments import repository as enrollments_repo
from service.enrollments.ingest import conflict, record_and_apply
from service.enrollments.quiet import record_quiet
from service.enrollments.schemas import EventResult
from service.errors import Conflict, InvalidInput, NurtureError
from service.runtime import Runtime
from service.schemas import EventIn
from service.store.db import Database
from service.store.intake import InboxEvent
from service.store.models import Contact

logger = logging.getLogger(__name__)
# One apply transaction stops taking events after this long, so on SQLite the writers that
# accept events never wait long for the one write lock (the applier thread sets its own).
BATCH_SECONDS = 0.05
CLAIM_ROWS = 5
QUIET_ROWS = 500  # the most claimed at once while events are quiet (see quiet.py)
INTERNAL = "internal"  # the error code of an event a defect kept from applying


@dataclass(frozen=True)
class Accepted:
    """What the inbox did with one event: stored it, or found it already there."""

    id: str
    source: str
    status: str  # accepted | duplicate
    inbox_id: int
    lane: str

    def answer(self) -> dict[str, str]:
        """The 202 body of this event."""
        return {"id": self.id, "source": self.source, "status": self.status}


@dataclass
class ChunkSize:
    """How many rows the next chunk claims: a few, so a batch the budget cuts short read few
    for nothing, and ten times more after each chunk of quiet events alone (each costs
    little). An applier keeps one across its batches, so a burst stays in large chunks."""

    rows: int = CLAIM_ROWS

    def follow(self, *, claimed: int, quiet: int) -> None:
        """The size after a chunk of `claimed` rows of which `quiet` were quiet."""
        self.rows = min(self.rows * 10, QUIET_ROWS) if quiet == claimed else CLAIM_ROWS


def lane_of(event: EventIn) -> str:
    """Her strongest identifier in the event: the events naming it apply in order."""
    name, value = event.contact.identifiers()[0]
    return f"{name}:{value}"


def contact_lanes(contact: Contact) -> list[str]:
    """Every lane an event naming her may take."""
    named: list[tuple[str, str | None]] = [
        ("id", contact.id),
        ("external_id", contact.external_id),
        ("email", contact.email),
        ("phone", contact.phone),
    ]
    return [f"{name}:{value}" for name, value in named if value is not None]


class _Refused(Exception):
    """A request of a group reuses an id for another type: the group's transaction is
    rolled back and stored again without it."""

    def __init__(self, index: int, conflict: Conflict) -> None:
        super().__init__("refused request")
        self.index = index
        self.conflict = conflict


def store_requests(
    db: Database,
    requests: Sequence[Sequence[EventIn]],
    *,
    now: datetime,
    add_only: Sequence[bool] = (),
) -> list[list[Accepted] | Conflict]:
    """Store the events of many requests in one write transaction; a request reusing an
    event id for another type stores nothing and gets its conflict instead. `add_only`
    flags, request by request, an unproven sender whose events may add attributes only."""
    refused: dict[int, Conflict] = {}
    flags = [index < len(add_only) and add_only[index] for index in range(len(requests))]
    for _ in range(len(requests) + 1):  # each round refuses one request, or ends
        live = [index for index in range(len(requests)) if index not in refused]
        try:
            with db.write() as session:
                outcomes = _store(
                    session,
                    [requests[index] for index in live],
                    now=now,
                    add_only=[flags[index] for index in live],
                )
                # Only the earliest refusal is sure: a later one may clash with a request
                # refused itself, whose events are then not stored after all.
                for position, outcome in enumerate(outcomes):
                    if isinstance(outcome, Conflict):
                        raise _Refused(live[position], outcome)
        except _Refused as exc:
            refused[exc.index] = exc.conflict
            continue
        accepted = dict(zip(live, outcomes, strict=True))
        return [
            refused[index] if index in refused else accepted[index]
            for index in range(len(requests))
        ]
    raise AssertionError("unreachable: every round refuses a request or returns")


def _store(
    session: Session,
    requests: Sequence[Sequence[EventIn]],
    *,
    now: datetime,
    add_only: Sequence[bool],
) -> list[list[Accepted] | Conflict]:
    rows = [
        _row(event, now=now, add_only=flag)
        for events, flag in zip(requests, add_only, strict=True)
        for event in events
    ]
    stored = enrollments_repo.store_inbox(session, rows=rows)
    earlier = enrollments_repo.inbox_types(
        session,
        keys=[key for key in {(r["source"], r["event_id"]) for r in rows} if key not in stored],
    )
    taken: dict[tuple[str, str], tuple[int, str]] = {}
    outcomes: list[list[Accepted] | Conflict] = []
    for events in requests:
        accepted: list[Accepted] = []
        refusal: Conflict | None = None
        for index, event in enumerate(events):
            key = (event.source, event.id)
            status = "duplicate"
            if key not in taken:
                if key in stored:
                    taken[key], status = (stored[key], event.type), "accepted"
                else:
                    taken[key] = earlier[key]
            row_id, kind = taken[key]
            if kind != event.type:
                refusal = conflict(event, where=f"events.{index}: ")
                break
            accepted.append(Accepted(event.id, event.source, status, row_id, lane_of(event)))
        outcomes.append(refusal or accepted)
    return outcomes


def _row(event: EventIn, *, now: datetime, add_only: bool) -> dict[str, Any]:
    return {
        "source": event.source,
        "event_id": event.id,
        "type": event.type,
        "lane": lane_of(event),
        "body": event.model_dump(mode="json"),
        "add_attributes_only": add_only,
        "received_at": now,
    }


def apply_pending(
    runtime: Runtime,
    *,
    limit: int,
    lanes: Sequence[str] | None = None,
    budget: float = BATCH_SECONDS,
    chunk: ChunkSize | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """Apply up to `limit` of the oldest pending events (of `lanes` only, if given) in one
    transaction, taking new ones for at most `budget` seconds; how many were applied."""
    runtime.journeys.refresh()
    started = monotonic()
    applied = 0
    chunk = chunk or ChunkSize()
    with runtime.db.write() as session:
        waiting: list[str] = []  # lanes that met a concurrent write: left for the next batch
        while applied < limit and not (applied and monotonic() - started > budget):
            claimed = enrollments_repo.claim_inbox(
                session, limit=min(chunk.rows, limit - applied), lanes=lanes, skip_lanes=waiting
            )
            if not claimed:
                break
            quiet = record_quiet(runtime.journeys, session, claimed, now=runtime.clock.now())
            applied += len(quiet)
            chunk.follow(claimed=len(claimed), quiet=len(quiet))
            for row in claimed:
                if row.id in quiet or row.lane in waiting:
                    continue
                if applied and monotonic() - started > budget:
                    return applied  # the rest, all later in their lanes, wait for the next
                if _apply_row(runtime, session, row):
                    applied += 1
                else:
                    waiting.append(row.lane)
    return applied


def _apply_row(runtime: Runtime, session: Session, row: InboxEvent) -> bool:
    """One event's effects and its applied mark, in a savepoint; False when it must wait."""
    try:
        with session.begin_nested():
            row.result = _apply(runtime, session, row).model_dump(mode="json")
        row.body = {}  # applied: what it said about her is in her rows now, not here
    except NurtureError as exc:
        row.error = {"code": exc.code, "message": exc.message, "detail": exc.detail}
    except IntegrityError:
        # Another process won a unique race (her new email, say): her lane waits for the
        # next batch, when the winner's row is there to be found.
        logger.info("inbox event %s met a concurrent write; retried", row.id)
        return False
    except SQLAlchemyError:
        raise  # the database's trouble, not the event's: the whole batch is tried again
    except Exception:
        # A defect met by this event alone: kept with the event, so her later events and
        # everyone else's still apply.
        logger.exception("inbox event %s could not be applied; kept with its error", row.id)
        row.error = {"code": INTERNAL, "message": "the event could not be applied"}
    row.applied_at = runtime.clock.now()
    session.add(row)
    return True


def _apply(runtime: Runtime, session: Session, row: InboxEvent) -> EventResult:
    try:
        # Every edge refused a reserved source before storing: a stored one is nurture's own
        # (its links), so it is read back as such.
        event = EventIn.internal(**row.body)
    except ValidationError as exc:  # stored by a release with other rules
        raise InvalidInput(
            f"the stored event is no longer valid: {exc.errors()[0]['msg']}"
        ) from None
    check_date_attributes(
        runtime.journeys.date_attributes, event.attributes, field_prefix="attributes"
    )
    return record_and_apply(runtime, session, event, add_attributes_only=row.add_attributes_only)


def drain(runtime: Runtime, *, limit: int, rounds: int, chunk: ChunkSize | None = None) -> int:
    """Apply pending events until none is left or `rounds` batches ran; how many."""
    total = 0
    chunk = chunk or ChunkSize()
    for _ in range(rounds):
        applied = apply_pending(runtime, limit=limit, chunk=chunk)
        total += applied
        if not applied:
            break
    return total


def wait_for(
    runtime: Runtime,
    accepted: Sequence[Accepted],
    *,
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[EventResult] | None:
    """Their decisions once every event is applied (helping to apply her lanes), or None
    when `seconds` pass first; an event that could not be applied raises its error."""
    deadline = monotonic() + seconds
    ids = [item.inbox_id for item in accepted]
    lanes = sorted({item.lane for item in accepted})
    pause = 0.01
    while True:
        with runtime.db.session() as session:
            rows = {row.id: row for row in enrollments_repo.inbox_rows(session, ids=ids)}
        if all(rows.get(row_id) and rows[row_id].applied_at for row_id in ids):
            return [_decision(item, rows[item.inbox_id]) for item in accepted]
        if monotonic() >= deadline:
            return None
        try:
            progressed = apply_pending(runtime, limit=len(ids) + 100, lanes=lanes)
        except OperationalError:  # a deadlock with another applier, say: tried again
            progressed = 0
        if not progressed:  # another applier holds her lane
            sleep(pause)
            pause = min(pause * 2, 0.2)


def _decision(item: Accepted, row: InboxEvent) -> EventResult:
    if row.error is not None and row.error["code"] == INTERNAL:
        raise RuntimeError(f"inbox event {row.id} could not be applied")  # a 500, logged
    if row.error is not None:
        raise _error(row.error)
    result = EventResult.model_validate(row.result)
    if item.status == "duplicate":
        return EventResult(
            id=item.id, source=item.source, status="duplicate", contact_id=result.contact_id
        )
    return result


def _error(stored: dict[str, Any]) -> NurtureError:
    """The error an event met when applied, raised again for the caller waiting on it."""
    if stored["code"] == Conflict.code:
        return Conflict(stored["message"])
    detail = stored.get("detail") or {}
    return InvalidInput(stored["message"], field=detail.get("field"))
