"""The right to erasure: nothing personal about her is left, every row about anyone else
stays, and her history stays anonymised so every journey's figures stay true."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlmodel import SQLModel, select

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
    MessageStatus,
    Note,
    TransitionRecord,
)
from tests.factories import Harness, add_contact, event, ingest, signup, stored

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


# ----- through the API: her figures stay, nothing of her does ------------------------------

ZEL = {
    "email": "zelphine.q@example.com",
    "phone": "+15555550123",
    "external_id": "cust-zel-77",
}
HERS = ("Zelphine", "Quarrington", "gift-note-zq", "zel-ev-")


async def _zelphine(harness: Harness) -> str:
    """Signup, a tied-back click, two sends, a converting order with revenue, a later order,
    an SMS opt-out: every table about a contact gets her rows."""
    attributes = {"first_name": "Zelphine", "last_name": "Quarrington"}
    body = signup(
        id="zel-ev-1", contact=ZEL, attributes={**attributes, "wedding_date": "2026-06-20"}
    )
    assert (await harness.post_events(body)).status_code == 200
    await harness.run_scheduler()
    contact = await harness.contact(ZEL["email"])
    [welcome] = (await harness.client.get(f"/contacts/{contact['id']}/messages")).json()
    click = event(
        "email.clicked",
        id="zel-ev-2",
        contact={"email": ZEL["email"]},
        properties={"link": "favors", "message_id": welcome["id"], "note": "gift-note-zq"},
    )
    await harness.post_events(click)
    await harness.run_scheduler()
    order = {"categories": ["thank-you-cards"], "revenue": 120.5, "note": "gift-note-zq"}
    later = {"total": "80", "value": True, "coupon": "gift-note-zq"}
    for number, properties in ((3, order), (4, later)):
        harness.clock.advance(seconds=1)
        ours = event(
            "order.completed",
            id=f"zel-ev-{number}",
            contact={"phone": ZEL["phone"]},
            properties=properties,
        )
        assert (await harness.post_events(ours)).status_code == 200
    optout = event("sms.opted_out", id="zel-ev-5", contact={"external_id": ZEL["external_id"]})
    await harness.post_events(optout)
    return str(contact["id"])


def _figures(runtime: Runtime) -> dict[str, Any]:
    """What a journey's figures are made of, per journey, with no contact in them."""

    def rows(model: type[SQLModel], *columns: str) -> Counter[tuple[Any, ...]]:
        return Counter(tuple(getattr(row, c) for c in columns) for row in stored(runtime, model))

    orders = [e for e in stored(runtime, Event) if e.type == "order.completed"]
    return {
        "enrollments": rows(Enrollment, "journey_id", "version", "status", "holdout", "visit"),
        "transitions": rows(TransitionRecord, "journey_id", "from_stage", "to_stage", "trigger"),
        "messages": rows(
            Message, "journey_id", "stage", "template", "status", "delivery_status", "sent_at"
        ),
        "events": rows(Event, "type", "time", "journey_id", "stage"),
        "tied_back": sum(1 for e in stored(runtime, Event) if e.message_id),
        "revenue": sum(
            float(
                next(
                    (e.properties[k] for k in ("revenue", "total", "value") if k in e.properties), 0
                )
            )
            for e in orders
        ),
    }


def _everything(runtime: Runtime) -> str:
    """Every row of every table, as text, to search for anything of hers."""
    with runtime.db.session() as session:
        return "\n".join(
            repr(dict(row._mapping))
            for table in SQLModel.metadata.sorted_tables
            if table.name != "journey_versions"  # the journey files' own text
            for row in session.execute(select(table)).all()
        )


async def test_erasure_keeps_every_journey_figure(harness: Harness) -> None:
    runtime = harness.app.state.runtime
    await _zelphine(harness)
    await harness.post_events(signup("bea@example.com", id="bea-1"))
    await harness.run_scheduler()
    zel = await harness.contact(ZEL["email"])
    assert [e["status"] for e in zel["enrollments"]] == ["converted"]
    before = _figures(runtime)
    assert before["revenue"] == 200.5 and before["tied_back"] == 1

    assert (await harness.client.delete(f"/contacts/{zel['id']}")).status_code == 204

    assert _figures(runtime) == before
    kept = [e for e in stored(runtime, Event) if e.type == "order.completed"]
    assert sorted(map(str, (e.properties for e in kept))) == [
        "{'revenue': 120.5}",
        "{'total': '80'}",
    ]
    # Her click still counts for the message it was about, under that message's new id.
    tied = {e.message_id for e in stored(runtime, Event) if e.message_id}
    assert len(tied) == 1 and tied <= {m.id for m in stored(runtime, Message)}


async def test_nothing_of_her_is_left_anywhere(harness: Harness) -> None:
    runtime = harness.app.state.runtime
    zel = await _zelphine(harness)
    with runtime.db.session() as session:
        ids = [zel]  # and every id that ever left the database: providers and links know these
        for model in (Enrollment, Message):
            ids += [row.id for row in session.exec(select(model).filter_by(contact_id=zel))]
    before = _everything(runtime)
    assert all(value in before for value in (*ZEL.values(), *HERS, *ids))

    assert (await harness.client.delete(f"/contacts/{zel}")).status_code == 204

    after = _everything(runtime)
    assert [v for v in (*ZEL.values(), *HERS, *ids) if v in after] == []
    assert stored(runtime, Consent) == []
    kept = stored(runtime, Message)
    assert kept and all(
        (m.subject, m.html, m.text, m.body, m.provider_message_id, m.error) == (None,) * 6
        for m in kept
    )
    assert (await harness.client.get(f"/contacts/{zel}")).status_code == 404


async def test_an_active_enrollment_ends_at_erasure_and_sends_nothing_more(
    harness: Harness,
) -> None:
    runtime = harness.app.state.runtime
    await harness.post_events(signup())  # the welcome mail waits for the scheduler
    ava = await harness.contact()
    assert (await harness.client.delete(f"/contacts/{ava['id']}")).status_code == 204
    [enrollment] = stored(runtime, Enrollment)
    assert (enrollment.status, enrollment.next_due_at) == ("exited", None)
    assert enrollment.contact_id != ava["id"]
    moves = stored(runtime, TransitionRecord)
    assert [m.trigger for m in sorted(moves, key=lambda m: m.seq)] == [
        "entry:web.form_submitted",
        "exit:erased",
    ]
    [message] = stored(runtime, Message)
    assert message.status == MessageStatus.CANCELED
    harness.clock.advance(hours=1)
    report = await harness.run_scheduler()
    assert (report.sent, report.held, report.timers) == (0, 0, 0)
    assert harness.outbox_lines() == []


async def test_an_audience_never_reaches_an_erased_history(harness: Harness) -> None:
    await harness.post_events(signup())
    add_contact(harness.app.state.runtime, email="bea@example.com")
    ava = await harness.contact()
    await harness.client.delete(f"/contacts/{ava['id']}")
    url = "/journeys/wedding-story/enroll"
    report = (await harness.client.post(url, json={"where": "true", "dry_run": True})).json()
    assert (report["contacts"], report["enrolled"]) == (1, 1)
