"""Email providers through POST /webhooks/{provider}: canonical events and their effects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.store.intake import InboxEvent
from tests.api import signing
from tests.api.signing import FakeAws
from tests.factories import FakeClock, Harness, running_app, signup, stored
from tests.webhooks.support import fixture, fixture_json

AVA = "ava@example.com"


async def enrolled(h: Harness) -> tuple[str, str]:
    """Ava signs up; her contact id and the id of the welcome email queued for her."""
    assert (await h.post_events(signup())).status_code == 200
    contact = await h.contact()
    messages = (await h.client.get(f"/contacts/{contact['id']}/messages")).json()
    return contact["id"], messages[0]["id"]


async def post_sendgrid(h: Harness, events: list[dict[str, Any]], **overrides: Any) -> Any:
    body = json.dumps(events).encode()
    headers = signing.sendgrid(body, h.clock.now()) | overrides
    response = await h.client.post("/webhooks/sendgrid", content=body, headers=headers)
    await h.apply_inbox()
    return response


async def message(h: Harness, contact_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await h.client.get(f"/contacts/{contact_id}/messages")).json()[0]
    return data


async def consent(h: Harness, channel: str, email: str = AVA) -> dict[str, Any]:
    found = [c for c in (await h.contact(email))["consents"] if c["channel"] == channel]
    return found[0] if found else {}


async def events_of(h: Harness, contact_id: str) -> list[dict[str, Any]]:
    timeline = (await h.client.get(f"/contacts/{contact_id}/timeline")).json()
    return [entry for entry in timeline if entry["kind"] == "event"]


# ----- SendGrid -------------------------------------------------------------------------------


async def test_sendgrid_hard_bounce_suppresses_and_ties_back(hooks: Harness) -> None:
    contact_id, message_id = await enrolled(hooks)
    batch = signing.sendgrid_events("bounce", email=AVA, nurture_message_id=message_id)
    response = await post_sendgrid(hooks, batch)
    assert response.status_code == 200
    assert (await consent(hooks, "email"))["suppressed"] is True
    assert (await message(hooks, contact_id))["delivery_status"] == "bounced"
    events = await events_of(hooks, contact_id)
    bounce = next(e for e in events if e["summary"] == "email.bounced")
    assert bounce["data"]["source"] == "sendgrid"
    assert (bounce["data"]["message_id"], bounce["data"]["journey"], bounce["data"]["stage"]) == (
        message_id,
        "wedding-story",
        "welcome",
    )


async def test_sendgrid_is_answered_before_its_events_apply(hooks: Harness) -> None:
    contact_id, message_id = await enrolled(hooks)
    batch = signing.sendgrid_events("bounce", email=AVA, nurture_message_id=message_id)
    body = json.dumps(batch).encode()
    headers = signing.sendgrid(body, hooks.clock.now())
    response = await hooks.client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == 200
    pending = [row for row in stored(hooks.app.state.runtime, InboxEvent) if row.applied_at is None]
    assert [(row.source, row.type) for row in pending] == [("sendgrid", "email.bounced")]
    assert (await consent(hooks, "email")).get("suppressed") is not True
    assert (await message(hooks, contact_id))["delivery_status"] != "bounced"
    assert await hooks.apply_inbox() == 1
    assert (await consent(hooks, "email"))["suppressed"] is True
    assert (await message(hooks, contact_id))["delivery_status"] == "bounced"


async def test_sendgrid_statuses_never_move_backwards(hooks: Harness) -> None:
    contact_id, message_id = await enrolled(hooks)
    for name in ("click", "delivered", "open"):
        batch = signing.sendgrid_events(name, email=AVA, nurture_message_id=message_id)
        assert (await post_sendgrid(hooks, batch)).status_code == 200
    assert (await message(hooks, contact_id))["delivery_status"] == "clicked"


async def test_sendgrid_unsubscribe_withdraws_and_exits(hooks: Harness) -> None:
    await enrolled(hooks)
    await post_sendgrid(hooks, signing.sendgrid_events("unsubscribe", email=AVA))
    contact = await hooks.contact()
    assert (await consent(hooks, "email"))["status"] == "withdrawn"
    assert contact["enrollments"][0]["status"] == "exited"


async def test_sendgrid_group_unsubscribe_exits_but_keeps_consent(hooks: Harness) -> None:
    await enrolled(hooks)
    await post_sendgrid(hooks, signing.sendgrid_events("group_unsubscribe", email=AVA))
    contact = await hooks.contact()
    assert contact["enrollments"][0]["status"] == "exited"  # its exit rule names the event
    assert await consent(hooks, "email") == {}


async def test_sendgrid_spam_report_suppresses_and_withdraws(hooks: Harness) -> None:
    await enrolled(hooks)
    await post_sendgrid(hooks, signing.sendgrid_events("spamreport", email=AVA))
    email = await consent(hooks, "email")
    assert (email["status"], email["suppressed"]) == ("withdrawn", True)


async def test_sendgrid_duplicate_is_2xx_and_does_nothing(hooks: Harness) -> None:
    contact_id, _ = await enrolled(hooks)
    batch = signing.sendgrid_events("open", email=AVA)
    first = await post_sendgrid(hooks, batch)
    again = await post_sendgrid(hooks, batch)
    assert (first.status_code, again.status_code) == (200, 200)
    opened = [e for e in await events_of(hooks, contact_id) if e["summary"] == "email.opened"]
    assert len(opened) == 1


async def test_sendgrid_refusals_store_nothing(hooks: Harness) -> None:
    body = json.dumps(signing.sendgrid_events("delivered", email=AVA)).encode()
    now = hooks.clock.now()
    good = signing.sendgrid(body, now)
    other_key = signing.ec.generate_private_key(signing.ec.SECP256R1())
    cases = {
        "tampered": (body.replace(b"ava@", b"eve@"), good),
        "wrong key": (body, signing.sendgrid(body, now, other_key)),
        "stale": (body, signing.sendgrid(body, now.replace(year=2025))),
        "unsigned": (body, {"Content-Type": "application/json"}),
    }
    for case, (content, headers) in cases.items():
        response = await hooks.client.post("/webhooks/sendgrid", content=content, headers=headers)
        assert response.status_code == 401, case
        assert response.json()["error"] in ("invalid_signature", "stale_request"), case
    assert (await hooks.client.get("/contacts", params={"email": AVA})).status_code == 404


async def test_oversized_body_is_refused_before_reading(hooks: Harness) -> None:
    body = b"[" + b" " * (4 * 1024 * 1024) + b"]"
    huge = await hooks.client.post("/webhooks/sendgrid", content=body)
    assert huge.status_code == 413
    assert huge.json()["error"] == "payload_too_large"

    async def streamed() -> Any:
        for _ in range(70):
            yield b" " * 1024

    too_long = await hooks.client.post("/webhooks/twilio", content=streamed())
    assert too_long.status_code == 413


# ----- Mailgun --------------------------------------------------------------------------------


def mailgun_body(h: Harness, name: str, *, token: str, message_id: str | None = None) -> bytes:
    payload = fixture_json(f"mailgun/{name}.json")
    payload["event-data"]["recipient"] = AVA
    if message_id is not None:
        payload["event-data"]["user-variables"]["nurture_message_id"] = message_id
    return signing.mailgun(payload, h.clock.now(), token=token)


async def test_mailgun_delivery_and_permanent_failure(hooks: Harness) -> None:
    contact_id, message_id = await enrolled(hooks)
    for name, token in (("delivered", "t" * 50), ("failed_permanent", "u" * 50)):
        body = mailgun_body(hooks, name, token=token, message_id=message_id)
        assert (await hooks.client.post("/webhooks/mailgun", content=body)).status_code == 200
        await hooks.apply_inbox()
    assert (await message(hooks, contact_id))["delivery_status"] == "bounced"
    assert (await consent(hooks, "email"))["suppression_reason"] == "hard bounce"


async def test_mailgun_token_replays_are_refused_even_after_a_restart(
    hooks: Harness, database_url: str, tmp_path: Path, clock: FakeClock, aws: FakeAws
) -> None:
    await enrolled(hooks)
    delivered = mailgun_body(hooks, "delivered", token="r" * 50)
    assert (await hooks.client.post("/webhooks/mailgun", content=delivered)).status_code == 200
    retry = await hooks.client.post("/webhooks/mailgun", content=delivered)
    assert retry.status_code == 200  # Mailgun retrying the same request is a duplicate
    forged = mailgun_body(hooks, "unsubscribed", token="r" * 50)
    settings = signing.webhook_settings(database_url, tmp_path)
    async with running_app(settings, clock, http_transport=aws.transport) as restarted:
        response = await restarted.client.post("/webhooks/mailgun", content=forged)
        assert response.status_code == 401
        assert response.json()["error"] == "replayed_request"
    assert await consent(hooks, "email") == {}


async def test_mailgun_wrong_key_and_stale_timestamp(hooks: Harness) -> None:
    payload = fixture_json("mailgun/delivered.json")
    wrong = signing.mailgun(payload, hooks.clock.now(), token="w" * 50, key="key-other")
    stale = signing.mailgun(payload, hooks.clock.now().replace(hour=1), token="s" * 50)
    for body in (wrong, stale):
        assert (await hooks.client.post("/webhooks/mailgun", content=body)).status_code == 401


# ----- Postmark -------------------------------------------------------------------------------


async def test_postmark_bounce_and_complaint(hooks: Harness) -> None:
    contact_id, message_id = await enrolled(hooks)
    for name in ("delivery", "bounce", "spam_complaint"):
        record = fixture_json(f"postmark/{name}.json")
        record["Metadata"]["nurture_message_id"] = message_id
        record["Recipient" if name == "delivery" else "Email"] = AVA
        response = await hooks.client.post(
            "/webhooks/postmark", json=record, headers=signing.postmark()
        )
        assert response.status_code == 200
        await hooks.apply_inbox()
    email = await consent(hooks, "email")
    assert (email["status"], email["suppressed"]) == ("withdrawn", True)
    assert (await message(hooks, contact_id))["delivery_status"] == "bounced"


async def test_postmark_wrong_password_is_refused(hooks: Harness) -> None:
    record = fixture_json("postmark/delivery.json")
    response = await hooks.client.post(
        "/webhooks/postmark", json=record, headers=signing.postmark("guess")
    )
    assert response.status_code == 401
    assert (
        await hooks.client.get("/contacts", params={"email": "john@example.com"})
    ).status_code == 404


# ----- Amazon SES over SNS --------------------------------------------------------------------


async def test_ses_subscription_is_confirmed_with_sns_only(hooks: Harness, aws: FakeAws) -> None:
    message = fixture_json("ses/subscription_confirmation.json") | {"TopicArn": signing.TOPIC}
    response = await hooks.client.post("/webhooks/ses", content=signing.sns(message))
    assert response.status_code == 200
    assert aws.requests == [signing.CERT_URL, message["SubscribeURL"]]
    message["SubscribeURL"] = "https://evil.example/?Action=ConfirmSubscription"
    refused = await hooks.client.post("/webhooks/ses", content=signing.sns(message))
    assert refused.status_code == 400
    assert len(aws.requests) == 2  # the certificate is cached, the evil URL never fetched


async def test_ses_bounce_notification(hooks: Harness) -> None:
    contact_id, message_id = await enrolled(hooks)
    notification = signing.ses_notification(
        "bounce",
        message_id="sns-1",
        mail__destination=[AVA],
        mail__tags={"nurture_message_id": [message_id]},
        bounce__bouncedRecipients=[{"emailAddress": AVA, "status": "5.1.1"}],
    )
    response = await hooks.client.post("/webhooks/ses", content=signing.sns(notification))
    await hooks.apply_inbox()
    assert response.status_code == 200
    assert (await consent(hooks, "email"))["suppressed"] is True
    assert (await message(hooks, contact_id))["delivery_status"] == "bounced"


async def test_ses_other_topic_and_tampering_are_refused(hooks: Harness) -> None:
    notification = signing.ses_notification("delivery", message_id="sns-2")
    other = signing.sns(notification | {"TopicArn": "arn:aws:sns:us-east-1:1:theirs"})
    tampered = signing.sns(notification).replace(b"sns-2", b"sns-3")
    for body in (other, tampered):
        assert (await hooks.client.post("/webhooks/ses", content=body)).status_code == 401


async def test_ses_other_topic_fetches_no_certificate(hooks: Harness, aws: FakeAws) -> None:
    notification = signing.ses_notification("delivery", message_id="sns-4")
    for topic in ("arn:aws:sns:us-east-1:1:theirs", [signing.TOPIC]):
        other = signing.sns(notification | {"TopicArn": topic})
        assert (await hooks.client.post("/webhooks/ses", content=other)).status_code == 401
    assert aws.requests == []


async def test_ses_failed_certificate_fetch_is_not_repeated_at_once(
    hooks: Harness, aws: FakeAws
) -> None:
    missing = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-missing.pem"
    message = json.loads(signing.sns(signing.ses_notification("delivery", message_id="sns-5")))
    body = json.dumps(message | {"SigningCertURL": missing}).encode()
    for _ in range(3):
        assert (await hooks.client.post("/webhooks/ses", content=body)).status_code == 401
    assert aws.requests == [missing]
    hooks.clock.advance(minutes=2)
    assert (await hooks.client.post("/webhooks/ses", content=body)).status_code == 401
    assert aws.requests == [missing, missing]


async def test_unconfigured_provider_is_not_found(harness: Harness) -> None:
    body = fixture("sendgrid/delivered.json")
    for provider in ("sendgrid", "mailgun", "postmark", "ses", "twilio", "nope"):
        response = await harness.client.post(f"/webhooks/{provider}", content=body)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
