"""Twilio Voice status callbacks: signature and normalised call outcomes."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from tests.webhooks.support import NOW, fixture
from webhooks.errors import SignatureError
from webhooks.twilio_voice import TwilioVoiceAdapter

AUTH_TOKEN = "12345678901234567890123456789012"
URL = "https://hooks.nurture.example/webhooks/twilio-voice?nurture_message_id=msg_call_1"
ADAPTER = TwilioVoiceAdapter(AUTH_TOKEN)


def headers_for(body: bytes, token: str = AUTH_TOKEN) -> dict[str, str]:
    params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(URL, params)}


def test_signature_verifies() -> None:
    body = fixture("twilio/voice_completed.txt")
    ADAPTER.verify(body, headers_for(body), now=NOW, url=URL)


def test_tampered_body_is_refused() -> None:
    body = fixture("twilio/voice_completed.txt")
    with pytest.raises(SignatureError):
        ADAPTER.verify(
            body.replace(b"CallDuration=68", b"CallDuration=9"), headers_for(body), now=NOW, url=URL
        )


def test_wrong_token_is_refused() -> None:
    body = fixture("twilio/voice_completed.txt")
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, headers_for(body, "0" * 32), now=NOW, url=URL)


@pytest.mark.parametrize(
    ("name", "event_type", "outcome", "duration"),
    [
        ("completed", "call.completed", "answered", 68),
        ("busy", "call.missed", "busy", 0),
        ("no_answer", "call.missed", "no_answer", 0),
        ("failed", "call.missed", "failed", 0),
        ("canceled", "call.missed", "canceled", 0),
    ],
)
def test_final_statuses_map(name: str, event_type: str, outcome: str, duration: int) -> None:
    [event] = ADAPTER.parse(fixture(f"twilio/voice_{name}.txt"), {}, now=NOW, url=URL).events
    assert event.type == event_type
    assert event.id == f"CA42ed11f93dc08b952027ffbc406d0868:{name.replace('_', '-')}"
    assert event.phone == "+15558675310"
    assert event.time.isoformat() == "2026-03-02T10:00:00+00:00"
    assert event.message_id == "msg_call_1"
    assert event.properties == {
        "outcome": outcome,
        "disposition": None,
        "duration": duration,
        "agent": None,
        "direction": "outbound-api",
        "call_id": "CA42ed11f93dc08b952027ffbc406d0868",
    }


def test_answering_machine_is_a_missed_call() -> None:
    body = fixture("twilio/voice_completed.txt") + b"&AnsweredBy=machine_end_beep"
    [event] = ADAPTER.parse(body, {}, now=NOW).events
    assert (event.type, event.properties["outcome"]) == ("call.missed", "voicemail")


def test_inbound_calls_name_the_caller() -> None:
    body = fixture("twilio/voice_completed.txt").replace(
        b"Direction=outbound-api", b"Direction=inbound"
    )
    [event] = ADAPTER.parse(body, {}, now=NOW).events
    assert event.phone == "+15557122661"


def test_progress_statuses_are_acknowledged_without_events() -> None:
    assert ADAPTER.parse(fixture("twilio/voice_ringing.txt"), {}, now=NOW).events == []
