"""Request and response bodies of the HTTP API, validated at the edge."""

from __future__ import annotations

import re
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.engine.events import event_type_problem
from service.engine.timing import is_valid_zone
from webhooks.common import is_e164

MAX_BATCH = 1000
EVENT_TYPE = r"^[a-z][a-z0-9_]*\.[a-z0-9_.-]+$"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ATTRIBUTE_TEXT = 2000
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
    if len(value) > 320 or not _EMAIL.match(value):
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
    problem = event_type_problem(value)
    if problem:
        raise PydanticCustomError("event_type", problem)
    return value


def _timezone(value: str | None) -> str | None:
    if value is not None and not is_valid_zone(value):
        raise PydanticCustomError("timezone", "unknown IANA timezone {zone}", {"zone": value})
    return value


def _attributes(value: dict[str, Any]) -> dict[str, AttributeValue]:
    """Flat JSON only: attribute names are identifiers, values are scalars or null."""
    for key, item in value.items():
        if not _ATTRIBUTE.match(key):
            raise PydanticCustomError(
                "attribute_name",
                "attribute name {name!r} must be letters, digits and '_' (max 64)",
                {"name": key},
            )
        if isinstance(item, dict | list):
            raise PydanticCustomError(
                "attribute_value",
                "attribute {name!r} must be a string, number, boolean or null",
                {"name": key},
            )
        if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT:
            raise PydanticCustomError(
                "attribute_value",
                "attribute {name!r} is longer than {limit} characters",
                {"name": key, "limit": MAX_ATTRIBUTE_TEXT},
            )
    return value


class StrictBody(BaseModel):
    """Unknown fields are rejected so that a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ProfileBody(StrictBody):
    """Profile fields shared by events and contact upserts; persona/timezone may ride in
    attributes too, and are lifted out of them."""

    persona: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, examples=["America/New_York"])
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="Flat attributes to merge; a null value removes the attribute.",
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

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: str = Field(min_length=1, max_length=200, description="Unique per source.")
    type: str = Field(
        max_length=100,
        description="source.action: email.*, sms.*, call.*, order.completed, contact.updated, "
        "or your own web.* and custom.* events",
    )
    source: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:/-]+$")
    time: AwareDatetime | None = Field(
        default=None, description="RFC 3339 with offset; defaults to the receipt time."
    )
    contact: ContactRef
    properties: dict[str, Any] = Field(default_factory=dict)

    _type = field_validator("type")(_event_type)


class EventsIn(StrictBody):
    """One event, or a batch {"events": [...]} of up to 1000."""

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)
    _single: bool = PrivateAttr(default=False)

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"events": [EVENT_EXAMPLE]}]}
    )

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

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "key": "pk_live_shop",
                    "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                    "type": "web.page_viewed",
                    "token": "eyJjIjoi...",
                    "properties": {"url": "https://shop.example/favors", "title": "Favors"},
                }
            ]
        },
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


class TrackResult(BaseModel):
    """What a browser event did; nothing about the contact is returned to the page."""

    id: str
    status: str = Field(description="accepted, or duplicate when already received")


class Health(BaseModel):
    """Liveness or readiness."""

    status: str
    checks: dict[str, Any] = Field(default_factory=dict)
