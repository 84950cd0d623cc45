"""Generic call-center dispositions: Standard Webhooks signature and normalisation."""

from __future__ import annotations

import base64

import pytest
from standardwebhooks.webhooks import Webhook

from tests.webhooks.support import NOW, fixture
from webhooks.callcenter import CallCenterAdapter
from webhooks.dispositions import disposition
from webhooks.errors import MalformedPayload, SignatureError

SECRET = "whsec_" + base64.b64encode(b"callcenter-test-secret").decode()
ADAPTER = CallCenterAdapter(SECRET)


def headers_for(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "webhook-id": "msg_call_1",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_call_1", NOW, body.decode()),
    }


def test_signature_verifies() -> None:
    body = fixture("callcenter/disposition.json")
    ADAPTER.verify(body, headers_for(body), now=NOW)


def test_tampered_body_is_refused() -> None:
    body = fixture("callcenter/disposition.json")
    with pytest.raises(SignatureError):
        ADAPTER.verify(body.replace(b"312", b"999"), headers_for(body), now=NOW)


def test_wrong_secret_is_refused() -> None:
    body = fixture("callcenter/disposition.json")
    other = "whsec_" + base64.b64encode(b"other").decode()
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, headers_for(body, other), now=NOW)


def test_connected_call_is_completed() -> None:
    [event] = ADAPTER.parse(fixture("callcenter/disposition.json"), {}, now=NOW).events
    assert (event.id, event.source, event.type) == ("call-7f3a", "callcenter", "call.completed")
    assert event.phone == "+15555550100"
    assert event.time.isoformat() == "2026-03-01T09:55:00+00:00"
    assert event.properties == {
        "outcome": "answered",
        "disposition": "interested",
        "disposition_code": "INTERESTED",
        "duration": 312,
        "agent": "maria.k",
        "call_id": "call-7f3a",
    }


def test_batches_map_each_call() -> None:
    events = ADAPTER.parse(fixture("callcenter/batch.json"), {}, now=NOW).events
    assert [(e.type, e.properties["outcome"], e.properties["disposition"]) for e in events] == [
        ("call.missed", "no_answer", None),
        ("call.completed", "answered", "wrong_person"),
    ]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("INTERESTED", "interested"),
        ("Appointment set", "interested"),
        ("Not now", "not_now"),
        ("CALL_BACK_LATER", "not_now"),
        ("wrong number", "wrong_person"),
        ("Wrong Person", "wrong_person"),
        ("NOT_INTERESTED", "other"),
        ("do not call", "other"),
        (None, None),
    ],
)
def test_dispositions_normalise(code: str | None, expected: str | None) -> None:
    assert disposition(code) == expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"phone": "+15555550100", "outcome": "answered"}',
        b'{"call_id": "c", "phone": "555-0100", "outcome": "answered"}',
        b'{"call_id": "c", "phone": "+15555550100", "outcome": "teleported"}',
    ],
)
def test_malformed_calls_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        ADAPTER.parse(body, {}, now=NOW)
