"""Postmark: shared-credential authentication and every documented record type."""

from __future__ import annotations

import base64
import json

import pytest

from tests.webhooks.support import NOW, fixture, fixture_json
from webhooks.errors import PayloadTooLarge, SignatureError
from webhooks.postmark import PostmarkAdapter

BASIC = PostmarkAdapter(basic_auth=("postmark", "s3cret-pass"))
HEADER = PostmarkAdapter(secret_header=("X-Nurture-Token", "tok_9f8e7d"))


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header as Postmark sends for https://user:pass@host URLs."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_passes() -> None:
    BASIC.verify(fixture("postmark/delivery.json"), basic("postmark", "s3cret-pass"), now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        basic("postmark", "wrong"),
        basic("someone", "s3cret-pass"),
        {"Authorization": "Bearer s3cret-pass"},
        {"Authorization": "Basic !!!"},
        {},
    ],
)
def test_wrong_basic_auth_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError):
        BASIC.verify(fixture("postmark/delivery.json"), headers, now=NOW)


def test_secret_header_passes_in_any_case() -> None:
    HEADER.verify(fixture("postmark/open.json"), {"x-nurture-token": "tok_9f8e7d"}, now=NOW)


def test_wrong_secret_header_is_refused() -> None:
    with pytest.raises(SignatureError):
        HEADER.verify(fixture("postmark/open.json"), {"X-Nurture-Token": "tok_other"}, now=NOW)


def test_both_credentials_are_required_when_both_are_configured() -> None:
    both = PostmarkAdapter(basic_auth=("u", "p"), secret_header=("X-Token", "t"))
    with pytest.raises(SignatureError):
        both.verify(b"{}", basic("u", "p"), now=NOW)
    both.verify(b"{}", basic("u", "p") | {"X-Token": "t"}, now=NOW)


def test_some_credential_must_be_configured() -> None:
    with pytest.raises(ValueError):
        PostmarkAdapter()


def test_oversized_body_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        BASIC.verify(b" " * (BASIC.MAX_BODY_BYTES + 1), basic("postmark", "s3cret-pass"), now=NOW)


@pytest.mark.parametrize(
    ("name", "event_type", "event_id", "properties"),
    [
        (
            "delivery",
            "email.delivered",
            "Delivery:00000000-0000-0000-0000-000000000000:john@example.com"
            ":2019-11-05T16:33:54.9070259Z",
            {},
        ),
        (
            "bounce",
            "email.bounced",
            "Bounce:4323372036854775807:john@example.com",
            {"hard": True, "bounce_type": "HardBounce"},
        ),
        ("spam_complaint", "email.complained", "SpamComplaint:42:john@example.com", {}),
        (
            "open",
            "email.opened",
            "Open:00000000-0000-0000-0000-000000000000:john@example.com"
            ":2019-11-05T16:33:54.9070259Z",
            {"first_open": True},
        ),
        (
            "click",
            "email.clicked",
            "Click:00000000-0000-0000-0000-000000000000:john@example.com"
            ":2019-11-05T16:33:54.9070259Z:https://example.com",
            {"url": "https://example.com", "location": "HTML"},
        ),
    ],
)
def test_every_record_type_maps(
    name: str, event_type: str, event_id: str, properties: dict[str, object]
) -> None:
    [event] = BASIC.parse(fixture(f"postmark/{name}.json"), {}, now=NOW).events
    assert (event.type, event.id, event.source) == (event_type, event_id, "postmark")
    assert event.email == "john@example.com"
    assert event.message_id == "msg_01HZX3"
    assert event.time.isoformat() == "2019-11-05T16:33:54.907025+00:00"
    assert properties.items() <= event.properties.items()


def test_suppression_is_an_unsubscribe() -> None:
    [event] = BASIC.parse(fixture("postmark/subscription_change.json"), {}, now=NOW).events
    assert event.type == "email.unsubscribed"
    assert event.email == "bounced-address@wildbit.com"
    assert event.properties["reason"] == "HardBounce"
    assert event.time.isoformat() == "2020-02-01T10:53:34.416071+00:00"


def test_reactivation_is_acknowledged_without_events() -> None:
    record = fixture_json("postmark/subscription_change.json") | {"SuppressSending": False}
    assert BASIC.parse(json.dumps(record).encode(), {}, now=NOW).events == []


def test_soft_bounces_are_not_hard() -> None:
    record = fixture_json("postmark/bounce.json") | {"Type": "SoftBounce", "TypeCode": 4096}
    [event] = BASIC.parse(json.dumps(record).encode(), {}, now=NOW).events
    assert event.properties["hard"] is False
