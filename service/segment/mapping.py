"""Segment calls in nurture's vocabulary: canonical events, contact attributes and aliases.

`track` becomes `web.<snake_case name>` (the e-commerce spec's Order Completed becomes
`order.completed` with its products' categories), `page` and `screen` become
`web.page_viewed` and `web.screen_viewed`, `identify` and `group` become `contact.updated`
with the traits as attributes. Traits are flattened one level (`address.city` becomes
`address_city`); lists and deeper objects are left out, since attributes are flat.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from service.contacts.phones import to_e164
from service.contacts.profile import without_bad_dates
from service.engine.timing import is_valid_zone
from service.schemas import MAX_ATTRIBUTE_TEXT, ContactRef, EventIn, normalized_email
from service.segment.calls import Call
from service.segment.errors import MalformedCall
from webhooks.common import snake
from webhooks.events import derive_id

logger = logging.getLogger(__name__)
ORDER_COMPLETED = "order_completed"
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Traits that name the person rather than describe her: identifiers, never attributes.
_IDENTIFIER_TRAITS = frozenset({"email", "phone", "id", "user_id", "userid", "anonymous_id"})
_PAGE_FIELDS = ("url", "path", "title", "referrer", "search")
# Stands in for the contact of an anonymous call until her anonymous id is identified.
ANONYMOUS = ContactRef(id="anonymous")


@dataclass(frozen=True)
class Planned:
    """What one call asks for: an event (about a known person, or an anonymous visitor
    when `identified` is false), or, for `alias`, tying `previous_id` to `user_id`."""

    event: EventIn | None
    identified: bool
    anonymous_id: str | None = None
    user_id: str | None = None
    previous_id: str | None = None


def event_time(call: Call, *, received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    """When it happened, corrected for the sender's clock as Segment does:
    timestamp + (receivedAt - sentAt); never later than its receipt."""
    happened = call.original_timestamp or call.timestamp
    if happened is None:
        return received_at
    sent_at = call.sent_at or batch_sent_at
    if sent_at is not None:
        happened = happened + (received_at - sent_at)
    return min(happened, received_at)


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_ATTRIBUTE_TEXT
    return value is None or isinstance(value, bool | int | float)


def trait_attributes(traits: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
    """Flat attributes from traits: scalars kept, objects flattened one level, the rest
    (lists, deeper objects, names that are no identifier) left out."""
    found: dict[str, Any] = {}
    for key, value in traits.items():
        base = snake(str(key))
        if not base or (not prefix and base in _IDENTIFIER_TRAITS):
            continue
        name = prefix + base
        items = value.items() if isinstance(value, dict) else [("", value)]
        for inner_key, inner in items:
            full = f"{name}_{snake(str(inner_key))}" if inner_key else name
            if _ATTRIBUTE.match(full) and _scalar(inner):
                found[full] = inner
    zone = found.get("timezone")
    if zone is not None and not (isinstance(zone, str) and is_valid_zone(zone)):
        del found["timezone"]
    persona = found.get("persona")
    if persona is not None and not (isinstance(persona, str) and len(persona) <= 100):
        del found["persona"]
    return found


def _order(properties: dict[str, Any]) -> dict[str, Any]:
    """Order Completed keeps the spec's fields plus the distinct product categories, which
    journeys' goals and guards test (`'favors' in event.properties.categories`)."""
    products = properties.get("products")
    products = [p for p in products if isinstance(p, dict)] if isinstance(products, list) else []
    categories = sorted({str(p["category"]) for p in products if p.get("category")})
    return {**properties, "products": products, "categories": categories}


def _page(call: Call) -> dict[str, Any]:
    """The page's own properties, with url, path, title, referrer and search filled in from
    `context.page` where analytics.js put them."""
    properties = dict(call.properties)
    page = call.context.get("page")
    if isinstance(page, dict):
        for field in _PAGE_FIELDS:
            if field not in properties and field in page:
                properties[field] = page[field]
    for field in ("name", "category"):
        value = getattr(call, field)
        if value is not None:
            properties.setdefault(field, value)
    return properties


def _event_type_and_data(call: Call, *, where: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The canonical type, properties and attributes of a non-alias call."""
    if call.type == "track":
        name = snake(call.event or "")
        if not name:
            raise MalformedCall(f"{where}.event: {call.event!r} has no letters or digits")
        if name == ORDER_COMPLETED:
            return "order.completed", _order(call.properties), {}
        return f"web.{name}", {**call.properties, "event": call.event}, {}
    if call.type == "page":
        return "web.page_viewed", _page(call), {}
    if call.type == "screen":
        return "web.screen_viewed", _page(call), {}
    if call.type == "identify":
        return "contact.updated", {}, trait_attributes(call.traits)
    group_id = call.group_id
    attributes = {"group_id": group_id, **trait_attributes(call.traits, prefix="group_")}
    return "contact.updated", {"group_id": group_id}, attributes


def _identifiers(call: Call, *, region: str | None) -> tuple[str | None, str | None]:
    """Email and phone from the identify traits (or context.traits of other calls); an
    unusable value is left out, as the call itself is still good."""
    traits = call.traits if call.type == "identify" else call.context.get("traits")
    traits = traits if isinstance(traits, dict) else {}
    email, phone = traits.get("email"), traits.get("phone")
    address = number = None
    if isinstance(email, str) and email:
        try:
            address = normalized_email(email)
        except PydanticCustomError:
            logger.info("segment %s: ignored an email trait that is no address", call.type)
    if isinstance(phone, str | int) and not isinstance(phone, bool) and str(phone):
        try:
            number = to_e164(str(phone), region=region)
        except ValueError:
            logger.info("segment %s: ignored a phone trait that is no number", call.type)
    return address, number


def plan_call(
    call: Call,
    *,
    where: str,
    source: str,
    received_at: datetime,
    batch_sent_at: datetime | None,
    region: str | None,
    dated: frozenset[str],
) -> Planned:
    """One validated call as what nurture will do with it; MalformedCall names the field."""
    if call.type == "alias":
        return Planned(
            event=None, identified=True, user_id=call.user_id, previous_id=call.previous_id
        )
    event_type, properties, attributes = _event_type_and_data(call, where=where)
    email, phone = _identifiers(call, region=region)
    identified = bool(call.user_id or email or phone)
    contact = (
        ContactRef(external_id=call.user_id, email=email, phone=phone) if identified else ANONYMOUS
    )
    assert call.message_id is not None  # read_batch fills it in
    try:
        event = EventIn(
            id=derive_id(call.message_id),
            type=event_type,
            source=source,
            time=event_time(call, received_at=received_at, batch_sent_at=batch_sent_at),
            contact=contact,
            properties=properties,
            attributes=attributes,
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error.get("loc", ()))
        raise MalformedCall(f"{where}: {field}: {error.get('msg', 'invalid')}") from None
    return Planned(
        event=without_bad_dates(dated, event),
        identified=identified,
        anonymous_id=call.anonymous_id,
    )
