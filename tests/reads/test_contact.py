"""The operator's reads: a contact found by one identifier, her state, and her timeline in
time order (same-moment lines as event, transition, note, message)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.contacts.identity import locked_contact
from service.delivery import outbox
from service.enrollments.actions import move
from service.errors import InvalidInput, NotFound
from service.reads.contact import (
    contact_messages,
    contact_out,
    find_contact,
    require_contact,
    timeline,
)
from service.runtime import Runtime
from tests.factories import START, add_contact, event, ingest, signup


def _note(runtime: Runtime, contact_id: str, text: str) -> None:
    with runtime.db.write() as session:
        contact = locked_contact(session, contact_id)
        [message, *_] = outbox.contact_messages(session, contact_id=contact_id)
        outbox.add_note(
            session, contact=contact, message=message, note=text, at=runtime.clock.now()
        )


def test_timeline_orders_by_time_then_event_transition_note_message(runtime: Runtime) -> None:
    ava = ingest(runtime, signup()).contact_id  # event, entry and welcome email, all at START
    _note(runtime, ava, "held by the cap")  # history seq 2
    move(runtime, contact_id=ava, journey_id="wedding-story", stage="favors")  # seq 3, visit 2
    runtime.clock.advance(seconds=5)
    ingest(runtime, event("web.page_viewed", properties={"page": "x"}))
    earlier = (START - timedelta(hours=1)).isoformat()
    ingest(runtime, event("web.page_viewed", properties={"page": "y"}, time=earlier))
    with runtime.db.write() as session:
        favors = next(
            m for m in outbox.contact_messages(session, contact_id=ava) if m.stage == "favors"
        )
        favors.status, favors.sent_at = "sent", START + timedelta(seconds=10)
        session.add(favors)

    with runtime.db.session() as session:
        entries = timeline(session, ava)
    assert [(e.at, e.kind, e.summary) for e in entries] == [
        (START - timedelta(hours=1), "event", "web.page_viewed"),
        (START, "event", "web.form_submitted"),
        (START, "transition", "wedding-story: (start) -> welcome"),
        (START, "transition", "wedding-story: welcome -> favors"),
        (START, "note", "wedding-story: welcome: held by the cap"),
        (START, "message", "email story/welcome: canceled"),
        (START + timedelta(seconds=5), "event", "web.page_viewed"),
        (START + timedelta(seconds=10), "message", "email story/favors: sent"),
    ]
    assert entries[3].data == {
        "journey": "wedding-story",
        "version": "1",
        "from": "welcome",
        "to": "favors",
        "trigger": "manual",
    }
    assert entries[0].data["properties"] == {"page": "y"}


def test_timeline_and_messages_of_an_unknown_contact_are_not_found(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        with pytest.raises(NotFound):
            timeline(session, "no-such-id")
        with pytest.raises(NotFound):
            contact_messages(session, "no-such-id")


def test_contact_messages_oldest_first(runtime: Runtime) -> None:
    ava = ingest(runtime, signup()).contact_id
    runtime.clock.advance(seconds=1)
    move(runtime, contact_id=ava, journey_id="wedding-story", stage="thank_you")
    with runtime.db.session() as session:
        messages = contact_messages(session, ava)
    assert [(m.stage, m.visit, m.channel, m.status) for m in messages] == [
        ("welcome", 1, "email", "canceled"),
        ("thank_you", 2, "sms", "pending"),
    ]


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"email": "ava@example.com", "phone": "+15555550100"},
        {"email": "ava@example.com", "external_id": "crm-1"},
        {"email": "", "phone": None, "external_id": ""},
    ],
)
def test_find_contact_needs_exactly_one_identifier(runtime: Runtime, given: dict[str, str]) -> None:
    add_contact(runtime, email="ava@example.com", phone="+15555550100", external_id="crm-1")
    query = {"email": None, "phone": None, "external_id": None, **given}
    with runtime.db.session() as session, pytest.raises(InvalidInput) as raised:
        find_contact(session, **query)
    assert raised.value.field == "query"


def test_find_contact_by_each_identifier(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com", phone="+15555550100", external_id="CRM-1")
    add_contact(runtime, email="bea@example.com")
    none = {"email": None, "phone": None, "external_id": None}
    with runtime.db.session() as session:
        for given in (
            {"email": "  Ava@Example.COM "},  # compared as stored: trimmed, lower case
            {"phone": "+15555550100"},
            {"external_id": "CRM-1"},
        ):
            assert find_contact(session, **{**none, **given}).id == ava.id
        with pytest.raises(NotFound):
            find_contact(session, **{**none, "external_id": "crm-1"})  # ids keep their case
        with pytest.raises(NotFound):
            find_contact(session, **{**none, "email": "cleo@example.com"})


def test_contact_out_has_consents_and_enrollments(runtime: Runtime) -> None:
    ava = ingest(runtime, signup()).contact_id
    ingest(runtime, event("email.unsubscribed"))
    with runtime.db.session() as session:
        out = contact_out(session, require_contact(session, ava))
    assert out.attributes == {"first_name": "Ava", "wedding_date": "2026-06-20"}
    assert [(c.channel, c.status, c.reason) for c in out.consents] == [
        ("email", "withdrawn", "email.unsubscribed")
    ]
    [enrollment] = out.enrollments
    assert (enrollment.journey, enrollment.stage, enrollment.status) == (
        "wedding-story",
        "welcome",
        "exited",
    )
    assert enrollment.ended_at == START
