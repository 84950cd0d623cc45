"""One request of the tracking API: every call checked first, then its events stored in the
inbox in order and answered at once, applied by an applier like POST /events.

A malformed call refuses the whole request with nothing stored, as SDKs do not resend a
400; a request that fails midway is resent by the SDK, and the calls already stored are
then duplicates of their messageId with no second effect.
"""

from __future__ import annotations

import logging
from typing import Any

from service.contacts import repository as contacts_repo
from service.contacts.identity import event_contact
from service.enrollments.acceptor import Acceptor
from service.runtime import Runtime
from service.schemas import ContactRef, EventIn
from service.segment import repository as repo
from service.segment.anonymous import keep_or_apply, link_and_attach
from service.segment.auth import WriteKey
from service.segment.calls import Kind, read_batch
from service.segment.mapping import Planned, plan_call

logger = logging.getLogger(__name__)


def plan(
    runtime: Runtime, payload: dict[str, Any], *, kind: Kind | None, key: WriteKey
) -> list[Planned]:
    """What each call of the request will do; MalformedCall or TooLarge before any effect."""
    batch = read_batch(payload, kind=kind)
    received_at = runtime.clock.now()
    return [
        plan_call(
            call,
            where="body" if kind else f"batch.{index}",
            source=key.source,
            received_at=received_at,
            batch_sent_at=batch.sent_at,
            region=runtime.settings.default_region,
            dated=runtime.journeys.date_attributes,
        )
        for index, call in enumerate(batch.calls)
    ]


class _Calls:
    """One request's events on their way to the inbox, in the order of its calls."""

    def __init__(self, acceptor: Acceptor) -> None:
        self._acceptor = acceptor
        self._events: list[EventIn] = []

    def add(self, event: EventIn) -> None:
        """Queue one event after those added before it."""
        self._events.append(event)

    def store(self) -> None:
        """Store every event added so far in the inbox, for good."""
        if self._events:
            self._acceptor.store(self._events)
            self._events = []


def _contact(runtime: Runtime, contact: ContactRef) -> str | None:
    """The contact these identifiers name, created if new; None if she was erased meanwhile."""
    now = runtime.clock.now()
    try:
        return runtime.db.write_retrying(
            lambda session: event_contact(session, contact.identifiers(), now=now).id
        )
    except LookupError:
        return None


def _alias(runtime: Runtime, calls: _Calls, *, user_id: str, previous_id: str) -> None:
    """previousId is the visitor's anonymous id; two known users are never merged."""
    named = ContactRef(external_id=user_id)
    contact_id = _contact(runtime, named)
    if contact_id is None:
        return
    with runtime.db.session() as session:
        holder = contacts_repo.identifier_owner(session, field="external_id", value=previous_id)
    if holder is not None:
        if holder != contact_id:
            logger.info("alias between two known users ignored: contacts are not merged")
        return
    link_and_attach(runtime, calls, anonymous_id=previous_id, contact_id=contact_id, named=named)


def _identified(runtime: Runtime, calls: _Calls, event: EventIn, *, anonymous_id: str) -> None:
    """A known person's event that also carries her anonymous id: the first one ties the id
    to her (so she is found, or created, now) and hands on what was waiting for it."""
    calls.add(event)
    with runtime.db.session() as session:
        if repo.linked_contact(session, anonymous_id=anonymous_id) is not None:
            return
    contact_id = _contact(runtime, event.contact)
    if contact_id is not None:
        link_and_attach(
            runtime, calls, anonymous_id=anonymous_id, contact_id=contact_id, named=event.contact
        )


def apply(runtime: Runtime, calls: _Calls, planned: Planned) -> None:
    """Carry out one planned call: its event queued, anonymous ids tied and kept events
    handed on."""
    if planned.event is None:
        assert planned.user_id is not None and planned.previous_id is not None
        _alias(runtime, calls, user_id=planned.user_id, previous_id=planned.previous_id)
        return
    if not planned.identified:
        assert planned.anonymous_id is not None  # read_batch requires one of the two ids
        keep_or_apply(runtime, calls, planned.event, anonymous_id=planned.anonymous_id)
        return
    if planned.anonymous_id is None:
        calls.add(planned.event)
        return
    _identified(runtime, calls, planned.event, anonymous_id=planned.anonymous_id)


def receive(
    runtime: Runtime,
    acceptor: Acceptor,
    payload: dict[str, Any],
    *,
    kind: Kind | None,
    key: WriteKey,
) -> None:
    """Check every call of a request, then store their events in the inbox in call order
    (blocking: from a worker thread); appliers apply them."""
    calls = _Calls(acceptor)
    for planned in plan(runtime, payload, kind=kind, key=key):
        apply(runtime, calls, planned)
    calls.store()
