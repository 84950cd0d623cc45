"""Segment webhook destination: track, identify and page calls, single or batched."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from webhooks.common import (
    batch,
    e164,
    email,
    from_iso,
    header,
    json_object,
    load_json,
    snake,
    text,
)
from webhooks.errors import SignatureError
from webhooks.events import MESSAGE_ID_KEY, CanonicalEvent, WebhookResult
from webhooks.protocol import Headers, SizedAdapter

SIGNATURE_HEADER = "X-Signature"
ORDER_COMPLETED = "order_completed"
_IDENTIFIER_TRAITS = frozenset({"email", "phone", "id", "user_id", "userid"})
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_PAGE_FIELDS = ("url", "path", "title", "referrer", "search")


def _attributes(traits: dict[str, Any]) -> dict[str, Any]:
    """Flat scalar traits under attribute-safe names; nested objects are left out."""
    found = {}
    for key, value in traits.items():
        name = snake(key)
        if name in _IDENTIFIER_TRAITS or not _ATTRIBUTE.match(name):
            continue
        if value is None or isinstance(value, str | int | float | bool):
            found[name] = value
    return found


def _order(properties: dict[str, Any]) -> dict[str, Any]:
    """Order Completed keeps its spec fields plus the distinct product categories."""
    products = properties.get("products")
    products = [p for p in products if isinstance(p, dict)] if isinstance(products, list) else []
    categories = sorted({str(p["category"]) for p in products if p.get("category")})
    return {**properties, "products": products, "categories": categories}


class SegmentAdapter(SizedAdapter):
    """Segment's webhook destination, signed with the destination's shared secret."""

    MAX_BODY_BYTES = 1024 * 1024

    def __init__(self, shared_secret: str, *, source: str = "segment") -> None:
        self._secret = shared_secret.encode()
        self.source = source

    def _verify(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> None:
        """X-Signature is the hex HMAC-SHA1 of the raw body under the shared secret."""
        given = header(headers, SIGNATURE_HEADER)
        if not given:
            raise SignatureError(f"missing {SIGNATURE_HEADER}")
        expected = hmac.new(self._secret, raw_body, hashlib.sha1).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
            raise SignatureError("X-Signature does not match")

    def _parse(self, raw_body: bytes, headers: Headers, now: datetime, url: str) -> WebhookResult:
        """Calls without any contact identifier, and other call types, are skipped."""
        calls = batch(json_object(load_json(raw_body), "body"), "batch")
        found = (self._event(json_object(call, "call"), now) for call in calls)
        return WebhookResult(events=[event for event in found if event is not None])

    def _event(self, call: dict[str, Any], now: datetime) -> CanonicalEvent | None:
        kind, message_id = call.get("type"), text(call.get("messageId"))
        context = call.get("context")
        context = context if isinstance(context, dict) else {}
        traits = call.get("traits") if kind == "identify" else context.get("traits")
        traits = traits if isinstance(traits, dict) else {}
        properties = call.get("properties")
        properties = dict(properties) if isinstance(properties, dict) else {}
        attributes: dict[str, Any] = {}
        if kind == "track":
            name = snake(str(call.get("event", "")))
            if not name:
                return None
            event_type = "order.completed" if name == ORDER_COMPLETED else f"web.{name}"
            if event_type == "order.completed":
                properties = _order(properties)
            else:
                properties["event"] = call.get("event")
        elif kind == "page":
            event_type = "web.page_viewed"
            page = context.get("page")
            page = page if isinstance(page, dict) else {}
            properties = {f: properties.get(f, page.get(f)) for f in _PAGE_FIELDS}
            properties["name"] = call.get("name")
        elif kind == "identify":
            event_type, attributes = "contact.updated", _attributes(traits)
        else:
            return None
        external_id = text(call.get("userId"))
        address, phone = email(traits.get("email")), e164(traits.get("phone"))
        if message_id is None or not (external_id or address or phone):
            return None
        when = call.get("timestamp") or call.get("originalTimestamp") or call.get("sentAt")
        our_message_id = properties.pop(MESSAGE_ID_KEY, None)
        return CanonicalEvent(
            id=message_id,
            source=self.source,
            type=event_type,
            time=from_iso(when) if when else now,
            email=address,
            phone=phone,
            external_id=external_id,
            properties=properties,
            attributes=attributes,
            message_id=text(our_message_id),
        )
