"""Profile writes: a contact upserted by any identifier (never merging two people), patched,
and her timers following the new values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.contacts.schemas import ContactIn, ContactPatch
from service.enrollments.actions import enroll, move
from service.enrollments.profiles import patch_contact, upsert_contact
from service.errors import Conflict, InvalidInput, NotFound
from service.runtime import Runtime
from service.store.models import Contact, Enrollment
from tests.factories import START, add_contact, stored

STORY = "wedding-story"
FAVORS_DUE = datetime(2026, 5, 21, 10, 0, tzinfo=UTC)  # 30 days before 2026-06-20, 10:00


def _upsert(runtime: Runtime, **body: Any) -> tuple[Contact, bool]:
    return upsert_contact(runtime, ContactIn.model_validate(body))


def _patch(runtime: Runtime, contact_id: str, **body: Any) -> Contact:
    return patch_contact(runtime, contact_id, ContactPatch.model_validate(body))


def _in_favors(runtime: Runtime, contact_id: str) -> None:
    enroll(runtime, contact_id=contact_id, journey_id=STORY)
    move(runtime, contact_id=contact_id, journey_id=STORY, stage="favors")


def _due(runtime: Runtime, contact_id: str) -> datetime | None:
    [enrollment] = stored(runtime, Enrollment, contact_id=contact_id)
    return enrollment.next_due_at


def test_upsert_creates_then_updates(runtime: Runtime) -> None:
    created, is_new = _upsert(
        runtime, email="Ava@Example.com", attributes={"first_name": "Ava", "city": "Oslo"}
    )
    assert is_new
    assert (created.email, created.created_at, created.updated_at) == (
        "ava@example.com",
        START,
        START,
    )
    runtime.clock.advance(hours=1)
    updated, is_new = _upsert(
        runtime,
        email="ava@example.com",
        phone="+15555550100",
        persona="bride",
        attributes={"city": None, "wedding_date": "2027-09-18"},
    )
    assert not is_new
    assert updated.id == created.id
    [row] = stored(runtime, Contact)
    assert (row.email, row.phone, row.persona) == ("ava@example.com", "+15555550100", "bride")
    assert row.attributes == {"first_name": "Ava", "wedding_date": "2027-09-18"}
    assert (row.created_at, row.updated_at) == (START, START + timedelta(hours=1))


def test_upsert_finds_her_by_any_identifier(runtime: Runtime) -> None:
    ava, _ = _upsert(runtime, external_id="crm-1")
    by_id, is_new = _upsert(runtime, id=ava.id, email="ava@example.com")
    assert (by_id.id, is_new) == (ava.id, False)
    by_email, is_new = _upsert(runtime, email="ava@example.com", phone="+15555550100")
    assert (by_email.id, is_new) == (ava.id, False)
    [row] = stored(runtime, Contact)
    assert (row.external_id, row.email, row.phone) == (
        "crm-1",
        "ava@example.com",
        "+15555550100",
    )


def test_upsert_with_only_new_identifiers_creates_one_contact_holding_all(
    runtime: Runtime,
) -> None:
    contact, is_new = _upsert(
        runtime, external_id="crm-1", email="ava@example.com", phone="+15555550100"
    )
    assert is_new
    [row] = stored(runtime, Contact)
    assert (row.id, row.external_id, row.email, row.phone) == (
        contact.id,
        "crm-1",
        "ava@example.com",
        "+15555550100",
    )


def test_identifiers_of_two_contacts_are_a_conflict_naming_the_owners(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com")
    bea = add_contact(runtime, external_id="crm-2")
    with pytest.raises(Conflict) as raised:
        _upsert(
            runtime,
            email="ava@example.com",
            external_id="crm-2",
            attributes={"first_name": "Who"},
        )
    assert raised.value.detail == {"owners": {"email": ava.id, "external_id": bea.id}}
    assert {c.id: c.attributes for c in stored(runtime, Contact)} == {ava.id: {}, bea.id: {}}


def test_an_id_and_another_contacts_identifier_are_a_conflict(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com")
    bea = add_contact(runtime, email="bea@example.com")
    with pytest.raises(Conflict) as raised:
        _upsert(runtime, id=ava.id, email="bea@example.com")
    assert raised.value.detail == {"owners": {"id": ava.id, "email": bea.id}}


def test_upsert_of_an_unknown_id_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound, match="no-such-id"):
        _upsert(runtime, id="no-such-id", email="ava@example.com")
    assert stored(runtime, Contact) == []


def test_upsert_refuses_a_date_that_is_no_date_before_storing(runtime: Runtime) -> None:
    with pytest.raises(InvalidInput) as raised:
        _upsert(runtime, email="ava@example.com", attributes={"wedding_date": "18/09/2027"})
    assert raised.value.field == "attributes.wedding_date"
    assert stored(runtime, Contact) == []


def test_upsert_with_a_new_date_reschedules(runtime: Runtime) -> None:
    ava, _ = _upsert(runtime, email="ava@example.com", attributes={"wedding_date": "2026-06-20"})
    _in_favors(runtime, ava.id)
    assert _due(runtime, ava.id) == FAVORS_DUE
    _upsert(runtime, email="ava@example.com", attributes={"wedding_date": "2026-09-12"})
    assert _due(runtime, ava.id) == datetime(2026, 8, 13, 10, 0, tzinfo=UTC)


def test_patch_with_a_new_date_reschedules_the_timer(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com", attributes={"wedding_date": "2026-06-20"})
    _in_favors(runtime, ava.id)
    assert _due(runtime, ava.id) == FAVORS_DUE
    runtime.clock.advance(hours=1)
    patched = _patch(runtime, ava.id, attributes={"wedding_date": "2026-09-12", "note": "x"})
    assert patched.attributes == {"wedding_date": "2026-09-12", "note": "x"}
    assert _due(runtime, ava.id) == datetime(2026, 8, 13, 10, 0, tzinfo=UTC)
    [row] = stored(runtime, Contact)
    assert (row.attributes, row.updated_at) == (patched.attributes, START + timedelta(hours=1))


def test_patch_follows_a_timezone(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com", attributes={"wedding_date": "2026-06-20"})
    _in_favors(runtime, ava.id)
    _patch(runtime, ava.id, timezone="America/New_York")  # 10:00 there is 14:00 UTC in May
    assert _due(runtime, ava.id) == datetime(2026, 5, 21, 14, 0, tzinfo=UTC)


def test_patch_removing_the_date_leaves_no_timer(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com", attributes={"wedding_date": "2026-06-20"})
    _in_favors(runtime, ava.id)
    _patch(runtime, ava.id, attributes={"wedding_date": None})
    assert _due(runtime, ava.id) is None


def test_a_patch_that_changes_nothing_keeps_updated_at(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com", attributes={"first_name": "Ava"})
    runtime.clock.advance(hours=1)
    _patch(runtime, ava.id, attributes={"first_name": "Ava", "city": None})
    [row] = stored(runtime, Contact)
    assert row.updated_at == START


def test_patch_refuses_a_bad_date_and_an_unknown_contact(runtime: Runtime) -> None:
    ava = add_contact(runtime, email="ava@example.com", attributes={"wedding_date": "2026-06-20"})
    with pytest.raises(InvalidInput) as raised:
        _patch(runtime, ava.id, attributes={"wedding_date": "June"})
    assert raised.value.field == "attributes.wedding_date"
    assert stored(runtime, Contact)[0].attributes == {"wedding_date": "2026-06-20"}
    with pytest.raises(NotFound):
        _patch(runtime, "no-such-id", attributes={"first_name": "Ava"})
