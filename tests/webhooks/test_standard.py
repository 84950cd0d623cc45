"""Standard Webhooks: signatures made by the reference SDK, tolerance, canonical payloads."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from tests.webhooks.support import NOW, fixture
from webhooks.errors import MalformedPayload, PayloadTooLarge, SignatureError, StaleRequest
from webhooks.standard import StandardWebhooksAdapter, sign

SECRET = "whsec_" + base64.b64encode(b"nurture-test-secret-32-bytes-ok!").decode()
ADAPTER = StandardWebhooksAdapter(SECRET, source="website")


def headers_for(
    body: bytes, *, secret: str = SECRET, skew: timedelta = timedelta(0)
) -> dict[str, str]:
    """Headers as a Standard Webhooks sender produces them, via the reference SDK."""
    sent = NOW + skew
    return {
        "webhook-id": "msg_2Lh9KZ0u",
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_2Lh9KZ0u", sent, body.decode()),
    }


def test_reference_signature_verifies() -> None:
    body = fixture("standard/event.json")
    ADAPTER.verify(body, headers_for(body), now=NOW)


def test_our_signer_matches_the_reference_sdk() -> None:
    body = fixture("standard/batch.json")
    assert sign(SECRET, "msg_1", NOW, body) == Webhook(SECRET).sign("msg_1", NOW, body.decode())


def test_any_listed_signature_may_match() -> None:
    body = fixture("standard/event.json")
    headers = headers_for(body)
    headers["webhook-signature"] = "v1,AAAA v2,whatever " + headers["webhook-signature"]
    ADAPTER.verify(body, headers, now=NOW)


def test_tampered_body_is_refused() -> None:
    body = fixture("standard/event.json")
    with pytest.raises(SignatureError):
        ADAPTER.verify(body.replace(b"evt-1", b"evt-9"), headers_for(body), now=NOW)


def test_wrong_secret_is_refused() -> None:
    body = fixture("standard/event.json")
    other = "whsec_" + base64.b64encode(b"another-secret").decode()
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, headers_for(body, secret=other), now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_outside_five_minutes_are_refused(skew: timedelta) -> None:
    body = fixture("standard/event.json")
    with pytest.raises(StaleRequest):
        ADAPTER.verify(body, headers_for(body, skew=skew), now=NOW)


def test_missing_headers_are_refused() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(fixture("standard/event.json"), {}, now=NOW)


def test_oversized_body_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        ADAPTER.verify(b" " * (ADAPTER.MAX_BODY_BYTES + 1), {}, now=NOW)


def test_single_event_round_trips_to_the_events_api_shape() -> None:
    body = fixture("standard/event.json")
    [event] = ADAPTER.parse(body, {}, now=NOW).events
    assert event.message_id == "msg_01HZX3"
    assert event.to_payload() == {
        "id": "evt-1",
        "type": "web.form_submitted",
        "source": "website",
        "time": "2026-03-01T10:00:00Z",
        "contact": {"email": "ava@example.com"},
        "properties": {"form": "wedding-signup", "message_id": "msg_01HZX3"},
        "attributes": {"first_name": "Ava", "wedding_date": "2027-09-18"},
    }


def test_batches_default_source_and_time() -> None:
    events = ADAPTER.parse(fixture("standard/batch.json"), {}, now=NOW).events
    assert [(e.id, e.source, e.type) for e in events] == [
        ("evt-2", "shop", "order.completed"),
        ("evt-3", "website", "web.pricing_viewed"),
    ]
    assert events[0].time.isoformat() == "2026-03-01T09:05:00+00:00"
    assert events[1].time == NOW
    assert (events[0].external_id, events[1].phone) == ("cust-42", "+15555550100")


@pytest.mark.parametrize(
    "body",
    [b'{"type": "web.x"}', b'{"id": "e", "type": "Not A Type"}', b'{"events": {}}', b"[1]"],
)
def test_malformed_events_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        ADAPTER.parse(body, {}, now=NOW)


def test_secret_must_be_base64() -> None:
    with pytest.raises(ValueError):
        StandardWebhooksAdapter("whsec_***")
