"""Consent and suppression: what an event says about whether she may be messaged."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.schemas import EventIn
from service.store.models import ConsentStatus, Contact

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


def record_consent(
    session: Session,
    *,
    contact_id: str,
    channel: str,
    status: ConsentStatus,
    reason: str,
    now: datetime,
) -> bool:
    """Consent given or withdrawn outside an event (an imported list); whether it changed.
    No row means allowed, so granting consent nobody withdrew writes nothing."""
    consents = contacts_repo.contact_consents(session, contact_id=contact_id)
    existing = next((c.status for c in consents if c.channel == channel), None)
    if existing == status or (existing is None and status == ConsentStatus.GRANTED):
        return False
    contacts_repo.set_consent(
        session, contact_id=contact_id, channel=channel, status=status, reason=reason, now=now
    )
    return True
