"""Send-time rules (README, "Delivery"), checked under the claim as anything may change."""

# The enrollment still active, consent and suppression, an address (E.164 for texts), the
# journey's send window and the frequency cap.

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from service.contacts import repository as contacts_repo
from service.delivery import outbox
from service.engine.core import ENDED_EARLY, Status
from service.engine.timing import next_allowed, zone
from service.runtime import Runtime
from service.store.models import Contact, Enrollment, Message, MessageStatus
from webhooks.common import is_e164

CHANNEL_ADDRESS = {"email": "email", "sms": "phone"}
CAP_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Refusal:
    """Why a message must never go out, and the status it ends in, for the timeline."""

    status: MessageStatus
    reason: str


@dataclass(frozen=True)
class Deferral:
    """When a message may go out instead, and what her timeline says about the wait."""

    until: datetime
    note: str | None = None


def refusal(session: Session, *, message: Message, contact: Contact) -> Refusal | None:
    """Why the message must not go out at all: enrollment over, no consent, no address."""
    enrollment = session.get(Enrollment, message.enrollment_id)
    if enrollment is None or Status(enrollment.status) in ENDED_EARLY:
        ended = enrollment.status if enrollment else "deleted"
        return Refusal(MessageStatus.CANCELED, f"enrollment {ended} before sending")
    if message.channel == "webhook":
        return None
    blocked = contacts_repo.blocked_reason(session, contact_id=contact.id, channel=message.channel)
    if blocked is not None:
        return Refusal(MessageStatus.SUPPRESSED, blocked)
    address = CHANNEL_ADDRESS.get(message.channel)
    if address and not getattr(contact, address):
        return Refusal(MessageStatus.FAILED, f"the contact has no {address}")
    if message.channel == "sms" and not is_e164(contact.phone or ""):
        return Refusal(
            MessageStatus.FAILED, "the contact's phone number is not E.164 (+ and digits)"
        )
    return None


def window_opens(
    runtime: Runtime, *, message: Message, contact: Contact | None, moment: datetime
) -> datetime:
    """The first moment from `moment` that the journey's send window allows for her."""
    if message.channel == "webhook":
        return moment
    compiled = runtime.journeys.get(message.journey_id, message.version)
    tz = zone(contact.timezone if contact else None, runtime.settings.default_timezone)
    return next_allowed(moment, compiled.journey.send_window, tz)


def deferral(
    session: Session, runtime: Runtime, *, message: Message, contact: Contact, now: datetime
) -> Deferral | None:
    """When a message must wait (late claim, frequency cap): delayed and said, never dropped."""
    opens = window_opens(runtime, message=message, contact=contact, moment=now)
    if opens > now:
        return Deferral(opens)
    cap = runtime.settings.frequency_cap
    if not cap or message.channel == "webhook":
        return None
    sent = outbox.recent_send_times(
        session,
        contact_id=contact.id,
        since=now - CAP_WINDOW,
        now=now,
        exclude_id=message.id,
        include_held=outbox.in_holdout(session, message=message),
    )
    if len(sent) < cap:
        return None
    until = window_opens(
        runtime, message=message, contact=contact, moment=sent[len(sent) - cap] + CAP_WINDOW
    )
    return Deferral(until, note=f"delayed by frequency cap until {until.isoformat()}")
