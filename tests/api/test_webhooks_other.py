"""Twilio SMS and Voice, Segment, call centers and Standard Webhooks through the app, and
1,000 shuffled deliveries with duplicates giving exactly one effect each."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from service.store.models import Consent, Enrollment, Event
from tests.api import signing
from tests.api.test_webhooks_email import consent, enrolled, events_of, message
from tests.factories import FakeClock, Harness, running_app
from tests.webhooks.support import fixture, fixture_json

PHONE = "+15558675310"


async def with_phone(h: Harness) -> tuple[str, str]:
    contact_id, message_id = await enrolled(h)
    response = await h.client.post("/contacts", json={"id": contact_id, "phone": PHONE})
    assert response.status_code == 200, response.text
    return contact_id, message_id


async def post_twilio(h: Harness, path: str, body: bytes, **headers: str) -> Any:
    signed = signing.twilio(path, body) | headers
    response = await h.client.post(path, content=body, headers=signed)
    await h.apply_inbox()
    return response


async def test_sms_keywords_change_consent_and_help_replies(hooks: Harness) -> None:
    await with_phone(hooks)
    stop = signing.twilio_form("sms_inbound", Body="STOP", MessageSid="SM1", SmsSid="SM1")
    response = await post_twilio(hooks, "/webhooks/twilio", stop)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Message>" not in response.text
    assert (await consent(hooks, "sms"))["status"] == "withdrawn"
    start = signing.twilio_form("sms_inbound", Body="start", MessageSid="SM2", SmsSid="SM2")
    await post_twilio(hooks, "/webhooks/twilio", start)
    assert (await consent(hooks, "sms"))["status"] == "granted"
    help_ = signing.twilio_form("sms_inbound", Body="HELP", MessageSid="SM3", SmsSid="SM3")
    reply = await post_twilio(hooks, "/webhooks/twilio", help_)
    assert "<Message>Wedding Co: reply STOP to opt out.</Message>" in reply.text


async def test_sms_status_callbacks_tie_back_and_keep_the_latest(hooks: Harness) -> None:
    contact_id, message_id = await with_phone(hooks)
    path = f"/webhooks/twilio?nurture_message_id={message_id}"
    for name in ("sms_status_delivered", "sms_status_sent"):
        body = signing.twilio_form(name, To=PHONE)
        assert (await post_twilio(hooks, path, body)).status_code == 200
    assert (await message(hooks, contact_id))["delivery_status"] == "delivered"
    statuses = [e for e in await events_of(hooks, contact_id) if e["data"]["source"] == "twilio"]
    assert {e["data"]["message_id"] for e in statuses} == {message_id}


async def test_twilio_signature_must_match_the_public_url(hooks: Harness) -> None:
    await with_phone(hooks)
    body = signing.twilio_form("sms_inbound", Body="STOP")
    proxied = signing.twilio("/elsewhere", body)
    response = await hooks.client.post("/webhooks/twilio", content=body, headers=proxied)
    assert response.status_code == 401
    wrong_token = signing.twilio("/webhooks/twilio", body, token="0" * 32)
    response = await hooks.client.post("/webhooks/twilio", content=body, headers=wrong_token)
    assert response.status_code == 401
    tampered = body.replace(b"STOP", b"START")
    good = signing.twilio("/webhooks/twilio", body)
    response = await hooks.client.post("/webhooks/twilio", content=tampered, headers=good)
    assert response.status_code == 401
    assert await consent(hooks, "sms") == {}


async def test_webhook_setting_signatures_use_the_shared_key(hooks: Harness) -> None:
    await with_phone(hooks)
    body = signing.twilio_form("sms_inbound", Body="STOP")
    by_token = signing.twilio_shared_key("/webhooks/twilio", body, key=signing.TWILIO_TOKEN)
    response = await hooks.client.post("/webhooks/twilio", content=body, headers=by_token)
    assert response.status_code == 401
    by_key = signing.twilio_shared_key("/webhooks/twilio", body)
    response = await hooks.client.post("/webhooks/twilio", content=body, headers=by_key)
    await hooks.apply_inbox()
    assert response.status_code == 200
    assert (await consent(hooks, "sms"))["status"] == "withdrawn"


async def test_webhook_setting_signatures_need_a_shared_key(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = signing.webhook_settings(database_url, tmp_path, webhook_twilio_shared_key=None)
    body = signing.twilio_form("sms_inbound", Body="STOP")
    headers = signing.twilio_shared_key("/webhooks/twilio", body, key=signing.TWILIO_TOKEN)
    async with running_app(settings, clock) as app:
        response = await app.client.post("/webhooks/twilio", content=body, headers=headers)
    assert response.status_code == 401
    assert "no shared key is configured" in response.json()["detail"]


async def test_twilio_counts_that_are_not_numbers_are_malformed(hooks: Harness) -> None:
    sms = signing.twilio_form("sms_inbound", Body="hi", NumMedia="lots")
    voice = signing.twilio_form("voice_completed", CallDuration="1.5e3")
    for path, body in (("/webhooks/twilio", sms), ("/webhooks/twilio-voice", voice)):
        response = await post_twilio(hooks, path, body)
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "malformed_payload"


async def test_voice_call_is_recorded(hooks: Harness) -> None:
    contact_id, _ = await with_phone(hooks)
    body = fixture("twilio/voice_completed.txt")
    assert (await post_twilio(hooks, "/webhooks/twilio-voice", body)).status_code == 200
    call = next(e for e in await events_of(hooks, contact_id) if e["summary"] == "call.completed")
    assert call["data"]["properties"]["duration"] == 68


async def test_call_center_disposition(hooks: Harness) -> None:
    body = fixture("callcenter/disposition.json")
    now = hooks.clock.now()
    headers = signing.standard(body, now, msg_id="cc-1", secret=signing.CALLCENTER_SECRET)
    assert (
        await hooks.client.post("/webhooks/callcenter", content=body, headers=headers)
    ).is_success
    await hooks.apply_inbox()
    contact = (await hooks.client.get("/contacts", params={"phone": "+15555550100"})).json()
    call = (await events_of(hooks, contact["id"]))[0]
    assert (call["summary"], call["data"]["properties"]["agent"]) == ("call.completed", "maria.k")


async def test_segment_track_and_bad_signature(hooks: Harness) -> None:
    body = fixture("segment/track.json")
    response = await hooks.client.post(
        "/webhooks/segment", content=body, headers=signing.segment(body)
    )
    assert response.status_code == 200
    await hooks.apply_inbox()
    contact = await hooks.contact("peter@example.com")
    assert (await events_of(hooks, contact["id"]))[0]["summary"] == "web.course_clicked"
    forged = body.replace(b"peter@", b"eve@")
    refused = await hooks.client.post(
        "/webhooks/segment", content=forged, headers=signing.segment(body)
    )
    assert refused.status_code == 401


async def test_standard_webhook_enrolls_like_post_events(hooks: Harness) -> None:
    body = fixture("standard/event.json")
    headers = signing.standard(body, hooks.clock.now(), msg_id="msg_1")
    response = await hooks.client.post("/webhooks/standard", content=body, headers=headers)
    await hooks.apply_inbox()
    assert response.status_code == 200
    contact = await hooks.contact()
    assert [e["journey"] for e in contact["enrollments"]] == ["wedding-story"]
    stale = signing.standard(body, hooks.clock.now().replace(hour=1), msg_id="msg_2")
    assert (
        await hooks.client.post("/webhooks/standard", content=body, headers=stale)
    ).status_code == 401


async def test_a_webhook_date_that_is_no_date_is_dropped_not_the_event(hooks: Harness) -> None:
    body = fixture("standard/event.json").replace(b'"2027-09-18"', b'"18/09/2027"')
    headers = signing.standard(body, hooks.clock.now(), msg_id="msg_3")
    assert (
        await hooks.client.post("/webhooks/standard", content=body, headers=headers)
    ).status_code == 200
    await hooks.apply_inbox()
    contact = await hooks.contact()
    assert contact["attributes"] == {"first_name": "Ava"}  # the unusable date is not stored
    assert [e["journey"] for e in contact["enrollments"]] == ["wedding-story"]


# ----- a thousand deliveries --------------------------------------------------------------------


def deliveries(h: Harness, count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    """`count` distinct deliveries, a quarter per provider, each about its own contact."""
    now = h.clock.now()
    made = []
    for n in range(count):
        kind = n % 4
        if kind == 0:
            events = signing.sendgrid_events(
                "spamreport", email=f"sg{n}@example.com", sg_event_id=f"sg-{n}"
            )
            body = json.dumps(events).encode()
            made.append(("/webhooks/sendgrid", body, signing.sendgrid(body, now)))
        elif kind == 1:
            body = signing.twilio_form(
                "sms_inbound", Body="STOP", From=f"+1555{n:07d}", MessageSid=f"SM{n}"
            )
            made.append(("/webhooks/twilio", body, signing.twilio("/webhooks/twilio", body)))
        elif kind == 2:
            event = fixture_json("standard/event.json") | {
                "id": f"std-{n}",
                "contact": {"email": f"std{n}@example.com"},
            }
            body = json.dumps(event).encode()
            made.append(("/webhooks/standard", body, signing.standard(body, now, msg_id=f"m{n}")))
        else:
            call = fixture_json("segment/track.json") | {"messageId": f"seg-{n}"}
            call["context"]["traits"]["email"] = f"seg{n}@example.com"
            body = json.dumps(call).encode()
            made.append(("/webhooks/segment", body, signing.segment(body)))
    return made


async def test_a_thousand_shuffled_deliveries_with_duplicates(hooks: Harness) -> None:
    unique = deliveries(hooks, 400)
    posts = unique + random.Random(5).choices(unique, k=600)
    random.Random(7).shuffle(posts)
    gate = asyncio.Semaphore(8)

    async def deliver(path: str, body: bytes, headers: dict[str, str]) -> int:
        async with gate:
            return (await hooks.client.post(path, content=body, headers=headers)).status_code

    codes = await asyncio.gather(*(deliver(*post) for post in posts))
    assert set(codes) == {200}
    await hooks.apply_inbox()
    runtime = hooks.app.state.runtime
    with runtime.db.session() as session:
        by_source = dict(
            session.exec(select(Event.source, func.count()).group_by(Event.source)).all()
        )
        withdrawn = session.exec(
            select(Consent.channel, func.count())
            .where(Consent.status == "withdrawn")
            .group_by(Consent.channel)
        ).all()
        enrollments = session.exec(select(func.count()).select_from(Enrollment)).one()
    assert by_source == {"sendgrid": 100, "twilio": 100, "website": 100, "segment": 100}
    assert dict(withdrawn) == {"email": 100, "sms": 100}
    assert enrollments == 100
