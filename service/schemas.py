"""Request and response bodies of the HTTP API, validated at the edge."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.engine.events import event_type_problem
from service.engine.state import EventView
from service.engine.timing import is_valid_zone
from webhooks.common import is_e164

MAX_BATCH = 1000
EVENT_TYPE = r"^[a-z][a-z0-9_]*\.[a-z0-9_.-]+$"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ATTRIBUTE_TEXT = 2000
# Limits on the free-form JSON of one event or contact (README, "Limits").
MAX_PROPERTIES_DEPTH = 8  # levels of objects and arrays, the properties object being the first
MAX_JSON_ITEMS = 1000  # keys and array items in one properties object, all levels together
MAX_JSON_BYTES = 65_536  # one properties or attributes object, serialized
MAX_ATTRIBUTES = 200
TIMEZONE_LENGTH = 64
# Sources nurture records its own events under (its links: "nurture.links"); nobody else may
# use them, or a crafted event could pre-empt one of ours as its duplicate.
RESERVED_SOURCE = "nurture"
_INTERNAL = "nurture_internal"
AttributeValue = str | int | float | bool | None
EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt-1",
    "type": "web.form_submitted",
    "source": "website",
    "time": "2026-03-01T10:00:00Z",
    "contact": {"email": "ava@example.com"},
    "properties": {"form": "wedding-signup"},
    "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
}


def normalized_email(value: str | None) -> str | None:
    """Addresses are compared trimmed and lower-cased, so one person is one contact."""
    if value is None:
        return None
    value = value.strip().lower()
    if len(value) > 320 or not value.isprintable() or not _EMAIL.match(value):
        raise PydanticCustomError("email", "not a valid email address")
    return value


def checked_phone(value: str | None) -> str | None:
    """Phones are stored in E.164 only, so SMS providers and lookups agree on them."""
    if value is None:
        return None
    if not is_e164(value):
        raise PydanticCustomError("phone", "phone must be E.164, like +15555550100")
    return value


def _event_type(value: str) -> str:
    problem = event_type_problem(value) if value.isprintable() else "bad event type"
    if problem:
        raise PydanticCustomError("event_type", problem)
    return value


def _timezone(value: str | None) -> str | None:
    if value is not None and not (len(value) <= TIMEZONE_LENGTH and is_valid_zone(value)):
        raise PydanticCustomError(
            "timezone", "unknown IANA timezone {zone}", {"zone": repr(value[:TIMEZONE_LENGTH])}
        )
    return value


def is_reserved_source(source: str) -> bool:
    """Whether a source is nurture's own: `nurture` or `nurture.*`, in any case."""
    return source.lower().partition(".")[0] == RESERVED_SOURCE


def _source(value: str, info: ValidationInfo) -> str:
    if is_reserved_source(value) and not (info.context or {}).get(_INTERNAL):
        raise PydanticCustomError(
            "reserved_source", "sources 'nurture' and 'nurture.*' are reserved for nurture itself"
        )
    return value


def _utc_time(value: datetime | None) -> datetime | None:
    """Times are kept in UTC; one that has no UTC equivalent (year 1 at +01:00) is refused."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "time_range", "time is out of range once converted to UTC"
        ) from None


def _text_problem(value: str) -> str | None:
    if value.isascii():  # the common case: no surrogate can hide in it
        return "text must not contain NUL characters" if "\x00" in value else None
    if "\x00" in value:
        return "text must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "text must be valid Unicode (no lone surrogates)"
    return None


def _is_storable(value: Any, *, max_depth: int | None) -> bool:
    """Whether `json_problem` finds nothing, walked without building a path for every part:
    most bodies are fine, and only a bad one needs its path named."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _text_problem(item):
                return False
        elif isinstance(item, float):
            if not math.isfinite(item):
                return False
        elif isinstance(item, dict):
            if max_depth is not None and depth > max_depth:
                return False
            for key, child in item.items():
                if isinstance(key, str) and _text_problem(key):
                    return False
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if max_depth is not None and depth > max_depth:
                return False
            stack.extend((child, depth + 1) for child in item)
    return True


def json_problem(value: Any, *, max_depth: int | None = None) -> tuple[str, str] | None:
    """(path, reason) of the first part of a JSON value nurture could not store or send back
    the same on every database: NUL or broken text, NaN or infinite numbers, deep nesting."""
    if _is_storable(value, max_depth=max_depth):
        return None
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                return path, problem
        elif isinstance(item, float) and not math.isfinite(item):
            return path, "numbers must be finite (no NaN or Infinity)"
        elif isinstance(item, dict | list):
            if max_depth is not None and depth > max_depth:
                return path, f"nested deeper than {max_depth} levels"
            pairs = list(item.items() if isinstance(item, dict) else enumerate(item))
            for key, _child in pairs:
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    return path, f"key {key[:50]!r}: {problem}"
            # Reversed onto the stack, so the first bad item (the lowest batch index) is named.
            for key, child in reversed(pairs):
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
    return None


def _json_error(path: str, reason: str) -> PydanticCustomError:
    """An error whose `path` the API appends to the field it names (service.api.errors)."""
    return PydanticCustomError("json_value", "{reason}", {"reason": reason, "path": path})


def _count_items(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_items(v) for v in value.values())
    if isinstance(value, list):
        return len(value) + sum(_count_items(v) for v in value)
    return 0


def _json_bytes(value: dict[str, Any]) -> int:
    """Its size as compact UTF-8 JSON, as stored."""
    try:
        return len(orjson.dumps(value))
    except TypeError:  # an integer wider than 64 bits, which orjson does not write
        return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _size_problem(value: dict[str, Any], *, what: str) -> str | None:
    size = _json_bytes(value)
    if size > MAX_JSON_BYTES:
        return f"{what} are {size} bytes as JSON; the limit is {MAX_JSON_BYTES}"
    return None


def _properties(value: dict[str, Any]) -> dict[str, Any]:
    """Free-form JSON, bounded so that every timeline and template can still show it."""
    found = json_problem(value, max_depth=MAX_PROPERTIES_DEPTH)
    if found:
        raise _json_error(*found)
    if _count_items(value) > MAX_JSON_ITEMS:
        raise PydanticCustomError(
            "json_size",
            "properties hold more than {limit} keys and items",
            {"limit": MAX_JSON_ITEMS},
        )
    problem = _size_problem(value, what="properties")
    if problem:
        raise PydanticCustomError("json_size", "{reason}", {"reason": problem})
    return value


def _attributes(value: dict[str, Any]) -> dict[str, AttributeValue]:
    """Flat JSON only: attribute names are identifiers, values are scalars or null."""
    if len(value) > MAX_ATTRIBUTES:
        raise PydanticCustomError(
            "json_size", "more than {limit} attributes", {"limit": MAX_ATTRIBUTES}
        )
    for key, item in value.items():
        if not _ATTRIBUTE.match(key):
            raise PydanticCustomError(
                "attribute_name",
                "attribute name {name} must be letters, digits and '_' (max 64)",
                {"name": repr(key[:70])},
            )
        if isinstance(item, dict | list):
            raise PydanticCustomError(
                "attribute_value",
                "attribute {name} must be a string, number, boolean or null",
                {"name": repr(key)},
            )
        if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT:
            raise PydanticCustomError(
                "attribute_value",
                "attribute {name} is longer than {limit} characters",
                {"name": repr(key), "limit": MAX_ATTRIBUTE_TEXT},
            )
    found = json_problem(value, max_depth=1)
    if found:
        raise _json_error(*found)
    problem = _size_problem(value, what="attributes")
    if problem:
        raise PydanticCustomError("json_size", "{reason}", {"reason": problem})
    return value


def strict_example(example: dict[str, Any]) -> ConfigDict:
    """A request body's config: unknown fields refused, and the example its docs show."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class StrictBody(BaseModel):
    """Unknown fields are rejected so that a typo never passes silently, and text or numbers
    no database stores alike (NUL, lone surrogates, NaN) before any field is read."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = json_problem(data) if isinstance(data, dict) else None
        if found:
            raise _json_error(*found)
        return data


class ProfileBody(StrictBody):
    """Profile fields shared by events and contact upserts; persona/timezone may ride in
    attributes too, and are lifted out of them."""

    persona: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(
        default=None, max_length=TIMEZONE_LENGTH, examples=["America/New_York"]
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Flat attributes to merge (at most {MAX_ATTRIBUTES}, "
        f"{MAX_JSON_BYTES} bytes as JSON); a null value removes the attribute.",
        examples=[{"first_name": "Ava", "wedding_date": "2027-09-18"}],
    )

    _timezone = field_validator("timezone")(_timezone)
    _flat = field_validator("attributes")(_attributes)

    @model_validator(mode="after")
    def _lift_profile_keys(self) -> ProfileBody:
        for key in ("persona", "timezone"):
            if key in self.attributes:
                value = self.attributes.pop(key)
                if value is not None and not isinstance(value, str):
                    raise PydanticCustomError("attribute_value", f"{key} must be text")
                if key == "timezone":
                    _timezone(value)
                if getattr(self, key) is None:
                    setattr(self, key, value)
        return self


class ContactRef(StrictBody):
    """How an event names its contact: any one identifier (id, external_id, email, phone)."""

    id: str | None = Field(default=None, max_length=36)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, examples=["ava@example.com"])
    phone: str | None = Field(default=None, examples=["+15555550100"])

    _email = field_validator("email")(normalized_email)
    _phone = field_validator("phone")(checked_phone)

    @model_validator(mode="after")
    def _some_identifier(self) -> ContactRef:
        if not self.identifiers():
            raise PydanticCustomError(
                "missing_identifier", "give at least one of id, external_id, email, phone"
            )
        return self

    def identifiers(self) -> list[tuple[str, str]]:
        """Given identifiers, strongest first."""
        order = ("id", "external_id", "email", "phone")
        return [(name, getattr(self, name)) for name in order if getattr(self, name) is not None]


class EventIn(ProfileBody):
    """One canonical event."""

    model_config = strict_example(EVENT_EXAMPLE)

    id: str = Field(min_length=1, max_length=200, description="Unique per source.")
    type: str = Field(
        max_length=100,
        description="source.action: email.*, sms.*, call.*, order.completed, contact.updated, "
        "or your own web.* and custom.* events",
    )
    source: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:/-]+$",
        description="Who reports the event; `nurture` and `nurture.*` are reserved.",
    )
    time: AwareDatetime | None = Field(
        default=None, description="RFC 3339 with offset; defaults to the receipt time."
    )
    contact: ContactRef
    properties: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Free-form JSON: at most {MAX_PROPERTIES_DEPTH} levels deep, "
        f"{MAX_JSON_ITEMS} keys and items, {MAX_JSON_BYTES} bytes as JSON.",
    )

    _type = field_validator("type")(_event_type)
    _source = field_validator("source")(_source)
    _time = field_validator("time")(_utc_time)
    _properties = field_validator("properties")(_properties)

    def view(self, *, now: datetime) -> EventView:
        """The engine's view of it; one sent with no time happened `now`."""
        return EventView(
            type=self.type,
            time=self.time or now,
            properties=self.properties,
            id=self.id,
            source=self.source,
        )

    @classmethod
    def internal(cls, **fields: Any) -> EventIn:
        """An event nurture records itself (its links), the one kind that may use a reserved
        source."""
        return cls.model_validate(fields, context={_INTERNAL: True})


class EventsIn(StrictBody):
    """One event, or a batch {"events": [...]} of up to 1000."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)
    _single: bool = PrivateAttr(default=False)

    model_config = strict_example({"events": [EVENT_EXAMPLE]})

    @model_validator(mode="wrap")
    @classmethod
    def _one_or_many(cls, data: Any, handler: Any) -> EventsIn:
        single = isinstance(data, dict) and "events" not in data
        model: EventsIn = handler({"events": [data]} if single else data)
        model._single = single
        return model

    @property
    def single(self) -> bool:
        """Whether the body was one bare event (answered with one result)."""
        return self._single


class TrackIn(StrictBody):
    """One browser event from nurture.js; the contact is named by the signed `nt` token from
    our email links, or (form submissions only) by the email address typed into the form."""

    model_config = strict_example(
        {
            "key": "pk_live_shop",
            "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
            "type": "web.page_viewed",
            "token": "eyJjIjoi...",
            "properties": {"url": "https://shop.example/favors", "title": "Favors"},
        }
    )

    key: str | None = Field(default=None, max_length=200, description="Or X-Nurture-Key.")
    id: str = Field(min_length=8, max_length=100, description="A fresh UUID per event.")
    type: str = Field(pattern=EVENT_TYPE, max_length=100, description="web.* only")
    token: str | None = Field(default=None, max_length=2000)
    email: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)

    _email = field_validator("email")(normalized_email)
    _flat = field_validator("attributes")(_attributes)
    _properties = field_validator("properties")(_properties)


class TrackResult(BaseModel):
    """What a browser event did; nothing about the contact is returned to the page."""

    id: str
    status: str = Field(description="accepted, or duplicate when already received")


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
