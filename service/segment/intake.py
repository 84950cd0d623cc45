"""One request of the tracking API: every call checked first, then applied in order.

A malformed call refuses the whole request with nothing stored, as SDKs do not resend a
400; a request that fails midway is resent by the SDK, and the calls already applied are
then duplicates of their messageId with no second effect.
"""

from __future__ import annotations

import logging
from typing import Any

from service.contacts import repository as contacts_repo
from service.contacts.identity import event_contact
from service.enrollments.ingest import ingest_event
from service.runtime import Runtime
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


def _user_contact(runtime: Runtime, user_id: str) -> str | None:
    """The contact with this userId, created if new; None if she was erased meanwhile."""
    now = runtime.clock.now()
    try:
        return runtime.db.write_retrying(
            lambda session: event_contact(session, [("external_id", user_id)], now=now).id
        )
    except LookupError:
        return None


def _alias(runtime: Runtime, *, user_id: str, previous_id: str) -> None:
    """previousId is the visitor's anonymous id; two known users are never merged."""
    contact_id = _user_contact(runtime, user_id)
    if contact_id is None:
        return
    with runtime.db.session() as session:
        holder = contacts_repo.identifier_owner(session, field="external_id", value=previous_id)
    if holder is not None:
        if holder != contact_id:
            logger.info("alias between two known users ignored: contacts are not merged")
        return
    link_and_attach(runtime, anonymous_id=previous_id, contact_id=contact_id)


def apply(runtime: Runtime, planned: Planned) -> None:
    """Carry out one planned call."""
    if planned.event is None:
        assert planned.user_id is not None and planned.previous_id is not None
        _alias(runtime, user_id=planned.user_id, previous_id=planned.previous_id)
        return
    if not planned.identified:
        assert planned.anonymous_id is not None  # read_batch requires one of the two ids
        keep_or_apply(runtime, planned.event, anonymous_id=planned.anonymous_id)
        return
    result = ingest_event(runtime, planned.event)
    if planned.anonymous_id is not None:
        link_and_attach(runtime, anonymous_id=planned.anonymous_id, contact_id=result.contact_id)


def receive(runtime: Runtime, payload: dict[str, Any], *, kind: Kind | None, key: WriteKey) -> None:
    """Check every call of a request, then apply them in order."""
    for planned in plan(runtime, payload, kind=kind, key=key):
        apply(runtime, planned)
