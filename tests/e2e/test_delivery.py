"""Delivery end to end: the service sends through a fake Postmark on 127.0.0.1 over real
HTTP, and shows exactly-once sends across workers, send windows, the frequency cap, one-click
unsubscribe and tracked clicks."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from service.delivery.providers import http_client
from service.delivery.setup import build_channels
from service.errors import ConfigError
from service.runtime import build_runtime
from service.scheduler.loop import Scheduler
from tests.factories import (
    FakeClock,
    Harness,
    event,
    journeys_copy,
    make_settings,
    newsletter_journey,
    running_app,
    signup,
)

BASE = "http://nurture.test"
NEWSLETTER = newsletter_journey(send_window='{start: "09:00", end: "20:00"}')


class FakePostmark(ThreadingHTTPServer):
    """Postmark's /email endpoint on a free local port, remembering every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["json"] for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: FakePostmark

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length))
        with self.server.lock:
            self.server.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": body}
            )
            answer = {"ErrorCode": 0, "MessageID": f"pm-{len(self.server.requests)}"}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the recorded requests instead."""


@pytest.fixture
def postmark() -> Iterator[FakePostmark]:
    server = FakePostmark()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


Start = Callable[..., AbstractAsyncContextManager[Harness]]


@pytest.fixture
def start(database_url: str, tmp_path: Path, clock: FakeClock, postmark: FakePostmark) -> Start:
    """Run the service with Postmark as its email provider; settings overridable per test."""

    def run(**overrides: Any) -> AbstractAsyncContextManager[Harness]:
        settings = make_settings(
            database_url,
            tmp_path,
            email_provider="postmark",
            postmark_server_token="server-token",
            postmark_base_url=postmark.url,
            email_from="hello@shop.example",
            email_from_name="Linden Paper Co.",
            secret_key="e2e-secret",
            journeys_dir=journeys_copy(tmp_path, extra={"newsletter": NEWSLETTER}),
            **overrides,
        )
        return running_app(settings, clock)

    return run


def _header(body: dict[str, Any], name: str) -> str:
    value: str = next(h["Value"] for h in body["Headers"] if h["Name"] == name)
    return value


async def _contact_messages(app: Harness, email: str = "ava@example.com") -> list[Any]:
    contact = await app.contact(email)
    messages: list[Any] = (await app.client.get(f"/contacts/{contact['id']}/messages")).json()
    return messages


async def test_two_dispatch_loops_send_each_message_once(
    start: Start, postmark: FakePostmark, clock: FakeClock
) -> None:
    async with start() as app:
        for index in range(8):
            await app.post_events(signup(f"guest{index}@example.com"))
        other = await asyncio.to_thread(build_runtime, app.settings, clock)
        try:
            async with http_client(app.settings) as client:
                channels = build_channels(app.settings, client=client, now=clock.now)
                loops = [app.scheduler, Scheduler(other, channels)]
                reports = await asyncio.gather(*(s.run_once(clock.now()) for s in loops))
        finally:
            other.close()
        assert sum(r.sent for r in reports) == 8
        bodies = postmark.bodies()
        ids = [b["Metadata"]["nurture_message_id"] for b in bodies]
        assert len(ids) == len(set(ids)) == 8
        first = bodies[0]
        assert postmark.requests[0]["path"] == "/email"
        assert postmark.requests[0]["headers"]["X-Postmark-Server-Token"] == "server-token"
        assert first["From"] == "Linden Paper Co. <hello@shop.example>"
        assert first["TextBody"] and first["HtmlBody"] and first["MessageStream"] == "broadcast"
        assert _header(first, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        [message] = await _contact_messages(app, first["To"])
        assert message["provider_message_id"].startswith("pm-")


async def test_message_due_at_night_goes_out_when_the_window_opens(
    start: Start, postmark: FakePostmark, clock: FakeClock
) -> None:
    clock.current = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 02:00 in New York
    opens = datetime(2026, 3, 3, 14, 0, tzinfo=UTC)  # 09:00 in New York
    async with start() as app:
        await app.post_events(
            event("web.page_viewed", properties={"page": "news"}, contact={"email": "ny@x.io"})
            | {"timezone": "America/New_York"}
        )
        await app.run_scheduler()
        clock.current = opens - timedelta(seconds=1)
        await app.run_scheduler()
        assert postmark.bodies() == []
        clock.current = opens
        assert (await app.run_scheduler()).sent == 1
        [message] = await _contact_messages(app, "ny@x.io")
        assert (message["status"], message["sent_at"]) == ("sent", "2026-03-03T14:00:00Z")
        assert [b["To"] for b in postmark.bodies()] == ["ny@x.io"]


async def test_frequency_cap_delays_the_next_message(
    start: Start, postmark: FakePostmark, clock: FakeClock
) -> None:
    async with start(frequency_cap=1) as app:
        await app.post_events(signup())
        first_sent = clock.now()
        await app.run_scheduler()
        clock.advance(seconds=3)  # the story moves on to favors: a second email within a day
        await app.run_scheduler()
        assert len(postmark.bodies()) == 1
        contact = await app.contact()
        timeline = (await app.client.get(f"/contacts/{contact['id']}/timeline")).json()
        until = first_sent + timedelta(hours=24)
        assert f"delayed by frequency cap until {until.isoformat()}" in [
            t["data"]["text"] for t in timeline if t["kind"] == "note"
        ]
        clock.current = until
        assert (await app.run_scheduler()).sent == 1
        assert [b["Subject"] for b in postmark.bodies()] == [
            "Welcome, Ava!",
            "Favors for your guests",
        ]


async def test_one_click_unsubscribe_stops_the_next_send(
    start: Start, postmark: FakePostmark, clock: FakeClock
) -> None:
    async with start() as app:
        await app.post_events(signup())
        await app.run_scheduler()
        [welcome] = postmark.bodies()
        url = _header(welcome, "List-Unsubscribe").strip("<>")
        response = await app.client.post(
            url.removeprefix(BASE),
            content="List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        await app.apply_inbox()
        await app.post_events(event("web.page_viewed", properties={"page": "news"}))
        clock.advance(seconds=3)
        await app.run_scheduler()
        assert len(postmark.bodies()) == 1
        statuses = {m["journey"]: m["status"] for m in await _contact_messages(app)}
        assert statuses == {"wedding-story": "sent", "newsletter": "suppressed"}


async def test_tracked_click_moves_the_contact_to_the_next_stage(
    start: Start, postmark: FakePostmark
) -> None:
    async with start() as app:
        await app.post_events(signup())
        await app.run_scheduler()
        [welcome] = postmark.bodies()
        [link] = re.findall(r'href="(http://nurture\.test/c/[^"]+)"', welcome["HtmlBody"])
        response = await app.client.get(link.removeprefix(BASE))
        assert (response.status_code, response.headers["location"]) == (
            302,
            "https://shop.example/favors",
        )
        await app.apply_inbox()
        contact = await app.contact()
        assert contact["enrollments"][0]["stage"] == "favors"
        assert (await app.run_scheduler()).sent == 1
        assert postmark.bodies()[-1]["Subject"] == "Favors for your guests"


async def test_missing_provider_credentials_stop_start_up(
    database_url: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, tmp_path, email_provider="sendgrid")
    with pytest.raises(Exception, match="NURTURE_SENDGRID_API_KEY"):
        async with running_app(settings, clock):
            pass
    assert "cannot start: NURTURE_SENDGRID_API_KEY is required by provider sendgrid" in caplog.text


@pytest.mark.parametrize(
    "setting",
    [
        {"email_provider": "postmark", "postmark_server_token": "t", "email_from": "a@b.example"},
        {"sms_provider": "twilio"},
        {"outgoing_webhook_delivery": "http", "outgoing_webhook_signing_secret": "whsec_c2VjcmV0"},
        {"track_publishable_keys": "pk_shop", "public_base_url": "http://127.0.0.1:8000"},
        {"public_base_url": "https://nurture.example"},
    ],
)
async def test_development_link_key_is_refused_outside_a_local_set_up(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    setting: dict[str, str],
) -> None:
    settings = make_settings(database_url, tmp_path, secret_key=None, **setting)
    with pytest.raises(ConfigError, match="NURTURE_SECRET_KEY must be set"):
        async with running_app(settings, clock):
            pass
    assert "cannot start: NURTURE_SECRET_KEY must be set" in caplog.text


@pytest.mark.parametrize("base", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]"])
async def test_development_link_key_only_warns_for_a_local_set_up(
    database_url: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture, base: str
) -> None:
    settings = make_settings(database_url, tmp_path, secret_key=None, public_base_url=base)
    async with running_app(settings, clock) as app:
        assert (await app.client.get("/healthz")).status_code == 200
    assert "NURTURE_SECRET_KEY is not set" in caplog.text
