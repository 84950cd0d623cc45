"""The public link routes: one-click unsubscribe (RFC 8058), click redirects, open pixel,
and refusal of anything not signed by us."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.store.intake import InboxEvent
from service.tracking.links import CLICK, VISITOR, SignedLinks, read_token, sign_token
from tests.factories import (
    FakeClock,
    Harness,
    event,
    journeys_copy,
    make_settings,
    newsletter_journey,
    running_app,
    signup,
    stored,
)

SECRET = "route-test-secret"
BASE = "http://nurture.test"
NEWSLETTER = newsletter_journey()


@pytest.fixture
async def app(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    settings = make_settings(
        database_url,
        tmp_path,
        secret_key=SECRET,
        open_tracking=True,
        journeys_dir=journeys_copy(tmp_path, extra={"newsletter": NEWSLETTER}),
    )
    async with running_app(settings, clock) as running:
        yield running


def _path(url: str) -> str:
    assert url.startswith(BASE), url
    return url.removeprefix(BASE)


async def _sent_welcome(app: Harness) -> dict[str, Any]:
    await app.post_events(signup())
    assert (await app.run_scheduler()).sent == 1
    line: dict[str, Any] = json.loads(app.outbox_lines()[0])
    return line


async def _timeline(app: Harness) -> list[dict[str, Any]]:
    contact = await app.contact()
    data: list[dict[str, Any]] = (
        await app.client.get(f"/contacts/{contact['id']}/timeline")
    ).json()
    return data


def _events(timeline: list[dict[str, Any]], type: str) -> list[dict[str, Any]]:
    return [t for t in timeline if t["kind"] == "event" and t["summary"] == type]


async def test_unsubscribe_page_changes_nothing(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    path = _path(welcome["unsubscribe_url"])
    response = await app.client.get(path)
    assert response.status_code == 200
    assert f'<form method="post" action="{path}">' in response.text
    assert (await app.contact())["consents"] == []
    assert _events(await _timeline(app), "email.unsubscribed") == []


async def test_one_click_post_unsubscribes_and_suppresses_the_next_send(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    await app.post_events(event("web.page_viewed", properties={"page": "news"}))
    one_click = {"content-type": "application/x-www-form-urlencoded"}
    for _ in range(2):  # mailbox providers may retry; the second POST has no new effect
        response = await app.client.post(
            _path(welcome["unsubscribe_url"]),
            content="List-Unsubscribe=One-Click",
            headers=one_click,
        )
        assert response.status_code == 200 and "unsubscribed" in response.text
        await app.apply_inbox()
    contact = await app.contact()
    [consent] = contact["consents"]
    assert (consent["channel"], consent["status"]) == ("email", "withdrawn")
    story = next(e for e in contact["enrollments"] if e["journey"] == "wedding-story")
    assert story["status"] == "exited"  # the journey's exit rule saw the event
    assert len(_events(await _timeline(app), "email.unsubscribed")) == 1
    await app.run_scheduler()
    messages = (await app.client.get(f"/contacts/{contact['id']}/messages")).json()
    issue = next(m for m in messages if m["journey"] == "newsletter")
    assert issue["status"] == "suppressed"
    assert len(app.outbox_lines()) == 1


async def test_tracked_click_redirects_and_moves_the_contact(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    [link] = re.findall(r'href="(http://nurture\.test/c/[^"]+)"', welcome["html"])
    for _ in range(2):
        response = await app.client.get(_path(link))
        assert response.status_code == 302
        assert response.headers["location"] == "https://shop.example/favors"
        await app.apply_inbox()
    contact = await app.contact()
    assert contact["enrollments"][0]["stage"] == "favors"
    [click] = _events(await _timeline(app), "email.clicked")  # once per message and link
    assert click["data"]["properties"] == {
        "link": "favors",
        "url": "https://shop.example/favors",
        "message_id": welcome["id"],
        "journey": "wedding-story",
    }


async def test_a_click_redirects_before_it_is_applied(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    [link] = re.findall(r'href="(http://nurture\.test/c/[^"]+)"', welcome["html"])
    response = await app.client.get(_path(link))
    assert (response.status_code, response.headers["location"]) == (
        302,
        "https://shop.example/favors",
    )
    [row] = [r for r in stored(app.app.state.runtime, InboxEvent) if r.applied_at is None]
    assert (row.source, row.type) == ("nurture.links", "email.clicked")
    assert (await app.contact())["enrollments"][0]["stage"] == "welcome"
    assert await app.apply_inbox() == 1
    assert (await app.contact())["enrollments"][0]["stage"] == "favors"


async def test_click_to_a_tracked_site_carries_the_visitor_token(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url,
        tmp_path,
        secret_key=SECRET,
        track_publishable_keys="pk_shop",
        track_allowed_origins="https://shop.example",
    )
    async with running_app(settings, clock) as app:
        welcome = await _sent_welcome(app)
        [link] = re.findall(r'href="(http://nurture\.test/c/[^"]+)"', welcome["html"])
        location = (await app.client.get(_path(link))).headers["location"]
        await app.apply_inbox()
        assert location.startswith("https://shop.example/favors?nt=")
        token = location.split("nt=", 1)[1]
        contact = await app.contact()
        payload = read_token(token, secret=SECRET, kind=VISITOR)
        assert payload["c"] == contact["id"]
        assert payload["exp"] == int(clock.now().timestamp()) + 90 * 86400
        view = {"key": "pk_shop", "id": "pv-0000001", "type": "web.page_viewed", "token": token}
        response = await app.client.post(
            "/track", json=view, headers={"Origin": "https://shop.example"}
        )
        assert response.status_code == 202
        await app.apply_inbox()
        assert len(_events(await _timeline(app), "web.page_viewed")) == 1
        clock.advance(days=90)
        late = view | {"id": "pv-0000002"}
        response = await app.client.post(
            "/track", json=late, headers={"Origin": "https://shop.example"}
        )
        assert response.status_code == 403 and "expired" in response.json()["detail"]
        assert len(_events(await _timeline(app), "web.page_viewed")) == 1


async def test_open_pixel_records_the_open(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    [pixel] = re.findall(r'<img src="(http://nurture\.test/o/[^"]+)"', welcome["html"])
    assert welcome["html"].index(pixel) < welcome["html"].index("</body>")
    response = await app.client.get(_path(pixel))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert "no-store" in response.headers["cache-control"]
    assert response.content.startswith(b"GIF89a")
    await app.apply_inbox()
    assert len(_events(await _timeline(app), "email.opened")) == 1


async def test_forged_and_misused_tokens_are_refused(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    contact = await app.contact()
    forged = SignedLinks(
        base_url=BASE, secret="guessed", message_id=welcome["id"], contact_id=contact["id"]
    )
    genuine_unsubscribe = _path(welcome["unsubscribe_url"])
    body, _, mac = genuine_unsubscribe.removeprefix("/u/").partition(".")
    tampered = f"/u/{body[:-2]}{'AA' if body[-2:] != 'AA' else 'BB'}.{mac}"
    attempts = [
        ("post", _path(forged.unsubscribe_url())),
        ("post", tampered),
        ("get", _path(forged.track("https://evil.example", "favors"))),
        ("get", _path(forged.open_pixel())),
        ("get", "/c/" + genuine_unsubscribe.removeprefix("/u/")),  # right key, wrong purpose
        ("post", "/u/not-a-token"),
    ]
    for method, path in attempts:
        response = await app.client.request(method.upper(), path)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"] == "forbidden"
    contact = await app.contact()
    assert contact["consents"] == [] and contact["enrollments"][0]["stage"] == "welcome"
    timeline = await _timeline(app)
    assert [t["summary"] for t in timeline if t["kind"] == "event"] == ["web.form_submitted"]


async def test_non_ascii_tokens_are_refused_on_every_route(app: Harness) -> None:
    for method, path in [("GET", "/u/"), ("POST", "/u/"), ("GET", "/c/"), ("GET", "/o/")]:
        response = await app.client.request(method, path + "abc.%C3%A9")
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"] == "forbidden"


async def test_click_for_a_message_that_is_gone_does_not_redirect(app: Harness) -> None:
    gone = SignedLinks(base_url=BASE, secret=SECRET, message_id="gone", contact_id="gone")
    response = await app.client.get(_path(gone.track("https://shop.example/favors", "favors")))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "location" not in response.headers


async def test_click_never_redirects_to_a_non_http_target(app: Harness) -> None:
    welcome = await _sent_welcome(app)
    contact = await app.contact()
    payload = {"k": CLICK, "m": welcome["id"], "c": contact["id"], "n": "x", "u": "javascript:1"}
    response = await app.client.get("/c/" + sign_token(payload, secret=SECRET))
    assert response.status_code == 403
    assert "location" not in response.headers
    assert _events(await _timeline(app), "email.clicked") == []
