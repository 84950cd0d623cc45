"""The event types nurture knows: a typo in a journey or an integration is an error, not an
event that silently matches nothing."""

from __future__ import annotations

import re

# Fixed vocabularies for the channels nurture itself tracks; `web.` and `custom.` are open
# namespaces for a site's own events (web.demo_requested) and any other system's.
KNOWN_ACTIONS = {
    "email": (
        "sent",
        "delivered",
        "deferred",
        "dropped",
        "opened",
        "clicked",
        "bounced",
        "complained",
        "unsubscribed",
    ),
    "sms": ("sent", "delivered", "failed", "received", "opted_out", "opted_in"),
    "call": ("completed", "missed"),
    "order": ("completed",),
    "contact": ("updated",),
}
OPEN_NAMESPACES = ("web", "custom")
_SHAPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9_][a-z0-9_.-]*$")


def event_type_problem(value: str, *, known_only: bool = True) -> str | None:
    """Why `value` is not an event type nurture accepts, or None when it is fine; with
    `known_only` off only the shape is checked (versions stored before a type was known)."""
    if not _SHAPE.match(value):
        return f"bad event type {value!r}: expected 'source.action' like 'email.clicked'"
    if not known_only:
        return None
    namespace, action = value.split(".", 1)
    if namespace in OPEN_NAMESPACES:
        return None
    actions = KNOWN_ACTIONS.get(namespace)
    if actions is None:
        spaces = ", ".join([*KNOWN_ACTIONS, *OPEN_NAMESPACES])
        return f"unknown event type {value!r}: the source must be one of {spaces}"
    if action not in actions:
        known = ", ".join(f"{namespace}.{a}" for a in actions)
        return f"unknown event type {value!r}: {namespace} events are {known}"
    return None
