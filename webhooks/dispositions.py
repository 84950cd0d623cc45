"""Normalised call outcomes and dispositions shared by the voice adapters."""

from __future__ import annotations

from webhooks.common import snake

ANSWERED = "answered"
_OUTCOME_ALIASES = {
    "answered": ANSWERED,
    "completed": ANSWERED,
    "connected": ANSWERED,
    "talked": ANSWERED,
    "no_answer": "no_answer",
    "noanswer": "no_answer",
    "missed": "no_answer",
    "unanswered": "no_answer",
    "busy": "busy",
    "voicemail": "voicemail",
    "left_voicemail": "voicemail",
    "machine": "voicemail",
    "failed": "failed",
    "error": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
    "abandoned": "canceled",
}
_WRONG_PERSON = ("wrong", "not_the_customer", "no_such_person", "unknown_person")
_NOT_NOW = ("not_now", "later", "call_back", "callback", "busy_now", "follow_up")
_NEGATED = ("not_interested", "no_interest", "uninterested")
_INTERESTED = ("interested", "hot", "appointment", "booked", "qualified", "sale")


def outcome(value: str) -> str | None:
    """Our outcome word for a provider's, or None when the call is not over yet."""
    return _OUTCOME_ALIASES.get(snake(value).replace("-", "_"))


def call_type(normalised_outcome: str) -> str:
    """call.completed for a conversation, call.missed for everything else."""
    return "call.completed" if normalised_outcome == ANSWERED else "call.missed"


def disposition(code: str | None) -> str | None:
    """Map an agent's free-form code to interested | not_now | wrong_person | other."""
    if code is None or not code.strip():
        return None
    key = snake(code)
    if any(word in key for word in _WRONG_PERSON):
        return "wrong_person"
    if any(word in key for word in _NOT_NOW):
        return "not_now"
    if any(word in key for word in _NEGATED):
        return "other"
    if any(word in key for word in _INTERESTED):
        return "interested"
    return "other"
