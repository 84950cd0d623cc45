"""Consent and suppression: what an event says about whether she may be messaged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.schemas import EventIn
from service.store.columns import new_id
from service.store.db import insert_many, update_many
from service.store.models import Consent, ConsentStatus, Contact

# Consent effects of events, whatever journeys say: (channel, status).
CONSENT_EVENTS = {
    "email.unsubscribed": ("email", ConsentStatus.WITHDRAWN),
    "email.complained": ("email", ConsentStatus.WITHDRAWN),
    "sms.opted_out": ("sms", ConsentStatus.WITHDRAWN),
    "sms.opted_in": ("sms", ConsentStatus.GRANTED),
}
# Events after which the address must never be mailed again, whatever consent says.
SUPPRESSING_EVENTS = {"email.complained": "spam complaint"}


def _is_hard_bounce(event: EventIn) -> bool:
    """Adapters say `hard: true`; integrators posting /events may say `bounce_type: hard`."""
    properties = event.properties
    return properties.get("hard") is True or properties.get("bounce_type") == "hard"


def consent_effects(event: EventIn) -> list[tuple[str, ConsentStatus | None, str]]:
    """What the event does to her consent, as (channel, status or None for a suppression,
    reason); empty for most events, whose applying may then skip the consent rows."""
    effects: list[tuple[str, ConsentStatus | None, str]] = []
    effect = CONSENT_EVENTS.get(event.type)
    if event.type == "email.unsubscribed" and event.properties.get("scope") == "group":
        effect = None  # one subscription group only: journeys' exit rules decide, consent stays
    if effect is not None:
        channel, status = effect
        effects.append((channel, status, event.type))
    suppression = SUPPRESSING_EVENTS.get(event.type)
    if event.type == "email.bounced" and _is_hard_bounce(event):
        suppression = "hard bounce"
    if suppression is not None:
        effects.append(("email", None, suppression))
    return effects


def apply_consent_effects(
    session: Session, *, contact: Contact, event: EventIn, now: datetime
) -> None:
    """Withdraw, grant or suppress as the event requires, before any journey sees it."""
    for channel, status, reason in consent_effects(event):
        contacts_repo.set_consent(
            session,
            contact_id=contact.id,
            channel=channel,
            status=status,
            suppressed=True if status is None else None,
            reason=reason,
            now=now,
        )


@dataclass(frozen=True)
class ConsentChange:
    """Consent given or withdrawn outside an event (a line of an imported list)."""

    contact_id: str
    channel: str
    status: ConsentStatus
    reason: str


def record_consents(
    session: Session, *, changes: Sequence[ConsentChange], now: datetime, dry_run: bool = False
) -> list[bool]:
    """Many consent changes in order, read and written with one statement each; whether each
    changed anything (a dry run only decides). No row means allowed, so granting consent
    nobody withdrew writes nothing."""
    if not changes:
        return []
    ids = {change.contact_id for change in changes}
    current = {
        (contact_id, channel): (row_id, status)
        for row_id, contact_id, channel, status in contacts_repo.consent_states(
            session, contact_ids=ids
        )
    }
    inserts: dict[tuple[str, str], dict[str, Any]] = {}
    updates: dict[str, dict[str, Any]] = {}
    changed: list[bool] = []
    for change in changes:
        key = (change.contact_id, change.channel)
        row_id, existing = current.get(key, (None, None))
        if existing == change.status or (
            existing is None and change.status == ConsentStatus.GRANTED
        ):
            changed.append(False)
            continue
        changed.append(True)
        values = {"status": change.status, "reason": change.reason, "updated_at": now}
        if row_id is None:
            row_id = new_id()
            inserts[key] = {
                "id": row_id,
                "contact_id": change.contact_id,
                "channel": change.channel,
                "suppressed": False,
                "suppression_reason": None,
                **values,
            }
        elif key in inserts:
            inserts[key].update(values)
        else:
            updates[row_id] = {"id": row_id, **values}
        current[key] = (row_id, change.status)
    if not dry_run:
        insert_many(session, Consent, list(inserts.values()))
        update_many(session, Consent, list(updates.values()))
    return changed
