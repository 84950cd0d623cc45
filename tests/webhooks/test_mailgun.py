"""Mailgun: body-embedded HMAC signature, stale timestamps, every event kind (reused tokens:
tests/inbound/test_tokens.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from tests.webhooks.support import NOW, fixture_json
from webhooks.errors import PayloadTooLarge, SignatureError, StaleRequest
from webhooks.mailgun import MailgunAdapter, signature_block

SIGNING_KEY = "key-7d9e8f0a1b2c3d4e5f60718293a4b5c6"
ADAPTER = MailgunAdapter(SIGNING_KEY)


def signed(
    name: str,
    *,
    token: str = "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0",
    key: str = SIGNING_KEY,
    when: int | None = None,
) -> bytes:
    """The fixture with a signature block computed as Mailgun documents."""
    payload = fixture_json(f"mailgun/{name}.json")
    stamp = str(when if when is not None else int(NOW.timestamp()))
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    payload["signature"] = {"timestamp": stamp, "token": token, "signature": digest}
    return json.dumps(payload).encode()


def test_valid_signature_passes() -> None:
    ADAPTER.verify(signed("delivered"), {}, now=NOW)


def test_token_is_exposed_for_the_service() -> None:
    assert signature_block(signed("delivered", token="t" * 50))["token"] == "t" * 50


def test_tampered_signature_block_is_refused() -> None:
    """Mailgun signs only timestamp + token, so those are what tampering can reach."""
    payload = json.loads(signed("delivered"))
    payload["signature"]["timestamp"] = str(int(NOW.timestamp()) + 1)
    with pytest.raises(SignatureError):
        ADAPTER.verify(json.dumps(payload).encode(), {}, now=NOW)


def test_wrong_key_is_refused() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(signed("delivered", key="key-other"), {}, now=NOW)


def test_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(b'{"event-data": {}}', {}, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_stale_timestamp_is_refused(skew: timedelta) -> None:
    body = signed("delivered", when=int((NOW + skew).timestamp()))
    with pytest.raises(StaleRequest):
        ADAPTER.verify(body, {}, now=NOW)


def test_oversized_body_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        ADAPTER.verify(b" " * (ADAPTER.MAX_BODY_BYTES + 1), {}, now=NOW)


@pytest.mark.parametrize(
    ("name", "event_type", "event_id", "properties"),
    [
        ("accepted", "email.sent", "ncV2XwymRUKbPek_MIM-Gw", {}),
        ("delivered", "email.delivered", "CPgfbmQMTCKtHW6uIWtuVe", {}),
        ("opened", "email.opened", "Ase7i2zsRYeDXztHGENqRA", {}),
        (
            "clicked",
            "email.clicked",
            "Ase7i2zsRYeDXztHGENqRB",
            {"url": "https://example.com/pricing?utm_source=nurture"},
        ),
        (
            "failed_permanent",
            "email.bounced",
            "G9Bn5sl1TC6nu79C8C0bwg",
            {"hard": True, "bounce_type": "suppress-bounce", "code": 605},
        ),
        ("failed_temporary", "email.deferred", "czsjqFATSlC3QtAK-C80nw", {"code": 452}),
        ("complained", "email.complained", "-Agny091SquKnsrW2NEKUA", {}),
        ("unsubscribed", "email.unsubscribed", "Ase7i2zsRYeDXztHGENqRC", {}),
    ],
)
def test_every_event_kind_maps(
    name: str, event_type: str, event_id: str, properties: dict[str, object]
) -> None:
    [event] = ADAPTER.parse(signed(name), {}, now=NOW).events
    assert (event.type, event.id, event.source) == (event_type, event_id, "mailgun")
    assert event.email == "alice@example.com"
    assert event.message_id == "msg_01HZX3"
    assert event.time.isoformat() == "2018-03-19T15:11:02.908181+00:00"
    assert properties.items() <= event.properties.items()
    assert event.properties["provider_message_id"] == (
        "20130503182626.18666.16540@sandbox.mgsend.net"
    )


def test_unknown_kinds_are_acknowledged_without_events() -> None:
    payload = fixture_json("mailgun/delivered.json")
    payload["event-data"]["event"] = "stored"
    assert ADAPTER.parse(json.dumps(payload).encode(), {}, now=NOW).events == []
