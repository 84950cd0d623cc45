"""The canonical event shape, id derivation, status ordering and shared helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from webhooks.common import e164, header, snake
from webhooks.events import CanonicalEvent, derive_id
from webhooks.statuses import SMS_ORDER


def test_payload_matches_the_events_api_shape() -> None:
    event = CanonicalEvent(
        id="evt-1",
        source="sendgrid",
        type="email.opened",
        time=datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        email="ava@example.com",
        external_id="cust-1",
        properties={"machine_open": False},
        message_id="msg-1",
    )
    assert event.to_payload() == {
        "id": "evt-1",
        "type": "email.opened",
        "source": "sendgrid",
        "time": "2026-03-01T10:00:00Z",
        "contact": {"external_id": "cust-1", "email": "ava@example.com"},
        "properties": {"machine_open": False, "message_id": "msg-1"},
        "attributes": {},
    }


def test_contact_id_travels_as_the_contact_id_key() -> None:
    event = CanonicalEvent(
        id="e", source="s", type="call.completed", time=datetime.now(UTC), contact_id="c-1"
    )
    assert event.to_payload()["contact"] == {"id": "c-1"}


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        CanonicalEvent(id="e", source="s", type="web.x", time=datetime(2026, 1, 1))


def test_derived_ids_are_stable_and_bounded() -> None:
    assert derive_id("Open", "m-1", None, "2026") == "Open:m-1:2026"
    long_id = derive_id("x" * 300)
    assert long_id == derive_id("x" * 300)
    assert long_id.startswith("sha256:")
    assert len(long_id) <= 200


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("queued", "sending"), ("sending", "sent"), ("sent", "delivered"), ("sent", "failed")],
)
def test_later_statuses_supersede_earlier_ones(earlier: str, later: str) -> None:
    assert SMS_ORDER.supersedes(later, earlier)
    assert not SMS_ORDER.supersedes(earlier, later)


def test_terminal_statuses_do_not_replace_each_other() -> None:
    assert not SMS_ORDER.supersedes("undelivered", "delivered")
    assert SMS_ORDER.supersedes("queued", None)


def test_header_lookup_ignores_case() -> None:
    assert header({"x-signature": "abc"}, "X-Signature") == "abc"
    assert header({}, "X-Signature") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 (555) 555-0100", "+15555550100"),
        ("whatsapp:+447700900123", "+447700900123"),
        ("0044 7700 900123", "+447700900123"),
        ("555-0100", None),
        (None, None),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str | None, expected: str | None) -> None:
    assert e164(raw) == expected


def test_snake_case() -> None:
    assert snake("Order Completed") == "order_completed"
    assert snake(" Signed-Up! ") == "signed_up"
    assert snake("firstName") == "first_name"
