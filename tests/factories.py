"""Builders for test data: a controllable clock, settings, canonical events, an app harness,
and the service without HTTP (a runtime, events ingested, rows read back)."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from sqlmodel import SQLModel, select

from service.clock import Clock
from service.config import Settings
from service.enrollments import inbox
from service.enrollments.acceptor import Acceptor
from service.enrollments.ingest import ingest_event
from service.enrollments.schemas import EventResult
from service.main import create_app
from service.runtime import Runtime, build_runtime
from service.scheduler.loop import RunReport, Scheduler
from service.schemas import EventIn
from service.store.models import Contact

FIXTURES = Path(__file__).parent / "fixtures"
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
_ids = itertools.count(1)
Row = TypeVar("Row", bound=SQLModel)


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: datetime = START) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


def make_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for one test: fixture journeys and content, a private outbox file."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "journeys_dir": FIXTURES / "journeys",
        "content_dir": FIXTURES / "content",
        "outbox_path": tmp_path / "outbox.jsonl",
        "run_scheduler": False,
        "api_keys": "",
        "public_base_url": "http://nurture.test",
        "secret_key": "test-secret-key",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def event(
    type: str,
    *,
    email: str = "ava@example.com",
    id: str | None = None,
    source: str = "test",
    properties: dict[str, Any] | None = None,
    attributes: dict[str, Any] | None = None,
    contact: dict[str, Any] | None = None,
    time: str | None = None,
) -> dict[str, Any]:
    """One canonical event as an integrator would post it."""
    body: dict[str, Any] = {
        "id": id or f"evt-{next(_ids)}",
        "type": type,
        "source": source,
        "contact": contact or {"email": email},
        "properties": properties or {},
    }
    if attributes is not None:
        body["attributes"] = attributes
    if time is not None:
        body["time"] = time
    return body


def signup(email: str = "ava@example.com", **kwargs: Any) -> dict[str, Any]:
    """The wedding-story entry event with a bride's profile."""
    kwargs.setdefault("attributes", {"first_name": "Ava", "wedding_date": "2026-06-20"})
    return event("web.form_submitted", email=email, properties={"form": "wedding-signup"}, **kwargs)


@dataclass
class Harness:
    """A running app (lifespan started) with an HTTP client and its fake clock."""

    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock
    settings: Settings

    @property
    def scheduler(self) -> Scheduler:
        scheduler: Scheduler = self.app.state.scheduler
        return scheduler

    async def run_scheduler(self) -> RunReport:
        return await self.scheduler.run_once(self.clock.now())

    async def post_events(self, *events: dict[str, Any]) -> httpx.Response:
        body: dict[str, Any] = events[0] if len(events) == 1 else {"events": list(events)}
        return await self.client.post("/events", params={"wait": "true"}, json=body)

    async def apply_inbox(self) -> int:
        """Apply what the app's inbox holds, as its appliers would; how many events."""
        runtime: Runtime = self.app.state.runtime
        return await asyncio.to_thread(apply_inbox, runtime)

    async def contact(self, email: str = "ava@example.com") -> dict[str, Any]:
        response = await self.client.get("/contacts", params={"email": email})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def outbox_lines(self) -> list[str]:
        path = self.settings.outbox_path
        return path.read_text().splitlines() if path.exists() else []


@asynccontextmanager
async def running_app(
    settings: Settings,
    clock: FakeClock,
    *,
    client_host: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    http_transport: httpx.AsyncBaseTransport | None = None,
    warm_dashboard: bool = False,
) -> AsyncIterator[Harness]:
    """Start the app's lifespan and talk to it over ASGI, as a remote client would."""
    app = create_app(settings, clock, http_transport=http_transport, warm_dashboard=warm_dashboard)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(
            app=app, client=(client_host, 50000), raise_app_exceptions=False
        )
        async with httpx.AsyncClient(
            transport=transport, base_url="http://nurture.test", headers=headers
        ) as client:
            yield Harness(app=app, client=client, clock=clock, settings=settings)


def journeys_copy(
    tmp_path: Path, *, send_window: str | None = None, extra: dict[str, str] | None = None
) -> Path:
    """The fixture journeys copied for one test: a send window on the wedding story (e.g.
    '{start: "09:00", end: "20:00"}') and extra journey files by name."""
    folder = tmp_path / "journeys"
    shutil.copytree(FIXTURES / "journeys", folder)
    if send_window:
        story = folder / "wedding-story.yaml"
        text = story.read_text().replace(
            "persona: bride\n", f"persona: bride\nsend_window: {send_window}\n"
        )
        story.write_text(text)
    for name, source in (extra or {}).items():
        (folder / f"{name}.yaml").write_text(source)
    return folder


def release_story(folder: Path, version: str, *, after: str) -> None:
    """A new version of the wedding story in a `journeys_copy` folder, its welcome timer
    (3s in the fixture) now `after` (e.g. "1h")."""
    story = folder / "wedding-story.yaml"
    text = re.sub(
        r'^version: ".*"$', f'version: "{version}"', story.read_text(), count=1, flags=re.M
    )
    text = re.sub(r"^      - after: \S+$", f"      - after: {after}", text, count=1, flags=re.M)
    story.write_text(text)


def newsletter_journey(*, send_window: str | None = None) -> str:
    """A journey with no exit rule (only consent keeps its mail from going out), entered by
    viewing the news page; optionally with a send window."""
    window = f"send_window: {send_window}\n" if send_window else ""
    return f"""
journey: newsletter
entry:
  event: web.page_viewed
  when: "event.properties.page == 'news'"
{window}initial: issue
stages:
  issue:
    send: {{channel: email, template: story/favors}}
    on:
      - after: 30d
        to: done
  done: {{final: true}}
"""


@contextmanager
def open_runtime(settings: Settings, clock: Clock) -> Iterator[Runtime]:
    """The service without HTTP (database, journeys, content), for calling its functions
    directly; its connections are closed afterwards."""
    runtime = build_runtime(settings, clock)
    try:
        yield runtime
    finally:
        runtime.close()


@contextmanager
def accepting(runtime: Runtime) -> Iterator[Acceptor]:
    """The runtime's inbox writer, as the app runs one, for the edges that store events."""
    acceptor = Acceptor(runtime.db, runtime.clock, on_stored=lambda: None)
    acceptor.start()
    try:
        yield acceptor
    finally:
        acceptor.stop()


def apply_inbox(runtime: Runtime) -> int:
    """Apply every pending inbox event, as the appliers would; how many."""
    return inbox.drain(runtime, limit=1000, rounds=1000)


def ingest(runtime: Runtime, body: dict[str, Any], **kwargs: Any) -> EventResult:
    """One canonical event body (see `event`) validated and ingested as /events would."""
    return ingest_event(runtime, EventIn.model_validate(body), **kwargs)


def add_contact(runtime: Runtime, **fields: Any) -> Contact:
    """A stored contact with the given identifiers and profile, created now."""
    now = runtime.clock.now()
    contact = Contact(created_at=now, updated_at=now, **fields)
    with runtime.db.write() as session:
        session.add(contact)
    return contact


def stored(runtime: Runtime, model: type[Row], **where: Any) -> list[Row]:
    """The rows of one table matching column values, read fresh from the database."""
    with runtime.db.session() as session:
        return list(session.exec(select(model).filter_by(**where)).all())


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now, for a real server under test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(base: str, *, path: str = "/healthz", seconds: float = 60) -> None:
    """Return once a real server at `base` answers `path` with 200, failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server at {base} did not come up"
        time.sleep(0.2)
