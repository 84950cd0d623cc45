"""Visitors before they identify: their events kept, then handed to the inbox for her in
order once an identify or alias ties their anonymous id to a contact (so a journey can react
to the pages she viewed before signing up)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from pydantic import ValidationError
from sqlmodel import Session

from service.contacts.profile import without_bad_dates
from service.runtime import Runtime
from service.schemas import ContactRef, EventIn
from service.segment import repository as repo

logger = logging.getLogger(__name__)
# Events one visitor may have waiting; a bot's endless page views must not make her
# eventual identify replay without bound.
MAX_WAITING = 500


def _stored_attributes(event: EventIn) -> dict[str, Any]:
    """Attributes as sent: validation lifted persona and timezone out of them."""
    profile = {"persona": event.persona, "timezone": event.timezone}
    return {**event.attributes, **{k: v for k, v in profile.items() if v is not None}}


class Events(Protocol):
    """Where one request's events go, in the order of its calls."""

    def add(self, event: EventIn) -> None:
        """Queue one event after those added before it."""

    def store(self) -> None:
        """Store every event added so far in the inbox, for good."""


def keep_or_apply(runtime: Runtime, events: Events, event: EventIn, *, anonymous_id: str) -> None:
    """An event with only an anonymous id: handed on as her contact's when the id is tied to
    one, otherwise kept until it is (or until NURTURE_SEGMENT_ANONYMOUS_DAYS pass)."""
    now = runtime.clock.now()
    expired = now - timedelta(days=runtime.settings.segment_anonymous_days)

    def work(session: Session) -> str | None:
        owner = repo.linked_contact(session, anonymous_id=anonymous_id)
        if owner is not None:
            return owner
        repo.forget_expired(session, received_before=expired)
        kept = repo.keep_anonymous_event(
            session,
            source=event.source,
            event_id=event.id,
            anonymous_id=anonymous_id,
            type=event.type,
            time=event.time or now,
            properties=event.properties,
            attributes=_stored_attributes(event),
            received_at=now,
            most=MAX_WAITING,
        )
        if kept == "full":
            logger.warning(
                "%s: a visitor has %d events waiting; dropped one", event.source, MAX_WAITING
            )
        return None

    owner = runtime.db.write_retrying(work)
    if owner is not None:
        events.add(event.model_copy(update={"contact": ContactRef(id=owner)}))
        return
    # Tied meanwhile: whoever tied it may have read her waiting events before this one.
    with runtime.db.session() as session:
        owner = repo.linked_contact(session, anonymous_id=anonymous_id)
    if owner is not None:
        attach_waiting(runtime, events, anonymous_id=anonymous_id, contact=ContactRef(id=owner))


def attach_waiting(
    runtime: Runtime, events: Events, *, anonymous_id: str, contact: ContactRef
) -> None:
    """Hand a visitor's waiting events on as `contact`'s, oldest first, each exactly once:
    stored in the inbox before they are forgotten, so one stored twice is a duplicate."""
    with runtime.db.session() as session:
        rows = list(repo.waiting_events(session, anonymous_id=anonymous_id))
    if not rows:
        return
    for row in rows:
        try:
            event = EventIn(
                id=row.event_id,
                type=row.type,
                source=row.source,
                time=row.time,
                contact=contact,
                properties=row.properties,
                attributes=row.attributes,
            )
        except ValidationError:
            logger.warning("%s event %s: no longer valid; dropped", row.source, row.event_id)
        else:
            events.add(without_bad_dates(runtime.journeys.date_attributes, event))
    events.store()

    def forget(session: Session) -> None:
        for row in rows:
            repo.forget_event(session, row_id=row.id)

    runtime.db.write_retrying(forget)


def link_and_attach(
    runtime: Runtime, events: Events, *, anonymous_id: str, contact_id: str, named: ContactRef
) -> None:
    """Tie an anonymous id to a contact (the first contact to claim it keeps it, so one
    shared device never moves someone's history) and hand on what was waiting for it, named
    as the call that tied it named her (so they apply after it, in her lane)."""
    now = runtime.clock.now()
    owner = runtime.db.write_retrying(
        lambda session: repo.link_anonymous_id(
            session, anonymous_id=anonymous_id, contact_id=contact_id, now=now
        )
    )
    if owner != contact_id:
        logger.info("an anonymous id already tied to another contact stays with her")
        named = ContactRef(id=owner)
    attach_waiting(runtime, events, anonymous_id=anonymous_id, contact=named)
