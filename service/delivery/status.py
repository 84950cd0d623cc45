"""The one writer of a message's status and attempts, so every change follows one rule."""

# The attempts rule: every turn a worker takes with a claimed message that ends in a verdict
# (sent, failed, refused, retried, or cut short by a crash or a stopped worker) counts one
# attempt, written where that turn ends; a deferral (send window, frequency cap), a provider
# answer that blames our own settings (`counts_as_attempt=False`) and a message handed back
# unsent at a stop count none. Claiming a message only leases it. A holdout contact's
# message ends its turn `held` where it would be handed over: one attempt, never retried.

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from service.delivery.channels import DeliveryResult, OutgoingMessage
from service.store.models import Message, MessageStatus
from webhooks import statuses

JITTER_SHARE = 0.2
# A new message: pending, never tried.
NEW: Mapping[str, Any] = {"status": MessageStatus.PENDING, "attempts": 0}
# Provider feedback: the delivery status each canonical email event reports.
EMAIL_STATUS = {
    "email.delivered": "delivered",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.bounced": "bounced",
    "email.dropped": "failed",
}
SMS_TYPES = frozenset({"sms.sent", "sms.delivered", "sms.failed"})


class Outcome(StrEnum):
    """How one claimed message's turn ended, as a scheduler pass reports it."""

    SENT = "sent"
    HELD = "held"  # a holdout contact's message, recorded as sent and handed to no channel
    FAILED = "failed"
    RETRYING = "retrying"  # pending again after a transient failure, with backoff
    DEFERRED = "deferred"  # pending until its send window opens or the frequency cap allows
    CANCELED = "canceled"
    SUPPRESSED = "suppressed"
    GONE = "gone"  # deleted, or no longer pending, before this turn began
    CLAIMED_ELSEWHERE = "claimed elsewhere"  # the lease ran out and another worker took it
    CRASHED = "crashed"  # an internal error; the message is retried or failed visibly
    HANDED_BACK = "handed back"  # pending again, unsent and untried, as the worker stops


def retry_delay_seconds(
    attempts: int, *, jitter: float = 0.0, retry_after: float | None = None
) -> float:
    """Backoff (30s doubling to 1h, never before Retry-After), jittered against lockstep."""
    # `jitter` in [0, 1) stretches the delay by up to JITTER_SHARE.
    base = min(30 * 2 ** max(attempts - 1, 0), 3600) * (1 + JITTER_SHARE * jitter)
    return max(float(base), retry_after or 0.0)


# ----- the engine's decisions (through the unit of work) -----------------------------------


def cancel_pending(session: Session, *, enrollment_id: str, reason: str) -> int:
    """Cancel an enrollment's unsent messages, as its decision asks; how many."""
    result = session.execute(
        update(Message)
        .where(
            col(Message.enrollment_id) == enrollment_id,
            col(Message.status) == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.CANCELED, error=reason, claimed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def record_goal(session: Session, *, enrollment_id: str, at: datetime) -> int:
    """Keep on each message the enrollment sent before its goal, and no goal followed yet,
    when the goal came: a sent message converts when that is within the attribution window.
    Goals are recorded in her order, so the first after each message is kept; how many."""
    result = session.execute(
        update(Message)
        .where(
            col(Message.enrollment_id) == enrollment_id,
            col(Message.status) == MessageStatus.SENT,
            col(Message.sent_at) <= at,
            col(Message.goal_at).is_(None),
        )
        .values(goal_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ----- a worker's turn with a claimed message ----------------------------------------------


def _count_attempt(message: Message, *, counts: bool = True) -> int:
    """The attempts rule in one place: a turn that ended in a verdict counts one attempt."""
    if counts:
        message.attempts += 1
    return message.attempts


def _end_turn(message: Message, *, status: MessageStatus, error: str | None) -> None:
    message.status = status
    message.error = error
    message.claimed_until = None
    _count_attempt(message)


def refuse(message: Message, *, status: MessageStatus, reason: str) -> Outcome:
    """End a message that must never go out, keeping the reason for the timeline."""
    _end_turn(message, status=status, error=reason)
    return Outcome(status)


def fail_unrenderable(message: Message, *, reason: str) -> Outcome:
    """Fail for good a message its template cannot render: a retry would only fail again."""
    _end_turn(message, status=MessageStatus.FAILED, error=reason)
    return Outcome.FAILED


def hand_back(session: Session, *, message_ids: list[str], lease: datetime) -> int:
    """Release unsent claims at a stop, for any worker at once and untried; how many."""
    if not message_ids:
        return 0
    result = session.execute(
        update(Message)
        .where(
            col(Message.id).in_(message_ids),
            col(Message.status) == MessageStatus.PENDING,
            col(Message.claimed_until) == lease,
        )
        .values(claimed_until=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def defer(message: Message, *, until: datetime, note: str | None = None) -> Outcome:
    """Put a message back to wait (send window, frequency cap): waiting is no attempt."""
    message.due_at = until
    message.claimed_until = None
    if note is not None:
        message.error = note
    return Outcome.DEFERRED


def _keep_content(message: Message, outgoing: OutgoingMessage) -> None:
    """Keep the message as rendered, so the timeline shows what went out (or was held)."""
    message.subject = outgoing.subject
    message.preheader = outgoing.preheader
    message.html = outgoing.html
    message.text = outgoing.text
    message.body = outgoing.body


def mark_sending(message: Message, *, outgoing: OutgoingMessage, send_lease: datetime) -> None:
    """Keep what goes out and lease it as sending, so it is never claimed (or sent) again."""
    _keep_content(message, outgoing)
    message.status = MessageStatus.SENDING
    message.claimed_until = send_lease


def hold(message: Message, *, outgoing: OutgoingMessage, now: datetime) -> Outcome:
    """Record a holdout contact's message as sent at the hand-over moment, handed to no
    channel, so both groups' histories line up and it is never claimed or retried."""
    _keep_content(message, outgoing)
    message.sent_at = now
    _end_turn(message, status=MessageStatus.HELD, error=None)
    return Outcome.HELD


def record_result(
    message: Message,
    *,
    result: DeliveryResult,
    now: datetime,
    max_attempts: int,
    jitter: Callable[[], float],
    allowed: Callable[[datetime], datetime],
) -> Outcome:
    """Store the provider's answer; a transient failure waits its backoff and send window."""
    message.claimed_until = None
    attempts = _count_attempt(message, counts=result.counts_as_attempt)
    if result.ok:
        message.status = MessageStatus.SENT
        message.sent_at = now
        message.provider_message_id = result.provider_message_id
        message.error = None
        return Outcome.SENT
    message.error = result.error
    if result.permanent or (result.counts_as_attempt and attempts >= max_attempts):
        message.status = MessageStatus.FAILED
        return Outcome.FAILED
    message.status = MessageStatus.PENDING
    delay = retry_delay_seconds(attempts, jitter=jitter(), retry_after=result.retry_after)
    message.due_at = allowed(now + timedelta(seconds=delay))
    return Outcome.RETRYING


def after_crash(
    message: Message, *, lease: datetime, send_lease: datetime | None, max_attempts: int
) -> None:
    """After an internal error, never resend what may have reached the provider."""
    # Sending under our lease: it may have gone out, so it fails as "outcome unknown". Pending
    # under our claim: it cannot have, so the attempt counts and it is retried once the lease
    # runs out, until attempts run out. Held by another worker by now: left alone.
    if message.status == MessageStatus.SENDING and message.claimed_until == send_lease:
        reason = "delivery outcome unknown: internal error during send; not resent"
        _end_turn(message, status=MessageStatus.FAILED, error=reason)
    elif message.status == MessageStatus.PENDING and message.claimed_until == lease:
        attempts = _count_attempt(message)
        if attempts >= max_attempts:
            message.status = MessageStatus.FAILED
            message.error = f"gave up after {attempts} attempts (internal errors)"
            message.claimed_until = None


def fail_stale_sends(session: Session, *, now: datetime, reason: str) -> int:
    """Fail messages a stopped worker left sending, since resending could send twice."""
    result = session.execute(
        update(Message)
        .where(col(Message.status) == MessageStatus.SENDING, col(Message.claimed_until) < now)
        .values(
            status=MessageStatus.FAILED,
            error=reason,
            claimed_until=None,
            attempts=col(Message.attempts) + 1,  # the attempts rule, in bulk
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ----- provider feedback -------------------------------------------------------------------


def reported_status(event_type: str, properties: Mapping[str, Any]) -> str | None:
    """The delivery status an event reports, or None when it reports none."""
    if event_type in SMS_TYPES:
        status = properties.get("status")
        return status.lower() if isinstance(status, str) else event_type.removeprefix("sms.")
    return EMAIL_STATUS.get(event_type)


def _reaching(status: str) -> list[str]:
    """Email event types that mean a message reached `status` (each step implies the ones
    before it: a click was delivered and opened)."""
    rank = statuses.EMAIL_ORDER.ranks.get(status)
    return sorted(
        kind
        for kind, reported in EMAIL_STATUS.items()
        if reported == status
        or (rank is not None and statuses.EMAIL_ORDER.ranks.get(reported, -1) > rank)
    )


# The event types tied back to a message that mean it reached each status; the time of the
# first is kept in the message's `<status>_at` column.
REACHED: Mapping[str, list[str]] = {
    "delivered": [*_reaching("delivered"), "sms.delivered"],
    "opened": _reaching("opened"),
    "clicked": _reaching("clicked"),
    "bounced": _reaching("bounced"),
    "complained": ["email.complained"],
    "unsubscribed": ["email.unsubscribed"],
    "failed": [*_reaching("failed"), "sms.failed"],
}

# The columns `record_feedback` writes.
FEEDBACK = ("delivery_status", *(f"{status}_at" for status in REACHED))


def record_feedback(
    message: Message, *, event_type: str, properties: Mapping[str, Any], at: datetime
) -> None:
    """Move the delivery status forward only, so a late, earlier status changes nothing; and
    keep the earliest time each status was reached, so a repeated or late report changes
    nothing either."""
    reported = reported_status(event_type, properties)
    if reported is not None and statuses.supersedes(
        reported, message.delivery_status, channel=message.channel
    ):
        message.delivery_status = reported
    for status, kinds in REACHED.items():
        known = getattr(message, f"{status}_at")
        if event_type in kinds and (known is None or at < known):
            setattr(message, f"{status}_at", at)
