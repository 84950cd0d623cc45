"""Segment webhook destination: X-Signature and track / identify / page mapping."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from tests.webhooks.support import NOW, fixture, fixture_json
from webhooks.errors import PayloadTooLarge, SignatureError
from webhooks.segment import SegmentAdapter

SECRET = "segment-shared-secret"
ADAPTER = SegmentAdapter(SECRET)


def headers_for(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Segment's header: hex HMAC-SHA1 of the raw body."""
    return {"X-Signature": hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()}


def test_signature_verifies() -> None:
    body = fixture("segment/track.json")
    ADAPTER.verify(body, headers_for(body), now=NOW)


def test_tampered_body_is_refused() -> None:
    body = fixture("segment/track.json")
    with pytest.raises(SignatureError):
        ADAPTER.verify(
            body.replace(b"Course Clicked", b"Course Bought"), headers_for(body), now=NOW
        )


def test_wrong_secret_is_refused() -> None:
    body = fixture("segment/track.json")
    with pytest.raises(SignatureError):
        ADAPTER.verify(body, headers_for(body, "other"), now=NOW)


def test_missing_signature_is_refused() -> None:
    with pytest.raises(SignatureError):
        ADAPTER.verify(fixture("segment/track.json"), {}, now=NOW)


def test_oversized_body_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        ADAPTER.verify(b" " * (ADAPTER.MAX_BODY_BYTES + 1), {}, now=NOW)


def test_track_becomes_a_web_event() -> None:
    [event] = ADAPTER.parse(fixture("segment/track.json"), {}, now=NOW).events
    assert (event.id, event.source, event.type) == (
        "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
        "segment",
        "web.course_clicked",
    )
    assert (event.external_id, event.email) == ("AiUGstSDIg", "peter@example.com")
    assert event.properties == {"title": "Intro to Analytics", "event": "Course Clicked"}
    assert event.time.isoformat() == "2015-12-12T19:11:01.249000+00:00"


def test_order_completed_is_an_order() -> None:
    [event] = ADAPTER.parse(fixture("segment/order_completed.json"), {}, now=NOW).events
    assert event.type == "order.completed"
    assert event.properties["revenue"] == 25.0
    assert event.properties["total"] == 27.5
    assert event.properties["categories"] == ["Books", "Games"]
    assert len(event.properties["products"]) == 3


def test_identify_updates_the_contact() -> None:
    [event] = ADAPTER.parse(fixture("segment/identify.json"), {}, now=NOW).events
    assert event.type == "contact.updated"
    assert (event.external_id, event.email, event.phone) == (
        "97980cfea0067",
        "peter@example.com",
        "+15555550100",
    )
    assert event.attributes == {
        "name": "Peter Gibbons",
        "first_name": "Peter",
        "plan": "premium",
        "logins": 5,
    }


def test_page_becomes_page_viewed() -> None:
    [event] = ADAPTER.parse(fixture("segment/page.json"), {}, now=NOW).events
    assert event.type == "web.page_viewed"
    assert event.properties == {
        "url": "http://www.initech.com",
        "path": "/academy/",
        "title": "Welcome | Initech",
        "referrer": "",
        "search": "",
        "name": "Home",
    }


def test_batches_skip_anonymous_and_unsupported_calls() -> None:
    anonymous = fixture_json("segment/track.json")
    del anonymous["userId"]
    del anonymous["context"]["traits"]
    screen = fixture_json("segment/page.json") | {"type": "screen", "messageId": "s-1"}
    batch = {
        "batch": [
            fixture_json("segment/track.json"),
            anonymous,
            screen,
            fixture_json("segment/identify.json"),
        ]
    }
    events = ADAPTER.parse(json.dumps(batch).encode(), {}, now=NOW).events
    assert [e.type for e in events] == ["web.course_clicked", "contact.updated"]
