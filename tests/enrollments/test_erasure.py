"""The right to erasure: nothing personal about her is left, every row about anyone else
stays, and her history stays anonymised so every journey's figures stay true."""

from __future__ import annotations

import pytest
from sqlmodel import SQLModel

from service.contacts.identity import locked_contact
from service.delivery import outbox
from service.enrollments.erasure import erase_contact
from service.errors import NotFound
from service.runtime import Runtime
from service.store.models import (
    Consent,
    Contact,
    Enrollment,
    Event,
    Message,
    Note,
    TransitionRecord,
)
from tests.factories import event, ingest, signup, stored

ABOUT_HER: tuple[type[SQLModel], ...] = (
    Event,
    Enrollment,
    Message,
    TransitionRecord,
    Consent,
    Note,
)


def _history(runtime: Runtime, email: str) -> str:
    """Signup, a click that moves her on, an SMS opt-out and a scheduler note."""
    contact_id = ingest(runtime, signup(email)).contact_id
    click = event("email.clicked", email=email, properties={"link": "favors"})
    assert ingest(runtime, click).moved
    ingest(runtime, event("sms.opted_out", email=email))
    with runtime.db.write() as session:
        contact = locked_contact(session, contact_id)
        [message, *_] = outbox.contact_messages(session, contact_id=contact_id)
        outbox.add_note(
            session, contact=contact, message=message, note="held", at=runtime.clock.now()
        )
    return contact_id


def _counts(runtime: Runtime, contact_id: str) -> dict[str, int]:
    return {
        model.__name__: len(stored(runtime, model, contact_id=contact_id)) for model in ABOUT_HER
    }


def test_erasure_removes_everything_about_her_and_nothing_else(runtime: Runtime) -> None:
    ava = _history(runtime, "ava@example.com")
    bea = _history(runtime, "bea@example.com")
    bea_before = _counts(runtime, bea)
    assert all(_counts(runtime, ava).values())  # she has rows in every table
    assert bea_before == _counts(runtime, ava)

    erase_contact(runtime, contact_id=ava)

    assert stored(runtime, Contact, id=ava) == []
    assert _counts(runtime, ava) == dict.fromkeys(bea_before, 0)
    assert _counts(runtime, bea) == bea_before
    assert [c.email for c in stored(runtime, Contact) if c.id == bea] == ["bea@example.com"]
    [kept] = [c for c in stored(runtime, Contact) if c.id != bea]  # her history's holder
    assert (kept.email, kept.phone, kept.external_id, kept.persona, kept.timezone) == (None,) * 5
    assert kept.attributes == {}
    kept_counts = _counts(runtime, kept.id)
    assert kept_counts == {**bea_before, "Consent": 0, "TransitionRecord": 3}  # + exit:erased


def test_erasing_an_unknown_or_erased_contact_is_not_found(runtime: Runtime) -> None:
    ava = ingest(runtime, signup()).contact_id
    erase_contact(runtime, contact_id=ava)
    with pytest.raises(NotFound):
        erase_contact(runtime, contact_id=ava)
    with pytest.raises(NotFound):
        erase_contact(runtime, contact_id="no-such-id")


def test_a_redelivered_event_after_erasure_is_a_new_contact(runtime: Runtime) -> None:
    first = ingest(runtime, signup(id="signup-1"))
    erase_contact(runtime, contact_id=first.contact_id)
    again = ingest(runtime, signup(id="signup-1"))
    assert again.status == "accepted"
    assert again.contact_id != first.contact_id
    assert [e.stage for e in stored(runtime, Enrollment, contact_id=again.contact_id)] == [
        "welcome"
    ]
