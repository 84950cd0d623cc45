"""A contact's profile: attributes merged (null removes, add-only never overrides), persona
and timezone set, and the date attributes journeys time messages by checked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service.contacts.profile import check_date_attributes, merge_profile, without_bad_dates
from service.errors import InvalidInput
from service.schemas import EventIn
from service.store.models import Contact
from tests.factories import START, event

LATER = START + timedelta(hours=1)
DATED = frozenset({"wedding_date"})


def _contact(**fields: Any) -> Contact:
    fields.setdefault("attributes", {"first_name": "Ava", "city": "Oslo"})
    return Contact(id="c-1", created_at=START, updated_at=START, **fields)


def _merge(contact: Contact, attributes: dict[str, Any], **kwargs: Any) -> bool:
    kwargs.setdefault("persona", None)
    kwargs.setdefault("timezone", None)
    return merge_profile(contact, attributes=attributes, now=LATER, **kwargs)


def test_merge_sets_values_and_null_removes() -> None:
    contact = _contact()
    original = contact.attributes
    assert _merge(contact, {"city": None, "first_name": "Ava", "wedding_date": "2027-09-18"})
    assert contact.attributes == {"first_name": "Ava", "wedding_date": "2027-09-18"}
    assert contact.updated_at == LATER
    # A new dict, so the JSON column is seen as changed; the old one is left as it was.
    assert original == {"first_name": "Ava", "city": "Oslo"}


@pytest.mark.parametrize(
    "attributes",
    [{}, {"first_name": "Ava"}, {"nickname": None}, {"city": "Oslo", "nickname": None}],
)
def test_nothing_changed_leaves_updated_at(attributes: dict[str, Any]) -> None:
    contact = _contact(persona="bride", timezone="Europe/Oslo")
    assert not _merge(contact, attributes, persona="bride", timezone="Europe/Oslo")
    assert contact.attributes == {"first_name": "Ava", "city": "Oslo"}
    assert contact.updated_at == START


def test_add_only_adds_missing_attributes_and_never_changes_or_removes() -> None:
    contact = _contact()
    assert _merge(
        contact, {"first_name": "Bea", "city": None, "wedding_date": "2027-09-18"}, add_only=True
    )
    assert contact.attributes == {"first_name": "Ava", "city": "Oslo", "wedding_date": "2027-09-18"}
    assert contact.updated_at == LATER


def test_add_only_with_nothing_new_changes_nothing() -> None:
    contact = _contact()
    assert not _merge(contact, {"first_name": "Bea", "city": None, "gone": None}, add_only=True)
    assert contact.attributes == {"first_name": "Ava", "city": "Oslo"}
    assert contact.updated_at == START


def test_persona_and_timezone_are_set_and_never_cleared_by_none() -> None:
    contact = _contact()
    assert _merge(contact, {}, persona="bride")
    assert (contact.persona, contact.timezone, contact.updated_at) == ("bride", None, LATER)

    contact = _contact(persona="bride")
    assert _merge(contact, {}, timezone="America/New_York")
    assert (contact.persona, contact.timezone) == ("bride", "America/New_York")

    contact = _contact(persona="bride", timezone="America/New_York")
    assert not _merge(contact, {}, persona=None, timezone=None)
    assert (contact.persona, contact.timezone, contact.updated_at) == (
        "bride",
        "America/New_York",
        START,
    )
    assert _merge(contact, {}, persona="planner")
    assert contact.persona == "planner"


def test_add_only_still_sets_persona_and_timezone() -> None:
    contact = _contact(persona="bride")
    assert _merge(contact, {}, persona="guest", add_only=True)
    assert contact.persona == "guest"


@pytest.mark.parametrize("value", ["18/09/2027", "next June", 20270918, True, ""])
def test_a_date_attribute_that_is_no_date_is_refused_by_name(value: Any) -> None:
    with pytest.raises(InvalidInput) as raised:
        check_date_attributes(
            DATED, {"first_name": "Ava", "wedding_date": value}, field_prefix="events.3.attributes"
        )
    assert raised.value.field == "events.3.attributes.wedding_date"
    assert raised.value.message.startswith("wedding_date must be an ISO 8601 date")
    assert repr(value) in raised.value.message


@pytest.mark.parametrize(
    "attributes",
    [
        {"wedding_date": "2027-09-18"},
        {"wedding_date": "2027-09-18T10:00:00Z"},
        {"wedding_date": "2027-09-18T10:00:00+02:00"},
        {"wedding_date": None},  # removing it is fine
        {"first_name": "18/09/2027"},  # no journey reads it as a date
        {},
    ],
)
def test_dates_and_other_attributes_pass(attributes: dict[str, Any]) -> None:
    check_date_attributes(DATED, attributes, field_prefix="attributes")


def test_the_first_bad_date_is_named() -> None:
    dated = frozenset({"wedding_date", "anniversary"})
    with pytest.raises(InvalidInput) as raised:
        check_date_attributes(
            dated,
            {"anniversary": "soon", "wedding_date": "later"},
            field_prefix="attributes",
        )
    assert raised.value.field == "attributes.anniversary"


def _event(attributes: dict[str, Any]) -> EventIn:
    return EventIn.model_validate(event("contact.updated", attributes=attributes))


def test_without_bad_dates_keeps_the_good_attributes() -> None:
    original = _event({"first_name": "Ava", "wedding_date": "18/09/2027", "city": None})
    kept = without_bad_dates(DATED, original)
    assert kept.attributes == {"first_name": "Ava", "city": None}
    assert (kept.id, kept.type, kept.contact) == (original.id, original.type, original.contact)
    assert original.attributes["wedding_date"] == "18/09/2027"  # the event itself is unchanged


def test_without_bad_dates_returns_a_good_event_as_it_is() -> None:
    good = _event({"first_name": "Ava", "wedding_date": "2027-09-18"})
    assert without_bad_dates(DATED, good) is good
