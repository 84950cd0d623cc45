"""SendGrid Event Webhook: ECDSA-signed batches and every documented event kind."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sendgrid.helpers.eventwebhook import EventWebhook

from tests.webhooks.support import NOW, fixture
from webhooks.errors import PayloadTooLarge, SignatureError, StaleRequest
from webhooks.sendgrid import SIGNATURE_HEADER, TIMESTAMP_HEADER, SendGridAdapter

PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
ADAPTER = SendGridAdapter(PUBLIC_KEY)


def signed_headers(
    body: bytes, timestamp: str, key: ec.EllipticCurvePrivateKey = PRIVATE_KEY
) -> dict[str, str]:
    """Headers as SendGrid sends them: ECDSA over the timestamp followed by the body."""
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        TIMESTAMP_HEADER: timestamp,
    }


STAMP = str(int(NOW.timestamp()))


def test_signature_agrees_with_sendgrids_reference_verifier() -> None:
    body = fixture("sendgrid/delivered.json")
    headers = signed_headers(body, STAMP)
    assert EventWebhook(PUBLIC_KEY).verify_signature(
        body.decode(), headers[SIGNATURE_HEADER], STAMP
    )
    ADAPTER.verify(body, headers, now=NOW)


def test_headers_are_found_whatever_their_case() -> None:
    body = fixture("sendgrid/open.json")
    headers = {name.lower(): value for name, value in signed_headers(body, STAMP).items()}
    ADAPTER.verify(body, headers, now=NOW)


def test_tampered_body_is_refused() -> None:
    body = fixture("sendgrid/click.json")
    headers = signed_headers(body, STAMP)
    with pytest.raises(SignatureError):
        ADAPTER.verify(body.replace(b"sendgrid.com", b"evil.example"), headers, now=NOW)


def test_other_key_is_refused() -> None:
    body = fixture("sendgrid/click.json")
    headers = signed_headers(body, STAMP, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, headers, now=NOW)


def test_timestamp_is_part_of_what_is_signed() -> None:
    body = fixture("sendgrid/click.json")
    headers = signed_headers(body, STAMP) | {TIMESTAMP_HEADER: str(int(NOW.timestamp()) + 1)}
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, headers, now=NOW)


def test_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(fixture("sendgrid/click.json"), {TIMESTAMP_HEADER: STAMP}, now=NOW)


def test_stale_timestamp_is_refused() -> None:
    body = fixture("sendgrid/delivered.json")
    headers = signed_headers(body, STAMP)
    with pytest.raises(StaleRequest):
        ADAPTER.verify(body, headers, now=NOW + timedelta(hours=1))


def test_oversized_body_is_refused_before_verification() -> None:
    with pytest.raises(PayloadTooLarge):
        ADAPTER.verify(b"[" + b" " * ADAPTER.MAX_BODY_BYTES + b"]", {}, now=NOW)


def test_key_must_be_p256() -> None:
    with pytest.raises(ValueError):
        SendGridAdapter(base64.b64encode(b"not a key").decode())


@pytest.mark.parametrize(
    ("name", "event_type", "properties"),
    [
        ("processed", "email.sent", {}),
        ("delivered", "email.delivered", {}),
        ("open", "email.opened", {"machine_open": False}),
        ("click", "email.clicked", {"url": "http://www.sendgrid.com/"}),
        (
            "bounce",
            "email.bounced",
            {"hard": True, "bounce_type": "bounce", "reason": "500 unknown recipient"},
        ),
        ("blocked", "email.bounced", {"hard": False, "bounce_type": "blocked"}),
        ("dropped", "email.dropped", {"reason": "Bounced Address"}),
        ("deferred", "email.deferred", {"reason": "400 try again later", "attempt": "5"}),
        ("spamreport", "email.complained", {}),
        ("unsubscribe", "email.unsubscribed", {"scope": "all"}),
        ("group_unsubscribe", "email.unsubscribed", {"scope": "group", "group_id": 10}),
    ],
)
def test_every_event_kind_maps(name: str, event_type: str, properties: dict[str, object]) -> None:
    raw = fixture(f"sendgrid/{name}.json")
    [event] = ADAPTER.parse(raw, {}, now=NOW).events
    assert event.type == event_type
    assert event.source == "sendgrid"
    assert event.email == "example@test.com"
    assert event.message_id == "msg_01HZX3"
    assert event.time.isoformat() == "2017-12-15T00:59:29+00:00"
    assert event.properties["provider_message_id"].startswith("14c5d75ce93")
    assert properties.items() <= event.properties.items()


def test_event_id_is_sendgrids_event_id() -> None:
    [event] = ADAPTER.parse(fixture("sendgrid/processed.json"), {}, now=NOW).events
    assert event.id == "rbtnWrG1DVDGGGFHFyun0A=="


def test_batches_keep_order_and_skip_unknown_kinds() -> None:
    body = (
        b"["
        + b",".join(
            fixture(f"sendgrid/{name}.json")[1:-1] for name in ("processed", "delivered", "open")
        )
        + b',{"event": "group_resubscribe", "sg_event_id": "x", "email": "a@b.co"}]'
    )
    result = ADAPTER.parse(body, {}, now=NOW)
    assert [e.type for e in result.events] == ["email.sent", "email.delivered", "email.opened"]
    assert result.status_code == 200
