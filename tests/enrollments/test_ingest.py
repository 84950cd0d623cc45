"""Events in: a batch checked before anything is stored, each event recorded once, provider
feedback tied to our message (its delivery status only ever moving forward), and timers
that fell due before the event fired first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from service.enrollments.actions import move
from service.enrollments.ingest import check_events
from service.errors import InvalidInput
from service.runtime import Runtime
from service.schemas import EventIn
from service.store.models import Contact, Enrollment, Event, Message, TransitionRecord
from tests.factories import START, add_contact, event, ingest, signup, stored


def _batch(*bodies: dict[str, Any]) -> list[EventIn]:
    return [EventIn.model_validate(body) for body in bodies]


def _nothing_stored(runtime: Runtime) -> bool:
    return all(not stored(runtime, model) for model in (Contact, Event, Enrollment, Message))


def test_a_batch_naming_an_unknown_contact_id_is_refused(runtime: Runtime) -> None:
    batch = _batch(signup(), event("web.page_viewed", contact={"id": "no-such-id"}))
    with pytest.raises(InvalidInput) as raised:
        check_events(runtime, batch)
    assert raised.value.field == "events.1.contact.id"
    assert "no-such-id" in raised.value.message
    assert _nothing_stored(runtime)


def test_a_batch_with_a_date_attribute_that_is_no_date_is_refused(runtime: Runtime) -> None:
    batch = _batch(
        signup(),
        signup("bea@example.com"),
        signup("cleo@example.com", attributes={"wedding_date": "18/09/2027"}),
    )
    with pytest.raises(InvalidInput) as raised:
        check_events(runtime, batch)
    assert raised.value.field == "events.2.attributes.wedding_date"
    assert _nothing_stored(runtime)


def test_a_good_batch_passes_the_check(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com")
    check_events(
        runtime,
        _batch(
            event("web.page_viewed", contact={"id": ava.id}),
            signup("bea@example.com", attributes={"wedding_date": "2027-09-18T10:00:00Z"}),
            event("contact.updated", attributes={"wedding_date": None, "first_name": "1/2/3"}),
        ),
    )


def test_an_unknown_contact_id_in_one_event_is_invalid_input(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput) as raised:
        ingest(runtime, event("web.page_viewed", contact={"id": "no-such-id"}))
    assert raised.value.field == "contact.id"
    assert _nothing_stored(runtime)


def test_an_event_is_accepted_and_applied(runtime: Runtime) -> None:
    result = ingest(runtime, signup(id="signup-1", source="website"))
    assert (result.id, result.source, result.status) == ("signup-1", "website", "accepted")
    assert [(e.journey, e.stage, e.status) for e in result.enrolled] == [
        ("wedding-story", "welcome", "active")
    ]
    assert [(m.from_, m.to, m.trigger) for m in result.moved] == [
        (None, "welcome", "entry:web.form_submitted")
    ]
    [row] = stored(runtime, Event)
    assert (row.source, row.event_id, row.contact_id) == ("website", "signup-1", result.contact_id)
    assert (row.time, row.received_at, row.message_id) == (START, START, None)
    [contact] = stored(runtime, Contact)
    assert contact.attributes == {"first_name": "Ava", "wedding_date": "2026-06-20"}
    [message] = stored(runtime, Message)
    assert message.event_id == row.id  # the behaviour that led to it, for rendering


def test_a_duplicate_is_reported_and_has_no_second_effect(runtime: Runtime) -> None:
    first = ingest(runtime, signup(id="same", source="website"))
    runtime.clock.advance(minutes=1)
    # Same source and id: whatever else it says, it is the same delivery again.
    again = ingest(
        runtime,
        signup(
            "bea@example.com",
            id="same",
            source="website",
            attributes={"first_name": "Bea", "wedding_date": "2027-01-01"},
        ),
    )
    assert (again.status, again.contact_id, again.moved, again.enrolled) == (
        "duplicate",
        first.contact_id,
        [],
        [],
    )
    [contact] = stored(runtime, Contact)
    assert (contact.email, contact.attributes["first_name"]) == ("ava@example.com", "Ava")
    assert contact.updated_at == START
    assert len(stored(runtime, Event)) == 1
    assert len(stored(runtime, TransitionRecord)) == 1
    assert len(stored(runtime, Message)) == 1


def test_the_same_id_from_another_source_is_another_event(runtime: Runtime) -> None:
    ingest(runtime, signup(id="same", source="website"))
    other = ingest(runtime, event("web.page_viewed", id="same", source="shop"))
    assert other.status == "accepted"
    assert sorted(e.source for e in stored(runtime, Event)) == ["shop", "website"]


def test_an_unproven_sender_only_adds_attributes(runtime: Runtime) -> None:
    ava = ingest(runtime, signup()).contact_id
    body = event(
        "contact.updated", attributes={"first_name": "Eve", "wedding_date": None, "city": "Oslo"}
    )
    ingest(runtime, body, add_attributes_only=True)
    [contact] = stored(runtime, Contact, id=ava)
    assert contact.attributes == {"first_name": "Ava", "wedding_date": "2026-06-20", "city": "Oslo"}


def test_an_event_fills_in_identifiers_nobody_holds(runtime: Runtime) -> None:
    add_contact(runtime, phone="+15555550199")
    ava = ingest(runtime, signup()).contact_id
    ingest(
        runtime,
        event(
            "order.completed",
            contact={"external_id": "shop-7", "email": "ava@example.com", "phone": "+15555550199"},
            properties={"categories": []},
        ),
    )
    [contact] = stored(runtime, Contact, id=ava)
    assert (contact.external_id, contact.phone) == ("shop-7", None)


def _welcome_message(runtime: Runtime) -> Message:
    [message] = stored(runtime, Message, stage="welcome")
    return message


def _feedback(runtime: Runtime, type: str, message_id: str, **properties: Any) -> None:
    ingest(runtime, event(type, properties={"message_id": message_id, **properties}))


def test_feedback_moves_the_delivery_status_forward_never_back(runtime: Runtime) -> None:
    ingest(runtime, signup())
    message_id = _welcome_message(runtime).id
    statuses = []
    for type in (
        "email.delivered",
        "email.opened",
        "email.delivered",  # late
        "email.clicked",
        "email.opened",  # late
        "email.bounced",
        "email.clicked",  # after the end of the story
        "email.delivered",
    ):
        _feedback(runtime, type, message_id)
        statuses.append(_welcome_message(runtime).delivery_status)
    assert statuses == [
        "delivered",
        "opened",
        "opened",
        "clicked",
        "clicked",
        "bounced",
        "bounced",
        "bounced",
    ]


def test_feedback_is_tied_to_the_message_it_reports_on(runtime: Runtime) -> None:
    ingest(runtime, signup())
    message_id = _welcome_message(runtime).id
    _feedback(runtime, "email.opened", message_id)
    opened = next(e for e in stored(runtime, Event) if e.type == "email.opened")
    assert (opened.message_id, opened.journey_id, opened.stage) == (
        message_id,
        "wedding-story",
        "welcome",
    )


def test_feedback_naming_another_contacts_message_changes_nothing(runtime: Runtime) -> None:
    ingest(runtime, signup())
    message_id = _welcome_message(runtime).id
    ingest(
        runtime,
        event("email.delivered", email="bea@example.com", properties={"message_id": message_id}),
    )
    assert _welcome_message(runtime).delivery_status is None
    delivered = next(e for e in stored(runtime, Event) if e.type == "email.delivered")
    assert (delivered.message_id, delivered.journey_id, delivered.stage) == (None, None, None)


def test_sms_feedback_follows_the_sms_lifecycle(runtime: Runtime) -> None:
    ava = ingest(runtime, signup()).contact_id
    move(runtime, contact_id=ava, journey_id="wedding-story", stage="thank_you")
    [sms] = stored(runtime, Message, channel="sms")
    statuses = []
    for type, properties in (
        ("sms.sent", {}),
        ("sms.delivered", {"status": "delivered"}),
        ("sms.sent", {"status": "sent"}),  # late
        ("sms.delivered", {"status": "read"}),
    ):
        _feedback(runtime, type, sms.id, **properties)
        [sms] = stored(runtime, Message, channel="sms")
        statuses.append(sms.delivery_status)
    assert statuses == ["sent", "delivered", "delivered", "read"]


def test_a_timer_due_before_the_event_fires_first(runtime: Runtime) -> None:
    ingest(runtime, signup())
    runtime.clock.advance(seconds=5)  # no scheduler ran: the 3s timer is overdue
    result = ingest(runtime, event("email.clicked", properties={"link": "favors"}))
    assert [(m.from_, m.to, m.trigger) for m in result.moved] == [("welcome", "favors", "after:3s")]
    [enrollment] = stored(runtime, Enrollment)
    assert (enrollment.stage, enrollment.visit) == ("favors", 2)


def test_an_event_that_happened_before_the_timer_was_due_wins(runtime: Runtime) -> None:
    ingest(runtime, signup())
    runtime.clock.advance(seconds=5)
    clicked_at = (START + timedelta(seconds=2)).isoformat()  # reported late
    result = ingest(runtime, event("email.clicked", properties={"link": "favors"}, time=clicked_at))
    assert [(m.from_, m.to, m.trigger) for m in result.moved] == [
        ("welcome", "favors", "event:email.clicked")
    ]
