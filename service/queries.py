"""The read side of the operator API: contacts, timelines, messages and journeys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from service.delivery import outbox
from service.engine.core import CompiledJourney
from service.engine.diagram import mermaid
from service.engine.durations import format_duration
from service.engine.model import EventMatch, Transition
from service.errors import InvalidInput, NotFound
from service.registry import JourneyRegistry
from service.schemas import (
    ConsentOut,
    ContactOut,
    EnrollmentOut,
    JourneyListItem,
    JourneyOut,
    MessageOut,
    StageSummary,
    StuckEnrollment,
    TimelineEntry,
)
from service.store import repository as repo
from service.store.models import Contact, Message

OVERDUE_AFTER = timedelta(minutes=5)  # more than a few scheduler passes late
STUCK_LIMIT = 500

# Same-moment entries read naturally in this order: what happened, what it did, what it sent.
_KIND_ORDER = {"event": 0, "transition": 1, "note": 2, "message": 3}


def require_contact(session: Session, contact_id: str) -> Contact:
    """The contact, or NotFound."""
    contact = repo.get_contact(session, contact_id=contact_id)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id!r}")
    return contact


def find_contact(
    session: Session, *, email: str | None, phone: str | None, external_id: str | None
) -> Contact:
    """The contact holding exactly one given identifier, or NotFound."""
    given = [
        (n, v) for n, v in (("email", email), ("phone", phone), ("external_id", external_id)) if v
    ]
    if len(given) != 1:
        raise InvalidInput("give exactly one of email, phone, external_id", field="query")
    name, value = given[0]
    contact = repo.find_contact(
        session, field=name, value=value.strip().lower() if name == "email" else value
    )
    if contact is None:
        raise NotFound(f"no contact with {name} {value!r}")
    return contact


def contact_out(session: Session, contact: Contact) -> ContactOut:
    """A contact with consent and per-journey state."""
    return ContactOut(
        id=contact.id,
        email=contact.email,
        phone=contact.phone,
        external_id=contact.external_id,
        persona=contact.persona,
        timezone=contact.timezone,
        attributes=dict(contact.attributes),
        created_at=contact.created_at,
        updated_at=contact.updated_at,
        consents=[
            ConsentOut(
                channel=c.channel,
                status=c.status,
                reason=c.reason,
                suppressed=c.suppressed,
                suppression_reason=c.suppression_reason,
                updated_at=c.updated_at,
            )
            for c in repo.contact_consents(session, contact_id=contact.id)
        ],
        enrollments=[
            EnrollmentOut(
                id=e.id,
                journey=e.journey_id,
                version=e.version,
                stage=e.stage,
                status=e.status,
                visit=e.visit,
                entered_at=e.entered_at,
                next_due_at=e.next_due_at,
                started_at=e.started_at,
                ended_at=e.ended_at,
            )
            for e in repo.contact_enrollments(session, contact_id=contact.id)
        ],
    )


def message_out(message: Message) -> MessageOut:
    """One outbox row for operators."""
    return MessageOut(
        id=message.id,
        idempotency_key=message.idempotency_key,
        journey=message.journey_id,
        version=message.version,
        stage=message.stage,
        visit=message.visit,
        channel=message.channel,
        template=message.template,
        status=message.status,
        due_at=message.due_at,
        sent_at=message.sent_at,
        attempts=message.attempts,
        subject=message.subject,
        preheader=message.preheader,
        html=message.html,
        text=message.text,
        body=message.body,
        provider_message_id=message.provider_message_id,
        delivery_status=message.delivery_status,
        error=message.error,
        created_at=message.created_at,
    )


def contact_messages(session: Session, contact_id: str) -> list[MessageOut]:
    """A contact's messages, oldest first."""
    require_contact(session, contact_id)
    return [message_out(m) for m in outbox.contact_messages(session, contact_id=contact_id)]


def timeline(session: Session, contact_id: str) -> list[TimelineEntry]:
    """Events, moves, notes and messages of a contact merged in time order."""
    require_contact(session, contact_id)
    # (entry, order within its kind): the history sequence, or the message's stage visit.
    entries: list[tuple[TimelineEntry, int]] = []
    for event in repo.contact_events(session, contact_id=contact_id):
        data = {
            "id": event.event_id,
            "source": event.source,
            "properties": event.properties,
            "message_id": event.message_id,
            "journey": event.journey_id,
            "stage": event.stage,
        }
        entries.append(
            (TimelineEntry(at=event.time, kind="event", summary=event.type, data=data), 0)
        )
    for move in repo.contact_transitions(session, contact_id=contact_id):
        summary = f"{move.journey_id}: {move.from_stage or '(start)'} -> {move.to_stage}"
        data = {
            "journey": move.journey_id,
            "version": move.version,
            "from": move.from_stage,
            "to": move.to_stage,
            "trigger": move.trigger,
        }
        entries.append(
            (TimelineEntry(at=move.at, kind="transition", summary=summary, data=data), move.seq)
        )
    for note in outbox.contact_notes(session, contact_id=contact_id):
        summary = f"{note.journey_id}: {note.stage}: {note.text}"
        data = {
            "journey": note.journey_id,
            "stage": note.stage,
            "message_id": note.message_id,
            "text": note.text,
        }
        entries.append(
            (TimelineEntry(at=note.at, kind="note", summary=summary, data=data), note.seq)
        )
    for message in outbox.contact_messages(session, contact_id=contact_id):
        summary = f"{message.channel} {message.template}: {message.status}"
        data = {
            "id": message.id,
            "journey": message.journey_id,
            "stage": message.stage,
            "status": message.status,
            "delivery_status": message.delivery_status,
            "subject": message.subject,
        }
        at = message.sent_at or message.due_at
        entries.append(
            (TimelineEntry(at=at, kind="message", summary=summary, data=data), message.visit)
        )
    entries.sort(key=lambda item: (item[0].at, _KIND_ORDER[item[0].kind], item[1]))
    return [entry for entry, _ in entries]


def _match(match: EventMatch) -> dict[str, Any]:
    return {"event": match.event, "when": match.when}


def _transition(transition: Transition) -> dict[str, Any]:
    summary: dict[str, Any] = {"to": transition.to}
    if transition.event is not None:
        summary.update(event=transition.event, when=transition.when)
    elif transition.after is not None:
        summary["after"] = format_duration(transition.after)
    elif transition.at is not None:
        spec = transition.at
        summary["at"] = {
            "attribute": spec.attribute,
            "offset": format_duration(spec.offset),
            "time": spec.time.strftime("%H:%M") if spec.time else None,
        }
        summary["if_past"] = transition.if_past
    return summary


def journeys_list(session: Session, registry: JourneyRegistry) -> list[JourneyListItem]:
    """Loaded journeys with active counts per stage of their current version."""
    counts = repo.active_stage_counts(session)
    items = []
    for journey_id, compiled in sorted(registry.current.items()):
        items.append(
            JourneyListItem(
                id=journey_id,
                version=compiled.version,
                persona=compiled.journey.persona,
                path=compiled.path,
                active_by_stage={
                    stage: counts.get((journey_id, compiled.version, stage), 0)
                    for stage in compiled.journey.stages
                },
            )
        )
    return items


def journey_detail(session: Session, registry: JourneyRegistry, journey_id: str) -> JourneyOut:
    """A journey's current definition, stored versions and live counts."""
    compiled: CompiledJourney = registry.current_of(journey_id)
    journey = compiled.journey
    counts = repo.active_stage_counts(session)
    versions = [
        {
            "version": v.version,
            "path": v.path,
            "created_at": v.created_at.isoformat(),
            "current": v.version == compiled.version,
            "active": sum(
                n for (j, ver, _), n in counts.items() if j == journey_id and ver == v.version
            ),
        }
        for v in repo.journey_versions(session, journey_id=journey_id)
    ]
    return JourneyOut(
        id=journey_id,
        version=compiled.version,
        persona=journey.persona,
        description=journey.description,
        entry={**_match(journey.entry), "reenter": journey.entry.reenter},
        exit=[_match(rule) for rule in journey.exit.events],
        goal=_match(journey.goal) if journey.goal else None,
        initial=journey.initial,
        stages=[
            StageSummary(
                name=name,
                final=stage.final,
                send=stage.send.model_dump(exclude_none=True) if stage.send else None,
                transitions=[_transition(t) for t in stage.on],
                active=counts.get((journey_id, compiled.version, name), 0),
            )
            for name, stage in journey.stages.items()
        ],
        versions=versions,
    )


def journey_diagram(session: Session, registry: JourneyRegistry, journey_id: str) -> str:
    """The current version as Mermaid, with active contacts per stage and moves per edge."""
    compiled: CompiledJourney = registry.current_of(journey_id)
    counts = repo.active_stage_counts(session)
    active = {
        stage: counts.get((journey_id, compiled.version, stage), 0)
        for stage in compiled.journey.stages
    }
    moves = repo.stage_move_counts(session, journey_id=journey_id, version=compiled.version)
    return mermaid(compiled.journey, active=active, moves=moves)


def stuck_contacts(
    session: Session, registry: JourneyRegistry, journey_id: str, *, now: datetime, idle_days: int
) -> list[StuckEnrollment]:
    """Contacts a journey is not moving: waiting on events alone for `idle_days`, or with a
    timer overdue by more than a few minutes (no scheduler running)."""
    registry.current_of(journey_id)  # 404 for an unknown journey
    overdue_since = now - OVERDUE_AFTER
    rows = repo.stuck_enrollments(
        session,
        journey_id=journey_id,
        idle_since=now - timedelta(days=idle_days),
        overdue_since=overdue_since,
        limit=STUCK_LIMIT,
    )
    return [
        StuckEnrollment(
            contact_id=e.contact_id,
            enrollment_id=e.id,
            version=e.version,
            stage=e.stage,
            entered_at=e.entered_at,
            next_due_at=e.next_due_at,
            reason=(
                f"timer due {e.next_due_at.isoformat()} has not fired: is a scheduler running?"
                if e.next_due_at is not None
                else f"no timer: waiting only for events since {e.entered_at.isoformat()}"
            ),
        )
        for e in rows
    ]


def metrics_text(session: Session, registry: JourneyRegistry, *, now: datetime) -> str:
    """Prometheus text exposition of what the store holds right now."""
    counts = repo.status_counts(session)
    timers, messages = repo.overdue_counts(session, before=now - OVERDUE_AFTER)
    lines: list[str] = []

    def gauge(name: str, help_text: str, labels: tuple[str, ...], rows: Any) -> None:
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} gauge"])
        for values, value in rows:
            pairs = ",".join(f'{k}="{_label(v)}"' for k, v in zip(labels, values, strict=True))
            lines.append(f"{name}{{{pairs}}} {value}" if pairs else f"{name} {value}")

    gauge(
        "nurture_enrollments",
        "Enrollments by journey, stage and status.",
        ("journey", "stage", "status"),
        counts["enrollments"],
    )
    gauge(
        "nurture_messages",
        "Outbox messages by channel and status.",
        ("channel", "status"),
        counts["messages"],
    )
    gauge("nurture_events", "Stored events by type.", ("type",), counts["events"])
    gauge(
        "nurture_journeys_loaded", "Journeys loaded from files.", (), [((), len(registry.current))]
    )
    gauge(
        "nurture_overdue_timers",
        "Active timers overdue by more than five minutes (is a scheduler running?).",
        (),
        [((), timers)],
    )
    gauge(
        "nurture_overdue_messages",
        "Pending messages overdue by more than five minutes.",
        (),
        [((), messages)],
    )
    return "\n".join(lines) + "\n"


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
