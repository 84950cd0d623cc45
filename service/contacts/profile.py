"""A contact's profile: the engine's view of it, attributes merged, dates checked."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from service.engine.core import ContactView
from service.engine.timing import parse_date_value
from service.errors import InvalidInput
from service.schemas import EventIn

logger = logging.getLogger(__name__)


class Person(Protocol):
    """A contact's row as her profile is kept in it: a stored one, or one a batch holds."""

    id: str
    email: str | None
    phone: str | None
    attributes: dict[str, Any]
    persona: str | None
    timezone: str | None
    updated_at: datetime


def contact_view(contact: Person) -> ContactView:
    """The engine's plain-data view of a contact row."""
    return ContactView.of(contact, id=contact.id)


def merge_profile(
    contact: Person,
    *,
    attributes: dict[str, Any],
    persona: str | None,
    timezone: str | None,
    now: datetime,
    add_only: bool = False,
) -> bool:
    """Merge attributes (null removes; with `add_only` only missing ones are added) and set
    persona/timezone; whether anything changed."""
    merged = dict(contact.attributes)
    for key, value in attributes.items():
        if add_only and (value is None or key in merged):
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    changed = merged != contact.attributes
    if changed:
        contact.attributes = merged
    for name, value in (("persona", persona), ("timezone", timezone)):
        if value is not None and getattr(contact, name) != value:
            setattr(contact, name, value)
            changed = True
    if changed:
        contact.updated_at = now
    return changed


def _bad_dates(dated: frozenset[str], attributes: Mapping[str, Any]) -> list[str]:
    """Attributes a journey times messages by (its `at` triggers) that hold no date."""
    return [
        name
        for name, value in attributes.items()
        if name in dated and value is not None and parse_date_value(value) is None
    ]


def check_date_attributes(
    dated: frozenset[str], attributes: Mapping[str, Any], *, field_prefix: str
) -> None:
    """An attribute a journey times messages by must hold a date: a wedding date of
    '18/09/2027' would otherwise leave the contact waiting forever."""
    bad = _bad_dates(dated, attributes)
    if bad:
        raise InvalidInput(
            f"{bad[0]} must be an ISO 8601 date or datetime (like 2027-09-18), "
            f"not {attributes[bad[0]]!r}",
            field=f"{field_prefix}.{bad[0]}",
        )


def without_bad_dates(dated: frozenset[str], event: EventIn) -> EventIn:
    """The event minus date attributes that hold no date, for senders (provider webhooks)
    that cannot be answered with a 422: the rest of the event still counts."""
    bad = _bad_dates(dated, event.attributes)
    if not bad:
        return event
    logger.warning(
        "%s event %s: ignored attributes that are no date: %s",
        event.source,
        event.id,
        ", ".join(bad),
    )
    kept = {k: v for k, v in event.attributes.items() if k not in bad}
    return event.model_copy(update={"attributes": kept})
