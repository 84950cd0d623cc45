"""Twilio SMS: X-Twilio-Signature via the official SDK, consent keywords, statuses."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from twilio.request_validator import RequestValidator

from tests.webhooks.support import NOW, fixture
from webhooks.errors import PayloadTooLarge, SignatureError
from webhooks.twilio_sms import TWIML_TYPE, TwilioSmsAdapter

AUTH_TOKEN = "12345678901234567890123456789012"
SHARED_KEY = "webhook-setting-shared-key-0123456789"
INBOUND_URL = "https://hooks.nurture.example/webhooks/twilio"
STATUS_URL = "https://hooks.nurture.example/webhooks/twilio?nurture_message_id=msg_01HZX3"
HELP = "Wedding Co: reply STOP to opt out. Msg&data rates may apply <3"
ADAPTER = TwilioSmsAdapter(AUTH_TOKEN, help_text=HELP)


def signature(url: str, body: bytes, token: str = AUTH_TOKEN) -> dict[str, str]:
    """The header Twilio would send, computed by Twilio's own SDK."""
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


def inbound(text: str) -> bytes:
    """The inbound fixture with a different message body."""
    params = [
        (k, text if k == "Body" else v)
        for k, v in parse_qsl(fixture("twilio/sms_inbound.txt").decode())
    ]
    return urlencode(params).encode()


def test_inbound_signature_verifies() -> None:
    body = fixture("twilio/sms_inbound.txt")
    ADAPTER.verify(body, signature(INBOUND_URL, body), now=NOW, url=INBOUND_URL)


def test_status_callback_signature_covers_the_query_string() -> None:
    body = fixture("twilio/sms_status_delivered.txt")
    ADAPTER.verify(body, signature(STATUS_URL, body), now=NOW, url=STATUS_URL)
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, signature(STATUS_URL, body), now=NOW, url=INBOUND_URL)


def test_explicit_default_port_is_tolerated() -> None:
    body = fixture("twilio/sms_inbound.txt")
    signed_for = "https://hooks.nurture.example:443/webhooks/twilio"
    ADAPTER.verify(body, signature(signed_for, body), now=NOW, url=INBOUND_URL)


def shared_key_signature(url: str, body: bytes, key: str) -> dict[str, str]:
    """Headers of a request signed by a Webhook Setting: HMAC-SHA256 with its shared key."""
    params = dict(parse_qsl(body.decode()))
    signed = RequestValidator(key).compute_signature(url, params, algorithm="HMAC_SHA256")
    return {
        "X-Twilio-Signature": signed,
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
    }


def test_sha256_shared_key_signatures_verify() -> None:
    body = fixture("twilio/sms_inbound.txt")
    adapter = TwilioSmsAdapter(AUTH_TOKEN, help_text=HELP, shared_key=SHARED_KEY)
    adapter.verify(
        body, shared_key_signature(INBOUND_URL, body, SHARED_KEY), now=NOW, url=INBOUND_URL
    )
    with pytest.raises(SignatureError):  # the Auth Token does not sign this scheme
        adapter.verify(
            body, shared_key_signature(INBOUND_URL, body, AUTH_TOKEN), now=NOW, url=INBOUND_URL
        )


def test_shared_key_signatures_are_refused_without_a_shared_key() -> None:
    body = fixture("twilio/sms_inbound.txt")
    headers = shared_key_signature(INBOUND_URL, body, AUTH_TOKEN)
    with pytest.raises(SignatureError, match="no shared key is configured") as refused:
        ADAPTER.verify(body, headers, now=NOW, url=INBOUND_URL)
    assert refused.value.status_code == 401


def test_tampered_body_is_refused() -> None:
    body = fixture("twilio/sms_inbound.txt")
    headers = signature(INBOUND_URL, body)
    with pytest.raises(SignatureError):
        ADAPTER.verify(inbound("STOP"), headers, now=NOW, url=INBOUND_URL)


def test_wrong_token_is_refused() -> None:
    body = fixture("twilio/sms_inbound.txt")
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, signature(INBOUND_URL, body, "0" * 32), now=NOW, url=INBOUND_URL)


def test_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(fixture("twilio/sms_inbound.txt"), {}, now=NOW, url=INBOUND_URL)


def test_oversized_body_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        ADAPTER.verify(b"a" * (ADAPTER.MAX_BODY_BYTES + 1), {}, now=NOW, url=INBOUND_URL)


def test_inbound_message_is_received() -> None:
    result = ADAPTER.parse(fixture("twilio/sms_inbound.txt"), {}, now=NOW)
    [event] = result.events
    assert (event.type, event.id, event.phone) == (
        "sms.received",
        "SM1f0e8ae6ade43cb3c0ce4525424e404f",
        "+15558675310",
    )
    assert event.properties["body"] == "Is the venue dog friendly? 🐕"
    assert event.properties["keyword"] is None
    assert event.time == NOW
    assert result.content_type == TWIML_TYPE
    assert result.body.endswith("<Response></Response>")


@pytest.mark.parametrize(
    "word",
    [
        "STOP",
        "stop",
        " Stop ",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
    ],
)
def test_opt_out_keywords(word: str) -> None:
    [event] = ADAPTER.parse(inbound(word), {}, now=NOW).events
    assert event.type == "sms.opted_out"
    assert event.properties["keyword"] == word.strip().lower()


@pytest.mark.parametrize("word", ["START", "yes", "Unstop"])
def test_opt_in_keywords(word: str) -> None:
    [event] = ADAPTER.parse(inbound(word), {}, now=NOW).events
    assert event.type == "sms.opted_in"


@pytest.mark.parametrize("word", ["HELP", "info "])
def test_help_replies_with_escaped_twiml(word: str) -> None:
    result = ADAPTER.parse(inbound(word), {}, now=NOW)
    assert result.events[0].type == "sms.received"
    assert result.content_type == TWIML_TYPE
    assert result.body.endswith(
        "<Response><Message>Wedding Co: reply STOP to opt out. "
        "Msg&amp;data rates may apply &lt;3</Message></Response>"
    )


def test_keywords_inside_sentences_are_just_messages() -> None:
    [event] = ADAPTER.parse(inbound("please stop by tomorrow"), {}, now=NOW).events
    assert event.type == "sms.received"


@pytest.mark.parametrize(
    ("status", "event_type", "rank"),
    [
        ("sent", "sms.sent", 3),
        ("delivered", "sms.delivered", 4),
        ("undelivered", "sms.failed", 4),
        ("failed", "sms.failed", 4),
    ],
)
def test_status_callbacks(status: str, event_type: str, rank: int) -> None:
    result = ADAPTER.parse(fixture(f"twilio/sms_status_{status}.txt"), {}, now=NOW, url=STATUS_URL)
    [event] = result.events
    assert event.type == event_type
    assert event.id == f"SMb7c0a2ce80504485a6f653a7110836f5:{status}"
    assert event.phone == "+15558675310"
    assert event.message_id == "msg_01HZX3"
    assert event.properties["status_rank"] == rank
    assert event.properties["error_code"] == ("30003" if event_type == "sms.failed" else None)
    assert (result.status_code, result.body) == (200, "")


def test_queued_status_is_acknowledged_without_events() -> None:
    body = fixture("twilio/sms_status_queued.txt")
    assert ADAPTER.parse(body, {}, now=NOW, url=STATUS_URL).events == []
