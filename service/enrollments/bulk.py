"""Many contacts upserted and enrolled in one transaction with a few bulk statements, to
exactly the rows the unit of work writes for them one at a time (imports, audiences).

A batch first reads every row it can touch, one query per table, its contacts locked in id
order as the unit of work locks one; it then decides line after line in memory, as the unit
of work would go (the engine decides each start; an identifier one line frees is free for
the lines after it), and writes with multi-row statements in an order the unique keys
allow: identifiers changed line by line, then new contacts, then everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.contacts.consent import ConsentChange, record_consents
from service.contacts.profile import check_date_attributes, contact_view, merge_profile
from service.contacts.schemas import ContactIn
from service.delivery import outbox
from service.engine.core import CompiledJourney, Decision, MessageOrder, Status
from service.engine.entry import decide_enrolment
from service.enrollments import repository as enrollments_repo
from service.enrollments import visits
from service.enrollments.unit import enrollment_state
from service.errors import Conflict, NotFound, NurtureError
from service.runtime import Runtime
from service.store.columns import new_id
from service.store.db import insert_many, update_many
from service.store.models import ConsentStatus, Contact, Enrollment, TransitionRecord

logger = logging.getLogger(__name__)
IDENTIFIERS = ("id", "external_id", "email", "phone")  # the order the unit of work asks in
KEYS = IDENTIFIERS[1:]  # identifiers a contact holds uniquely


class Upsert(Protocol):
    """One contact to write: the upsert body and the consents it states."""

    @property
    def body(self) -> ContactIn: ...
    @property
    def consents(self) -> Mapping[str, ConsentStatus]: ...


@dataclass
class Upserted:
    """What one upsert of a batch did; `error` set means it did nothing."""

    created: bool = False
    changed: bool = False
    enrolled: bool | None = None  # None: no journey asked for, or the line failed
    error: NurtureError | None = None


@dataclass(slots=True)
class _Person:
    """A contacts row held while a batch is decided."""

    id: str
    email: str | None
    phone: str | None
    external_id: str | None
    persona: str | None
    timezone: str | None
    attributes: dict[str, Any]
    history_seq: int
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class _Enrolment:
    """An enrollments row held while a batch is decided."""

    id: str
    contact_id: str
    journey_id: str
    version: str
    stage: str
    status: str
    visit: int
    holdout: bool
    entered_at: datetime
    clock_checked_at: datetime | None
    next_due_at: datetime | None
    claimed_until: datetime | None
    started_at: datetime
    ended_at: datetime | None
    goal_at: datetime | None
    path: str | None


@dataclass(slots=True)
class _Move:
    """A transitions row of a new enrollment."""

    id: str
    enrollment_id: str
    contact_id: str
    journey_id: str
    version: str
    from_stage: str | None
    to_stage: str
    trigger: str
    at: datetime
    seq: int
    visit_end: str | None = None
    next_stage: str | None = None
    seconds: float | None = None


def _columns(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


_PERSON, _ENROLMENT, _MOVE = _columns(_Person), _columns(_Enrolment), _columns(_Move)
_MUTABLE = tuple(name for name in _PERSON if name != "created_at")


def _row(item: object, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(item, name) for name in names}


@dataclass
class _Batch:
    """The rows one batch reads, decides and writes."""

    runtime: Runtime
    now: datetime
    people: dict[str, _Person] = field(default_factory=dict)
    owners: dict[tuple[str, str], str] = field(default_factory=dict)
    enrolments: dict[str, list[_Enrolment]] = field(default_factory=dict)
    read: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # contacts as read
    due: dict[str, datetime | None] = field(default_factory=dict)  # stored timers as read
    renamed: list[dict[str, Any]] = field(default_factory=list)  # identifiers, line by line
    created: list[_Person] = field(default_factory=list)
    started: list[_Enrolment] = field(default_factory=list)
    moves: list[_Move] = field(default_factory=list)
    orders: list[tuple[_Enrolment, MessageOrder]] = field(default_factory=list)
    consents: list[ConsentChange] = field(default_factory=list)

    def load(
        self,
        session: Session,
        *,
        ids: Collection[str],
        keys: Mapping[str, Collection[str]],
        journey_id: str | None,
        lock: bool,
    ) -> None:
        """Every contact holding one of the ids or identifiers (locked in id order unless
        `lock` is false), her active enrollments and all of hers in `journey_id`."""
        found = contacts_repo.contact_rows(session, ids=ids, identifiers=keys, lock=lock)
        for row in found:
            person = _Person(**row)
            self.people[person.id] = person
            self.read[person.id] = tuple(_row(person, _MUTABLE).values())
            for name in KEYS:
                value = getattr(person, name)
                if value is not None:
                    self.owners[(name, value)] = person.id
        if not self.people:
            return
        people = list(self.people)
        for row in enrollments_repo.enrollment_rows(
            session, contact_ids=people, journey_id=journey_id
        ):
            enrolment = _Enrolment(**row)
            self.enrolments.setdefault(enrolment.contact_id, []).append(enrolment)
            self.due[enrolment.id] = enrolment.next_due_at

    # ----- deciding, line by line --------------------------------------------------------

    def upsert(self, body: ContactIn) -> tuple[_Person, bool, bool]:
        """`profiles.upsert_in` on the rows held: the contact, whether it was created, and
        whether anything about it changed."""
        identifiers = [
            (name, getattr(body, name)) for name in IDENTIFIERS if getattr(body, name) is not None
        ]
        owners: dict[str, str] = {}
        for name, value in identifiers:
            if name == "id":
                if value not in self.people:
                    raise NotFound(f"no contact with id {value!r}")
                owners[name] = value
            elif (owner := self.owners.get((name, value))) is not None:
                owners[name] = owner
        if len(set(owners.values())) > 1:
            raise Conflict(
                "the identifiers given belong to different contacts", detail={"owners": owners}
            )
        now = self.now
        if owners:
            person = self.people[next(iter(owners.values()))]
        else:
            name, value = identifiers[0]
            person = _Person(new_id(), None, None, None, None, None, {}, 0, now, now)
            setattr(person, name, value)
            self.people[person.id] = person
            self.owners[(name, value)] = person.id
            self.created.append(person)
        identified = False
        for name, value in identifiers:
            if name != "id" and getattr(person, name) != value:
                self.owners.pop((name, getattr(person, name)), None)
                self.owners[(name, value)] = person.id
                setattr(person, name, value)
                person.updated_at = now
                identified = True
        if identified and person.id in self.read:
            self.renamed.append(_row(person, ("id", *KEYS)))
        changed = merge_profile(
            person,
            attributes=body.attributes,
            persona=body.persona,
            timezone=body.timezone,
            now=now,
        )
        if changed:
            self._reschedule(person)
        return person, not owners, changed or identified

    def _reschedule(self, person: _Person) -> None:
        """`unit.reschedule`: her active timers follow her new profile."""
        view = contact_view(person)
        for enrolment in self.enrolments.get(person.id, ()):
            if enrolment.status == Status.ACTIVE:
                compiled = self.runtime.journeys.get(enrolment.journey_id, enrolment.version)
                enrolment.next_due_at = compiled.next_due(enrollment_state(enrolment), view)

    def enrol(self, person: _Person, compiled: CompiledJourney) -> bool:
        """`decide_enrolment` over her enrollments held, and the start persisted as the unit
        of work would; False when the re-entry policy refuses."""
        mine = [e for e in self.enrolments.get(person.id, ()) if e.journey_id == compiled.id]
        active = [enrollment_state(e) for e in mine if e.status == Status.ACTIVE]
        decision = decide_enrolment(
            compiled, contact_view(person), active=active, enrolled_before=bool(mine), now=self.now
        )
        if decision is None:
            return False
        self._start(person, compiled, decision)
        return True

    def _start(self, person: _Person, compiled: CompiledJourney, decision: Decision) -> None:
        """`unit.start_enrollment` for a new enrollment: no message of it exists yet, so
        nothing is canceled and no goal is kept on one."""
        state, now = decision.state, self.now
        enrolment = _Enrolment(
            id=new_id(),
            contact_id=person.id,
            journey_id=compiled.id,
            version=state.version,
            stage=state.stage,
            status=state.status,
            visit=state.visit,
            holdout=state.holdout,
            entered_at=state.entered_at,
            clock_checked_at=state.clock_checked_at,
            next_due_at=decision.next_due_at,
            claimed_until=None,
            started_at=now,
            ended_at=None if state.status is Status.ACTIVE else now,
            goal_at=None,
            path=None,
        )
        moves = []
        for change in decision.changes:
            person.history_seq += 1
            moves.append(
                _Move(
                    id=new_id(),
                    enrollment_id=enrolment.id,
                    contact_id=person.id,
                    journey_id=enrolment.journey_id,
                    version=enrolment.version,
                    from_stage=change.from_stage,
                    to_stage=change.to_stage,
                    trigger=change.trigger,
                    at=change.at,
                    seq=person.history_seq,
                )
            )
        visits.first_moves(enrolment, moves)
        self.enrolments.setdefault(person.id, []).append(enrolment)
        self.started.append(enrolment)
        self.moves.extend(moves)
        self.orders.extend((enrolment, order) for order in decision.messages)
        for note in decision.notes:
            logger.warning("journey %s: %s", enrolment.journey_id, note)

    # ----- writing -----------------------------------------------------------------------

    def write(self, session: Session, *, dry_run: bool) -> list[bool]:
        """Every row decided, in an order the unique keys allow; whether each consent change
        changed anything (a dry run writes nothing and only decides those)."""
        if dry_run:
            return record_consents(session, changes=self.consents, now=self.now, dry_run=True)
        update_many(session, Contact, self.renamed)
        insert_many(session, Contact, [_row(person, _PERSON) for person in self.created])
        changed = [
            _row(person, ("id", *_MUTABLE))
            for person in self.people.values()
            if person.id in self.read
            and tuple(_row(person, _MUTABLE).values()) != self.read[person.id]
        ]
        update_many(session, Contact, changed)
        rescheduled = [
            {"id": e.id, "next_due_at": e.next_due_at}
            for enrolments in self.enrolments.values()
            for e in enrolments
            if e.id in self.due and e.next_due_at != self.due[e.id]
        ]
        update_many(session, Enrollment, rescheduled)
        consented = record_consents(session, changes=self.consents, now=self.now)
        insert_many(session, Enrollment, [_row(e, _ENROLMENT) for e in self.started])
        insert_many(session, TransitionRecord, [_row(move, _MOVE) for move in self.moves])
        outbox.enqueue_many(session, orders=self.orders, event_row_id=None, now=self.now)
        return consented


def upsert_and_enrol(
    session: Session,
    *,
    runtime: Runtime,
    upserts: Sequence[Upsert],
    journey: CompiledJourney | None,
    reason: str,
    dry_run: bool = False,
) -> list[Upserted]:
    """Upsert each contact in order with her consents (given for `reason`), enrolled in
    `journey` as its re-entry policy allows: what each did, as one savepoint each would
    have (one that fails does nothing). A dry run decides alike and writes nothing."""
    batch = _Batch(runtime, runtime.clock.now())
    ids = {upsert.body.id for upsert in upserts if upsert.body.id is not None}
    keys = {name: {getattr(u.body, name) for u in upserts} - {None} for name in KEYS}
    journey_id = journey.id if journey is not None else None
    batch.load(session, ids=ids, keys=keys, journey_id=journey_id, lock=not dry_run)
    dated = runtime.journeys.date_attributes
    results: list[Upserted] = []
    consenting: list[Upserted] = []
    for upsert in upserts:
        result = Upserted()
        results.append(result)
        try:
            check_date_attributes(dated, upsert.body.attributes, field_prefix="attributes")
            person, result.created, result.changed = batch.upsert(upsert.body)
        except NurtureError as exc:
            result.error = exc
            continue
        for channel, status in upsert.consents.items():
            batch.consents.append(ConsentChange(person.id, channel, status, reason))
            consenting.append(result)
        if journey is not None:
            result.enrolled = batch.enrol(person, journey)
    for result, changed in zip(consenting, batch.write(session, dry_run=dry_run), strict=True):
        result.changed |= changed
    return results


def enrol_contacts(
    session: Session,
    *,
    runtime: Runtime,
    compiled: CompiledJourney,
    contact_ids: Sequence[str],
    dry_run: bool = False,
) -> tuple[int, int]:
    """Enrol existing contacts in `compiled` as its re-entry policy allows, locked first (a
    dry run only decides, exactly as the real run would): how many were enrolled and how
    many the policy skipped; a contact erased meanwhile is neither."""
    batch = _Batch(runtime, runtime.clock.now())
    batch.load(session, ids=contact_ids, keys={}, journey_id=compiled.id, lock=not dry_run)
    enrolled = skipped = 0
    for contact_id in contact_ids:
        person = batch.people.get(contact_id)
        if person is None:
            continue
        if batch.enrol(person, compiled):
            enrolled += 1
        else:
            skipped += 1
    batch.write(session, dry_run=dry_run)
    return enrolled, skipped
