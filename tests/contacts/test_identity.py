"""Who an event is about: the strongest known identifier wins, new people become contacts,
and identifiers are only filled in when nobody else holds them."""

from __future__ import annotations

import pytest

from service.contacts.identity import attach_identifiers, event_contact, locked_contact
from service.errors import NotFound
from service.runtime import Runtime
from service.store.models import Contact
from tests.factories import add_contact, stored


def test_the_holder_of_the_strongest_known_identifier_is_the_contact(runtime: Runtime) -> None:
    crm = add_contact(runtime, external_id="crm-1")
    shop = add_contact(runtime, email="ava@example.com", phone="+15555550100")
    now = runtime.clock.now()
    with runtime.db.write() as session:
        by_external = event_contact(
            session, [("external_id", "crm-1"), ("email", "ava@example.com")], now=now
        )
        # A new customer id from a shop, with an address we know: she is found by the address.
        by_email = event_contact(
            session, [("external_id", "crm-new"), ("email", "ava@example.com")], now=now
        )
        by_id = event_contact(session, [("id", shop.id), ("external_id", "crm-1")], now=now)
        by_phone = event_contact(session, [("phone", "+15555550100")], now=now)
    assert by_external.id == crm.id
    assert (by_email.id, by_id.id, by_phone.id) == (shop.id, shop.id, shop.id)
    assert len(stored(runtime, Contact)) == 2  # nobody new


def test_a_new_identifier_creates_a_contact_holding_the_strongest_one(runtime: Runtime) -> None:
    add_contact(runtime, email="bea@example.com")
    runtime.clock.advance(minutes=5)
    now = runtime.clock.now()
    with runtime.db.write() as session:
        created = event_contact(
            session, [("external_id", "crm-9"), ("email", "new@example.com")], now=now
        )
        created_id = created.id
    [row] = stored(runtime, Contact, id=created_id)
    # Only the strongest identifier is set here; attach_identifiers fills in the rest.
    assert (row.external_id, row.email, row.phone) == ("crm-9", None, None)
    assert (row.created_at, row.updated_at, row.attributes) == (now, now, {})
    assert len(stored(runtime, Contact)) == 2


def test_the_same_new_identifier_twice_is_one_contact(runtime: Runtime) -> None:
    now = runtime.clock.now()
    with runtime.db.write() as session:
        first = event_contact(session, [("email", "new@example.com")], now=now)
    with runtime.db.write() as session:
        second = event_contact(session, [("email", "new@example.com")], now=now)
    assert first.id == second.id
    assert len(stored(runtime, Contact)) == 1


def test_an_unknown_contact_id_is_a_lookup_error_even_with_a_known_email(
    runtime: Runtime,
) -> None:
    add_contact(runtime, email="ava@example.com")
    with runtime.db.write() as session, pytest.raises(LookupError) as raised:
        event_contact(
            session, [("id", "no-such-id"), ("email", "ava@example.com")], now=runtime.clock.now()
        )
    assert raised.value.args == ("id", "no-such-id")
    with runtime.db.write() as session, pytest.raises(LookupError) as alone:
        event_contact(session, [("id", "no-such-id")], now=runtime.clock.now())
    assert alone.value.args == ("id", "no-such-id")
    assert len(stored(runtime, Contact)) == 1


def test_attach_fills_in_only_identifiers_nobody_holds(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com")
    add_contact(runtime, phone="+15555550100", external_id="crm-bea")
    with runtime.db.write() as session:
        contact = locked_contact(session, ava.id)
        attach_identifiers(
            session,
            contact,
            [
                ("id", "some-other-id"),
                ("external_id", "crm-bea"),  # Bea's
                ("email", "ava.new@example.com"),  # Ava already has an address
                ("phone", "+15555550100"),  # Bea's
            ],
        )
        attach_identifiers(
            session, contact, [("external_id", "crm-ava"), ("phone", "+15555550199")]
        )
        session.add(contact)
    [row] = stored(runtime, Contact, id=ava.id)
    assert (row.email, row.external_id, row.phone) == (
        "ava@example.com",
        "crm-ava",
        "+15555550199",
    )


def test_locked_contact_of_an_unknown_id_is_not_found(runtime: Runtime) -> None:
    with runtime.db.write() as session, pytest.raises(NotFound, match="no-such-id"):
        locked_contact(session, "no-such-id")
